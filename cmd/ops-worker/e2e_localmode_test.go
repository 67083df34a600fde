package main

// Issue 16: POST /api/hosts/local-mode writes and removes the station's
// flag, directly and through the relay; the next poll shows it; each
// change is a recorded operation.

import (
	"os"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/relaytest"
)

// localModeScenario turns local mode on, polls, turns it off, polls, and
// checks the station, the polls, GET /api/hosts and the recorded
// operations.
func localModeScenario(t *testing.T, e *e2eEnv) {
	t.Helper()
	sh := e.sim.Host("lab-ws-01")
	pollLocalMode := func() any {
		t.Helper()
		r := e.do(t, "POST", "/api/heartbeat/poll", map[string]any{"host": "lab-ws-01", "include_events": false})
		wantOK(t, r, "heartbeat")
		st := obj(t, obj(t, r.body["heartbeat"], "heartbeat")["status"], "heartbeat.status")
		return st["localModeEnabled"]
	}
	hostsLocalMode := func() any {
		t.Helper()
		r := e.do(t, "GET", "/api/hosts", nil)
		wantOK(t, r, "hosts")
		h := obj(t, arr(t, r.body["hosts"], "hosts")[0], "hosts[0]")
		return obj(t, h["heartbeat"], "hosts[0].heartbeat")["localMode"]
	}
	for _, on := range []bool{true, false} {
		r := e.do(t, "POST", "/api/hosts/local-mode", map[string]any{"host": "LAB-WS-01", "enabled": on})
		wantOK(t, r, "host", "localModeEnabled")
		if r.body["host"] != "lab-ws-01" || r.body["localModeEnabled"] != on || len(r.body) != 2 {
			t.Errorf("local-mode %v: %s", on, r.raw)
		}
		if sh.LocalMode() != on {
			t.Errorf("local-mode %v: the station's flag exists: %v", on, sh.LocalMode())
		}
		if got := pollLocalMode(); got != on {
			t.Errorf("local-mode %v: the next poll's status.localModeEnabled is %v", on, got)
		}
		if got := hostsLocalMode(); got != on {
			t.Errorf("local-mode %v: GET /api/hosts heartbeat.localMode is %v", on, got)
		}
	}
	// Clearing an absent flag succeeds.
	wantOK(t, e.do(t, "POST", "/api/hosts/local-mode", map[string]any{"host": "lab-ws-01", "enabled": false}), "localModeEnabled")

	r := e.do(t, "GET", "/api/operations/recent?limit=10", nil)
	wantOK(t, r, "operations")
	var got []string
	for _, o := range arr(t, r.body["operations"], "operations") {
		op := obj(t, o, "operation")
		if op["action"] != "local-mode" {
			continue
		}
		p := obj(t, op["payload"], "payload")
		if op["host"] != "lab-ws-01" || op["success"] != true || op["status"] != "completed" {
			t.Errorf("operation %v", op)
		}
		got = append(got, op["message"].(string)+":"+map[bool]string{true: "on", false: "off"}[p["enabled"] == true])
	}
	// Newest first.
	if w := "Local mode disabled:off,Local mode disabled:off,Local mode enabled:on"; strings.Join(got, ",") != w {
		t.Errorf("recorded local-mode operations %v, want %s", got, w)
	}
}

func TestE2E_LocalMode(t *testing.T) {
	e := startE2E(t, e2eOpts{})
	localModeScenario(t, e)

	t.Run("refusals", func(t *testing.T) {
		wantErr(t, e.do(t, "POST", "/api/hosts/local-mode", map[string]any{"enabled": true}), 400, "BAD_REQUEST", "host is required")
		wantErr(t, e.do(t, "POST", "/api/hosts/local-mode", map[string]any{"host": "lab-ws-01"}), 400, "BAD_REQUEST", "enabled is required")
		wantErr(t, e.do(t, "POST", "/api/hosts/local-mode", map[string]any{"host": "lab-ws-09", "enabled": true}), 404, "HOST_NOT_FOUND", "host 'lab-ws-09' not found in config")
		for _, body := range []string{`{"host":"lab-ws-01","enabled":"true"}`, `{"host":"lab-ws-01","enabled":1}`, `{"host":["lab-ws-01"],"enabled":true}`, `true`, `{"host":"lab-ws-01","enabled":true`} {
			r := e.do(t, "POST", "/api/hosts/local-mode", body)
			if r.code != 400 {
				t.Errorf("%s: %s, want 400", body, r)
			}
			checkErrorContract(t, r)
		}
		if e.sim.Host("lab-ws-01").LocalMode() {
			t.Error("a refused request set the flag")
		}
	})

	t.Run("station refuses", func(t *testing.T) {
		sh := e.sim.Host("lab-ws-01")
		sh.SetFaults(labsim.Faults{DeniedPaths: []string{labsim.LocalModeFlagPath}})
		defer sh.SetFaults(labsim.Faults{})
		wantErr(t, e.do(t, "POST", "/api/hosts/local-mode", map[string]any{"host": "lab-ws-01", "enabled": true}), 502, "STATION_ERROR", "")
		if n := e.queryInt(t, `SELECT COUNT(*) FROM reservation_operations WHERE action = 'local-mode' AND success = 0 AND host = 'lab-ws-01'`); n != 1 {
			t.Errorf("%d failed local-mode operations recorded, want 1", n)
		}
	})

	t.Run("hostile flag path refused at reload", func(t *testing.T) {
		doc, err := os.ReadFile(e.path)
		if err != nil {
			t.Fatal(err)
		}
		hostile := strings.Replace(string(doc), `"name":`, `"local_mode_flag_path": "C:\\x'\n; Remove-Item C:\\ -Recurse; '", "name":`, 1)
		if hostile == string(doc) {
			t.Fatalf("catalog not edited: %s", doc)
		}
		if err := os.WriteFile(e.path, []byte(hostile), 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(e.path, doc, 0o600)
		r := e.do(t, "POST", "/api/hosts/reload", nil)
		wantErr(t, r, 422, "CONFIG_INVALID", "")
		if msg, _ := r.body["error"].(string); !strings.Contains(msg, "local_mode_flag_path") {
			t.Errorf("reload refusal %q does not name local_mode_flag_path", msg)
		}
		// The catalog in force is kept: local mode still works.
		wantOK(t, e.do(t, "POST", "/api/hosts/local-mode", map[string]any{"host": "lab-ws-01", "enabled": false}), "localModeEnabled")
	})
	e.checkRequestIDs(t)
}

// Through the relay, the relay writes its own catalog's flag path: the
// worker's catalog names one whose folder the station does not have, and
// the request still succeeds.
func TestE2E_LocalModeThroughRelay(t *testing.T) {
	r := relaytest.Listen(t)
	e := startE2E(t, e2eOpts{
		env: map[string]string{"OPS_RELAY_URL": r.URL, "OPS_RELAY_SECRET": e2eRelaySecret},
		catalog: func(hs []map[string]any) {
			for _, h := range hs {
				delete(h, "winrm_pass")
				h["local_mode_flag_path"] = `C:\Worker Only\local-mode.flag`
			}
		},
	})
	e.secrets = append(e.secrets, e2eRelaySecret)
	doc, err := e.sim.HostsJSON()
	if err != nil {
		t.Fatal(err)
	}
	r.Load(t, doc, e2eRelaySecret)
	localModeScenario(t, e)
	if !strings.Contains(r.Logs.String(), `"action":"local-mode"`) {
		t.Errorf("relay audit log has no local-mode line:\n%s", r.Logs)
	}
}

package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/ops"
)

// *ops.Service is what New is given in production.
var _ Service = (*ops.Service)(nil)

// stubLab answers every lab call at once, as a healthy station would.
type stubLab struct{}

func (stubLab) Wake(_ context.Context, h hosts.Host, o lab.WakeOptions) (lab.WakeResult, error) {
	return lab.WakeResult{Success: true, AttemptsUsed: 1, Duration: time.Millisecond, PingTarget: h.Address, ReachedBy: "tcp"}, nil
}

func (stubLab) Reachable(context.Context, hosts.Host, time.Duration) (string, error) {
	return "tcp", nil
}

func (stubLab) RunCommand(_ context.Context, _ hosts.Host, command string, args []string, _ lab.CommandOptions) (lab.CommandResult, error) {
	return lab.CommandResult{ExitCode: 0, Stdout: command + " " + strings.Join(args, " "), Duration: time.Millisecond,
		Outcome: labstation.ClassifyExit(0)}, nil
}

func (stubLab) ReadHeartbeat(context.Context, hosts.Host, bool) (lab.HeartbeatRead, error) {
	hb, err := labstation.ParseHeartbeat([]byte(`{"schemaVersion":"1.0","timestamp":"2026-11-27T10:00:00Z","host":"lab-ws-01","summary":{"ready":true,"state":"ready","issues":[]}}`))
	if err != nil {
		return lab.HeartbeatRead{}, err
	}
	ev, err := labstation.ParseLastEvent([]byte(`{"timestamp":"2026-11-27T09:59:00Z","action":"warn","user":"u","session":"2"}`))
	if err != nil {
		return lab.HeartbeatRead{}, err
	}
	return lab.HeartbeatRead{Heartbeat: hb, LastEvent: ev, Duration: time.Millisecond}, nil
}

func (stubLab) SetLocalMode(context.Context, hosts.Host, bool) error { return nil }

// TestHandlers_RealService runs every route over the real use cases (a
// stub lab, no database): the answers of the real response types must
// match openapi.json too, and carry no password from the catalog.
func TestHandlers_RealService(t *testing.T) {
	catalog := map[string]any{"hosts": []map[string]any{{
		"name": knownHost, "address": "10.0.0.5", "mac": "00:11:22:33:44:55",
		"winrm_user": "lab", "winrm_pass": "env:TEST_PASS", "labs": []string{"1"},
	}}}
	raw, _ := json.Marshal(catalog)
	path := labsimtest.WriteHostsFile(t, raw)
	reg, _, err := hosts.NewRegistry(path, func(string) (string, bool) { return testPasswd, true })
	if err != nil {
		t.Fatal(err)
	}
	svc := &ops.Service{Registry: reg, Lab: stubLab{}, Version: "test", DBKind: "none",
		Settings: ops.Settings{AllowedCommands: labstation.DefaultAllowList()}}
	hs := newHarness(t, func(o *Options) { o.Service = svc })
	cases := []struct {
		method, target, body string
		want                 int
	}{
		{"GET", "/health", "", 200},
		{"POST", "/api/wol", `{"host":"lab-ws-01"}`, 200},
		{"POST", "/api/wol", `{"host":"lab-ws-09"}`, 404},
		{"POST", "/api/winrm", `{"host":"lab-ws-01","command":"status-json"}`, 200},
		{"POST", "/api/winrm", `{"host":"lab-ws-01","command":"format"}`, 400},
		// The override policy lives in the lab (the stub has none): here
		// only the password's absence from answers and logs is checked.
		{"POST", "/api/winrm", `{"host":"lab-ws-01","command":"status","password":"` + testPasswd + `"}`, 200},
		{"POST", "/api/heartbeat/poll", `{"host":"lab-ws-01"}`, 200},
		{"POST", "/api/reservations/start", `{"reservationId":"r1","host":"lab-ws-01","labId":"1"}`, 200},
		{"POST", "/api/reservations/end", `{"reservationId":"r1","host":"lab-ws-01","powerAction":{"mode":"hibernate"}}`, 200},
		{"GET", "/api/reservations/timeline?reservationId=r1", "", 500},
		{"GET", "/api/operations/recent", "", 500},
		{"POST", "/api/hosts/reload", "", 200},
		{"POST", "/api/hosts/quarantine", `{"host":"lab-ws-01"}`, 500},
		{"GET", "/api/hosts", "", 200},
		{"GET", "/api/openapi.json", "", 200},
	}
	for _, c := range cases {
		w := hs.do(t, c.method, c.target, c.body)
		if w.Code != c.want {
			t.Errorf("%s %s %s: got %d, want %d: %s", c.method, c.target, c.body, w.Code, c.want, w.Body)
		}
		if w.Code == 500 && errorOf(t, w).Error != "Database not configured" {
			t.Errorf("%s %s: %s", c.method, c.target, w.Body)
		}
	}
}

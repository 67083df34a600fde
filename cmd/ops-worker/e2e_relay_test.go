package main

// Issue 10: the local server configured with a relay drives labsim through
// it, and answers exactly what it answers in direct mode.

import (
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/logtest"
	"github.com/ops-worker/ops-worker/internal/relaytest"
)

const e2eRelaySecret = "relay-e2e-S3cret-0123456789abcdefghij"

// startRelayMode starts the worker with OPS_RELAY_URL pointing at a relay
// on loopback whose own catalog holds the stations' credentials; the
// worker's catalog holds none, so nothing can reach a station but through
// the relay.
func startRelayMode(t *testing.T, o e2eOpts) (*e2eEnv, *logtest.Buffer) {
	t.Helper()
	r := relaytest.Listen(t)
	env := map[string]string{"OPS_RELAY_URL": r.URL, "OPS_RELAY_SECRET": e2eRelaySecret}
	for k, v := range o.env {
		env[k] = v
	}
	o.env = env
	o.catalog = func(hs []map[string]any) {
		for _, h := range hs {
			delete(h, "winrm_pass")
		}
	}
	e := startE2E(t, o)
	e.secrets = append(e.secrets, e2eRelaySecret)
	doc, err := e.sim.HostsJSON()
	if err != nil {
		t.Fatal(err)
	}
	r.Load(t, doc, e2eRelaySecret)
	return e, r.Logs
}

// volatile are the values that differ from one run to the next (the two
// sims' ports and CA files among them).
var (
	volatile = regexp.MustCompile(`(?i)^(duration.*|.*_ms|.*Ms|requestid|id|operationId|port|.*_port|winrm_ca_file|graceSeconds)$`)
	// stamps are times inside a text (a command's stdout).
	stamps = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?`)
)

// normalize blanks durations, times, ids and the two sims' own ports,
// recursively.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if volatile.MatchString(k) {
				x[k] = "-"
				continue
			}
			x[k] = normalize(val)
		}
	case []any:
		for i := range x {
			x[i] = normalize(x[i])
		}
	case string:
		return stamps.ReplaceAllString(x, "-")
	}
	return v
}

// scenario is wake, command, heartbeat poll, reservation start and end,
// timeline: every answer, normalized.
func scenario(t *testing.T, e *e2eEnv) []string {
	t.Helper()
	var out []string
	add := func(name string, r e2eResp) {
		var v any
		if err := json.Unmarshal(r.raw, &v); err != nil {
			t.Fatalf("%s: %v: %s", name, err, r.raw)
		}
		b, _ := json.Marshal(normalize(v))
		out = append(out, name+" "+http.StatusText(r.code)+" "+string(b))
	}
	if !e.sim.Host("lab-ws-01").Asleep() {
		t.Fatal("lab-ws-01 should start asleep")
	}
	e.insertReservation(t, "r-relay", "1", "CONFIRMED", time.Now().Add(5*time.Minute))
	add("wol", e.do(t, "POST", "/api/wol", map[string]any{"host": "lab-ws-01"}))
	if e.sim.Host("lab-ws-01").Asleep() {
		t.Fatal("lab-ws-01 still asleep after /api/wol")
	}
	add("winrm", e.do(t, "POST", "/api/winrm", map[string]any{"host": "lab-ws-01", "command": "status", "args": []string{"--json"}}))
	add("winrm-refused", e.do(t, "POST", "/api/winrm", map[string]any{"host": "lab-ws-01", "command": "status", "use_ssl": false}))
	add("poll", e.do(t, "POST", "/api/heartbeat/poll", map[string]any{"host": "lab-ws-01"}))
	add("start", e.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "r-relay", "host": "lab-ws-01", "labId": "1"}))
	add("end", e.do(t, "POST", "/api/reservations/end", map[string]any{"reservationId": "r-relay", "host": "lab-ws-01", "labId": "1",
		"releaseArgs": []string{}, "powerAction": map[string]any{"mode": "shutdown"}}))
	deadline := time.Now().Add(5 * time.Second)
	for !e.sim.Host("lab-ws-01").Asleep() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	add("down", e.do(t, "POST", "/api/heartbeat/poll", map[string]any{"host": "lab-ws-01"}))
	add("timeline", e.do(t, "GET", "/api/reservations/timeline?reservationId=r-relay", nil))
	return out
}

func TestE2E_RelayMatchesDirect(t *testing.T) {
	opts := e2eOpts{hosts: []labsim.HostOptions{{Asleep: true}}}
	direct := startE2E(t, opts)
	want := scenario(t, direct)

	t.Logf("direct answers:\n%s", strings.Join(want, "\n"))
	viaRelay, relayLogs := startRelayMode(t, opts)
	got := scenario(t, viaRelay)
	for i := range want {
		if i >= len(got) || got[i] != want[i] {
			t.Errorf("answer %d:\n relay:  %s\n direct: %s", i, got[min(i, len(got)-1)], want[i])
		}
	}
	// The station saw the same command lines.
	lines := func(e *e2eEnv) []string {
		var out []string
		for _, c := range e.sim.Host("lab-ws-01").Commands() {
			if !strings.Contains(c.CommandLine, "powershell") {
				out = append(out, c.CommandLine)
			}
		}
		return out
	}
	if g, w := strings.Join(lines(viaRelay), "\n"), strings.Join(lines(direct), "\n"); g != w {
		t.Errorf("labsim received via the relay:\n%s\ndirectly:\n%s", g, w)
	}
	if !strings.Contains(relayLogs.String(), `"action":"command"`) {
		t.Errorf("relay audit log has no command line:\n%s", relayLogs)
	}

	r := viaRelay.do(t, "GET", "/health", nil)
	if rel := obj(t, r.body["relay"], "relay"); rel["configured"] != true || rel["reachable"] != true {
		t.Errorf("/health relay: %v", r.body["relay"])
	}
	r = direct.do(t, "GET", "/health", nil)
	if r.body["relay"] != nil {
		t.Errorf("/health relay in direct mode: %v", r.body["relay"])
	}
}

// A relay that does not answer: 502 RELAY_UNREACHABLE, and /health says so.
func TestE2E_RelayUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	e := startE2E(t, e2eOpts{env: map[string]string{"OPS_RELAY_URL": url, "OPS_RELAY_SECRET": e2eRelaySecret}})
	e.secrets = append(e.secrets, e2eRelaySecret)
	wantErr(t, e.do(t, "POST", "/api/winrm", map[string]any{"host": "lab-ws-01", "command": "status"}), 502, "RELAY_UNREACHABLE", "the relay for host 'lab-ws-01' did not answer")
	r := e.do(t, "GET", "/health", nil)
	if rel := obj(t, r.body["relay"], "relay"); rel["configured"] != true || rel["reachable"] != false {
		t.Errorf("/health relay: %v", r.body["relay"])
	}
	if n := len(e.sim.Host("lab-ws-01").Commands()); n != 0 {
		t.Errorf("labsim received %d commands", n)
	}
}

// The heartbeat tick reads the stations behind a relay in one signed batch
// request (not one request per station), and stores every heartbeat.
func TestE2E_RelayHeartbeatTickBatch(t *testing.T) {
	e, relayLogs := startRelayMode(t, e2eOpts{hosts: []labsim.HostOptions{{}, {}, {}}})
	r := e.do(t, "POST", "/api/ticks/heartbeats", nil)
	if r.code != 200 || r.body["polled"] != 3.0 || r.body["ok"] != 3.0 {
		t.Fatalf("heartbeat tick through the relay: %s", r)
	}
	var batches, singles int
	for _, line := range strings.Split(relayLogs.String(), "\n") {
		switch {
		case strings.Contains(line, `"action":"heartbeats"`):
			batches++
		case strings.Contains(line, `"action":"heartbeat"`):
			singles++
		}
	}
	if batches != 1 || singles != 0 {
		t.Errorf("relay saw %d batch and %d single heartbeat requests, want 1 and 0:\n%s", batches, singles, relayLogs)
	}
	hs := arr(t, e.do(t, "GET", "/api/hosts", nil).body["hosts"], "hosts")
	for _, h := range hs {
		hm := obj(t, h, "host")
		if hm["heartbeat"] == nil {
			t.Errorf("host %v: no heartbeat stored after the tick", hm["name"])
		}
	}
}

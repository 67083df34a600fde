package lambdafn_test

// Issue 10: the Lambda binaries under the emulator reach the stations only
// through a relay, and answer what the local server answers directly.

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/relaytest"
)

const relaySecret = "rie-relay-S3cret-0123456789abcdefghij"

// relayWorld is newWorld with a relay: the relay's catalog holds the
// station's credentials, the functions' catalog none of them, and
// OPS_RELAY_URL sends every host through the relay.
func relayWorld(t *testing.T) (twin, *labsim.Sim) {
	t.Helper()
	sim := labsimtest.Start(t, labsim.HostOptions{Name: "lab-ws-01"})
	full, err := sim.HostsJSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Hosts []map[string]any `json:"hosts"`
	}
	if err := json.Unmarshal(full, &doc); err != nil {
		t.Fatal(err)
	}
	for _, h := range doc.Hosts {
		delete(h, "winrm_pass")
	}
	stripped, _ := json.Marshal(doc)
	workerPath := labsimtest.WriteHostsFile(t, stripped)
	r := relaytest.Start(t, full, relaySecret)
	return twin{env: map[string]string{
		"OPS_CONFIG": workerPath, "MYSQL_DSN": dbtest.NewDatabase(t), "LAB_MANAGER_TOKEN": testToken,
		"OPS_WINRM_OPERATION_TIMEOUT": "5",
		"OPS_RELAY_URL":               r.URL, "OPS_RELAY_SECRET": relaySecret,
	}}, sim
}

func TestRIE_ThroughRelay(t *testing.T) {
	rieBinary(t)
	lw, sim := relayWorld(t)
	sw := newWorld(t, nil)
	migrateUnderRIE(t, lw)
	srv := localServer(t, sw)
	start := time.Now().UTC().Add(10 * time.Minute).Truncate(time.Minute)
	addReservation(t, lw, "rie-r", start)
	addReservation(t, sw, "rie-r", start)

	h := startRIE(t, "health", lw.env)
	got := h.do(t, call{method: "GET", path: "/health"})
	if m, _ := got.Body.(map[string]any); m == nil || !strings.Contains(mustJSON(m["relay"]), `"reachable":true`) {
		t.Errorf("health through the relay: %v", got.Body)
	}
	for _, tc := range []struct {
		fn string
		c  call
	}{
		{"wol", call{method: "POST", path: "/api/wol", body: `{"host":"lab-ws-01"}`, token: true}},
		{"winrm", call{method: "POST", path: "/api/winrm", body: `{"host":"lab-ws-01","command":"status-json"}`, token: true}},
		{"heartbeat-poll", call{method: "POST", path: "/api/heartbeat/poll", body: `{"host":"lab-ws-01"}`, token: true}},
		{"reservation-start", call{method: "POST", path: "/api/reservations/start", body: `{"reservationId":"rie-r","host":"lab-ws-01","labId":"1"}`, token: true}},
		{"reservation-end", call{method: "POST", path: "/api/reservations/end", body: `{"reservationId":"rie-r","host":"lab-ws-01","labId":"1","releaseArgs":[]}`, token: true}},
		{"reservation-timeline", call{method: "GET", path: "/api/reservations/timeline", query: "reservationId=rie-r", token: true}},
	} {
		e := startRIE(t, tc.fn, lw.env)
		got, want := e.do(t, tc.c), local(t, srv, tc.c)
		if got.Status != 200 {
			t.Errorf("%s: %d %v", tc.fn, got.Status, got.Body)
		}
		if gj, wj := mustJSON(got), mustJSON(want); gj != wj {
			t.Errorf("%s: function through the relay and local server directly differ:\nfunction: %s\nlocal:    %s", tc.fn, gj, wj)
		}
	}
	var lines []string
	for _, c := range sim.Host("lab-ws-01").Commands() {
		if !strings.Contains(c.CommandLine, "owershell") {
			lines = append(lines, c.CommandLine)
		}
	}
	if len(lines) != 3 { // status-json, prepare-session, release-session
		t.Errorf("labsim received through the relay: %q", lines)
	}
}

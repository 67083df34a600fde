package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ops-worker/ops-worker/internal/dbtest"
)

// TestPowerMock_StateSurvivesRestart: with OPS_POWER_MOCK_STATE_DIR a mock
// controller's outlets keep their state across a restart of the worker
// (one file per controller id), as a development strip should.
func TestPowerMock_StateSurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mock-state")
	env := map[string]string{"MYSQL_DSN": dbtest.NewDatabase(t), "OPS_POWER_MOCK_STATE_DIR": dir}
	catalog := metricsSim(t)
	m, base := startMetricsMain(t, catalog, env)
	if code, body, _ := send(t, "POST", base+"/api/power/controllers", `{"id":"pdu-m","name":"Mock PDU","driver":"mock","outlets":[{"outlet":"1"},{"outlet":"2"}]}`, tokenHdr); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body, _ := send(t, "POST", base+"/api/power/controllers/pdu-m/outlets/2/commands", `{"command":"set_state","state":"on","idempotencyKey":"mock-restart-1"}`, tokenHdr); code != 200 {
		t.Fatalf("switch: %d %s", code, body)
	}
	m.Close()
	if _, err := os.Stat(filepath.Join(dir, "mock-pdu-m.json")); err != nil {
		t.Fatalf("no state file: %v", err)
	}

	_, base = startMetricsMain(t, catalog, env)
	code, body, _ := send(t, "GET", base+"/api/power/controllers", "", tokenHdr)
	if code != 200 {
		t.Fatalf("list: %d %s", code, body)
	}
	var resp struct {
		Controllers []struct {
			ID      string `json:"id"`
			Outlets []struct {
				Outlet string `json:"outlet"`
				State  string `json:"state"`
			} `json:"outlets"`
		} `json:"controllers"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil || len(resp.Controllers) != 1 {
		t.Fatalf("list: %v %s", err, body)
	}
	got := map[string]string{}
	for _, o := range resp.Controllers[0].Outlets {
		got[o.Outlet] = o.State
	}
	if got["1"] != "off" || got["2"] != "on" {
		t.Errorf("after the restart outlets are %v, want 1 off and 2 on", got)
	}
}

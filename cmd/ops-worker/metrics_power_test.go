package main

import (
	"testing"

	"github.com/ops-worker/ops-worker/internal/metrics/metricstest"
)

// TestMetrics_PowerCommand: manual outlet commands through the API on a
// "mock" controller (the real drivers' mock, no SNMP), then what /metrics
// says: the operations counter by driver, action and result, the outlet
// gauge, the required-step failures; an idempotent replay counts nothing.
func TestMetrics_PowerCommand(t *testing.T) {
	_, base := startMetricsMain(t, metricsSim(t), nil)
	post := func(path, body string, want int) string {
		t.Helper()
		code, resp, _ := send(t, "POST", base+path, body, tokenHdr)
		if code != want {
			t.Fatalf("POST %s: %d, want %d: %s", path, code, want, resp)
		}
		return resp
	}
	// Outlet 9 is in the catalog but not on the mock strip (8 outlets).
	post("/api/power/controllers", `{"id":"pdu-m","name":"Mock PDU","driver":"mock","outlets":[{"outlet":"1"},{"outlet":"2"},{"outlet":"9"}]}`, 201)
	post("/api/power/controllers", `{"id":"pdu-off","name":"Disabled PDU","driver":"mock","enabled":false,"outlets":[{"outlet":"1"}]}`, 201)

	f := scrapeMain(t, base)
	if v, ok := metricstest.Value(f, "ops_power_required_step_failures_total", lbl{"phase": "manual"}); !ok || v != 0 {
		t.Errorf("required failures before any step: %v, %v, want a series at 0", v, ok)
	}

	cmd := func(ctl, outlet, body string, want int) {
		t.Helper()
		post("/api/power/controllers/"+ctl+"/outlets/"+outlet+"/commands", body, want)
	}
	cmd("pdu-m", "1", `{"command":"set_state","state":"on","idempotencyKey":"m-1","reason":"metrics test"}`, 200)
	cmd("pdu-m", "1", `{"command":"set_state","state":"on","idempotencyKey":"m-1","reason":"metrics test"}`, 200) // replay
	f = scrapeMain(t, base)
	if v, _ := metricstest.Value(f, "ops_power_operations_total", lbl{"driver": "mock", "action": "on", "result": "success"}); v != 1 {
		t.Errorf("ops_power_operations_total{mock,on,success} = %v, want 1 (the replay switches nothing and counts nothing)", v)
	}
	if v, ok := metricstest.Value(f, "ops_power_operation_duration_seconds", lbl{"driver": "mock", "action": "on"}); !ok || v != 1 {
		t.Errorf("ops_power_operation_duration_seconds{mock,on} count = %v, %v, want 1", v, ok)
	}
	if v, ok := metricstest.Value(f, "ops_power_outlet_state", lbl{"controller": "pdu-m", "outlet": "1"}); !ok || v != 1 {
		t.Errorf("ops_power_outlet_state{pdu-m,1} = %v, %v, want 1 (on)", v, ok)
	}

	cmd("pdu-m", "1", `{"command":"set_state","state":"off","idempotencyKey":"m-2"}`, 200)
	cmd("pdu-m", "9", `{"command":"set_state","state":"on","idempotencyKey":"m-3"}`, 502)
	cmd("pdu-off", "1", `{"command":"cycle","idempotencyKey":"m-4"}`, 502)
	f = scrapeMain(t, base)
	if v, ok := metricstest.Value(f, "ops_power_outlet_state", lbl{"controller": "pdu-m", "outlet": "1"}); !ok || v != 0 {
		t.Errorf("ops_power_outlet_state{pdu-m,1} = %v, %v, want 0 (off)", v, ok)
	}
	if v, ok := metricstest.Value(f, "ops_power_outlet_state", lbl{"controller": "pdu-m", "outlet": "9"}); !ok || v != -1 {
		t.Errorf("ops_power_outlet_state{pdu-m,9} = %v, %v, want -1 (unknown)", v, ok)
	}
	offs := 0.0
	for _, r := range []string{"success", "already_in_state"} {
		v, _ := metricstest.Value(f, "ops_power_operations_total", lbl{"driver": "mock", "action": "off", "result": r})
		offs += v
	}
	if offs != 1 {
		t.Errorf("ops_power_operations_total{mock,off} = %v, want 1", offs)
	}
	atLeast(t, f, "ops_power_operations_total", lbl{"driver": "mock", "action": "on", "result": "outlet-unknown"}, 1)
	atLeast(t, f, "ops_power_operations_total", lbl{"driver": "mock", "action": "cycle", "result": "disabled"}, 1)
	if v, _ := metricstest.Value(f, "ops_power_required_step_failures_total", lbl{"phase": "manual"}); v != 2 {
		t.Errorf("ops_power_required_step_failures_total{manual} = %v, want 2", v)
	}
	// A disabled controller is never read: no gauge for it.
	if v, ok := metricstest.Value(f, "ops_power_outlet_state", lbl{"controller": "pdu-off", "outlet": "1"}); ok {
		t.Errorf("ops_power_outlet_state{pdu-off,1} = %v for a disabled controller", v)
	}

	// The controller list's probe reads every catalog outlet.
	if code, body, _ := send(t, "GET", base+"/api/power/controllers", "", tokenHdr); code != 200 {
		t.Fatalf("GET /api/power/controllers: %d %s", code, body)
	}
	f = scrapeMain(t, base)
	if _, ok := metricstest.Value(f, "ops_power_outlet_state", lbl{"controller": "pdu-m", "outlet": "2"}); !ok {
		t.Error("ops_power_outlet_state{pdu-m,2}: the controller list's read is not observed")
	}
}

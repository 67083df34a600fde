package metrics_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/metrics"
	"github.com/ops-worker/ops-worker/internal/power"
	"github.com/ops-worker/ops-worker/internal/powerops"
)

func TestPower_Operations(t *testing.T) {
	m := metrics.New(metrics.Options{NoRuntime: true})
	// Before any step, each phase's required-failure series is there at 0
	// (so the alert's increase() sees the first failure).
	f := scrape(t, m)
	want(t, f, "ops_power_required_step_failures_total", L{"phase": "pre_start"}, 0)
	want(t, f, "ops_power_required_step_failures_total", L{"phase": "post_end"}, 0)

	ev := func(driver, action, phase, result string, required bool) powerops.OperationEvent {
		return powerops.OperationEvent{Controller: "pdu-1", Driver: driver, Action: action, Phase: phase, Result: result,
			Required: required, Duration: 250 * time.Millisecond}
	}
	m.PowerOperation(ev(power.DriverAPC, power.ActionOn, power.PhasePreStart, powerops.ResultSuccess, true))
	m.PowerOperation(ev(power.DriverAPC, power.ActionOn, power.PhasePreStart, powerops.ResultSuccess, true))
	m.PowerOperation(ev(power.DriverAPC, power.ActionOff, power.PhasePostEnd, powerops.ResultAlreadyInState, true))
	m.PowerOperation(ev(power.DriverAPC, power.ActionOn, power.PhasePreStart, power.CodeReadBackMismatch, true))
	m.PowerOperation(ev(power.DriverNetio, power.ActionCycle, power.PhasePostStart, power.CodeUnreachable, false))
	m.PowerOperation(ev(power.DriverMock, power.ActionOff, power.PhaseManual, powerops.ResultDisabled, true))
	// Unbounded values fold into other / failed.
	m.PowerOperation(ev("weird-driver", "explode", "no-phase", "some new code", true))
	f = scrape(t, m)
	want(t, f, "ops_power_operations_total", L{"driver": "apc-powernet-snmp", "action": "on", "result": "success"}, 2)
	want(t, f, "ops_power_operations_total", L{"driver": "apc-powernet-snmp", "action": "off", "result": "already_in_state"}, 1)
	want(t, f, "ops_power_operations_total", L{"driver": "apc-powernet-snmp", "action": "on", "result": "read-back-mismatch"}, 1)
	want(t, f, "ops_power_operations_total", L{"driver": "netio-json", "action": "cycle", "result": "unreachable"}, 1)
	want(t, f, "ops_power_operations_total", L{"driver": "mock", "action": "off", "result": "disabled"}, 1)
	want(t, f, "ops_power_operations_total", L{"driver": "other", "action": "other", "result": "failed"}, 1)
	absent(t, f, "ops_power_operations_total", L{"driver": "weird-driver", "action": "explode", "result": "some new code"})
	want(t, f, "ops_power_operation_duration_seconds", L{"driver": "apc-powernet-snmp", "action": "on"}, 3)
	// Required and failed only: the already-in-state and the optional
	// failure are not counted.
	want(t, f, "ops_power_required_step_failures_total", L{"phase": "pre_start"}, 1)
	want(t, f, "ops_power_required_step_failures_total", L{"phase": "post_start"}, 0)
	want(t, f, "ops_power_required_step_failures_total", L{"phase": "post_end"}, 0)
	want(t, f, "ops_power_required_step_failures_total", L{"phase": "manual"}, 1)
	want(t, f, "ops_power_required_step_failures_total", L{"phase": "other"}, 1)
}

func TestPower_OutletStateBounded(t *testing.T) {
	m := metrics.New(metrics.Options{NoRuntime: true})
	m.OutletState("pdu-1", "1", power.StateOn)
	m.OutletState("pdu-1", "2", power.StateOff)
	m.OutletState("pdu-1", "3", power.StateUnknown)
	m.OutletState("pdu-1", "4", "garbage")
	f := scrape(t, m)
	want(t, f, "ops_power_outlet_state", L{"controller": "pdu-1", "outlet": "1"}, 1)
	want(t, f, "ops_power_outlet_state", L{"controller": "pdu-1", "outlet": "2"}, 0)
	want(t, f, "ops_power_outlet_state", L{"controller": "pdu-1", "outlet": "3"}, -1)
	want(t, f, "ops_power_outlet_state", L{"controller": "pdu-1", "outlet": "4"}, -1)
	m.OutletState("pdu-1", "1", power.StateOff)
	want(t, scrape(t, m), "ops_power_outlet_state", L{"controller": "pdu-1", "outlet": "1"}, 0)

	// 4 pairs so far: 1024 more go past the cap.
	for i := range metrics.MaxOutletSeries {
		m.OutletState(fmt.Sprintf("c-%d", i/16), fmt.Sprint(i%16), power.StateOn)
	}
	m.OutletState("late", "1", power.StateOn)
	f = scrape(t, m)
	if n := len(f["ops_power_outlet_state"].GetMetric()); n != metrics.MaxOutletSeries {
		t.Errorf("%d outlet series, want the cap %d", n, metrics.MaxOutletSeries)
	}
	absent(t, f, "ops_power_outlet_state", L{"controller": "late", "outlet": "1"})
	// A pair that has its series goes on being updated past the cap.
	m.OutletState("pdu-1", "1", power.StateOn)
	want(t, scrape(t, m), "ops_power_outlet_state", L{"controller": "pdu-1", "outlet": "1"}, 1)
}

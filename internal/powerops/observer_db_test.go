package powerops_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/ops-worker/ops-worker/internal/powerops"
)

// recObserver records what powerops tells its Observer.
type recObserver struct {
	mu     sync.Mutex
	ops    []powerops.OperationEvent
	states []string // "controller/outlet=state"
}

func (o *recObserver) PowerOperation(ev powerops.OperationEvent) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ops = append(o.ops, ev)
}

func (o *recObserver) OutletState(controller, outlet, state string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.states = append(o.states, controller+"/"+outlet+"="+state)
}

func (o *recObserver) take() ([]powerops.OperationEvent, []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ops, states := o.ops, o.states
	o.ops, o.states = nil, nil
	return ops, states
}

func evString(ev powerops.OperationEvent) string {
	return fmt.Sprintf("%s %s %s %s %s required=%v", ev.Controller, ev.Driver, ev.Action, ev.Phase, ev.Result, ev.Required)
}

// A lab phase's executed steps reach the Observer once each, with their
// phase, required flag and result (a read-back mismatch is its code); a
// retried phase (the same keys) tells it nothing; the states read before
// and after each switch, and by the controller list, are told.
func TestObserver_Phase_MariaDB(t *testing.T) {
	r := newRig(t)
	r.want(t, 201, "POST", "/api/power/controllers", `{"id":"strip","name":"Strip","driver":"mock","outlets":[{"outlet":"1"},{"outlet":"2"}]}`)
	r.want(t, 200, "PUT", "/api/power/policies/4", `{"labId":"4","policyName":"obs","startFailureMode":"warn_and_continue","steps":[
	 {"id":"a","phase":"pre_start","sequence":1,"controllerId":"strip","outlet":"1","action":"on","readBackRequired":true},
	 {"id":"b","phase":"pre_start","sequence":2,"controllerId":"strip","outlet":"2","action":"on","required":false,"readBackRequired":false}]}`)
	d := r.driver("strip")
	if d == nil {
		r.want(t, 200, "GET", "/api/power/controllers", "")
		d = r.driver("strip")
	}
	r.obs.take()
	d.mu.Lock()
	d.readBack = "off" // outlet 1 reads off after the switch
	d.mu.Unlock()

	m := r.want(t, 200, "POST", "/api/labs/4/power/start", `{"reservationId":"obs-1"}`)
	if m["status"] != "warning" {
		t.Fatalf("phase: %v", m)
	}
	ops, states := r.obs.take()
	got := make([]string, len(ops))
	for i, ev := range ops {
		got[i] = evString(ev)
		if ev.Duration < 0 {
			t.Errorf("%s: duration %v", got[i], ev.Duration)
		}
	}
	want := []string{"strip mock on pre_start read-back-mismatch required=true", "strip mock on pre_start success required=false"}
	if !slices.Equal(got, want) {
		t.Errorf("operations told:\n got %q\nwant %q", got, want)
	}
	// Before (off) and after (off: the mismatch) for 1; before and after
	// (the fake reports "off" after every switch now, and 2 has no
	// read-back check) for 2.
	if wantStates := []string{"strip/1=off", "strip/1=off", "strip/2=off", "strip/2=off"}; !slices.Equal(states, wantStates) {
		t.Errorf("states told: %q, want %q", states, wantStates)
	}

	// Retried: the same keys. The step that succeeded (outlet 2) is not
	// run again; the one that failed (outlet 1's read-back) is tried once
	// more, and finds the outlet on.
	r.want(t, 200, "POST", "/api/labs/4/power/start", `{"reservationId":"obs-1"}`)
	if ops, _ := r.obs.take(); len(ops) != 1 || evString(ops[0]) != "strip mock on pre_start already_in_state required=true" {
		t.Errorf("a replay told %v, want outlet 1's step once", ops)
	}

	r.want(t, 200, "GET", "/api/power/controllers", "")
	_, states = r.obs.take()
	slices.Sort(states)
	// The fake holds what was asked: both on.
	if wantStates := []string{"strip/1=on", "strip/2=on"}; !slices.Equal(states, wantStates) {
		t.Errorf("controller list told %q, want %q", states, wantStates)
	}
}

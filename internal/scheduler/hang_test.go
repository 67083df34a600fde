package scheduler_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/scheduler"
)

// A station whose commands hang: the start flow's prepare-session ends at
// the command's own deadline (here OPS_WINRM_COMMAND_TIMEOUT, 3 s: the
// prepare runs --no-guard, so no guard grace raises it), recorded as the
// station not finishing in time, far inside the flow timeout (the app's
// backstop, minutes); the station's lock is free again once the tick
// returns, for another instance to take at once.
func TestReservationTick_HungPrepareEndsAtItsDeadline(t *testing.T) {
	w := newWorld(t, 1, nil)
	short := map[string]string{"OPS_WINRM_OPERATION_TIMEOUT": "1", "OPS_WINRM_READ_TIMEOUT": "2", "OPS_WINRM_COMMAND_TIMEOUT": "3"}
	a := w.newApp(t, short)
	other := w.newApp(t, short)
	sch := a.Scheduler()
	sch.Config.PrepareArgs = []string{"--no-guard"}
	const cmdDeadline = 3 * time.Second
	if ft := sch.Config.FlowTimeout; ft < 20*cmdDeadline {
		t.Fatalf("flow timeout %v: too close to the command deadline for this test", ft)
	}
	db := w.db(t)
	now := w.clock.Now()
	book(t, db, []booking{{id: "r-hang", lab: "1", start: now.Add(time.Minute), end: now.Add(time.Hour)}})
	st := w.sim.Host("lab-ws-001")
	st.SetFaults(labsim.Faults{Hang: true})

	ctx := context.Background()
	t0 := time.Now()
	sum, err := sch.ReservationTick(ctx, scheduler.Event{Source: "hang"})
	took := time.Since(t0)
	if err != nil || sum.Start.Failed != 1 {
		t.Fatalf("tick on a hung station: %+v, %v (log %s)", sum.Start, err, w.logs)
	}
	// Ordering, not timing: at least the command's deadline, and far
	// below the flow's (10 times the deadline is generous slack).
	if took < cmdDeadline || took > 10*cmdDeadline {
		t.Errorf("tick took %v: the hung prepare should end at its own deadline (%v), not the flow timeout (%v)",
			took, cmdDeadline, sch.Config.FlowTimeout)
	}
	unlock, err := other.Store().LockHost(ctx, "lab-ws-001", time.Second)
	if err != nil {
		t.Fatalf("station lock still held after the tick: %v", err)
	}
	unlock()

	tl, err := a.Service().Timeline(ctx, ops.TimelineRequest{ReservationID: "r-hang"})
	if err != nil {
		t.Fatal(err)
	}
	p := tl.Phases.Prepare
	if p == nil || p.Success || p.Message != "host 'lab-ws-001' did not finish in time" || !strings.Contains(string(p.Payload), `"error":"TIMEOUT"`) {
		t.Errorf("prepare step %+v", p)
	}
	if e := tl.Phases.Wake; e == nil || e.Action != "scheduler:start" || e.Success ||
		e.Message != "start flow failed at prepare: host 'lab-ws-001' did not finish in time" {
		t.Errorf("scheduler:start %+v", e)
	}
	var ran int
	for _, c := range st.Commands() {
		if strings.Contains(c.CommandLine, "prepare-session --no-guard") {
			ran++
		}
	}
	if ran != 1 {
		t.Errorf("the station got %d prepare-session commands, want 1", ran)
	}
}

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

// An end flow on a station that is asleep (host down: neither WinRM nor
// the probe answers) has no session to release and nothing to power down:
// release and power are recorded skipped with the reason and the booking
// is COMPLETED at once, not retried every cooldown until LOOKBACK. A
// station that answers with an error still fails the end flow (retried
// after the cooldown).
func TestReservationTick_EndOnAsleepStation(t *testing.T) {
	w := newWorld(t, 2, func(i int, o *labsim.HostOptions) { o.Asleep = i == 0 })
	a := w.newApp(t, nil)
	db := w.db(t)
	ctx := context.Background()
	now := w.clock.Now()
	book(t, db, []booking{
		{id: "r-asleep", lab: "1", start: now.Add(-time.Hour), end: now.Add(-2 * time.Minute), status: "ACTIVE"},
		{id: "r-error", lab: "2", start: now.Add(-time.Hour), end: now.Add(-2 * time.Minute), status: "ACTIVE"},
	})
	w.sim.Host("lab-ws-002").SetFaults(labsim.Faults{ExitCodes: map[string]int{"release-session": 2}})

	sum, err := a.Scheduler().ReservationTick(ctx, scheduler.Event{Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if s := sum.End; s.Candidates != 2 || s.Succeeded != 1 || s.Failed != 1 {
		t.Fatalf("end phase: %+v (log %s)", s, w.logs)
	}
	if got := statusOf(t, db, "r-asleep"); got != "COMPLETED" {
		t.Errorf("r-asleep is %s after its end flow", got)
	}
	if got := statusOf(t, db, "r-error"); got != "ACTIVE" {
		t.Errorf("r-error is %s after a failed release", got)
	}
	if n := len(w.sim.Host("lab-ws-001").Commands()); n != 0 {
		t.Errorf("the sleeping station ran %d commands", n)
	}

	tl, err := a.Service().Timeline(ctx, ops.TimelineRequest{ReservationID: "r-asleep"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, op := range tl.Operations {
		actions = append(actions, op.Action)
	}
	if got, want := strings.Join(actions, ","), "release,power:shutdown,scheduler:end"; got != want {
		t.Fatalf("r-asleep timeline %s, want %s", got, want)
	}
	p := tl.Phases
	if p.Release == nil || !p.Release.Success || p.Release.Status != ops.StatusCompleted ||
		p.Release.Message != "Skipped: station asleep (host down): nothing to release" ||
		!strings.Contains(string(p.Release.Payload), `"skipped":true`) {
		t.Errorf("release phase %+v", p.Release)
	}
	if p.Power == nil || !p.Power.Success || p.Power.Message != "Skipped: station asleep (host down): already powered down" {
		t.Errorf("power phase %+v", p.Power)
	}
	if e := p.SchedulerEnd; e == nil || !e.Success || e.Status != ops.StatusCompleted ||
		e.Message != "end flow completed: release and power:shutdown skipped, station asleep (host down)" {
		t.Errorf("scheduler:end %+v", e)
	}

	// The failed one is retried after the cooldown (and no sooner); the
	// completed one is not due again.
	w.clock.Advance(30 * time.Second)
	if sum, err := a.Scheduler().ReservationTick(ctx, scheduler.Event{}); err != nil || sum.End.Claimed != 0 {
		t.Fatalf("inside the cooldown: %+v, %v", sum.End, err)
	}
	w.sim.Host("lab-ws-002").SetFaults(labsim.Faults{})
	w.clock.Advance(31 * time.Second)
	sum, err = a.Scheduler().ReservationTick(ctx, scheduler.Event{})
	if err != nil || sum.End.Candidates != 1 || sum.End.Succeeded != 1 {
		t.Fatalf("after the cooldown: %+v, %v", sum.End, err)
	}
	if got := statusOf(t, db, "r-error"); got != "COMPLETED" {
		t.Errorf("r-error is %s after its retry", got)
	}
}

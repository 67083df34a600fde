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

// A start right after an end's shutdown: the station takes a while to go
// down after the power command (PowerOffDelay, as Windows does). The end
// flow waits, holding the station's lock, until the station stops
// answering ("power-off" confirmed), so the start flow that follows finds
// it asleep, wakes it and prepares it, and the next booking gets a station
// that stays up. Without the wait the start would prepare the station
// still answering, which then powers off under the new booking.
func TestReservationTick_StartRightAfterShutdown(t *testing.T) {
	const offDelay = 1500 * time.Millisecond
	w := newWorld(t, 1, func(_ int, o *labsim.HostOptions) {
		o.PowerOffDelay = offDelay
		o.SleepMode = labsim.SleepRefuse
	})
	a := w.newApp(t, nil)
	db := w.db(t)
	ctx := context.Background()
	st := w.sim.Host("lab-ws-001")
	now := w.clock.Now()
	lead := a.Scheduler().Config.Window.StartLead
	// A ended just over END_DELAY ago; B starts 5 s after START_LEAD from
	// now, so A's end flow does not hand over to it (it releases and
	// powers down) and B's start is due 10 s later.
	book(t, db, []booking{
		{id: "r-A", lab: "1", start: now.Add(-time.Hour), end: now.Add(-61 * time.Second), status: "ACTIVE"},
		{id: "r-B", lab: "1", start: now.Add(lead + 5*time.Second), end: now.Add(time.Hour)},
	})

	sum, err := a.Scheduler().ReservationTick(ctx, scheduler.Event{Source: "end"})
	if err != nil || sum.End.Succeeded != 1 || sum.Start.Candidates != 0 {
		t.Fatalf("A's end tick: %+v, %v (log %s)", sum, err, w.logs)
	}
	w.clock.Advance(10 * time.Second)
	sum, err = a.Scheduler().ReservationTick(ctx, scheduler.Event{Source: "start"})
	if err != nil || sum.Start.Succeeded != 1 {
		t.Fatalf("B's start tick: %+v, %v (log %s)", sum, err, w.logs)
	}
	// Whatever was scheduled on the station has happened by now.
	time.Sleep(offDelay + 500*time.Millisecond)
	if st.Asleep() {
		t.Fatal("the station went down after B's start flow prepared it")
	}
	if got := statusOf(t, db, "r-B"); got != "ACTIVE" {
		t.Errorf("B is %s", got)
	}

	// A's end recorded the wait.
	tl, err := a.Service().Timeline(ctx, ops.TimelineRequest{ReservationID: "r-A"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	var off *ops.OperationView
	for i, op := range tl.Operations {
		actions = append(actions, op.Action)
		if op.Action == ops.ActionPowerOff {
			off = &tl.Operations[i]
		}
	}
	if got, want := strings.Join(actions, ","), "release,power:shutdown,power-off,scheduler:end"; got != want {
		t.Fatalf("A's timeline %s, want %s", got, want)
	}
	if !off.Success || off.Status != ops.StatusCompleted || !strings.HasPrefix(off.Message, "Power-off confirmed after ") ||
		!strings.Contains(string(off.Payload), `"confirmed":true`) {
		t.Errorf("A's power-off step %+v", off)
	}
	if p := tl.Phases.Power; p == nil || p.Action != "power:shutdown" {
		t.Errorf("A's power phase %+v, want the power command's", p)
	}
}

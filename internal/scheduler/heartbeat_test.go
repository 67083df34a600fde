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

// The heartbeat tick: healthy stations polled and stored, a hanging one
// cut at its own deadline without delaying the others, a failing one
// recorded and, after repeated failures, backed off (visible in GET
// /api/hosts) until it answers again; a quarantined one skipped; a stale
// heartbeat flagged.
func TestHeartbeatTick(t *testing.T) {
	w := newWorld(t, 6, nil)
	a := w.newApp(t, map[string]string{"OPS_POLL_INTERVAL": "60"})
	sch := a.Scheduler()
	sch.Config.PollTimeout = 1500 * time.Millisecond
	ctx := context.Background()
	hang, fail, stale, quar := w.sim.Host("lab-ws-001"), w.sim.Host("lab-ws-002"), w.sim.Host("lab-ws-003"), "lab-ws-004"
	hang.SetFaults(labsim.Faults{Hang: true})
	fail.SetFaults(labsim.Faults{SchemaVersion: "2.0.0"}) // answers, but not a heartbeat it can read
	stale.SetFaults(labsim.Faults{StaleHeartbeat: true})
	if _, err := a.Service().SetQuarantine(ctx, ops.QuarantineRequest{Host: quar}); err != nil {
		t.Fatal(err)
	}

	t0 := time.Now()
	sum, err := sch.HeartbeatTick(ctx, scheduler.Event{Source: "test"})
	took := time.Since(t0)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Hosts != 6 || sum.Skipped != 1 || sum.Polled != 5 || sum.OK != 3 || sum.Failed != 2 || sum.Stale != 1 || sum.BackedOff != 0 {
		t.Fatalf("first tick: %+v", sum)
	}
	// The hang costs its own deadline, not more; the healthy polls were
	// not held up by it (each is far under it).
	if took > 3*time.Second {
		t.Errorf("tick took %v with a hanging station and a 1.5 s poll deadline", took)
	}
	for _, r := range sum.Results {
		if r.Outcome == scheduler.OutcomeOK && r.Duration > time.Second {
			t.Errorf("%s polled in %v: delayed by the hang?", r.Host, r.Duration)
		}
	}
	if !strings.Contains(w.logs.String(), "heartbeat tick: poll failed") {
		t.Error("failed poll not logged")
	}

	// Second failure in a row: backed off for one interval (60 s).
	w.clock.Advance(time.Minute)
	sum, _ = sch.HeartbeatTick(ctx, scheduler.Event{})
	if sum.Failed != 2 || sum.BackedOff != 0 {
		t.Fatalf("second tick: %+v", sum)
	}
	for _, f := range sum.Failures {
		if f.Failures != 2 || f.NextPollAt == nil || !f.NextPollAt.Equal(w.clock.Now().Add(time.Minute)) {
			t.Errorf("failure %+v: want 2 failures, next poll in 60 s", f)
		}
	}
	hs, err := a.Service().Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	backed := 0
	for _, h := range hs.Hosts {
		if h.Poll != nil && h.Poll.BackedOff && h.Poll.Failures == 2 && h.Poll.LastError != "" {
			backed++
		}
	}
	if backed != 2 {
		t.Errorf("GET /api/hosts shows %d hosts backed off, want 2", backed)
	}
	// Inside the back-off: skipped, not hammered.
	w.clock.Advance(30 * time.Second)
	before := fail.HTTPRequests()
	sum, _ = sch.HeartbeatTick(ctx, scheduler.Event{})
	if sum.BackedOff != 2 || sum.Polled != 3 || fail.HTTPRequests() != before {
		t.Fatalf("inside the back-off: %+v", sum)
	}
	// After it, with the station fixed: polled, back-off cleared. The
	// still-hanging one fails a third time: 120 s now.
	fail.SetFaults(labsim.Faults{})
	w.clock.Advance(31 * time.Second)
	sum, _ = sch.HeartbeatTick(ctx, scheduler.Event{})
	if sum.Polled != 5 || sum.Failed != 1 || len(sum.Failures) != 1 || sum.Failures[0].Failures != 3 ||
		!sum.Failures[0].NextPollAt.Equal(w.clock.Now().Add(2*time.Minute)) {
		t.Fatalf("after the back-off: %+v", sum)
	}
	hs, _ = a.Service().Hosts(ctx)
	for _, h := range hs.Hosts {
		if h.Name == fail.Name() && h.Poll != nil {
			t.Errorf("%s back-off not cleared: %+v", h.Name, h.Poll)
		}
	}
}

func TestBackoff(t *testing.T) {
	c := scheduler.Config{BackoffBase: time.Minute, BackoffMax: 10 * time.Minute}
	for failures, want := range []time.Duration{0, 0, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute} {
		if got := c.Backoff(failures); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", failures, got, want)
		}
	}
	if got := c.Backoff(1000); got != 10*time.Minute {
		t.Errorf("Backoff(1000) = %v", got)
	}
}

package scheduler_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/scheduler"
	"github.com/ops-worker/ops-worker/internal/store"
)

// The whole life of a booking under the controlled clock: not due before
// the lead window, woken (asleep before) and prepared inside it and ACTIVE;
// released, powered down and COMPLETED after its end; every phase in the
// timeline. Beside it: a lab no host serves, a cancelled booking.
func TestReservationTick_Lifecycle(t *testing.T) {
	w := newWorld(t, 2, func(i int, o *labsim.HostOptions) { o.Asleep = i == 0 })
	a := w.newApp(t, nil)
	db := w.db(t)
	now := w.clock.Now()
	start := now.Add(10 * time.Minute)
	book(t, db, []booking{
		{id: "r-1", lab: "1", start: start, end: start.Add(time.Hour)},
		{id: "r-nohost", lab: "99", start: start, end: start.Add(time.Hour)},
		{id: "r-cancelled", lab: "2", start: start, end: start.Add(time.Hour), status: "CANCELLED"},
	})
	ctx := context.Background()
	sch := a.Scheduler()

	// Ten minutes ahead: outside the 120 s lead, nothing is due.
	sum, err := sch.ReservationTick(ctx, scheduler.Event{Source: "test"})
	if err != nil || sum.Total.Candidates != 0 {
		t.Fatalf("early tick: %+v, %v", sum, err)
	}

	w.clock.Advance(9 * time.Minute) // 60 s before the start
	if !w.sim.Host("lab-ws-001").Asleep() {
		t.Fatal("lab-ws-001 should be asleep before the start")
	}
	sum, err = sch.ReservationTick(ctx, scheduler.Event{Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if s := sum.Start; s.Candidates != 2 || s.Claimed != 2 || s.Dispatched != 1 || s.Succeeded != 1 || s.NoHost != 1 {
		t.Fatalf("start phase: %+v (log: %s)", s, w.logs)
	}
	if got := statusOf(t, db, "r-1"); got != "ACTIVE" {
		t.Fatalf("r-1 is %s after its start", got)
	}
	if w.sim.Host("lab-ws-001").Asleep() {
		t.Fatal("lab-ws-001 not woken")
	}
	if got := statusOf(t, db, "r-cancelled"); got != "CANCELLED" {
		t.Fatalf("cancelled booking moved to %s", got)
	}
	for _, c := range w.sim.Host("lab-ws-002").Commands() {
		t.Errorf("lab-ws-002 (cancelled booking only) ran %q", c.CommandLine)
	}
	// No host: recorded failed with the older worker's message.
	ops0, _, err := a.Store().ListOperations(ctx, "r-nohost", 10, 0)
	if err != nil || len(ops0) != 1 || ops0[0].Action != "scheduler:start" || ops0[0].Success ||
		ops0[0].Message != "No host mapping for lab 99" {
		t.Fatalf("no-host record: %+v %v", ops0, err)
	}

	// A second tick inside the cooldown does nothing again.
	if sum, err := sch.ReservationTick(ctx, scheduler.Event{}); err != nil || sum.Total.Claimed != 0 {
		t.Fatalf("second tick: %+v %v", sum, err)
	}

	// After the end plus END_DELAY: released, powered down, COMPLETED.
	w.clock.Advance(time.Minute + time.Hour + 61*time.Second)
	sum, err = sch.ReservationTick(ctx, scheduler.Event{})
	if err != nil {
		t.Fatal(err)
	}
	if s := sum.End; s.Succeeded != 1 || s.NoHost != 1 {
		t.Fatalf("end phase: %+v (log: %s)", s, w.logs)
	}
	if got := statusOf(t, db, "r-1"); got != "COMPLETED" {
		t.Fatalf("r-1 is %s after its end", got)
	}
	waitFor(t, 5*time.Second, "lab-ws-001 powered down", func() bool { return w.sim.Host("lab-ws-001").Asleep() })
	var lines []string
	for _, c := range w.sim.Host("lab-ws-001").Commands() {
		lines = append(lines, c.CommandLine)
	}
	joined := strings.Join(lines, "\n")
	for _, want := range []string{"prepare-session --guard-grace=90", "release-session", "power shutdown"} {
		if !strings.Contains(joined, want) {
			t.Errorf("lab-ws-001 commands %q lack %q", lines, want)
		}
	}
	if strings.Contains(joined, "--reboot") {
		t.Errorf("release with --reboot before a shutdown: %q", lines)
	}

	tl, err := a.Service().Timeline(ctx, ops.TimelineRequest{ReservationID: "r-1"})
	if err != nil {
		t.Fatal(err)
	}
	p := tl.Phases
	if p.Wake == nil || p.Prepare == nil || p.Release == nil || p.Power == nil || p.SchedulerEnd == nil {
		t.Fatalf("timeline phases incomplete: %+v", p)
	}
	var actions []string
	for _, op := range tl.Operations {
		actions = append(actions, op.Action)
		if strings.HasPrefix(op.Action, "scheduler:") {
			var pl struct {
				Response   json.RawMessage `json:"response"`
				StatusCode int             `json:"status_code"`
			}
			if err := json.Unmarshal(op.Payload, &pl); err != nil || pl.StatusCode != 200 || len(pl.Response) == 0 {
				t.Errorf("%s payload %s: %v", op.Action, op.Payload, err)
			}
		}
	}
	if got, want := strings.Join(actions, ","), "wake,prepare,scheduler:start,release,power:shutdown,power-off,scheduler:end"; got != want {
		t.Errorf("timeline actions %s, want %s", got, want)
	}
}

// A failed start is recorded and blocks a retry for the cooldown, then is
// retried; a tick that died between claim and record leaves its claim to
// expire after the cooldown.
func TestReservationTick_RetryAndDeadTick(t *testing.T) {
	w := newWorld(t, 2, nil)
	a := w.newApp(t, map[string]string{"OPS_RESERVATION_RETRY_COOLDOWN": "60"})
	db := w.db(t)
	ctx := context.Background()
	now := w.clock.Now()
	book(t, db, []booking{
		{id: "r-fail", lab: "1", start: now.Add(time.Minute), end: now.Add(time.Hour)},
		{id: "r-dead", lab: "2", start: now.Add(50 * time.Second), end: now.Add(time.Hour)},
	})
	w.sim.Host("lab-ws-001").SetFaults(labsim.Faults{ExitCodes: map[string]int{"prepare-session": 2}})
	// A tick that claims r-dead and dies before dispatching it.
	dead, err := a.Store().ClaimDue(ctx, store.PhaseStart, ops.ActionSchedulerStart, store.Window{
		StartLead: 2 * time.Minute, Lookback: time.Hour, RetryCooldown: time.Minute, MaxBatch: 1})
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead tick's claim: %v %v", dead, err)
	}
	deadID := dead[0].Reservation.ReservationID
	otherID := map[string]string{"r-fail": "r-dead", "r-dead": "r-fail"}[deadID]

	sch := a.Scheduler()
	sum, err := sch.ReservationTick(ctx, scheduler.Event{})
	if err != nil || sum.Start.Claimed != 1 || sum.Start.Candidates != 1 {
		t.Fatalf("first tick: %+v %v", sum.Start, err)
	}
	w.clock.Advance(30 * time.Second)
	if sum, _ := sch.ReservationTick(ctx, scheduler.Event{}); sum.Start.Claimed != 0 {
		t.Fatalf("inside the cooldown: %+v", sum.Start)
	}
	w.sim.Host("lab-ws-001").SetFaults(labsim.Faults{})
	w.clock.Advance(31 * time.Second)
	sum, err = sch.ReservationTick(ctx, scheduler.Event{})
	if err != nil {
		t.Fatal(err)
	}
	want := 2 // the dead tick's claim has expired, the failure's cooldown too
	if deadID == "r-fail" {
		want = 1 // (r-fail's first try was the dead one)
	}
	if sum.Start.Succeeded != want {
		t.Fatalf("after the cooldown: %+v (dead %s other %s) log %s", sum.Start, deadID, otherID, w.logs)
	}
	for _, id := range []string{"r-fail", "r-dead"} {
		if s := statusOf(t, db, id); s != "ACTIVE" {
			t.Errorf("%s is %s", id, s)
		}
	}
	recs, _, _ := a.Store().ListOperations(ctx, "r-fail", 50, 0)
	var starts []bool
	for _, r := range recs {
		if r.Action == "scheduler:start" {
			starts = append(starts, r.Success)
		}
	}
	if deadID != "r-fail" && (len(starts) != 2 || starts[0] || !starts[1]) {
		t.Errorf("r-fail scheduler:start records %v, want [false true]", starts)
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A Lambda-sized pool (2 connections) does not deadlock: host locks never
// take the connections their flows' writes need.
func TestReservationTick_SmallPool(t *testing.T) {
	w := newWorld(t, 4, nil)
	a := w.newApp(t, nil)
	a.Store().DB.SetMaxOpenConns(2)
	db := w.db(t)
	bs := bookAllDue(t, w, db, 20, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	obs := &recorder{}
	a.Scheduler().Observer = scheduler.Observers{obs}
	sum, err := a.Scheduler().ReservationTick(ctx, scheduler.Event{})
	if err != nil || sum.Start.Succeeded != len(bs) {
		t.Fatalf("tick on a 2-connection pool: %+v %v", sum.Start, err)
	}
	if len(obs.res) != 1 || obs.res[0].Total.Succeeded != len(bs) || obs.res[0].Duration <= 0 {
		t.Errorf("observer saw %+v", obs.res)
	}
}

// recorder is an Observer keeping what it is told.
type recorder struct {
	hb  []scheduler.HeartbeatSummary
	res []scheduler.ReservationSummary
}

func (r *recorder) HeartbeatTick(s scheduler.HeartbeatSummary, _ error)     { r.hb = append(r.hb, s) }
func (r *recorder) ReservationTick(s scheduler.ReservationSummary, _ error) { r.res = append(r.res, s) }

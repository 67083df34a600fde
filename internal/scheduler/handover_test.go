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

// commandsSince are the LabStation commands a station ran from the n-th on.
func commandsSince(h *labsim.Host, n int) []string {
	var out []string
	for i, c := range h.Commands() {
		if i >= n {
			out = append(out, c.CommandLine)
		}
	}
	return out
}

// Back-to-back bookings on one lab under API.md's windows (start lead
// 120 s, end delay 60 s): A 10:00-10:10, B 10:10-10:20 (relative). B's
// start is deferred while A runs (A's user is not disturbed before A's
// end), then runs at A's end; A's end flow, due 60 s into B, skips the
// release and the power step (B's user is not logged off, the station not
// powered down under B), and A still ends COMPLETED; B's own end releases
// and powers down.
func TestReservationTick_BackToBack(t *testing.T) {
	w := newWorld(t, 1, func(i int, o *labsim.HostOptions) { o.Asleep = true })
	a := w.newApp(t, nil)
	db := w.db(t)
	ctx := context.Background()
	sch := a.Scheduler()
	st := w.sim.Host("lab-ws-001")
	t0 := w.clock.Now()
	aStart := t0.Add(10 * time.Minute)
	aEnd := aStart.Add(10 * time.Minute)
	bEnd := aEnd.Add(10 * time.Minute)
	book(t, db, []booking{
		{id: "r-A", lab: "1", start: aStart, end: aEnd},
		{id: "r-B", lab: "1", start: aEnd, end: bEnd},
	})
	tick := func(at time.Time) scheduler.ReservationSummary {
		t.Helper()
		w.clock.Advance(at.Sub(w.clock.Now()))
		sum, err := sch.ReservationTick(ctx, scheduler.Event{Source: "test"})
		if err != nil {
			t.Fatalf("tick at %s: %v (log %s)", at.Sub(t0), err, w.logs)
		}
		return sum
	}

	// A's start: woken, prepared, ACTIVE. A's user sits at the console.
	if sum := tick(aStart.Add(-time.Minute)); sum.Start.Succeeded != 1 {
		t.Fatalf("A's start: %+v (log %s)", sum.Start, w.logs)
	}
	if got := statusOf(t, db, "r-A"); got != "ACTIVE" {
		t.Fatalf("A is %s", got)
	}
	st.SetLocalUser("alice")
	nA := len(st.Commands())

	// 90 s before A's end, B's start is due (inside the lead) but A still
	// runs: deferred, nothing sent to the station, B still CONFIRMED.
	for _, before := range []time.Duration{90 * time.Second, 30 * time.Second, time.Second} {
		sum := tick(aEnd.Add(-before))
		if s := sum.Start; s.Candidates != 1 || s.Claimed != 1 || s.Skipped != 1 || s.Dispatched != 0 {
			t.Fatalf("B's start %s before A's end: %+v, want deferred", before, s)
		}
	}
	if got := commandsSince(st, nA); len(got) != 0 {
		t.Fatalf("station ran %q while A was still on it", got)
	}
	if u := st.LocalUser(); u != "alice" {
		t.Fatalf("A's user evicted before A's end (local user %q)", u)
	}
	if got := statusOf(t, db, "r-B"); got != "CONFIRMED" {
		t.Fatalf("B is %s before A's end", got)
	}

	// At A's end (B's start): B's start runs, on the station still awake.
	if sum := tick(aEnd); sum.Start.Succeeded != 1 || sum.End.Claimed != 0 {
		t.Fatalf("at A's end: %+v (log %s)", sum, w.logs)
	}
	if got := statusOf(t, db, "r-B"); got != "ACTIVE" {
		t.Fatalf("B is %s after its start", got)
	}
	nB := len(st.Commands())

	// 61 s into B, A's end flow: no step, recorded, A COMPLETED.
	sum := tick(aEnd.Add(61 * time.Second))
	if s := sum.End; s.Candidates != 1 || s.Succeeded != 1 || s.Failed != 0 {
		t.Fatalf("A's end: %+v (log %s)", s, w.logs)
	}
	if got := statusOf(t, db, "r-A"); got != "COMPLETED" {
		t.Errorf("A is %s after its end", got)
	}
	if got := statusOf(t, db, "r-B"); got != "ACTIVE" {
		t.Errorf("B is %s after A's end", got)
	}
	time.Sleep(500 * time.Millisecond) // a power action would land within 300 ms + boot delay
	if got := commandsSince(st, nB); len(got) != 0 {
		t.Errorf("A's end flow ran %q on the station B is using", got)
	}
	if st.Asleep() {
		t.Error("station powered down under B")
	}
	tl, err := a.Service().Timeline(ctx, ops.TimelineRequest{ReservationID: "r-A"})
	if err != nil {
		t.Fatal(err)
	}
	if p := tl.Phases; p.SchedulerEnd == nil || p.Release != nil || p.Power != nil {
		t.Fatalf("A's phases: %+v", p)
	}
	end := tl.Phases.SchedulerEnd
	if want := "Release and power skipped: reservation r-B follows on the same lab"; end.Message != want || !end.Success ||
		end.Status != ops.StatusCompleted || end.ResponseCode == nil || *end.ResponseCode != 200 {
		t.Errorf("A's scheduler:end: %+v, want completed %q", end, want)
	}
	if !strings.Contains(string(end.Payload), `"status_code":200`) || !strings.Contains(string(end.Payload), `"nextReservationId":"r-B"`) {
		t.Errorf("A's scheduler:end payload %s", end.Payload)
	}
	var actions []string
	for _, op := range tl.Operations {
		actions = append(actions, op.Action)
	}
	if got, want := strings.Join(actions, ","), "wake,prepare,scheduler:start,scheduler:end"; got != want {
		t.Errorf("A's timeline %s, want %s", got, want)
	}

	// B's end: nothing follows, released and powered down.
	if sum := tick(bEnd.Add(61 * time.Second)); sum.End.Succeeded != 1 {
		t.Fatalf("B's end: %+v (log %s)", sum.End, w.logs)
	}
	if got := statusOf(t, db, "r-B"); got != "COMPLETED" {
		t.Errorf("B is %s after its end", got)
	}
	got := strings.Join(commandsSince(st, nB), "\n")
	if !strings.Contains(got, "release-session") || !strings.Contains(got, "power shutdown") {
		t.Errorf("B's end ran %q", got)
	}
	waitFor(t, 5*time.Second, "station powered down after B", st.Asleep)
}

// The end flow's look-ahead is START_LEAD: a booking that starts within it
// after the end flow runs keeps the station up (lab 1: B 90 s after A's
// end, so 30 s after A's end flow); one starting later does not (lab 2: D
// 5 minutes after C's end: C is released and powered down as usual, and D's
// start wakes the station again).
func TestReservationTick_EndLooksAheadStartLead(t *testing.T) {
	w := newWorld(t, 2, nil)
	a := w.newApp(t, nil)
	db := w.db(t)
	ctx := context.Background()
	now := w.clock.Now()
	end := now.Add(-61 * time.Second) // A's and C's end flows are due now
	book(t, db, []booking{
		{id: "r-A", lab: "1", start: end.Add(-time.Hour), end: end, status: "ACTIVE"},
		{id: "r-B", lab: "1", start: end.Add(90 * time.Second), end: end.Add(time.Hour)},
		{id: "r-C", lab: "2", start: end.Add(-time.Hour), end: end, status: "ACTIVE"},
		{id: "r-D", lab: "2", start: end.Add(5 * time.Minute), end: end.Add(time.Hour)},
	})
	sum, err := a.Scheduler().ReservationTick(ctx, scheduler.Event{Source: "test"})
	if err != nil || sum.End.Succeeded != 2 {
		t.Fatalf("end phase: %+v %v (log %s)", sum.End, err, w.logs)
	}
	for id, want := range map[string]string{"r-A": "COMPLETED", "r-C": "COMPLETED", "r-B": "ACTIVE", "r-D": "CONFIRMED"} {
		if got := statusOf(t, db, id); got != want {
			t.Errorf("%s is %s, want %s", id, got, want)
		}
	}
	var one []string
	for _, c := range w.sim.Host("lab-ws-001").Commands() {
		one = append(one, c.CommandLine)
	}
	if j := strings.Join(one, "\n"); strings.Contains(j, "release-session") || strings.Contains(j, "power ") {
		t.Errorf("lab-ws-001 (B follows within the lead) ran %q", one)
	}
	var two []string
	for _, c := range w.sim.Host("lab-ws-002").Commands() {
		two = append(two, c.CommandLine)
	}
	if j := strings.Join(two, "\n"); !strings.Contains(j, "release-session") || !strings.Contains(j, "power shutdown") {
		t.Errorf("lab-ws-002 (D starts after the lead) ran %q", two)
	}
	waitFor(t, 5*time.Second, "lab-ws-002 powered down", w.sim.Host("lab-ws-002").Asleep)
	recs, _, err := a.Store().ListOperations(ctx, "r-A", 10, 0)
	if err != nil || len(recs) != 1 || recs[0].Message != "Release and power skipped: reservation r-B follows on the same lab" {
		t.Errorf("r-A records: %+v %v", recs, err)
	}
}

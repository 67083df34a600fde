package scheduler_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/scheduler"
)

const (
	concStations = 100
	concBookings = 1000
	concTicks    = 8
)

// bookAllDue books n reservations over the world's stations (lab i+1 is
// station i), every start inside [now - 30 s, now + 100 s]: all due.
func bookAllDue(t testing.TB, w *world, db *sql.DB, n, stations int) []booking {
	now := w.clock.Now()
	bs := make([]booking, n)
	for i := range bs {
		st := now.Add(time.Duration(i%130-30) * time.Second)
		bs[i] = booking{id: fmt.Sprintf("c-%05d", i), lab: fmt.Sprint(i%stations + 1), start: st, end: st.Add(time.Hour)}
	}
	book(t, db, bs)
	return bs
}

// checkExactlyOnce: every booking ACTIVE, one prepare-session per booking
// on its station, one prepare and one scheduler:start record each.
func checkExactlyOnce(t testing.TB, w *world, db *sql.DB, bs []booking, stations int) {
	t.Helper()
	if got := statusCounts(t, db); got["ACTIVE"] != len(bs) {
		t.Errorf("statuses %v, want %d ACTIVE", got, len(bs))
	}
	per := map[string]int{}
	for _, b := range bs {
		per[fmt.Sprintf("lab-ws-%03d", mustAtoi(b.lab))]++
	}
	got := prepares(w.sim)
	dup, miss := 0, 0
	for name, want := range per {
		if got[name] > want {
			dup += got[name] - want
		} else {
			miss += want - got[name]
		}
	}
	if dup != 0 || miss != 0 {
		t.Errorf("labsim prepare-session: %d duplicates, %d missing", dup, miss)
	}
	for _, action := range []string{"prepare", "scheduler:start"} {
		counts := opCounts(t, db, action)
		bad := 0
		for _, b := range bs {
			if counts[b.id] != 1 {
				bad++
				if bad <= 5 {
					t.Errorf("%s has %d %s records", b.id, counts[b.id], action)
				}
			}
		}
		if bad > 0 {
			t.Errorf("%d bookings without exactly one %s record", bad, action)
		}
	}
}

// tickAll runs one reservation tick on each scheduler at once (each its
// own worker instance) and sums their phases; a tick's error fails t.
func tickAll(t testing.TB, schs []*scheduler.Scheduler) scheduler.ReservationSummary {
	t.Helper()
	var wg sync.WaitGroup
	sums := make([]scheduler.ReservationSummary, len(schs))
	errs := make([]error, len(schs))
	for i, s := range schs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sums[i], errs[i] = s.ReservationTick(context.Background(), scheduler.Event{Source: fmt.Sprint("tick-", i)})
		}()
	}
	wg.Wait()
	var total scheduler.ReservationSummary
	for i, sum := range sums {
		if errs[i] != nil {
			t.Errorf("tick %d: %v", i, errs[i])
		}
		addPhase(&total.Start, sum.Start)
		addPhase(&total.End, sum.End)
	}
	return total
}

func addPhase(to *scheduler.PhaseSummary, p scheduler.PhaseSummary) {
	to.Candidates += p.Candidates
	to.Claimed += p.Claimed
	to.Dispatched += p.Dispatched
	to.Succeeded += p.Succeeded
	to.Failed += p.Failed
	to.Skipped += p.Skipped
	to.NoHost += p.NoHost
}

func mustAtoi(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}

// 8 reservation ticks at once, each its own worker instance with its own
// pool, over 1,000 due bookings on 100 stations: every booking is
// dispatched exactly once (labsim saw one prepare-session per booking) and
// ends ACTIVE. OPS_TEST_TICK_REPS repeats it (make test-ticks: 10).
func TestReservationTick_ConcurrentExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	for rep := range reps() {
		t.Run(fmt.Sprint("rep", rep+1), func(t *testing.T) {
			w := newWorld(t, concStations, nil)
			var schs []*scheduler.Scheduler
			for range concTicks {
				schs = append(schs, w.newApp(t, nil).Scheduler())
			}
			db := w.db(t)
			bs := bookAllDue(t, w, db, concBookings, concStations)
			t0 := time.Now()
			total := tickAll(t, schs).Start
			t.Logf("%d ticks, %d bookings, %d stations: %v; claimed %d succeeded %d failed %d skipped %d",
				concTicks, concBookings, concStations, time.Since(t0).Round(time.Millisecond),
				total.Claimed, total.Succeeded, total.Failed, total.Skipped)
			if total.Claimed != concBookings || total.Succeeded != concBookings {
				t.Errorf("claimed %d succeeded %d, want %d each", total.Claimed, total.Succeeded, concBookings)
			}
			checkExactlyOnce(t, w, db, bs, concStations)
		})
	}
}

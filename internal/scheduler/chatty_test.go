package scheduler_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/scheduler"
	"github.com/ops-worker/ops-worker/internal/store"
)

// A station whose release-session prints 4 MiB of characters JSON escapes
// to six bytes: the scheduler:end record (the whole flow answer, 24 MiB
// as marshalled, past MariaDB's 16 MiB max_allowed_packet) is stored,
// bounded like every other record, and the timeline stays small.
func TestReservationTick_ChattyStationRecorded(t *testing.T) {
	w := newWorld(t, 1, nil)
	w.sim.Host("lab-ws-001").SetFaults(labsim.Faults{Output: map[string]string{
		"release-session": strings.Repeat("<>&", 4<<20/3)}})
	a := w.newApp(t, nil)
	db := w.db(t)
	start := w.clock.Now().Add(time.Minute)
	book(t, db, []booking{{id: "r-chatty", lab: "1", start: start, end: start.Add(time.Minute)}})
	ctx := context.Background()
	if sum, err := a.Scheduler().ReservationTick(ctx, scheduler.Event{}); err != nil || sum.Start.Succeeded != 1 {
		t.Fatalf("start tick: %+v %v (log: %s)", sum, err, w.logs)
	}
	w.clock.Advance(3*time.Minute + 61*time.Second)
	sum, err := a.Scheduler().ReservationTick(ctx, scheduler.Event{})
	if err != nil || sum.End.Succeeded != 1 {
		t.Fatalf("end tick: %+v %v", sum, err)
	}
	// An oversized record is refused by the server for good: it must be
	// bounded the first time, not retried for its whole window (what a
	// wall-clock bound here used to stand for, and failed under load).
	if strings.Contains(w.logs.String(), "database write failed; retrying") {
		t.Errorf("a write was retried: %s", w.logs)
	}
	if strings.Contains(w.logs.String(), "NOT RECORDED") {
		t.Errorf("a record was lost: %s", w.logs)
	}

	rows, err := db.QueryContext(ctx, `SELECT action, LENGTH(payload) FROM reservation_operations WHERE reservation_id = 'r-chatty' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var actions []string
	for rows.Next() {
		var action string
		var n int
		if err := rows.Scan(&action, &n); err != nil {
			t.Fatal(err)
		}
		actions = append(actions, action)
		if n > store.MaxPayloadBytes {
			t.Errorf("%s payload %d bytes, over %d", action, n, store.MaxPayloadBytes)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(actions, ",")
	for _, want := range []string{"scheduler:start", "release", "scheduler:end"} {
		if !strings.Contains(got, want) {
			t.Errorf("records %s lack %s", got, want)
		}
	}

	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/api/reservations/timeline?reservationId=r-chatty", nil)
	req.Header.Set("X-Lab-Manager-Token", "tick-token")
	a.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.Len() >= 1<<20 {
		t.Errorf("timeline: %d, %d bytes (want 200 under 1 MiB)", rec.Code, rec.Body.Len())
	}
	t.Logf("records %s; timeline %d bytes", got, rec.Body.Len())
}

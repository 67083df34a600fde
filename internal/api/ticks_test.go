package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/scheduler"
)

// fullTicks answers summaries with every field set, or err.
type fullTicks struct{ err error }

func (f fullTicks) HeartbeatTick(_ context.Context, ev scheduler.Event) (scheduler.HeartbeatSummary, error) {
	next := time.Date(2026, 11, 27, 12, 1, 0, 0, time.UTC)
	return scheduler.HeartbeatSummary{
		TickRun: scheduler.TickRun{Tick: "heartbeats", Source: ev.Source, StartedAt: next.Add(-time.Minute), DurationMs: 1234},
		Hosts:   5, Polled: 3, OK: 2, Failed: 1, Skipped: 1, BackedOff: 1, Stale: 1, NotStored: 0,
		Failures: []scheduler.PollFailure{{Host: "lab-ws-01", Code: "TIMEOUT", Error: "heartbeat poll timed out", Failures: 2, NextPollAt: &next},
			{Host: "lab-ws-02", Code: "HOST_UNREACHABLE", Error: "not answering"}},
	}, f.err
}

func (f fullTicks) ReservationTick(_ context.Context, ev scheduler.Event) (scheduler.ReservationSummary, error) {
	p := scheduler.PhaseSummary{Candidates: 3, Claimed: 2, Dispatched: 2, Succeeded: 1, Failed: 1, Skipped: 0, NoHost: 0}
	return scheduler.ReservationSummary{TickRun: scheduler.TickRun{Tick: "reservations", Source: ev.Source, StartedAt: time.Unix(0, 0).UTC()},
		Start: p, End: scheduler.PhaseSummary{Error: "end scan: boom"}, Total: p}, f.err
}

// The tick routes answer the summaries as the OpenAPI document says (the
// harness validates every answer), refuse a body that is not an object,
// answer 500 when a tick fails (the cause logged only) and 503 without a
// scheduler.
func TestTickRoutes(t *testing.T) {
	hs := newHarness(t, func(o *Options) { o.Ticks = fullTicks{} })
	w := hs.do(t, "POST", "/api/ticks/heartbeats", "")
	var hb map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &hb); err != nil || w.Code != http.StatusOK || hb["source"] != "http" || hb["failed"] != 1.0 {
		t.Errorf("heartbeats: %d %s", w.Code, w.Body)
	}
	if w := hs.do(t, "POST", "/api/ticks/reservations", "{}"); w.Code != http.StatusOK {
		t.Errorf("reservations: %d %s", w.Code, w.Body)
	}
	if w := hs.do(t, "POST", "/api/ticks/reservations", "[]"); w.Code != http.StatusBadRequest {
		t.Errorf("array body: %d", w.Code)
	}
	failing := newHarness(t, func(o *Options) { o.Ticks = fullTicks{err: errors.New("start scan: dial tcp: refused")} })
	if w := failing.do(t, "POST", "/api/ticks/reservations", ""); w.Code != http.StatusInternalServerError || errorOf(t, w).Code != ops.CodeInternal {
		t.Errorf("failed tick: %d %s", w.Code, w.Body)
	}
	none := newHarness(t, func(o *Options) { o.Ticks = nil })
	if w := none.do(t, "POST", "/api/ticks/heartbeats", ""); w.Code != http.StatusServiceUnavailable || errorOf(t, w).Code != ops.CodeSchedulerNotConfigured {
		t.Errorf("no scheduler: %d %s", w.Code, w.Body)
	}
}

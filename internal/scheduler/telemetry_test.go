package scheduler

import (
	"errors"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/telemetry"
)

type recordTicks struct {
	ticks   []telemetry.Tick
	backoff map[string]bool
}

func (r *recordTicks) ObserveTick(t telemetry.Tick) { r.ticks = append(r.ticks, t) }
func (r *recordTicks) ObserveBackoff(host string, backedOff bool, _ int, _ time.Time) {
	r.backoff[host] = backedOff
}

func TestTelemetryObserver(t *testing.T) {
	rec := &recordTicks{backoff: map[string]bool{}}
	obs := TelemetryObserver(rec, rec)
	next := time.Now().Add(time.Minute)
	obs.HeartbeatTick(HeartbeatSummary{TickRun: TickRun{Tick: "heartbeats", Duration: time.Second}, Polled: 5, Failed: 2, Skipped: 1, BackedOff: 3,
		Results: []HostResult{{Host: "a", Outcome: OutcomeOK}, {Host: "b", Outcome: OutcomeFailed, Failures: 2, NextPollAt: &next},
			{Host: "q", Outcome: OutcomeQuarantined}}}, nil)
	boom := errors.New("db down")
	obs.ReservationTick(ReservationSummary{TickRun: TickRun{Tick: "reservations"},
		Start: PhaseSummary{Claimed: 4, Dispatched: 3, Failed: 1, Skipped: 1, NoHost: 1},
		End:   PhaseSummary{Claimed: 2, Dispatched: 2}}, boom)
	if len(rec.ticks) != 2 {
		t.Fatalf("%d ticks observed", len(rec.ticks))
	}
	hb := rec.ticks[0]
	if hb.Kind != telemetry.TickHeartbeats || hb.Duration != time.Second || len(hb.Counts) != 1 ||
		hb.Counts[0] != (telemetry.Count{Phase: telemetry.PhasePoll, Dispatched: 5, Failed: 2, Skipped: 4}) {
		t.Errorf("heartbeat tick = %+v", hb)
	}
	rs := rec.ticks[1]
	if rs.Kind != telemetry.TickReservations || rs.Err != boom || rs.ClaimsTaken != 6 ||
		rs.Counts[0] != (telemetry.Count{Phase: telemetry.PhaseStart, Dispatched: 4, Failed: 2, Skipped: 1}) ||
		rs.Counts[1] != (telemetry.Count{Phase: telemetry.PhaseEnd, Dispatched: 2}) {
		t.Errorf("reservation tick = %+v", rs)
	}
	if rec.backoff["a"] || !rec.backoff["b"] {
		t.Errorf("back-off = %v", rec.backoff)
	}
	if _, seen := rec.backoff["q"]; seen {
		t.Error("a quarantined host reported")
	}
	// Nil observers observe nothing and do not panic.
	TelemetryObserver(nil, nil).HeartbeatTick(HeartbeatSummary{}, nil)
	TelemetryObserver(nil, nil).ReservationTick(ReservationSummary{}, nil)
}

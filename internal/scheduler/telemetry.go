package scheduler

import (
	"time"

	"github.com/ops-worker/ops-worker/internal/telemetry"
)

// TelemetryObserver turns tick summaries into telemetry: one
// telemetry.Tick per tick for ticks (Prometheus in the local server, an EMF
// line in Lambda) and each station's back-off state for backoff. Either may
// be nil.
func TelemetryObserver(ticks telemetry.TickObserver, backoff telemetry.BackoffObserver) Observer {
	return telemetryObserver{ticks: ticks, backoff: backoff}
}

type telemetryObserver struct {
	ticks   telemetry.TickObserver
	backoff telemetry.BackoffObserver
}

func (o telemetryObserver) HeartbeatTick(s HeartbeatSummary, err error) {
	if o.ticks != nil {
		o.ticks.ObserveTick(telemetry.Tick{
			Kind: telemetry.TickHeartbeats, Start: s.StartedAt, Duration: s.Duration, Err: err,
			Counts: []telemetry.Count{{Phase: telemetry.PhasePoll, Dispatched: s.Polled, Failed: s.Failed,
				Skipped: s.Skipped + s.BackedOff}},
		})
	}
	if o.backoff == nil {
		return
	}
	for _, r := range s.Results {
		if r.Outcome == OutcomeQuarantined {
			continue
		}
		var until time.Time
		if r.NextPollAt != nil {
			until = *r.NextPollAt
		}
		o.backoff.ObserveBackoff(r.Host, r.NextPollAt != nil, r.Failures, until)
	}
}

func (o telemetryObserver) ReservationTick(s ReservationSummary, err error) {
	if o.ticks == nil {
		return
	}
	count := func(phase string, p PhaseSummary) telemetry.Count {
		return telemetry.Count{Phase: phase, Dispatched: p.Dispatched + p.NoHost, Failed: p.Failed + p.NoHost, Skipped: p.Skipped}
	}
	o.ticks.ObserveTick(telemetry.Tick{
		Kind: telemetry.TickReservations, Start: s.StartedAt, Duration: s.Duration, Err: err,
		Counts:      []telemetry.Count{count(telemetry.PhaseStart, s.Start), count(telemetry.PhaseEnd, s.End)},
		ClaimsTaken: s.Start.Claimed + s.End.Claimed,
	})
}

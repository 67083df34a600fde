// Package telemetry is what the worker's scheduler reports about its
// ticks and stations, without any metrics library: the Tick summary, the
// observer interfaces that internal/metrics (Prometheus, local server)
// implements, and EMFLine, the CloudWatch Embedded Metric Format line a
// Lambda tick writes instead. It imports only the standard library, so a
// Lambda function can use it without linking Prometheus.
package telemetry

import (
	"time"
)

// Tick kinds.
const (
	TickHeartbeats   = "heartbeats"
	TickReservations = "reservations"
)

// Phases of a tick's items (Count.Phase).
const (
	PhasePoll  = "poll"  // heartbeat tick: one host polled
	PhaseStart = "start" // reservation tick: a start flow
	PhaseEnd   = "end"   // reservation tick: an end flow
)

// Tick is the summary of one tick run, what metrics and the EMF line are
// made of.
type Tick struct {
	// Kind is TickHeartbeats or TickReservations.
	Kind string
	// Start is when the tick began; zero: now, when observed.
	Start time.Time
	// Duration is how long the whole tick took.
	Duration time.Duration
	// Err is set when the tick as a whole failed (the database was
	// unreachable, ...), not when some items failed.
	Err error
	// Counts are the items by phase (PhasePoll; PhaseStart and PhaseEnd).
	Counts []Count
	// ClaimsTaken is how many (reservation, phase) claims this tick took;
	// ClaimsExpired how many of them were taken over from an earlier claim
	// whose cooldown had run out (a tick that died between claim and
	// record).
	ClaimsTaken   int
	ClaimsExpired int
}

// Count is what a tick did in one phase.
type Count struct {
	Phase string
	// Dispatched: items started (hosts polled, flows run); Failed: those
	// of them that failed; Skipped: items left alone this time (a host
	// backed off or quarantined, a reservation claimed by another tick).
	Dispatched, Failed, Skipped int
}

// Totals sums Counts over the phases.
func (t Tick) Totals() Count {
	var c Count
	for _, p := range t.Counts {
		c.Dispatched += p.Dispatched
		c.Failed += p.Failed
		c.Skipped += p.Skipped
	}
	return c
}

// TickObserver is told every tick's summary (internal/metrics implements
// it). It is called once per tick after it ended; it must be fast and safe
// for concurrent use.
type TickObserver interface {
	ObserveTick(Tick)
}

// BackoffObserver is told a station's back-off state whenever the
// heartbeat tick decides it (internal/metrics implements it): backedOff
// true while the station is left out of polls after failing repeatedly,
// failures the consecutive failed polls, until when it is left out (zero
// when not backed off).
type BackoffObserver interface {
	ObserveBackoff(host string, backedOff bool, failures int, until time.Time)
}

// Package scheduler holds the worker's two ticks: the heartbeat tick (poll
// every non-quarantined station, many at once, backing off the ones that
// keep failing) and the reservation tick (claim the reservations whose start
// or end is due, run their flow, record it, move their status).
//
// A tick is a plain method, func(ctx, Event) (Summary, error), with one code
// path for the three ways it is fired: the local server's timers (Timers),
// POST /api/ticks/heartbeats|reservations (internal/api), and a Lambda
// function on an EventBridge schedule. Any number of reservation ticks may
// run at once, in any number of instances, against one MySQL/MariaDB: the
// store's claims dispatch each due (reservation, phase) exactly once per
// cooldown window, and a database-wide lock per host keeps two flows off
// one station. The embedded in-memory database has no row locks, so the
// local server on it runs one reservation tick at a time (Scheduler runs
// ticks of one kind one at a time per instance anyway).
package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/retry"
)

// Event is what fired a tick. An EventBridge scheduled event decodes into
// it (its JSON has these fields); the HTTP routes and the local timers
// fill Source ("http", "timer"). Nothing in it changes what a tick does:
// it is logged.
type Event struct {
	ID         string    `json:"id,omitempty"`
	Source     string    `json:"source,omitempty"`
	DetailType string    `json:"detail-type,omitempty"`
	Time       time.Time `json:"time,omitzero"`
}

// TickRun is what every tick summary starts with (its JSON fields are the
// summary's own).
type TickRun struct {
	Tick       string    `json:"tick"` // "heartbeats" or "reservations"
	Source     string    `json:"source,omitempty"`
	StartedAt  time.Time `json:"startedAt"`
	DurationMs int64     `json:"durationMs"`
	// Duration is DurationMs as a time.Duration, for observers.
	Duration time.Duration `json:"-"`
}

func (s *Scheduler) newTickRun(tick string, ev Event) TickRun {
	return TickRun{Tick: tick, Source: ev.Source, StartedAt: s.now()}
}

// done sets the duration from the tick's start on the monotonic clock.
func (r *TickRun) done(t0 time.Time) {
	r.Duration = time.Since(t0)
	r.DurationMs = r.Duration.Milliseconds()
}

// Store is what the ticks need of the database (*store.Store has it; app checks).
type Store interface {
	ClaimDueCounted(ctx context.Context, phase, cooldownAction string, w domain.Window) ([]domain.Claimed, int, error)
	FinishClaim(ctx context.Context, c domain.Claim) error
	ReleaseClaim(ctx context.Context, c domain.Claim) error
	StillDue(ctx context.Context, c domain.Claimed, cooldownAction string, cooldown time.Duration) (string, error)
	TransitionStatus(ctx context.Context, reservationID, from, to string) (bool, error)
	OtherBooking(ctx context.Context, q domain.BookingQuery) (*domain.Reservation, error)
	RecordOperation(ctx context.Context, op domain.Operation) (int64, error)
	LockHost(ctx context.Context, host string, wait time.Duration) (unlock func(), err error)
	PollStates(ctx context.Context) (map[string]domain.PollState, error)
	RecordPollFailure(ctx context.Context, host, reason string, backoff func(failures int) time.Duration) (domain.PollState, error)
	ClearPollFailures(ctx context.Context, host string) error
	// IsPermanentError tells an error no retry gets past (a packet too
	// large, a syntax error, a constraint), so a write is not retried for
	// its whole deadline while the host lock is held.
	IsPermanentError(err error) bool
}

// Observer is told about every finished tick (metrics attach here without
// touching the ticks). Its methods must be quick and safe for concurrent
// use; err is the tick's error (nil when it ran).
type Observer interface {
	HeartbeatTick(s HeartbeatSummary, err error)
	ReservationTick(s ReservationSummary, err error)
}

// Observers fans a tick out to several observers.
type Observers []Observer

// HeartbeatTick implements Observer.
func (o Observers) HeartbeatTick(s HeartbeatSummary, err error) {
	for _, x := range o {
		x.HeartbeatTick(s, err)
	}
}

// ReservationTick implements Observer.
func (o Observers) ReservationTick(s ReservationSummary, err error) {
	for _, x := range o {
		x.ReservationTick(s, err)
	}
}

// Defaults of Config.
const (
	DefaultPollConcurrency     = 32
	DefaultPollTimeout         = 45 * time.Second
	DefaultBackoffBase         = time.Minute
	DefaultBackoffMax          = 30 * time.Minute
	DefaultBackoffAfter        = 2
	DefaultDispatchConcurrency = 8
	DefaultFlowTimeout         = 15 * time.Minute
	DefaultEndPower            = "shutdown"
	// DefaultPowerOffWait is OPS_RESERVATION_POWER_OFF_WAIT's default (the
	// configuration applies it; Config.PowerOffWait 0 is no wait): Windows
	// usually shuts down or hibernates within seconds to a minute (a
	// hibernate writes the memory out; an update at shutdown takes
	// longer, and is then not waited for).
	DefaultPowerOffWait = 2 * time.Minute
)

// Config are the ticks' knobs; zero values take the defaults above (but
// PowerOffWait, where zero is no wait).
type Config struct {
	// PollConcurrency bounds the heartbeat polls in flight
	// (OPS_POLL_CONCURRENCY).
	PollConcurrency int
	// PollTimeout is each poll's own deadline: a station that hangs costs
	// the tick at most this, and the others are not delayed by it.
	PollTimeout time.Duration
	// Back-off of a station whose polls keep failing: after BackoffAfter
	// consecutive failures it is skipped for BackoffBase, doubling with
	// each further failure up to BackoffMax; one success clears it.
	BackoffBase  time.Duration
	BackoffMax   time.Duration
	BackoffAfter int

	// Window holds the reservation tick's rules (OPS_RESERVATION_*).
	Window domain.Window
	// DispatchConcurrency bounds the stations one reservation tick works
	// on at once (each station's flows run one after another).
	DispatchConcurrency int
	// FlowTimeout bounds one start or end flow.
	FlowTimeout time.Duration
	// HostLockWait is how long a flow waits for a station another tick is
	// working on; 0: FlowTimeout. A claim that waited in vain is given
	// back (not recorded), so the next tick takes it.
	HostLockWait time.Duration
	// GuardGrace and PrepareArgs are the start flow's (nil: API.md's
	// defaults, --guard-grace=90).
	GuardGrace  *int
	PrepareArgs []string
	// EndPower is the end flow's power step after the release: "shutdown"
	// (default), "hibernate" or "none" (OPS_RESERVATION_END_POWER). With a
	// power step the release runs without --reboot (a reboot would race
	// the shutdown); with "none" it keeps API.md's default --reboot.
	EndPower string
	// PowerOffWait bounds the end flow's wait, after its power step and
	// still holding the station's lock, until the station stops answering
	// (ops.EndRequest.PowerOffWait: recorded as "power-off"), so that a
	// start flow right after it finds the station asleep and wakes it
	// instead of preparing a station about to go down. 0 (or less): no
	// wait, as everywhere (OPS_RESERVATION_POWER_OFF_WAIT=0,
	// ops.EndRequest.PowerOffWait); unlike the other knobs, zero takes no
	// default here: the configuration gives DefaultPowerOffWait.
	PowerOffWait time.Duration
}

func (c Config) withDefaults() Config {
	if c.PollConcurrency <= 0 {
		c.PollConcurrency = DefaultPollConcurrency
	}
	if c.PollTimeout <= 0 {
		c.PollTimeout = DefaultPollTimeout
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = DefaultBackoffBase
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.BackoffAfter <= 0 {
		c.BackoffAfter = DefaultBackoffAfter
	}
	if c.DispatchConcurrency <= 0 {
		c.DispatchConcurrency = DefaultDispatchConcurrency
	}
	if c.FlowTimeout <= 0 {
		c.FlowTimeout = DefaultFlowTimeout
	}
	if c.HostLockWait <= 0 {
		c.HostLockWait = c.FlowTimeout
	}
	if c.EndPower == "" {
		c.EndPower = DefaultEndPower
	}
	return c
}

// Backoff is how long a station is skipped after `failures` consecutive
// failed polls: nothing below BackoffAfter, then BackoffBase doubling per
// further failure, at most BackoffMax.
func (c Config) Backoff(failures int) time.Duration {
	c = c.withDefaults()
	if failures < c.BackoffAfter {
		return 0
	}
	d := c.BackoffBase
	for i := c.BackoffAfter; i < failures && d < c.BackoffMax; i++ {
		d *= 2
	}
	return min(d, c.BackoffMax)
}

// Scheduler runs the ticks. Service and Config are required; Store nil
// means no database (the heartbeat tick still polls, nothing is stored or
// backed off; the reservation tick refuses to run).
type Scheduler struct {
	Service *ops.Service
	// Store must be left nil (not a typed nil) without a database.
	Store    Store
	Config   Config
	Logger   *slog.Logger
	Observer Observer
	// Now is the clock of windows and back-offs; nil: time.Now. Tests set
	// it, and the store's, to the same controlled clock.
	Now func() time.Time

	once   sync.Once
	hbSem  chan struct{}
	resSem chan struct{}
}

// New returns a Scheduler; its fields may still be set before the first tick.
func New(svc *ops.Service, st Store, cfg Config, logger *slog.Logger) *Scheduler {
	return &Scheduler{Service: svc, Store: st, Config: cfg, Logger: logger}
}

func (s *Scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Scheduler) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// ErrNoDatabase is the reservation tick's error without a database.
var ErrNoDatabase = ops.Errorf(ops.CodeDBNotConfigured, "Database not configured")

// serial runs ticks of one kind one at a time in this instance (the local
// timer and the HTTP route may fire together; on the embedded database,
// which has no row locks, that is what keeps claims exactly-once). It
// waits for the running tick, or gives up with ctx.
func serial(ctx context.Context, sem *chan struct{}) (func(), error) {
	select {
	case *sem <- struct{}{}:
		return func() { <-*sem }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// sems creates the per-kind semaphores once (the zero Scheduler is usable
// after its fields are set).
func (s *Scheduler) sems() {
	s.once.Do(func() {
		s.hbSem = make(chan struct{}, 1)
		s.resSem = make(chan struct{}, 1)
	})
}

// persistTimeout bounds the retries of one database write made after a
// station acted: long enough to ride out a dropped connection or a short
// database restart.
const persistTimeout = 30 * time.Second

// persist runs a write after the station acted, on a context that outlives
// the tick's, retrying on failure with a short back-off until
// persistTimeout: such a write lost would let the reservation be dispatched
// again, or lose its record. An error no retry can get past
// (store.Permanent) is returned at once.
func (s *Scheduler) persist(ctx context.Context, what string, fn func(context.Context) error) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), persistTimeout)
	defer cancel()
	p := retry.Policy{First: 100 * time.Millisecond, Max: 3 * time.Second,
		Retry: func(err error) bool {
			return !errors.Is(err, domain.ErrTransitionNotAllowed) && !s.Store.IsPermanentError(err)
		},
		Failed: func(attempt int, err error) {
			s.log().WarnContext(ctx, "database write failed; retrying", "write", what, "attempt", attempt, "err", err)
		}}
	attempts, err := p.Do(wctx, fn)
	if err == nil && attempts > 1 {
		s.log().InfoContext(ctx, "database write succeeded after retry", "write", what, "attempts", attempts)
	}
	return err
}

package scheduler

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/ops"
)

// pollStateTimeout bounds one write of a station's back-off state.
const pollStateTimeout = 5 * time.Second

// maxListedFailures bounds HeartbeatSummary.Failures (the counts stay exact).
const maxListedFailures = 50

// HeartbeatSummary is what one heartbeat tick did.
type HeartbeatSummary struct {
	TickRun // Tick "heartbeats"
	// Hosts is the catalog's size; Skipped of them are quarantined and
	// BackedOff are waiting out a back-off; Polled = OK + Failed.
	Hosts     int `json:"hosts"`
	Polled    int `json:"polled"`
	OK        int `json:"ok"`
	Failed    int `json:"failed"`
	Skipped   int `json:"skipped"`
	BackedOff int `json:"backedOff"`
	// Stale counts polls that read a heartbeat older than
	// OPS_HEARTBEAT_STALE_AFTER; NotStored polls read fine whose heartbeat
	// could not be written.
	Stale     int `json:"stale"`
	NotStored int `json:"notStored"`
	// Failures lists failed polls (at most 50).
	Failures []PollFailure `json:"failures"`
	// Results has one entry per catalog host (for metrics: per-station
	// state); not in the JSON answer.
	Results []HostResult `json:"-"`
}

// PollFailure is one failed poll of a tick.
type PollFailure struct {
	Host       string     `json:"host"`
	Code       string     `json:"code"`
	Error      string     `json:"error"`
	Failures   int        `json:"failures"`   // consecutive, counting this one (0: not stored)
	NextPollAt *time.Time `json:"nextPollAt"` // null: polled again next tick
}

// PollOutcome is what a heartbeat tick did with one station (a name, not
// labstation.Outcome, the meaning of a command's exit code).
type PollOutcome string

// Outcomes of HostResult.
const (
	OutcomeOK          PollOutcome = "ok"
	OutcomeFailed      PollOutcome = "failed"
	OutcomeQuarantined PollOutcome = "quarantined"
	OutcomeBackedOff   PollOutcome = "backed-off"
)

// HostResult is what a heartbeat tick did with one station.
type HostResult struct {
	Host     string
	Outcome  PollOutcome
	Stale    bool
	Duration time.Duration
	// Failures is the station's consecutive failures after this tick and
	// NextPollAt its back-off (nil: none).
	Failures   int
	NextPollAt *time.Time
	// NotStored: the station was read fine but its heartbeat could not be
	// written.
	NotStored bool
}

// HeartbeatTick polls every non-quarantined station not backed off, at most
// Config.PollConcurrency at once, each with its own deadline
// (Config.PollTimeout). A failure is logged and counted in the station's
// back-off (lab_host_poll_state) and never stops the others; a success
// clears the back-off. The error is only for a tick that could not run.
func (s *Scheduler) HeartbeatTick(ctx context.Context, ev Event) (sum HeartbeatSummary, err error) {
	s.sems()
	t0 := time.Now()
	sum = HeartbeatSummary{TickRun: s.newTickRun("heartbeats", ev), Failures: []PollFailure{}}
	defer func() { s.endHeartbeatTick(ctx, ev, &sum, t0, err) }()
	release, err := serial(ctx, &s.hbSem)
	if err != nil {
		return sum, err
	}
	defer release()

	cfg := s.Config.withDefaults()
	now := s.now()
	cat := s.Service.Catalog(ctx)
	states := s.pollStates(ctx)
	todo := sum.due(cat, s.Service.QuarantineFlags(ctx, cat), states, now)
	err = s.pollStations(ctx, cfg, todo, states, &tally{sum: &sum})
	return sum, err
}

// endHeartbeatTick logs the tick's summary and tells the observer.
func (s *Scheduler) endHeartbeatTick(ctx context.Context, ev Event, sum *HeartbeatSummary, t0 time.Time, err error) {
	sum.done(t0)
	if err != nil {
		s.log().ErrorContext(ctx, "heartbeat tick failed", "err", err)
	} else {
		s.log().InfoContext(ctx, "heartbeat tick", "source", ev.Source, "hosts", sum.Hosts, "polled", sum.Polled,
			"ok", sum.OK, "failed", sum.Failed, "skipped", sum.Skipped, "backed_off", sum.BackedOff,
			"stale", sum.Stale, "duration_ms", sum.DurationMs)
	}
	if s.Observer != nil {
		s.Observer.HeartbeatTick(*sum, err)
	}
}

// pollStates are the stored back-offs by lower-case host name; none when
// there is no database or they cannot be read. Polling everything beats
// polling nothing: a back-off missed for one tick costs one extra poll per
// failing station.
func (s *Scheduler) pollStates(ctx context.Context) map[string]domain.PollState {
	if s.Store == nil {
		return nil
	}
	states, err := s.Store.PollStates(ctx)
	if err != nil {
		s.log().WarnContext(ctx, "heartbeat tick: back-off states unreadable; polling every host", "err", err)
		return nil
	}
	return states
}

// due counts the catalog's stations and returns those to poll now: not
// quarantined, not backed off (those are counted and listed here).
func (sum *HeartbeatSummary) due(cat *hosts.Catalog, quarantined map[string]bool, states map[string]domain.PollState, now time.Time) []hosts.Host {
	var todo []hosts.Host
	for _, h := range cat.Hosts() {
		sum.Hosts++
		p := states[strings.ToLower(h.Name)]
		switch {
		case quarantined[h.Name]:
			sum.Skipped++
			sum.Results = append(sum.Results, HostResult{Host: h.Name, Outcome: OutcomeQuarantined, Failures: p.Failures, NextPollAt: p.NextPollAt})
		case p.NextPollAt != nil && p.NextPollAt.After(now):
			sum.BackedOff++
			sum.Results = append(sum.Results, HostResult{Host: h.Name, Outcome: OutcomeBackedOff, Failures: p.Failures, NextPollAt: p.NextPollAt})
		default:
			todo = append(todo, h)
		}
	}
	return todo
}

// tally adds the polls' results to a summary, from many goroutines.
type tally struct {
	mu  sync.Mutex
	sum *HeartbeatSummary
}

func (t *tally) add(r HostResult, f *PollFailure) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sum := t.sum
	sum.Polled++
	sum.Results = append(sum.Results, r)
	if f != nil {
		sum.Failed++
		if len(sum.Failures) < maxListedFailures {
			sum.Failures = append(sum.Failures, *f)
		}
		return
	}
	sum.OK++
	if r.Stale {
		sum.Stale++
	}
	if r.NotStored {
		sum.NotStored++
	}
}

// pollStations polls todo. Stations behind a relay are read in batches,
// one signed request per relay and batch (issue 10: not one round trip per
// station from a cloud region); the relay bounds each station's read
// itself. The others are read Config.PollConcurrency at once. The way to
// each station is decided once (HeartbeatRoutes). The error is the tick's
// own deadline: the stations not started are left to the next tick (not
// counted as failures).
func (s *Scheduler) pollStations(ctx context.Context, cfg Config, todo []hosts.Host, states map[string]domain.PollState, t *tally) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	var direct []directPoll
	for _, rt := range s.Service.HeartbeatRoutes(todo) {
		if !rt.Relayed {
			for _, h := range rt.Hosts {
				direct = append(direct, directPoll{rt, h})
			}
			continue
		}
		for part := range slices.Chunk(rt.Hosts, relayBatch) {
			wg.Go(func() { s.pollBatch(ctx, cfg, lab.Route{Relayed: true, Lab: rt.Lab, Hosts: part}, states, t) })
		}
	}
	sem := make(chan struct{}, cfg.PollConcurrency)
	for _, p := range direct {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		prev := states[strings.ToLower(p.host.Name)]
		wg.Go(func() {
			defer func() { <-sem }()
			t.add(s.pollOne(ctx, cfg, p, prev))
		})
	}
	return nil
}

// pollBatch reads one batch of a relay's stations in one request, bounded
// by the time of its stations read relayParallel at a time.
func (s *Scheduler) pollBatch(ctx context.Context, cfg Config, rt lab.Route, states map[string]domain.PollState, t *tally) {
	bctx, cancel := context.WithTimeout(ctx, batchTimeout(cfg.PollTimeout, len(rt.Hosts)))
	defer cancel()
	t0 := time.Now()
	polls := s.Service.PollHeartbeats(bctx, rt)
	d := time.Since(t0)
	for i, p := range polls {
		prev := states[strings.ToLower(rt.Hosts[i].Name)]
		t.add(s.recordPoll(ctx, bctx, cfg, rt.Hosts[i], prev, p.Response, p.Err, d))
	}
}

// pollOne polls one station under its own deadline and updates its back-off.
func (s *Scheduler) pollOne(ctx context.Context, cfg Config, p directPoll, prev domain.PollState) (HostResult, *PollFailure) {
	pctx, cancel := context.WithTimeout(ctx, cfg.PollTimeout)
	defer cancel()
	t0 := time.Now()
	resp, err := s.Service.PollRouted(pctx, p.route, p.host)
	return s.recordPoll(ctx, pctx, cfg, p.host, prev, resp, err, time.Since(t0))
}

// directPoll is one station read on its own, through its route's Lab.
type directPoll struct {
	route lab.Route
	host  hosts.Host
}

// Batches of relayed stations: at most relayBatch stations a request (the
// relay takes up to 5,000), each batch given the time of its stations read
// relayParallel at a time (the relay's own parallelism), plus one.
const (
	relayBatch    = 500
	relayParallel = 32
)

func batchTimeout(perPoll time.Duration, n int) time.Duration {
	return perPoll * time.Duration(1+(n+relayParallel-1)/relayParallel)
}

// recordPoll turns one poll's outcome into the station's result and
// back-off. pctx is the poll's own context (its deadline tells a timeout).
func (s *Scheduler) recordPoll(ctx, pctx context.Context, cfg Config, h hosts.Host, prev domain.PollState, resp ops.PollResponse, err error, d time.Duration) (HostResult, *PollFailure) {
	r := HostResult{Host: h.Name, Duration: d}
	if err != nil {
		code, msg := string(ops.CodeInternal), err.Error()
		if e, ok := ops.AsError(err); ok {
			code, msg = string(e.Code), e.Message
		}
		if pctx.Err() != nil && ctx.Err() == nil {
			code, msg = string(ops.CodeTimeout), "heartbeat poll timed out after "+cfg.PollTimeout.String()
		}
		r.Outcome = OutcomeFailed
		f := &PollFailure{Host: h.Name, Code: code, Error: msg}
		if s.Store != nil {
			// One bounded try: a back-off state lost to a database fault
			// costs one extra poll, while retrying would hold this poll's
			// slot through the outage.
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pollStateTimeout)
			st, perr := s.Store.RecordPollFailure(wctx, h.Name, code+": "+msg, cfg.Backoff)
			cancel()
			if perr != nil {
				s.log().ErrorContext(ctx, "heartbeat tick: back-off not stored", "host", h.Name, "err", perr)
			} else {
				f.Failures, f.NextPollAt = st.Failures, st.NextPollAt
				r.Failures, r.NextPollAt = st.Failures, st.NextPollAt
			}
		}
		s.log().WarnContext(ctx, "heartbeat tick: poll failed", "host", h.Name, "code", code, "reason", msg,
			"failures", f.Failures, "next_poll_at", f.NextPollAt)
		return r, f
	}
	r.Outcome, r.Stale = OutcomeOK, resp.Stale
	if resp.Stale {
		s.log().WarnContext(ctx, "heartbeat tick: stale heartbeat", "host", h.Name)
	}
	r.NotStored = s.Store != nil && !resp.Stored
	if s.Store != nil && (prev.Failures > 0 || prev.NextPollAt != nil) {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pollStateTimeout)
		err := s.Store.ClearPollFailures(wctx, h.Name)
		cancel()
		if err != nil {
			s.log().ErrorContext(ctx, "heartbeat tick: back-off not cleared", "host", h.Name, "err", err)
		} else {
			s.log().InfoContext(ctx, "heartbeat tick: station answers again; back-off cleared", "host", h.Name, "after_failures", prev.Failures)
		}
	}
	return r, nil
}

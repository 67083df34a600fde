package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/ops"
)

// PhaseSummary is what a reservation tick did for one phase.
type PhaseSummary struct {
	// Candidates were due when scanned; Claimed of them were claimed by
	// this tick (the rest by ticks running at once).
	Candidates int `json:"candidates"`
	Claimed    int `json:"claimed"`
	// Dispatched flows ran: Succeeded + Failed.
	Dispatched int `json:"dispatched"`
	Succeeded  int `json:"succeeded"`
	Failed     int `json:"failed"`
	// Skipped claims were not dispatched: the reservation changed since
	// the scan (cancelled, moved on), its station stayed busy, the booking
	// before it on the station still runs (a start deferred, see
	// handOver), or the tick ran out of time (given back, for the next
	// tick).
	Skipped int `json:"skipped"`
	// NoHost were recorded failed: no non-quarantined host serves the lab.
	NoHost int `json:"noHost"`
	// Error is why the phase's scan or claim failed ("" when it ran).
	Error string `json:"error,omitempty"`
}

func (p *PhaseSummary) add(o PhaseSummary) {
	p.Candidates += o.Candidates
	p.Claimed += o.Claimed
	p.Dispatched += o.Dispatched
	p.Succeeded += o.Succeeded
	p.Failed += o.Failed
	p.Skipped += o.Skipped
	p.NoHost += o.NoHost
}

// ReservationSummary is what one reservation tick did.
type ReservationSummary struct {
	TickRun              // Tick "reservations"
	Start   PhaseSummary `json:"start"`
	End     PhaseSummary `json:"end"`
	// Total is Start + End.
	Total PhaseSummary `json:"total"`
}

// tickPhase is one of the two phases, in the order a tick runs them: end
// first, so a station finishing one booking is released before the next
// booking's start on it runs.
type tickPhase struct {
	name   string // domain.PhaseStart / PhaseEnd
	action string // ops.ActionSchedulerStart / End
}

var phases = []tickPhase{
	{domain.PhaseEnd, ops.ActionSchedulerEnd},
	{domain.PhaseStart, ops.ActionSchedulerStart},
}

// ReservationTick claims the due (reservation, phase)s (API.md "Reservation
// tick") and dispatches each claimed one: the end flow (release, then the
// power step of Config.EndPower and the wait, up to Config.PowerOffWait,
// for the station to go down; on a station found asleep both steps are
// recorded skipped and the flow succeeds) or the start flow (wake, then
// prepare-session); records `scheduler:end|start` with {"response",
// "status_code"}; on success moves the status (CONFIRMED -> ACTIVE,
// CONFIRMED|ACTIVE -> COMPLETED) only if it is still what was read; and
// finishes the claim, whose cooldown then blocks a retry. A lab that no
// non-quarantined host serves is recorded failed "No host mapping for lab
// <id>". Stations are worked on Config.DispatchConcurrency at once, each
// station's flows one after another under its database-wide lock.
// Back-to-back bookings of one station hand over without the end flow of
// the first releasing or powering down the station under the second, nor
// the start flow of the second disturbing the first before its end (see
// handOver).
//
// The error is for a phase whose scan or claim failed (both phases are
// still tried); the summary says what was done anyway. A tick that dies
// after claiming leaves its claims to expire after the cooldown.
func (s *Scheduler) ReservationTick(ctx context.Context, ev Event) (sum ReservationSummary, err error) {
	s.sems()
	t0 := time.Now()
	sum = ReservationSummary{TickRun: s.newTickRun("reservations", ev)}
	defer func() {
		sum.Total = PhaseSummary{}
		sum.Total.add(sum.Start)
		sum.Total.add(sum.End)
		sum.done(t0)
		attrs := []any{"source", ev.Source, "candidates", sum.Total.Candidates, "claimed", sum.Total.Claimed,
			"dispatched", sum.Total.Dispatched, "succeeded", sum.Total.Succeeded, "failed", sum.Total.Failed,
			"skipped", sum.Total.Skipped, "no_host", sum.Total.NoHost, "duration_ms", sum.DurationMs}
		if err != nil {
			s.log().ErrorContext(ctx, "reservation tick failed", append(attrs, "err", err)...)
		} else {
			s.log().InfoContext(ctx, "reservation tick", attrs...)
		}
		if s.Observer != nil {
			s.Observer.ReservationTick(sum, err)
		}
	}()
	if s.Store == nil {
		return sum, ErrNoDatabase
	}
	release, err := serial(ctx, &s.resSem)
	if err != nil {
		return sum, err
	}
	defer release()

	cfg := s.Config.withDefaults()
	hostFor := s.labHosts(ctx)
	var errs []error
	for _, ph := range phases {
		ps, perr := s.runPhase(ctx, cfg, ph, hostFor)
		if perr != nil {
			ps.Error = perr.Error()
			errs = append(errs, perr)
		}
		if ph.name == domain.PhaseStart {
			sum.Start = ps
		} else {
			sum.End = ps
		}
	}
	return sum, errors.Join(errs...)
}

// labHosts maps a lab id to the host serving it: the first non-quarantined
// host of the catalog that claims it. The flags are read once per tick.
func (s *Scheduler) labHosts(ctx context.Context) func(labID string) (hosts.Host, bool) {
	cat := s.Service.Catalog(ctx)
	q := s.Service.QuarantineFlags(ctx, cat)
	return func(labID string) (hosts.Host, bool) {
		for _, h := range cat.ForLab(labID) {
			if !q[h.Name] {
				return h, true
			}
		}
		return hosts.Host{}, false
	}
}

// runPhase scans, claims and dispatches one phase.
func (s *Scheduler) runPhase(ctx context.Context, cfg Config, ph tickPhase, hostFor func(string) (hosts.Host, bool)) (PhaseSummary, error) {
	var ps PhaseSummary
	claimed, cands, err := s.Store.ClaimDueCounted(ctx, ph.name, ph.action, cfg.Window)
	ps.Candidates, ps.Claimed = cands, len(claimed)
	if err != nil {
		return ps, fmt.Errorf("%s scan: %w", ph.name, err)
	}
	if len(claimed) == 0 {
		return ps, nil
	}
	groups := s.byStation(ctx, ph, claimed, hostFor, &ps)
	var mu sync.Mutex
	count := func(f func(*PhaseSummary)) {
		mu.Lock()
		defer mu.Unlock()
		f(&ps)
	}
	sem := make(chan struct{}, s.dispatchConcurrency(cfg))
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Go(func() { s.dispatchStation(ctx, cfg, ph, g, sem, count) })
	}
	wg.Wait()
	return ps, nil
}

// stationGroup is one station's claims of a tick.
type stationGroup struct {
	host   hosts.Host
	labs   []string // the labs this station serves this tick
	claims []domain.Claimed
}

// byStation groups the claims per station, in the scan's (earliest first)
// order; a claim whose lab no host serves is recorded failed (NoHost).
func (s *Scheduler) byStation(ctx context.Context, ph tickPhase, claimed []domain.Claimed, hostFor func(string) (hosts.Host, bool), ps *PhaseSummary) []*stationGroup {
	var order []*stationGroup
	byHost := map[string]*stationGroup{}
	for _, c := range claimed {
		h, ok := hostFor(c.Reservation.LabID)
		if !ok {
			s.noHost(ctx, ph, c)
			ps.NoHost++
			continue
		}
		g := byHost[h.Name]
		if g == nil {
			g = &stationGroup{host: h, labs: stationLabs(h, hostFor)}
			byHost[h.Name] = g
			order = append(order, g)
		}
		g.claims = append(g.claims, c)
	}
	return order
}

// dispatchStation runs one station's claims one after another under its
// database-wide lock, within a slot of sem; what it could not dispatch it
// gives back. count updates the phase's summary.
func (s *Scheduler) dispatchStation(ctx context.Context, cfg Config, ph tickPhase, g *stationGroup, sem chan struct{}, count func(func(*PhaseSummary))) {
	skip := func(cs []domain.Claimed, why string) {
		for _, c := range cs {
			s.giveBack(ctx, ph, c, why)
		}
		count(func(ps *PhaseSummary) { ps.Skipped += len(cs) })
	}
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		skip(g.claims, "tick ended before dispatch")
		return
	}
	defer func() { <-sem }()
	unlock, err := s.Store.LockHost(ctx, g.host.Name, cfg.HostLockWait)
	if err != nil {
		s.log().WarnContext(ctx, "reservation tick: station lock not taken; claims given back", "host", g.host.Name, "phase", ph.name, "err", err)
		skip(g.claims, "station busy")
		return
	}
	defer unlock()
	for i, c := range g.claims {
		if ctx.Err() != nil {
			skip(g.claims[i:], "tick ended before dispatch")
			return
		}
		out := s.dispatch(ctx, cfg, ph, g.host, g.labs, c)
		count(func(ps *PhaseSummary) {
			switch out {
			case outSucceeded:
				ps.Dispatched++
				ps.Succeeded++
			case outFailed:
				ps.Dispatched++
				ps.Failed++
			case outSkipped:
				ps.Skipped++
			}
		})
	}
}

// stationLabs are the labs station h serves this tick: those of its
// catalog entry that no other host wins (hostFor), the labs whose bookings
// share the station.
func stationLabs(h hosts.Host, hostFor func(string) (hosts.Host, bool)) []string {
	var out []string
	for _, l := range h.Labs {
		if o, ok := hostFor(l); ok && o.Name == h.Name {
			out = append(out, l)
		}
	}
	return out
}

// dispatchConcurrency is Config.DispatchConcurrency, bounded by the
// database pool: each station worked on holds one connection for its lock
// and needs another for its writes, so a small pool (a Lambda instance's 2)
// must not be filled with locks whose flows then wait for a connection.
func (s *Scheduler) dispatchConcurrency(cfg Config) int {
	n := cfg.DispatchConcurrency
	if p, ok := s.Store.(interface{ MaxOpenConns() int }); ok {
		if m := p.MaxOpenConns(); m > 0 {
			n = min(n, max(1, (m-1)/2))
		}
	}
	return n
}

type outcome int

const (
	outSkipped outcome = iota
	outSucceeded
	outFailed
)

// giveBack releases a claim that was never dispatched, so the next tick
// takes it at once; if even that fails, the claim expires after the
// cooldown.
func (s *Scheduler) giveBack(ctx context.Context, ph tickPhase, c domain.Claimed, why string) {
	if err := s.persist(ctx, "release claim of "+c.Reservation.ReservationID, func(wctx context.Context) error {
		return s.Store.ReleaseClaim(wctx, c.Claim)
	}); err != nil {
		s.log().WarnContext(ctx, "reservation tick: claim not given back; it expires after the cooldown",
			"reservation", c.Reservation.ReservationID, "phase", ph.name, "err", err)
		return
	}
	s.log().InfoContext(ctx, "reservation tick: claim given back", "reservation", c.Reservation.ReservationID, "phase", ph.name, "reason", why)
}

// noHost records a due phase whose lab no host serves.
func (s *Scheduler) noHost(ctx context.Context, ph tickPhase, c domain.Claimed) {
	r := c.Reservation
	msg := "No host mapping for lab " + r.LabID
	s.log().WarnContext(ctx, "reservation tick: "+msg, "reservation", r.ReservationID, "phase", ph.name)
	resp := map[string]any{"success": false, "reservationId": r.ReservationID, "labId": r.LabID, "error": msg}
	s.finish(ctx, ph, c, "", domain.Operation{Status: ops.StatusFailed, Message: msg}, resp, http.StatusNotFound, 0)
}

// dispatch runs one claimed reservation's flow and persists its outcome.
// labs are the labs station h serves (see handOver).
func (s *Scheduler) dispatch(ctx context.Context, cfg Config, ph tickPhase, h hosts.Host, labs []string, c domain.Claimed) outcome {
	r := c.Reservation
	// The scan is a moment old, and this tick may have waited for the
	// station: go on only if the reservation is still due and still ours
	// (a cancelled booking is left alone; one another tick ran meanwhile
	// is not run again). A re-check that fails gives the claim back.
	why, err := s.Store.StillDue(ctx, c, ph.action, cfg.Window.RetryCooldown)
	switch {
	case err != nil:
		s.log().WarnContext(ctx, "reservation tick: reservation not re-checked; claim given back", "reservation", r.ReservationID, "err", err)
		s.giveBack(ctx, ph, c, "reservation not re-checked")
		return outSkipped
	case why != "":
		s.log().InfoContext(ctx, "reservation tick: no longer due; left alone",
			"reservation", r.ReservationID, "phase", ph.name, "reason", why)
		if err := s.persist(ctx, "finish claim of "+r.ReservationID, func(wctx context.Context) error {
			return s.Store.FinishClaim(wctx, c.Claim)
		}); err != nil {
			s.log().ErrorContext(ctx, "reservation tick: claim not finished", "reservation", r.ReservationID, "err", err)
		}
		return outSkipped
	}
	if out, done := s.handOver(ctx, cfg, ph, h, labs, c); done {
		return out
	}

	fctx, cancel := context.WithTimeout(ctx, cfg.FlowTimeout)
	defer cancel()
	t0 := time.Now()
	var resp ops.FlowResponse
	if ph.name == domain.PhaseStart {
		resp, err = s.Service.StartReservation(fctx, ops.StartRequest{ReservationID: r.ReservationID, Host: h.Name,
			LabID: r.LabID, GuardGrace: cfg.GuardGrace, PrepareArgs: cfg.PrepareArgs})
	} else {
		req := ops.EndRequest{ReservationID: r.ReservationID, Host: h.Name, LabID: r.LabID}
		if cfg.EndPower != "none" {
			req.ReleaseArgs = []string{}
			req.PowerAction = &ops.PowerAction{Mode: cfg.EndPower}
			req.PowerOffWait = max(0, cfg.PowerOffWait)
		}
		resp, err = s.Service.EndReservation(fctx, req)
	}
	dur := time.Since(t0)
	op, body, code := s.flowRecord(ctx, ph, r, h.Name, resp, err)
	to := domain.StatusActive
	if ph.name == domain.PhaseEnd {
		to = domain.StatusCompleted
	}
	if op.Success {
		if !s.finish(ctx, ph, c, h.Name, op, body, code, dur, to) {
			return outFailed
		}
		return outSucceeded
	}
	s.finish(ctx, ph, c, h.Name, op, body, code, dur)
	return outFailed
}

// flowRecord is what dispatch records of a flow's answer: the operation's
// status and message, the response and its HTTP status, which is what
// API.md's routes answer for the same outcome (ops.StatusOf for a refused
// flow: the one table from code to status).
func (s *Scheduler) flowRecord(ctx context.Context, ph tickPhase, r domain.Reservation, host string, resp ops.FlowResponse, err error) (domain.Operation, any, int) {
	switch {
	case err != nil:
		e, ok := ops.AsError(err)
		msg := "Internal server error"
		if ok && e.Code != ops.CodeInternal {
			msg = e.Message
		}
		body := map[string]any{"success": false, "reservationId": r.ReservationID, "host": host, "labId": r.LabID, "error": msg}
		s.log().ErrorContext(ctx, "reservation tick: flow refused", "reservation", r.ReservationID, "phase", ph.name, "host", host, "err", err)
		return domain.Operation{Status: ops.StatusFailed, Message: ph.name + " flow refused: " + msg}, body, ops.StatusOf(err)
	case !resp.Success:
		return domain.Operation{Status: ops.StatusFailed, Message: ph.name + " flow failed" + failedStep(resp)}, resp, resp.HTTPStatus()
	}
	return domain.Operation{Status: ops.StatusCompleted, Success: true, Message: ph.name + " flow completed" + skippedSteps(resp)},
		resp, resp.HTTPStatus()
}

// skippedSteps names the steps a successful flow skipped, and why (an end
// flow on a station asleep: ops.EndReservation).
func skippedSteps(f ops.FlowResponse) string {
	var names []string
	reason := ""
	for _, st := range f.Steps {
		if skipped, _ := st.Details["skipped"].(bool); skipped {
			names = append(names, st.Action)
			if r, ok := st.Details["skipReason"].(string); ok && reason == "" {
				reason = r
			}
		}
	}
	if len(names) == 0 {
		return ""
	}
	return ": " + strings.Join(names, " and ") + " skipped, " + reason
}

// failedStep names the step a failed flow stopped at.
func failedStep(f ops.FlowResponse) string {
	for _, st := range f.Steps {
		if !st.Success {
			return " at " + st.Action + ": " + st.Message
		}
	}
	return ""
}

// finish persists a dispatched phase: the status move (on success, only if
// still what was read), the scheduler:start|end record, then the claim's
// finish (its cooldown counts from now). Each write is retried through a
// dropped connection or a short outage; the move goes first because it is
// what keeps the phase from being dispatched again. It reports whether a
// requested move was made (true when none was asked).
func (s *Scheduler) finish(ctx context.Context, ph tickPhase, c domain.Claimed, host string, op domain.Operation,
	resp any, code int, dur time.Duration, moveTo ...string) bool {
	r := c.Reservation
	moved := true
	for _, to := range moveTo {
		var ok bool
		err := s.persist(ctx, "status of "+r.ReservationID, func(wctx context.Context) error {
			var e error
			ok, e = s.Store.TransitionStatus(wctx, r.ReservationID, r.Status, to)
			return e
		})
		switch {
		case err != nil:
			moved = false
			s.log().ErrorContext(ctx, "reservation tick: status not moved", "reservation", r.ReservationID, "from", r.Status, "to", to, "err", err)
		case !ok:
			// Not a failure of the flow: someone else moved it (a cancel,
			// or the gateway) and their status stands.
			s.log().InfoContext(ctx, "reservation tick: status changed meanwhile; not moved", "reservation", r.ReservationID, "from", r.Status, "to", to)
		}
	}
	payload, err := json.Marshal(map[string]any{"response": resp, "status_code": code})
	if err != nil {
		payload = []byte(`{"response": null, "status_code": ` + fmt.Sprint(code) + `}`)
	}
	ms := int(dur.Milliseconds())
	op.ReservationID, op.LabID, op.Host, op.Action = r.ReservationID, r.LabID, host, ph.action
	op.ResponseCode, op.DurationMs, op.Payload = &code, &ms, payload
	op.CreatedAt, op.Key = s.now(), domain.NewOperationKey()
	if err := s.persist(ctx, ph.action+" record of "+r.ReservationID, func(wctx context.Context) error {
		_, e := s.Store.RecordOperation(wctx, op)
		return e
	}); err != nil {
		s.log().ErrorContext(ctx, "reservation tick: operation NOT RECORDED", "reservation", r.ReservationID, "action", ph.action,
			"status", op.Status, "message", op.Message, "err", err)
	}
	if err := s.persist(ctx, "finish claim of "+r.ReservationID, func(wctx context.Context) error {
		return s.Store.FinishClaim(wctx, c.Claim)
	}); err != nil {
		s.log().ErrorContext(ctx, "reservation tick: claim not finished; it expires after the cooldown", "reservation", r.ReservationID, "err", err)
	}
	lvl := s.log().InfoContext
	if !op.Success {
		lvl = s.log().WarnContext
	}
	lvl(ctx, "reservation tick: dispatched", "reservation", r.ReservationID, "phase", ph.name, "host", host,
		"status", op.Status, "message", op.Message, "status_code", code, "duration_ms", ms)
	return moved
}

package scheduler

import (
	"context"
	"net/http"
	"time"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/ops"
)

// handOver keeps back-to-back bookings of one station from hurting each
// other. With API.md's windows, when booking A ends at 12:00 and booking B
// on the same station starts at 12:00, A's end flow is due at 12:01 (END_DELAY
// after A's end) and B's start flow from 11:58 (START_LEAD before B's start):
//
//   - A's end flow would log B's user off (release-session) and shut the
//     station down under B. So an end flow whose station has another
//     booking (CONFIRMED or ACTIVE) that has started or starts within
//     START_LEAD, and has not ended, runs no step: it is recorded
//     scheduler:end completed, "Release and power skipped: reservation <B>
//     follows on the same lab", and A moves to COMPLETED as usual.
//   - B's start flow would close A's lab app, wipe its files and run the
//     session guard up to START_LEAD before A's end. So a start flow whose
//     station still runs the booking before it (started, ending after now
//     and at or before B's start) is deferred: its claim is given back
//     (counted Skipped, nothing recorded) and the next tick after A's end
//     runs it (up to one scan interval after B's start). The station is awake then (A
//     was on it), so B is still prepared on time. Bookings that overlap
//     (A ending after B's start: a double booking) are not deferred: the
//     start flow runs as before.
//
// "The station's bookings" are those of every lab it serves (labs). done is
// false when the flow should run; otherwise out is the outcome. A database
// error reading the other bookings gives the claim back (the next tick
// tries again): a station is never released blind.
func (s *Scheduler) handOver(ctx context.Context, cfg Config, ph tickPhase, h hosts.Host, labs []string, c domain.Claimed) (out outcome, done bool) {
	r := c.Reservation
	labs = withLab(labs, r.LabID)
	now := s.now()
	q := domain.BookingQuery{Labs: labs, Except: r.ReservationID, EndsAfter: now}
	if ph.name == domain.PhaseEnd {
		q.StartsBy = now.Add(cfg.Window.StartLead)
	} else {
		if r.Start == nil || !r.Start.After(now) {
			return outSkipped, false // started already: nothing to wait for
		}
		q.StartsBy, q.EndsBy = now, *r.Start
	}
	other, err := s.Store.OtherBooking(ctx, q)
	if err != nil {
		s.log().WarnContext(ctx, "reservation tick: the station's other bookings not read; claim given back",
			"reservation", r.ReservationID, "phase", ph.name, "host", h.Name, "err", err)
		s.giveBack(ctx, ph, c, "other bookings not read")
		return outSkipped, true
	}
	if other == nil {
		return outSkipped, false
	}
	if ph.name == domain.PhaseStart {
		until := ""
		if other.End != nil {
			until = other.End.UTC().Format(time.RFC3339)
		}
		s.log().InfoContext(ctx, "reservation tick: start deferred until the booking before it ends",
			"reservation", r.ReservationID, "host", h.Name, "running", other.ReservationID, "running_until", until)
		s.giveBack(ctx, ph, c, "reservation "+other.ReservationID+" still runs on the station until "+until)
		return outSkipped, true
	}
	where := "the same lab"
	if other.LabID != r.LabID {
		where = "the same station (lab " + other.LabID + ")"
	}
	msg := "Release and power skipped: reservation " + other.ReservationID + " follows on " + where
	s.log().InfoContext(ctx, "reservation tick: "+msg, "reservation", r.ReservationID, "host", h.Name, "next", other.ReservationID)
	body := map[string]any{"success": true, "reservationId": r.ReservationID, "host": h.Name, "labId": r.LabID,
		"steps": []ops.Step{}, "skipped": msg, "nextReservationId": other.ReservationID}
	op := domain.Operation{Status: ops.StatusCompleted, Success: true, Message: msg}
	if !s.finish(ctx, ph, c, h.Name, op, body, http.StatusOK, 0, domain.StatusCompleted) {
		return outFailed, true
	}
	return outSucceeded, true
}

// withLab is labs with lab added if missing (a booking's own lab always
// counts, whatever case the catalog spells it in).
func withLab(labs []string, lab string) []string {
	for _, l := range labs {
		if l == lab {
			return labs
		}
	}
	return append(append([]string(nil), labs...), lab)
}

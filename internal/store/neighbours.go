package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// OtherBooking returns another booking (CONFIRMED or ACTIVE, not q.Except)
// of one of q.Labs that starts by q.StartsBy and ends after q.EndsAfter
// (and by q.EndsBy when set), the earliest starting first; nil when there
// is none. The reservation tick asks it before touching a station:
//
//   - an end flow: is a booking running, or starting within the start
//     lead (StartsBy now+lead, EndsAfter now)? Then the station is not
//     released nor powered down under it (back-to-back bookings);
//   - a start flow: is the booking before this one still running
//     (StartsBy now, EndsAfter now, EndsBy this one's start)? Then its
//     user is not disturbed before its end.
//
// It reads the (status, start_time, end_time) index: the CONFIRMED and
// ACTIVE bookings that have started, a handful per station.
func (s *Store) OtherBooking(ctx context.Context, q BookingQuery) (*Reservation, error) {
	if len(q.Labs) == 0 {
		return nil, nil
	}
	var b strings.Builder
	args := make([]any, 0, len(q.Labs)+5)
	b.WriteString(`SELECT ` + resColumns + ` FROM lab_reservations r
WHERE r.status IN ('CONFIRMED', 'ACTIVE') AND r.start_time <= ? AND r.end_time > ?`)
	args = append(args, q.StartsBy.UTC(), q.EndsAfter.UTC())
	if !q.EndsBy.IsZero() {
		b.WriteString(` AND r.end_time <= ?`)
		args = append(args, q.EndsBy.UTC())
	}
	b.WriteString(` AND r.transaction_hash <> ? AND r.lab_id IN (`)
	args = append(args, q.Except)
	for i, l := range q.Labs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("?")
		args = append(args, l)
	}
	b.WriteString(`) ORDER BY r.start_time, r.id LIMIT 1`)
	r, err := scanReservation(s.DB.QueryRowContext(ctx, b.String(), args...))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("other bookings of lab %s: %w", strings.Join(q.Labs, ","), err)
	}
	return &r, nil
}

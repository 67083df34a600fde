package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const resColumns = `r.id, r.transaction_hash, r.lab_id, r.status, r.start_time, r.end_time, r.wallet_address, r.created_at, r.updated_at`

func scanReservation(sc interface{ Scan(...any) error }) (Reservation, error) {
	var (
		r                            Reservation
		lab, wallet                  sql.NullString
		start, end, created, updated sql.NullTime
	)
	if err := sc.Scan(&r.ID, &r.ReservationID, &lab, &r.Status, &start, &end, &wallet, &created, &updated); err != nil {
		return Reservation{}, err
	}
	r.LabID, r.WalletAddress = lab.String, wallet.String
	r.Start, r.End, r.CreatedAt, r.UpdatedAt = timePtr(start), timePtr(end), timePtr(created), timePtr(updated)
	return r, nil
}

// GetReservation finds a reservation by its id (transaction hash), or
// returns ErrNotFound.
func (s *Store) GetReservation(ctx context.Context, reservationID string) (*Reservation, error) {
	r, err := scanReservation(s.DB.QueryRowContext(ctx,
		`SELECT `+resColumns+` FROM lab_reservations r WHERE r.transaction_hash = ?`, reservationID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get reservation %s: %w", reservationID, err)
	}
	return &r, nil
}

// due lists the reservations of a phase that are due (API.md "Reservation
// tick"), with neither a live claim nor a cooldownAction operation in the
// last RetryCooldown; earliest first, at most MaxBatch. It claims nothing:
// only ClaimDue, which claims what it returns, is exported.
//
//   - start: CONFIRMED, start within [now-Lookback, now+StartLead];
//   - end: CONFIRMED or ACTIVE, end within [now-Lookback, now-EndDelay].
func (s *Store) due(ctx context.Context, phase, cooldownAction string, w Window) ([]Reservation, error) {
	if cooldownAction == "" {
		return nil, fmt.Errorf("%s candidates: no cooldown action", phase)
	}
	if w.MaxBatch <= 0 {
		return nil, fmt.Errorf("%s candidates: MaxBatch must be positive", phase)
	}
	// Defence in depth behind config's check: never more than MaxBatch, so
	// ClaimDue's INSERT stays far below the placeholder limit.
	w.MaxBatch = min(w.MaxBatch, MaxBatch)
	q, args := candidatesQuery(phase, cooldownAction, ms(s.now()), w)
	if q == "" {
		return nil, fmt.Errorf("unknown phase %q", phase)
	}
	rows, err := s.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s candidates: %w", phase, err)
	}
	defer rows.Close()
	out := []Reservation{}
	for rows.Next() {
		r, err := scanReservation(rows)
		if err != nil {
			return nil, fmt.Errorf("%s candidates: %w", phase, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func candidatesQuery(phase, cooldownAction string, now time.Time, w Window) (string, []any) {
	cooldownCut := now.Add(-w.RetryCooldown)
	var q string
	var args []any
	switch phase {
	case PhaseStart:
		q = `SELECT ` + resColumns + ` FROM lab_reservations r
LEFT JOIN reservation_claims c ON c.reservation_id = r.transaction_hash AND c.phase = 'start'
WHERE r.status = 'CONFIRMED' AND r.start_time >= ? AND r.start_time <= ?
  AND (c.reservation_id IS NULL OR c.claimed_at < ?)
  AND NOT EXISTS (SELECT 1 FROM reservation_operations o
    WHERE o.reservation_id = r.transaction_hash AND o.action = ? AND o.created_at >= ?)
ORDER BY r.start_time, r.id LIMIT ?`
		args = []any{now.Add(-w.Lookback), now.Add(w.StartLead), cooldownCut, cooldownAction, cooldownCut, w.MaxBatch}
	case PhaseEnd:
		// start_time <= end_time, so "ended by now-EndDelay" implies "started
		// by then": the bound on start_time lets the (status, start_time,
		// end_time) index skip every future booking, which a range on
		// end_time alone could not.
		due := now.Add(-w.EndDelay)
		q = `SELECT ` + resColumns + ` FROM lab_reservations r
LEFT JOIN reservation_claims c ON c.reservation_id = r.transaction_hash AND c.phase = 'end'
WHERE r.status IN ('CONFIRMED', 'ACTIVE') AND r.start_time <= ?
  AND r.end_time >= ? AND r.end_time <= ?
  AND (c.reservation_id IS NULL OR c.claimed_at < ?)
  AND NOT EXISTS (SELECT 1 FROM reservation_operations o
    WHERE o.reservation_id = r.transaction_hash AND o.action = ? AND o.created_at >= ?)
ORDER BY r.end_time, r.id LIMIT ?`
		args = []any{due, now.Add(-w.Lookback), due, cooldownCut, cooldownAction, cooldownCut, w.MaxBatch}
	}
	return q, args
}

// allowedTransitions are the only status moves the worker makes.
var allowedTransitions = map[[2]string]bool{
	{StatusConfirmed, StatusActive}:    true,
	{StatusConfirmed, StatusCompleted}: true,
	{StatusActive, StatusCompleted}:    true,
}

// TransitionStatus moves a reservation from `from` to `to`, only if its
// status is still `from`. It reports whether the row changed.
func (s *Store) TransitionStatus(ctx context.Context, reservationID, from, to string) (bool, error) {
	if !allowedTransitions[[2]string{from, to}] {
		return false, fmt.Errorf("%w: %s -> %s", ErrTransitionNotAllowed, from, to)
	}
	res, err := s.DB.ExecContext(ctx, `UPDATE lab_reservations SET status = ?, updated_at = ?
WHERE transaction_hash = ? AND status = ?`, to, ms(s.now()), reservationID, from)
	if err != nil {
		return false, fmt.Errorf("move %s %s -> %s: %w", reservationID, from, to, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

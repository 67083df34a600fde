package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

const maxActionLen = 32

// RecordOperation inserts op; CreatedAt defaults to the store's clock. Its
// payload is stored bounded (BoundPayload), whoever built it.
func (s *Store) RecordOperation(ctx context.Context, op Operation) (int64, error) {
	if op.ReservationID == "" || op.Action == "" || op.Status == "" {
		return 0, fmt.Errorf("record operation: reservation id, action and status are required")
	}
	if len(op.Action) > maxActionLen {
		return 0, fmt.Errorf("record operation: action %q longer than %d", op.Action, maxActionLen)
	}
	if len(op.Payload) > 0 && !json.Valid(op.Payload) {
		return 0, fmt.Errorf("record operation %s: payload is not valid JSON", op.Action)
	}
	op.Payload = BoundPayload(op.Payload)
	if op.CreatedAt.IsZero() {
		op.CreatedAt = s.now()
	}
	const insert = `INSERT INTO reservation_operations
  (reservation_id, lab_id, host, action, status, success, response_code, duration_ms, payload, message, created_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	args := []any{op.ReservationID, nullString(op.LabID), nullString(op.Host), op.Action, op.Status, op.Success,
		op.ResponseCode, op.DurationMs, nullJSON(op.Payload), nullString(op.Message), ms(op.CreatedAt)}
	if op.Key == "" {
		res, err := s.DB.ExecContext(ctx, insert, args...)
		if err != nil {
			return 0, fmt.Errorf("record operation %s for %s: %w", op.Action, op.ReservationID, err)
		}
		return res.LastInsertId()
	}
	// With a key: the row and its key in one transaction, so a retry of a
	// write that did commit finds the key, rolls its row back and answers
	// the first write's id.
	var id int64
	errDup := errors.New("duplicate operation key")
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, insert, args...)
		if err != nil {
			return err
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		res, err = tx.ExecContext(ctx, `INSERT IGNORE INTO reservation_operation_keys (op_key, operation_id, created_at) VALUES (?, ?, ?)`,
			op.Key, id, ms(op.CreatedAt))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmp.Or(err, errDup)
		}
		return nil
	})
	if errors.Is(err, errDup) {
		err = s.DB.QueryRowContext(ctx, `SELECT operation_id FROM reservation_operation_keys WHERE op_key = ?`, op.Key).Scan(&id)
	}
	if err != nil {
		return 0, fmt.Errorf("record operation %s for %s: %w", op.Action, op.ReservationID, err)
	}
	return id, nil
}

const opColumns = `id, reservation_id, lab_id, host, action, status, success, response_code, duration_ms, payload, message, created_at`

func scanOperations(rows *sql.Rows) ([]Operation, error) {
	defer rows.Close()
	out := []Operation{}
	for rows.Next() {
		var (
			op                 Operation
			lab, host, msg, pl sql.NullString
			code, dur          sql.NullInt64
		)
		if err := rows.Scan(&op.ID, &op.ReservationID, &lab, &host, &op.Action, &op.Status, &op.Success,
			&code, &dur, &pl, &msg, &op.CreatedAt); err != nil {
			return nil, fmt.Errorf("scan operation: %w", err)
		}
		op.LabID, op.Host, op.Message = lab.String, host.String, msg.String
		if code.Valid {
			v := int(code.Int64)
			op.ResponseCode = &v
		}
		if dur.Valid {
			v := int(dur.Int64)
			op.DurationMs = &v
		}
		if pl.Valid && pl.String != "" {
			op.Payload = json.RawMessage(pl.String)
		}
		op.CreatedAt = op.CreatedAt.UTC()
		out = append(out, op)
	}
	return out, rows.Err()
}

// clampPage bounds limit to 0..MaxPageSize and offset to 0..MaxOffset.
// A limit of 0 (or less) gives an empty page with the total still counted.
func clampPage(limit, offset int) (int, int) {
	return min(max(limit, 0), MaxPageSize), min(max(offset, 0), MaxOffset)
}

// ListOperations returns one page of a reservation's operations, oldest
// first (created_at, id), and how many there are in all. limit is clamped
// to 0..MaxPageSize and offset to 0..MaxOffset (clampPage).
func (s *Store) ListOperations(ctx context.Context, reservationID string, limit, offset int) ([]Operation, int, error) {
	limit, offset = clampPage(limit, offset)
	var total int
	if err := s.DB.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM reservation_operations WHERE reservation_id = ?`, reservationID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count operations of %s: %w", reservationID, err)
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT `+opColumns+` FROM reservation_operations
  WHERE reservation_id = ? ORDER BY created_at, id LIMIT ? OFFSET ?`, reservationID, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("list operations of %s: %w", reservationID, err)
	}
	ops, err := scanOperations(rows)
	return ops, total, err
}

// RecentOperations lists operations newest first (created_at DESC, id DESC),
// those f matches (a reservation, a host, both, or all), with limit and
// offset clamped as in ListOperations. The host is compared as stored:
// the caller passes the catalog's own spelling of the name.
func (s *Store) RecentOperations(ctx context.Context, f OperationFilter, limit, offset int) ([]Operation, int, error) {
	limit, offset = clampPage(limit, offset)
	var conds []string
	var args []any
	if f.ReservationID != "" {
		conds, args = append(conds, "reservation_id = ?"), append(args, f.ReservationID)
	}
	if f.Host != "" {
		// idx_resops_host_created (006) serves this filter with the order.
		conds, args = append(conds, "host = ?"), append(args, f.Host)
	}
	where := ""
	if len(conds) > 0 {
		where = "WHERE " + strings.Join(conds, " AND ")
	}
	var total int
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM reservation_operations `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count recent operations: %w", err)
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT `+opColumns+` FROM reservation_operations `+where+`
  ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list recent operations: %w", err)
	}
	ops, err := scanOperations(rows)
	return ops, total, err
}

package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ops-worker/ops-worker/internal/domain"
)

// The power catalog's domain records (issue 18).
type (
	PowerControllerRecord = domain.PowerControllerRecord
	PowerPolicyRecord     = domain.PowerPolicyRecord
	PowerOperation        = domain.PowerOperation
)

// Errors of the power catalog (the domain's values).
var (
	ErrPowerControllerExists   = domain.ErrPowerControllerExists
	ErrPowerControllerNotFound = domain.ErrPowerControllerNotFound
)

// Widths of the power tables' columns.
const (
	maxPowerID     = 128
	maxPowerKey    = 255
	maxPowerOutlet = 64
	maxPowerShort  = 32
)

func isDuplicate(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1062
}

func checkPowerBody(what, id string, body json.RawMessage, by string) error {
	switch {
	case id == "" || len(id) > maxPowerID:
		return fmt.Errorf("%s: id must be 1 to %d characters", what, maxPowerID)
	case len(by) > maxPowerID:
		return fmt.Errorf("%s %s: actor longer than %d characters", what, id, maxPowerID)
	case !json.Valid(body):
		return fmt.Errorf("%s %s: body is not valid JSON", what, id)
	}
	return nil
}

// PowerControllers lists the catalog's controllers by id.
func (s *Store) PowerControllers(ctx context.Context) ([]PowerControllerRecord, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, body, created_at, created_by, updated_at, updated_by FROM power_controllers ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read power controllers: %w", err)
	}
	defer rows.Close()
	var out []PowerControllerRecord
	for rows.Next() {
		r, err := scanPowerController(rows)
		if err != nil {
			return nil, fmt.Errorf("read power controllers: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read power controllers: %w", err)
	}
	return out, nil
}

func scanPowerController(sc interface{ Scan(...any) error }) (PowerControllerRecord, error) {
	var r PowerControllerRecord
	var body string
	err := sc.Scan(&r.ID, &body, &r.CreatedAt, &r.CreatedBy, &r.UpdatedAt, &r.UpdatedBy)
	r.Body = json.RawMessage(body)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, err
}

// PowerController reads one controller; an absent one is
// ErrPowerControllerNotFound.
func (s *Store) PowerController(ctx context.Context, id string) (PowerControllerRecord, error) {
	r, err := scanPowerController(s.DB.QueryRowContext(ctx,
		`SELECT id, body, created_at, created_by, updated_at, updated_by FROM power_controllers WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return PowerControllerRecord{}, fmt.Errorf("power controller %s: %w", id, ErrPowerControllerNotFound)
	}
	if err != nil {
		return PowerControllerRecord{}, fmt.Errorf("read power controller %s: %w", id, err)
	}
	return r, nil
}

// InsertPowerController adds r (the times are the store's clock); an id
// already there is ErrPowerControllerExists. The body is stored as given:
// validating it (and refusing secrets in it) is internal/power's job.
func (s *Store) InsertPowerController(ctx context.Context, r PowerControllerRecord) error {
	if err := checkPowerBody("insert power controller", r.ID, r.Body, r.CreatedBy); err != nil {
		return err
	}
	now := us(s.now())
	_, err := s.DB.ExecContext(ctx, `INSERT INTO power_controllers (id, body, created_at, created_by, updated_at, updated_by)
  VALUES (?, ?, ?, ?, ?, ?)`, r.ID, string(r.Body), now, r.CreatedBy, now, r.CreatedBy)
	if isDuplicate(err) {
		return fmt.Errorf("insert power controller %s: %w", r.ID, ErrPowerControllerExists)
	}
	if err != nil {
		return fmt.Errorf("insert power controller %s: %w", r.ID, err)
	}
	return nil
}

// UpdatePowerController replaces the body of r.ID (updated_at and _by);
// an absent one is ErrPowerControllerNotFound.
func (s *Store) UpdatePowerController(ctx context.Context, r PowerControllerRecord) error {
	if err := checkPowerBody("update power controller", r.ID, r.Body, r.UpdatedBy); err != nil {
		return err
	}
	// Read first: MySQL's affected-rows count is 0 for an update that
	// changes nothing, which would not tell absent from unchanged.
	if _, err := s.PowerController(ctx, r.ID); err != nil {
		return err
	}
	_, err := s.DB.ExecContext(ctx, `UPDATE power_controllers SET body = ?, updated_at = ?, updated_by = ? WHERE id = ?`,
		string(r.Body), us(s.now()), r.UpdatedBy, r.ID)
	if err != nil {
		return fmt.Errorf("update power controller %s: %w", r.ID, err)
	}
	return nil
}

// PowerPolicies lists every lab's policy by lab id.
func (s *Store) PowerPolicies(ctx context.Context) ([]PowerPolicyRecord, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT lab_id, body, updated_at, updated_by FROM power_policies ORDER BY lab_id`)
	if err != nil {
		return nil, fmt.Errorf("read power policies: %w", err)
	}
	defer rows.Close()
	var out []PowerPolicyRecord
	for rows.Next() {
		var r PowerPolicyRecord
		var body string
		if err := rows.Scan(&r.LabID, &body, &r.UpdatedAt, &r.UpdatedBy); err != nil {
			return nil, fmt.Errorf("read power policies: %w", err)
		}
		r.Body, r.UpdatedAt = json.RawMessage(body), r.UpdatedAt.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read power policies: %w", err)
	}
	return out, nil
}

// PutPowerPolicy inserts or replaces the policy of r.LabID.
func (s *Store) PutPowerPolicy(ctx context.Context, r PowerPolicyRecord) error {
	if err := checkPowerBody("put power policy", r.LabID, r.Body, r.UpdatedBy); err != nil {
		return err
	}
	_, err := s.DB.ExecContext(ctx, `INSERT INTO power_policies (lab_id, body, updated_at, updated_by) VALUES (?, ?, ?, ?)
  ON DUPLICATE KEY UPDATE body = VALUES(body), updated_at = VALUES(updated_at), updated_by = VALUES(updated_by)`,
		r.LabID, string(r.Body), us(s.now()), r.UpdatedBy)
	if err != nil {
		return fmt.Errorf("put power policy %s: %w", r.LabID, err)
	}
	return nil
}

const powerOpColumns = `id, reservation_id, lab_id, policy_id, step_id, phase, controller_id, outlet_key, action,
  requested_state, observed_state_before, observed_state_after, status, success, response_code, duration_ms,
  idempotency_key, payload, message, created_at`

func scanPowerOperation(sc interface{ Scan(...any) error }) (PowerOperation, error) {
	var op PowerOperation
	var res, lab, pol, step, phase, req, before, after, payload, msg sql.NullString
	var code, dur sql.NullInt64
	var at sql.NullTime
	err := sc.Scan(&op.ID, &res, &lab, &pol, &step, &phase, &op.ControllerID, &op.OutletKey, &op.Action,
		&req, &before, &after, &op.Status, &op.Success, &code, &dur, &op.IdempotencyKey, &payload, &msg, &at)
	if err != nil {
		return PowerOperation{}, err
	}
	op.ReservationID, op.LabID, op.PolicyID, op.StepID, op.Phase = res.String, lab.String, pol.String, step.String, phase.String
	op.RequestedState, op.ObservedStateBefore, op.ObservedStateAfter, op.Message = req.String, before.String, after.String, msg.String
	if payload.Valid {
		op.Payload = json.RawMessage(payload.String)
	}
	if code.Valid {
		v := int(code.Int64)
		op.ResponseCode = &v
	}
	if dur.Valid {
		v := int(dur.Int64)
		op.DurationMs = &v
	}
	if at.Valid {
		op.CreatedAt = at.Time.UTC()
	}
	return op, nil
}

func checkPowerOperation(op PowerOperation) error {
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"reservation id", op.ReservationID, maxPowerID}, {"lab id", op.LabID, maxPowerID}, {"policy id", op.PolicyID, maxPowerID},
		{"step id", op.StepID, maxPowerID}, {"phase", op.Phase, maxPowerShort}, {"controller id", op.ControllerID, maxPowerID},
		{"outlet", op.OutletKey, maxPowerOutlet}, {"action", op.Action, maxPowerShort}, {"requested state", op.RequestedState, maxPowerShort},
		{"state before", op.ObservedStateBefore, maxPowerShort}, {"state after", op.ObservedStateAfter, maxPowerShort},
		{"status", op.Status, maxPowerShort}, {"idempotency key", op.IdempotencyKey, maxPowerKey},
	} {
		if len(f.v) > f.max {
			return fmt.Errorf("power operation: %s longer than %d characters", f.name, f.max)
		}
	}
	switch {
	case op.IdempotencyKey == "" || op.ControllerID == "" || op.OutletKey == "" || op.Action == "":
		return errors.New("power operation: idempotency key, controller, outlet and action are required")
	case len(op.Payload) > 0 && !json.Valid(op.Payload):
		return errors.New("power operation: payload is not valid JSON")
	}
	return nil
}

// ClaimPowerOperation is the exactly-once record of a power step: it
// inserts op with status "running" under its idempotency key. claimed is
// true when this call inserted it (the caller then switches and calls
// FinishPowerOperation); otherwise existing is the row a first claim
// wrote, finished or still running, and the caller must not switch.
func (s *Store) ClaimPowerOperation(ctx context.Context, op PowerOperation) (claimed bool, existing *PowerOperation, err error) {
	op.Status = "running"
	if err := checkPowerOperation(op); err != nil {
		return false, nil, err
	}
	op.Payload = BoundPayload(op.Payload)
	_, err = s.DB.ExecContext(ctx, `INSERT INTO power_operations
  (reservation_id, lab_id, policy_id, step_id, phase, controller_id, outlet_key, action, requested_state,
   observed_state_before, observed_state_after, status, success, idempotency_key, payload, message, created_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		nullString(op.ReservationID), nullString(op.LabID), nullString(op.PolicyID), nullString(op.StepID), nullString(op.Phase),
		op.ControllerID, op.OutletKey, op.Action, nullString(op.RequestedState), nullString(op.ObservedStateBefore),
		nullString(op.ObservedStateAfter), op.Status, false, op.IdempotencyKey, nullJSON(op.Payload), nullString(op.Message),
		s.now().Truncate(time.Second))
	if err == nil {
		return true, nil, nil
	}
	if !isDuplicate(err) {
		return false, nil, fmt.Errorf("claim power operation: %w", err)
	}
	// A step that failed may be tried again (the PDU was unreachable a
	// moment): the first claimer of the failed row gets it, atomically;
	// one that succeeded, or runs, is never switched twice.
	res, err := s.DB.ExecContext(ctx, `UPDATE power_operations SET status = 'running', success = FALSE,
  observed_state_before = NULL, observed_state_after = NULL, message = NULL
  WHERE idempotency_key = ? AND status = 'failed'`, op.IdempotencyKey)
	if err != nil {
		return false, nil, fmt.Errorf("claim failed power operation: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		return true, nil, nil
	}
	first, err := s.PowerOperationByKey(ctx, op.IdempotencyKey)
	if err != nil {
		return false, nil, err
	}
	return false, &first, nil
}

// PowerOperationByKey reads the operation of an idempotency key;
// domain.ErrPowerOperationNotFound when there is none.
func (s *Store) PowerOperationByKey(ctx context.Context, key string) (PowerOperation, error) {
	op, err := scanPowerOperation(s.DB.QueryRowContext(ctx, `SELECT `+powerOpColumns+` FROM power_operations WHERE idempotency_key = ?`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return PowerOperation{}, fmt.Errorf("power operation: %w", domain.ErrPowerOperationNotFound)
	}
	if err != nil {
		return PowerOperation{}, fmt.Errorf("read power operation: %w", err)
	}
	return op, nil
}

// FinishPowerOperation writes the outcome of a claimed operation (by its
// idempotency key): status, success, observed states, code, duration,
// payload, message.
func (s *Store) FinishPowerOperation(ctx context.Context, op PowerOperation) error {
	if err := checkPowerOperation(op); err != nil {
		return err
	}
	op.Payload = BoundPayload(op.Payload)
	res, err := s.DB.ExecContext(ctx, `UPDATE power_operations SET status = ?, success = ?, observed_state_before = ?,
  observed_state_after = ?, response_code = ?, duration_ms = ?, payload = ?, message = ? WHERE idempotency_key = ?`,
		op.Status, op.Success, nullString(op.ObservedStateBefore), nullString(op.ObservedStateAfter), op.ResponseCode,
		op.DurationMs, nullJSON(op.Payload), nullString(op.Message), op.IdempotencyKey)
	if err != nil {
		return fmt.Errorf("finish power operation: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		// 0 also for an unchanged row: tell absent apart.
		if _, err := s.PowerOperationByKey(ctx, op.IdempotencyKey); err != nil {
			return err
		}
	}
	return nil
}

// PowerOperations lists a reservation's power operations oldest first
// ("" for every reservation's, newest limit of them), at most limit
// (clamped to 1..500, 100 when 0).
func (s *Store) PowerOperations(ctx context.Context, reservationID string, limit int) ([]PowerOperation, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 500)
	q := `SELECT ` + powerOpColumns + ` FROM power_operations`
	args := []any{}
	if reservationID != "" {
		q += ` WHERE reservation_id = ?`
		args = append(args, reservationID)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read power operations: %w", err)
	}
	defer rows.Close()
	var out []PowerOperation
	for rows.Next() {
		op, err := scanPowerOperation(rows)
		if err != nil {
			return nil, fmt.Errorf("read power operations: %w", err)
		}
		out = append(out, op)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read power operations: %w", err)
	}
	// Oldest first, as a timeline reads.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

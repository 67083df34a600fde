package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// maxPollError bounds the stored reason of a failed poll.
const maxPollError = 1000

// PollStates returns every stored back-off, by lower-case host name.
func (s *Store) PollStates(ctx context.Context) (map[string]PollState, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT host_name, failures, next_poll_at, last_error, last_failure_at FROM lab_host_poll_state`)
	if err != nil {
		return nil, fmt.Errorf("read poll states: %w", err)
	}
	defer rows.Close()
	out := map[string]PollState{}
	for rows.Next() {
		var (
			p         PollState
			next, lf  sql.NullTime
			lastError sql.NullString
		)
		if err := rows.Scan(&p.Host, &p.Failures, &next, &lastError, &lf); err != nil {
			return nil, fmt.Errorf("read poll states: %w", err)
		}
		p.NextPollAt, p.LastFailureAt, p.LastError = timePtr(next), timePtr(lf), lastError.String
		out[p.Host] = p
	}
	return out, rows.Err()
}

// RecordPollFailure counts one more consecutive failure of host and sets
// its next poll from the new count: backoff(failures) after now (a zero
// duration: the next tick). The count is incremented in the statement, so
// ticks of several instances failing at once do not lose a failure.
func (s *Store) RecordPollFailure(ctx context.Context, host, reason string, backoff func(failures int) time.Duration) (PollState, error) {
	name := strings.ToLower(strings.TrimSpace(host))
	if len(reason) > maxPollError {
		reason = reason[:maxPollError]
	}
	now := ms(s.now())
	var p PollState
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO lab_host_poll_state (host_name, failures, last_error, last_failure_at, updated_at)
VALUES (?, 1, ?, ?, ?)
ON DUPLICATE KEY UPDATE failures = failures + 1, last_error = VALUES(last_error),
  last_failure_at = VALUES(last_failure_at), updated_at = VALUES(updated_at)`, name, reason, now, now); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT failures FROM lab_host_poll_state WHERE host_name = ?`, name).Scan(&p.Failures); err != nil {
			return err
		}
		var next *time.Time
		if d := backoff(p.Failures); d > 0 {
			t := now.Add(d)
			next = &t
		}
		p.NextPollAt = next
		_, err := tx.ExecContext(ctx, `UPDATE lab_host_poll_state SET next_poll_at = ? WHERE host_name = ?`, nullTime(next), name)
		return err
	})
	if err != nil {
		return PollState{}, fmt.Errorf("record poll failure of %s: %w", name, err)
	}
	p.Host, p.LastError, p.LastFailureAt = name, reason, &now
	return p, nil
}

// ClearPollFailures resets a host's back-off after a successful poll. It
// writes only when there is something to reset.
func (s *Store) ClearPollFailures(ctx context.Context, host string) error {
	name := strings.ToLower(strings.TrimSpace(host))
	_, err := s.DB.ExecContext(ctx, `UPDATE lab_host_poll_state SET failures = 0, next_poll_at = NULL, updated_at = ?
WHERE host_name = ? AND (failures <> 0 OR next_poll_at IS NOT NULL)`, ms(s.now()), name)
	if err != nil {
		return fmt.Errorf("clear poll failures of %s: %w", name, err)
	}
	return nil
}

package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ops-worker/ops-worker/internal/domain"
)

// Bounds of one claims INSERT. MySQL and MariaDB refuse a prepared
// statement with more than 65,535 placeholders; the INSERT of claimOnce has
// claimPlaceholdersPerRow per reservation plus claimPlaceholdersFixed for
// the ON DUPLICATE KEY clause, so one statement can carry at most
// (65535-3)/4 = 16,383 reservations (MaxClaimRows).
const (
	maxPlaceholders         = 65535
	claimPlaceholdersPerRow = 4 // reservation_id, phase, claimed_by, claimed_at
	claimPlaceholdersFixed  = 3 // the cutoff, three times
	// MaxClaimRows is the most reservations one claims INSERT can carry.
	MaxClaimRows = (maxPlaceholders - claimPlaceholdersFixed) / claimPlaceholdersPerRow
	// MaxBatch is the largest Window.MaxBatch (OPS_RESERVATION_MAX_BATCH)
	// accepted: far under MaxClaimRows, and more than one scan tick should
	// ever dispatch (each due reservation is a WinRM call). Its home is
	// domain, which config checks against without importing the store.
	MaxBatch = domain.MaxBatch
)

// ClaimDue lists the due reservations of a phase (PhaseStart or PhaseEnd)
// and claims them. cooldownAction is the operation (the scheduler's
// "scheduler:start" or "scheduler:end") whose record in the last
// RetryCooldown blocks a retry, failed or not. Scanners
// running at once (several Lambda instances, several local adapters) each
// get a disjoint subset: every due (reservation, phase) is claimed exactly
// once per cooldown window. A claim whose dispatch never finished (the
// instance died) becomes claimable again once the cooldown has passed.
func (s *Store) ClaimDue(ctx context.Context, phase, cooldownAction string, w Window) ([]Claimed, error) {
	out, _, err := s.ClaimDueCounted(ctx, phase, cooldownAction, w)
	return out, err
}

// ClaimDueCounted is ClaimDue that also says how many due reservations
// the scan found (candidates), claimed by this call or by another scanner
// that won the race.
func (s *Store) ClaimDueCounted(ctx context.Context, phase, cooldownAction string, w Window) ([]Claimed, int, error) {
	cands, err := s.due(ctx, phase, cooldownAction, w)
	if err != nil || len(cands) == 0 {
		return nil, 0, err
	}
	ids := make([]string, len(cands))
	for i, c := range cands {
		ids[i] = c.ReservationID
	}
	won, token, at, err := s.claim(ctx, phase, ids, w.RetryCooldown)
	if err != nil {
		return nil, len(cands), err
	}
	out := make([]Claimed, 0, len(won))
	for _, c := range cands {
		if won[c.ReservationID] {
			out = append(out, Claimed{Reservation: c, Claim: Claim{ReservationID: c.ReservationID, Phase: phase, Token: token, At: at}})
		}
	}
	return out, len(cands), nil
}

// ClaimOne claims a single (reservation, phase), for callers that picked it
// themselves. ok is false when another scanner holds a live claim.
func (s *Store) ClaimOne(ctx context.Context, reservationID, phase string, cooldown time.Duration) (Claim, bool, error) {
	won, token, at, err := s.claim(ctx, phase, []string{reservationID}, cooldown)
	if err != nil || !won[reservationID] {
		return Claim{}, false, err
	}
	return Claim{ReservationID: reservationID, Phase: phase, Token: token, At: at}, true, nil
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// claim takes every free or expired claim among ids in one statement. Rows
// are written in sorted order so concurrent claimers lock them in the same
// order; a deadlock that happens anyway is retried.
func (s *Store) claim(ctx context.Context, phase string, ids []string, cooldown time.Duration) (map[string]bool, string, time.Time, error) {
	if len(ids) > MaxBatch {
		// candidates clamps MaxBatch already; this guards any other caller
		// against a statement over the placeholder limit.
		return nil, "", time.Time{}, fmt.Errorf("claim %d %s reservations: more than %d at once", len(ids), phase, MaxBatch)
	}
	sorted := append([]string(nil), ids...)
	sort.Strings(sorted)
	token := newToken()
	var (
		won map[string]bool
		at  time.Time
		err error
	)
	for attempt := 0; attempt < 5; attempt++ {
		at = s.now().Truncate(time.Microsecond)
		won, err = s.claimOnce(ctx, phase, sorted, token, at, at.Add(-cooldown))
		if err == nil || !isRetryable(err) {
			break
		}
	}
	if err != nil {
		return nil, "", time.Time{}, fmt.Errorf("claim %d %s reservations: %w", len(ids), phase, err)
	}
	return won, token, at, nil
}

func (s *Store) claimOnce(ctx context.Context, phase string, ids []string, token string, at, cutoff time.Time) (map[string]bool, error) {
	// No explicit transaction: the INSERT is atomic on its own, and the rows
	// carrying this call's token stay this call's for the whole cooldown, so
	// reading them back needs no lock (and saves two round trips).
	won := map[string]bool{}
	err := func() error {
		var b strings.Builder
		args := make([]any, 0, len(ids)*4+3)
		b.WriteString(`INSERT INTO reservation_claims (reservation_id, phase, claimed_by, claimed_at, finished_at) VALUES `)
		for i, id := range ids {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, NULL)")
			args = append(args, id, phase, token, at)
		}
		// claimed_by and finished_at are assigned before claimed_at: MySQL
		// evaluates the assignments left to right, so they still see the
		// old claimed_at.
		b.WriteString(` ON DUPLICATE KEY UPDATE
  claimed_by = IF(claimed_at < ?, VALUES(claimed_by), claimed_by),
  finished_at = IF(claimed_at < ?, NULL, finished_at),
  claimed_at = IF(claimed_at < ?, VALUES(claimed_at), claimed_at)`)
		args = append(args, cutoff, cutoff, cutoff)
		if _, err := s.DB.ExecContext(ctx, b.String(), args...); err != nil {
			return err
		}
		rows, err := s.DB.QueryContext(ctx, `SELECT reservation_id FROM reservation_claims WHERE claimed_by = ? AND phase = ?`, token, phase)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			won[id] = true
		}
		return rows.Err()
	}()
	return won, err
}

// FinishClaim marks a claim's dispatch as finished. The cooldown then counts
// from now, like the scheduler:start|end record written with it, so a slow
// dispatch is not retried the moment it ends.
func (s *Store) FinishClaim(ctx context.Context, c Claim) error {
	now := s.now().Truncate(time.Microsecond)
	_, err := s.DB.ExecContext(ctx, `UPDATE reservation_claims SET finished_at = ?, claimed_at = ?
WHERE reservation_id = ? AND phase = ? AND claimed_by = ?`, now, now, c.ReservationID, c.Phase, c.Token)
	if err != nil {
		return fmt.Errorf("finish claim %s/%s: %w", c.ReservationID, c.Phase, err)
	}
	return nil
}

// ReleaseClaim gives back a claim whose dispatch never started (the tick
// ran out of time, or the host stayed busy), so the next scan may take it
// at once instead of after the cooldown. Only the claim's own holder can
// release it, and only while it is unfinished.
func (s *Store) ReleaseClaim(ctx context.Context, c Claim) error {
	_, err := s.DB.ExecContext(ctx, `DELETE FROM reservation_claims
WHERE reservation_id = ? AND phase = ? AND claimed_by = ? AND finished_at IS NULL`, c.ReservationID, c.Phase, c.Token)
	if err != nil {
		return fmt.Errorf("release claim %s/%s: %w", c.ReservationID, c.Phase, err)
	}
	return nil
}

// StillDue re-checks a claimed reservation just before its dispatch, and
// says why it is no longer due ("" when it is): its status is no longer
// the one the scan read (cancelled, or moved on by another scanner), its
// claim was taken over (it expired while this scanner waited, for a
// station busy with a long flow), or a cooldownAction was recorded within
// the cooldown (another scanner ran it meanwhile, failed or not).
func (s *Store) StillDue(ctx context.Context, c Claimed, cooldownAction string, cooldown time.Duration) (string, error) {
	var (
		status      string
		held, recnt int
	)
	cut := ms(s.now()).Add(-cooldown)
	err := s.DB.QueryRowContext(ctx, `SELECT r.status,
  (SELECT COUNT(*) FROM reservation_claims c WHERE c.reservation_id = ? AND c.phase = ? AND c.claimed_by = ?),
  (SELECT COUNT(*) FROM reservation_operations o WHERE o.reservation_id = ? AND o.action = ? AND o.created_at >= ?)
FROM lab_reservations r WHERE r.transaction_hash = ?`,
		c.Claim.ReservationID, c.Claim.Phase, c.Claim.Token, c.Claim.ReservationID, cooldownAction, cut,
		c.Reservation.ReservationID).Scan(&status, &held, &recnt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "reservation gone", nil
	case err != nil:
		return "", fmt.Errorf("re-check %s/%s: %w", c.Claim.ReservationID, c.Claim.Phase, err)
	case status != c.Reservation.Status:
		return "status is now " + status, nil
	case held == 0:
		return "claim taken over by another scanner", nil
	case recnt > 0:
		return cooldownAction + " recorded within the cooldown", nil
	}
	return "", nil
}

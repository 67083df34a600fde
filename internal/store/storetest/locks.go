package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/store"
)

// UpdateBlocksWhileRowLocked reports whether a second connection's UPDATE of
// a row waits while another transaction holds that row: true on
// MariaDB/MySQL, false on the embedded engine, which has no row locks.
// The claim protocol relies on it for exactly-once under concurrency.
func UpdateBlocksWhileRowLocked(t *testing.T, a, b *store.Store) bool {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	InsertReservation(t, a, "lock-probe", "1", "CONFIRMED", now, now.Add(time.Hour))
	tx, err := a.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := tx.ExecContext(ctx, `UPDATE lab_reservations SET status = 'ACTIVE' WHERE transaction_hash = 'lock-probe'`); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := b.DB.Conn(cctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = conn.ExecContext(cctx, `UPDATE lab_reservations SET lab_id = '2' WHERE transaction_hash = 'lock-probe'`)
	// Blocked until the deadline (context error) or a lock wait timeout.
	return err != nil
}

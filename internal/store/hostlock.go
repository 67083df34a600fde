package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrHostBusy is returned by LockHost when another holder kept the host's
// lock for the whole wait.
var ErrHostBusy = errors.New("host busy: another flow holds its lock")

// hostLockPrefix names the advisory locks of LockHost (MySQL's lock names
// are at most 64 characters; longer host names are cut, which can only
// make two hosts share a lock, never let two flows share a host).
const hostLockPrefix = "opsw:host:"

// LockHost takes the database-wide advisory lock of a host (MySQL
// GET_LOCK), waiting at most wait, so that two flows never run on one
// station at once, whichever instance runs them. The lock lives on one
// pooled connection, held until unlock is called (or the connection dies,
// which releases it on the server). unlock never fails the caller: a lock
// it cannot release goes with its connection.
func (s *Store) LockHost(ctx context.Context, host string, wait time.Duration) (unlock func(), err error) {
	name := hostLockPrefix + strings.ToLower(strings.TrimSpace(host))
	if len(name) > 64 {
		name = name[:64]
	}
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock host %s: %w", host, err)
	}
	secs := int(wait.Round(time.Second) / time.Second)
	if secs < 0 {
		secs = 0
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(?, ?)`, name, secs).Scan(&got); err != nil {
		discard(conn)
		return nil, fmt.Errorf("lock host %s: %w", host, err)
	}
	if !got.Valid || got.Int64 != 1 {
		conn.Close()
		return nil, fmt.Errorf("lock host %s: %w", host, ErrHostBusy)
	}
	return func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(rctx, `SELECT RELEASE_LOCK(?)`, name); err != nil {
			// Keep a connection that may still hold the lock out of the
			// pool: closing it releases the lock on the server.
			discard(conn)
			return
		}
		conn.Close()
	}, nil
}

// discard closes conn and keeps it out of the pool (driver.ErrBadConn from
// Raw removes it), so a lock it may hold dies with it.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}

// MaxOpenConns is the pool's limit (0: none). A host lock holds one
// connection for as long as its flows run, so the reservation tick sizes
// its dispatch concurrency from it.
func (s *Store) MaxOpenConns() int { return s.DB.Stats().MaxOpenConnections }

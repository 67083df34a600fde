// Package store is the MySQL adapter: schema migrations, hosts, heartbeats,
// events, reservation operations, reservations, quarantine flags and claims.
//
// It speaks to MariaDB/MySQL through go-sql-driver/mysql, and to the
// embedded in-memory engine of the local adapter through the same driver;
// every query here is kept to what both understand.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Store is the worker's database. Now is the clock used for every time the
// store writes or compares (claims, cooldowns, created_at); nil means
// time.Now. Tests set it to control windows without sleeping.
type Store struct {
	DB  *sql.DB
	Now func() time.Time
}

// The pool of Open; a caller may size it otherwise (app.Options).
const (
	DefaultMaxOpenConns = 32
	DefaultMaxIdleConns = 32
)

// KeepFresh sets the connection lifetimes of every pool of the worker:
// none older than 5 minutes, none idle more than one.
func KeepFresh(db *sql.DB) {
	db.SetConnMaxLifetime(5 * time.Minute)
	db.SetConnMaxIdleTime(time.Minute)
}

// Open connects with a go-sql-driver config (see config.ParseDSN) and checks
// the connection.
func Open(ctx context.Context, cfg *mysql.Config) (*Store, error) {
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("database config: %w", err)
	}
	db := sql.OpenDB(conn)
	// A function instance is short-lived and runs few queries at once; a
	// local adapter polls many hosts, bounded by OPS_POLL_CONCURRENCY. As
	// many idle as open: with fewer, a burst of requests closes and reopens
	// sessions all the time (bench/api-health-dbpool-idle{8,32}.txt: /health
	// on the embedded database 3.4k -> 6.4k req/s, p99 29.7 -> 10.4 ms);
	// ConnMaxIdleTime still closes what a quiet minute leaves unused.
	db.SetMaxOpenConns(DefaultMaxOpenConns)
	db.SetMaxIdleConns(DefaultMaxIdleConns)
	KeepFresh(db)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to database %s/%s: %w", cfg.Addr, cfg.DBName, err)
	}
	return &Store{DB: db}, nil
}

// Close closes the pool.
func (s *Store) Close() error { return s.DB.Close() }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.DB.PingContext(ctx) }

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// inTx runs fn in a transaction: begin, deferred rollback, commit.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// isRetryable reports deadlocks and lock wait timeouts, which a whole
// transaction may simply retry.
func isRetryable(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205
	}
	return false
}

// IsConnectionError reports a failure of the database connection rather
// than of the statement: a connection killed or dropped, the server
// shutting down or unreachable. A write that failed so may be retried on a
// new connection (at worst it ran once before the connection died).
func IsConnectionError(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || isRetryable(err) {
		return true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		// 1053 server shutdown, 1927 connection killed (MariaDB),
		// 1317 query interrupted, 2006/2013 gone away / lost.
		switch me.Number {
		case 1053, 1927, 1317, 2006, 2013:
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

// IsConnectionError is the package's IsConnectionError, for the use cases'
// Store interfaces (they import no adapter).
func (s *Store) IsConnectionError(err error) bool { return IsConnectionError(err) }

// IsPermanentError is Permanent, for the use cases' retry decisions.
func (s *Store) IsPermanentError(err error) bool { return Permanent(err) }

// ms truncates to the millisecond precision of the DATETIME(3) columns, so
// what is written compares equal to what is read back.
func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func nullTime(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return ms(*t)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullBool(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

func nullJSON(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// Package guacamole reads the connections of the gateway's Apache
// Guacamole from its MySQL tables, so GET /api/hosts can tell which Lab
// Station each remote-desktop connection points at (GATEWAY.md section 5).
//
// It only reads, and only two tables of Guacamole's published schema
// (guacamole-auth-jdbc-mysql, 001-create-schema.sql): guacamole_connection
// (connection_id, connection_name, protocol) and
// guacamole_connection_parameter (connection_id, parameter_name,
// parameter_value), of which the hostname and port parameters. Every read
// is one query, bounded in time (Timeout) and in rows (MaxConnections).
package guacamole

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/textcut"
)

// Defaults of a Directory's zero fields.
const (
	// DefaultTimeout bounds one read: GET /api/hosts waits for it, and a
	// Guacamole database that hangs must not hang the host list.
	DefaultTimeout = 3 * time.Second
	// DefaultMaxConnections bounds the rows read: a lab gateway has tens
	// of connections; more than this are not read (and the log says so).
	DefaultMaxConnections = 2000
)

// Cuts of the values read, in bytes: Guacamole's own column sizes for the
// name (128) and protocol (32); a host name is at most 253 characters, so
// a longer parameter matches no host anyway.
const (
	maxName     = 128
	maxProtocol = 32
	maxParam    = 255
	maxErrText  = 300
)

// Directory reads Guacamole's connections over DB. The zero values of the
// optional fields are usable.
type Directory struct {
	DB *sql.DB
	// Timeout bounds one read; 0: DefaultTimeout.
	Timeout time.Duration
	// MaxConnections bounds the connections read; 0: DefaultMaxConnections.
	MaxConnections int
	// Logger is told when the limit cut the list; nil: discarded.
	Logger *slog.Logger
	// secret is the password of the DSN: never in an error (see Open).
	secret string
}

// Open prepares a Directory on the database cfg names, without connecting:
// the first read does, so a Guacamole database that is down never stops
// the worker from starting. The pool is small (a read is one query).
func Open(cfg *mysql.Config) (*Directory, error) {
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		// The driver's config errors name fields, never the password; the
		// caller parsed cfg already (config.ParseDSN), so this is rare.
		return nil, fmt.Errorf("guacamole database config: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(time.Minute)
	db.SetConnMaxLifetime(5 * time.Minute)
	return &Directory{DB: db, secret: cfg.Passwd}, nil
}

// Close closes the pool.
func (d *Directory) Close() error { return d.DB.Close() }

// connectionsQuery reads each connection with its hostname and port
// parameters in one row (a connection without them still comes, with
// NULLs), in id order, at most ? rows. MAX(CASE ...) folds the two
// parameter rows of a connection into its one row.
const connectionsQuery = `SELECT c.connection_id, c.connection_name, c.protocol,
	MAX(CASE WHEN p.parameter_name = 'hostname' THEN p.parameter_value END) AS hostname,
	MAX(CASE WHEN p.parameter_name = 'port' THEN p.parameter_value END) AS port
FROM guacamole_connection c
LEFT JOIN guacamole_connection_parameter p
	ON p.connection_id = c.connection_id AND p.parameter_name IN ('hostname', 'port')
GROUP BY c.connection_id, c.connection_name, c.protocol
ORDER BY c.connection_id
LIMIT ?`

// Connections reads every connection (up to MaxConnections), in id order.
// Its error says why in words fit for an answer: the DSN's password is
// never in it.
func (d *Directory) Connections(ctx context.Context) ([]domain.GuacConnection, error) {
	limit := d.MaxConnections
	if limit <= 0 {
		limit = DefaultMaxConnections
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	// One more than the limit tells a cut list from a full one.
	rows, err := d.DB.QueryContext(ctx, connectionsQuery, limit+1)
	if err != nil {
		return nil, d.fail(ctx, err)
	}
	defer rows.Close()
	var out []domain.GuacConnection
	for rows.Next() {
		var (
			c              domain.GuacConnection
			host, port     sql.NullString
			name, protocol string
		)
		if err := rows.Scan(&c.ID, &name, &protocol, &host, &port); err != nil {
			return nil, d.fail(ctx, err)
		}
		if len(out) == limit {
			d.log().WarnContext(ctx, "guacamole: more connections than the limit; the rest are not read", "limit", limit)
			break
		}
		c.Name = textcut.Cut(name, maxName, "...")
		c.Protocol = textcut.Cut(protocol, maxProtocol, "...")
		c.Hostname = textcut.Cut(strings.TrimSpace(host.String), maxParam, "...")
		c.Port = textcut.Cut(strings.TrimSpace(port.String), maxParam, "...")
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, d.fail(ctx, err)
	}
	return out, nil
}

// fail words a failed read: a timeout as such, else the driver's reason
// (which quotes neither DSN nor password; any occurrence of the password
// is masked all the same), on one line and cut.
func (d *Directory) fail(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errors.New("no answer within " + d.timeout().String())
	}
	msg := err.Error()
	if d.secret != "" {
		msg = strings.ReplaceAll(msg, d.secret, "[REDACTED]")
	}
	msg = strings.Join(strings.Fields(msg), " ")
	return errors.New(textcut.Cut(msg, maxErrText, "..."))
}

func (d *Directory) timeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return DefaultTimeout
}

func (d *Directory) log() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.New(slog.DiscardHandler)
}

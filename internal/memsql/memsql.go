// Package memsql runs the embedded, in-memory MySQL-compatible engine
// (dolthub/go-mysql-server) that the local adapter uses when MYSQL_DSN is
// unset, so every endpoint and tick works with zero set-up.
//
// Everything in it is lost when the process exits. It listens on a unix
// socket in a private (0700) temporary directory, never on a TCP port, so
// it can neither clash with a real server on 3306 nor be reached by other
// users. Only the local adapter links it: Lambda function binaries must
// not import this package (it adds tens of megabytes).
//
// Differences from MariaDB that matter to the store: the memory engine has
// no row locks, and it does not merge concurrent sessions at all (each puts
// back its own copy of a table, so a read could revert a write), so the
// server lets one statement or transaction in at a time (gate.go). That
// also serialises concurrent claims: the store's concurrent-claims contract
// test passes on it (8 scanners, 20 rounds of 520 bookings, 42-52 s), too
// slowly to run in make test; the local adapter runs its ticks one at a
// time anyway.
package memsql

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/go-mysql-server/sql"
	vmysql "github.com/dolthub/vitess/go/mysql"
	"github.com/go-sql-driver/mysql"
	"github.com/sirupsen/logrus"
)

// Server is a running in-memory database server.
type Server struct {
	dir  string
	srv  *server.Server
	done chan struct{}
	cfg  *mysql.Config
}

// Start creates database dbName, and the databases more names, in memory
// and serves them; Config reaches dbName. (A database made with CREATE
// DATABASE instead lacks the primary-key indexes a foreign key needs.)
func Start(ctx context.Context, dbName string, more ...string) (*Server, error) {
	// go-mysql-server logs every connection and every failed query through
	// logrus; the store reports its own errors.
	logrus.SetLevel(logrus.ErrorLevel)

	dir, err := os.MkdirTemp("", "ops-worker-memdb-")
	if err != nil {
		return nil, fmt.Errorf("embedded database: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("embedded database: %w", err)
	}
	sock := filepath.Join(dir, "mysql.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("embedded database: listen: %w", err)
	}

	var dbs []sql.Database
	for _, name := range append([]string{dbName}, more...) {
		db := memory.NewDatabase(name)
		db.BaseDatabase.EnablePrimaryKeyIndexes()
		dbs = append(dbs, db)
	}
	pro := memory.NewDBProvider(dbs...)
	engine := sqle.NewDefault(pro)
	gate := newSerialGate()
	srv, err := server.NewServerWithHandler(server.Config{Protocol: "unix", Socket: sock, Listener: l}, engine, sql.NewContext,
		memory.NewSessionBuilder(pro), nil, func(h vmysql.Handler) (vmysql.Handler, error) { return gatedHandler{Handler: h, gate: gate}, nil })
	if err != nil {
		l.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("embedded database: %w", err)
	}
	s := &Server{dir: dir, srv: srv, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = srv.Start()
	}()

	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr, cfg.DBName = "root", "unix", sock, dbName
	cfg.ParseTime, cfg.Loc = true, time.UTC
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 5*time.Second, 30*time.Second, 30*time.Second
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	s.cfg = cfg
	return s, nil
}

// Config is the driver config that reaches the in-memory database.
func (s *Server) Config() *mysql.Config { return s.cfg.Clone() }

// Close stops the server; the data is gone.
func (s *Server) Close() error {
	err := s.srv.Close()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		err = errors.Join(err, errors.New("embedded database: server did not stop in 5 s"))
	}
	os.RemoveAll(s.dir)
	return err
}

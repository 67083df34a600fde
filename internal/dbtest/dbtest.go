// Package dbtest gives tests a real MariaDB server and a fresh database on it.
//
// Where the server comes from, in order:
//  1. MYSQL_TEST_DSN, when set (its database part is ignored);
//  2. the server on 127.0.0.1:3306 (root, empty password), when it answers;
//  3. a private mariadbd in a temporary data directory on a free loopback
//     port, installing the mariadb-server package with apt-get when running
//     as root and it is missing.
//
// OPS_TEST_DB=private skips 1 and 2, so CI proves a fresh machine works.
// A test package that uses it calls dbtest.Main from its TestMain, so a
// private server is stopped when the package's tests end.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// server is process-wide on purpose: one private mariadbd serves every test
// of a package binary, and Main stops it.
var server struct {
	once    sync.Once
	cfg     *mysql.Config
	private *privateServer
	err     error
}

// Main runs the package's tests and then stops a private server, if one was
// started. Use it as: func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	if server.private != nil {
		server.private.stop()
	}
	return code
}

// MainQuietDriver is Main for suites that kill connections or restart the
// server on purpose: the driver's own log line for each dropped
// connection is noise there.
func MainQuietDriver(m *testing.M) int {
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
	return Main(m)
}

// AdminConfig returns a connection config for the test server, starting one
// if needed. It fails the test when no server can be had.
func AdminConfig(tb testing.TB) *mysql.Config {
	tb.Helper()
	server.once.Do(func() { server.cfg, server.private, server.err = findServer() })
	if server.err != nil {
		tb.Fatalf("dbtest: no MariaDB for the tests: %v", server.err)
	}
	return server.cfg.Clone()
}

// Kind tells which of the three sources is in use ("env", "local", "private").
func Kind(tb testing.TB) string {
	AdminConfig(tb)
	switch {
	case server.private != nil:
		return "private"
	case os.Getenv("MYSQL_TEST_DSN") != "":
		return "env"
	}
	return "local"
}

// NewDatabase creates a database with a unique name and drops it when the
// test ends. It returns the go-sql-driver DSN (parseTime, UTC) to it.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	return newDatabaseOn(tb, AdminConfig(tb))
}

func newDatabaseOn(tb testing.TB, cfg *mysql.Config) string {
	tb.Helper()
	name := "opsw_test_" + randomHex(6)
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		tb.Fatalf("dbtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		db, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			return
		}
		defer db.Close()
		if _, err := db.ExecContext(context.Background(), "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			tb.Logf("dbtest: drop database %s: %v", name, err)
		}
	})
	cfg.DBName = name
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	return cfg.FormatDSN()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func findServer() (*mysql.Config, *privateServer, error) {
	mode := os.Getenv("OPS_TEST_DB")
	if mode != "private" {
		if dsn := os.Getenv("MYSQL_TEST_DSN"); dsn != "" {
			cfg, err := mysql.ParseDSN(dsn)
			if err != nil {
				return nil, nil, fmt.Errorf("MYSQL_TEST_DSN: %w", err)
			}
			cfg.DBName = ""
			return cfg, nil, ping(cfg)
		}
		cfg := mysql.NewConfig()
		cfg.User, cfg.Net, cfg.Addr = "root", "tcp", "127.0.0.1:3306"
		cfg.Timeout = 2 * time.Second
		if ping(cfg) == nil {
			return cfg, nil, nil
		}
	}
	p, err := startPrivate()
	if err != nil {
		return nil, nil, err
	}
	return p.cfg, p, nil
}

func ping(cfg *mysql.Config) error {
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

type privateServer struct {
	dir  string
	bin  string
	args []string
	cmd  *exec.Cmd
	cfg  *mysql.Config
}

func startPrivate() (*privateServer, error) {
	bin, err := findMariadbd()
	if err != nil {
		return nil, err
	}
	installDB, err := exec.LookPath("mariadb-install-db")
	if err != nil {
		installDB, err = exec.LookPath("mysql_install_db")
		if err != nil {
			return nil, errors.New("mariadb-install-db not found (install the mariadb-server package)")
		}
	}
	dir, err := os.MkdirTemp("", "opsw-mariadb-")
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	args := []string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal", "--skip-test-db"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	if out, err := exec.Command(installDB, args...).CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("mariadb-install-db: %v: %s", err, lastLines(string(out), 5))
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	srvArgs := []string{
		"--no-defaults", "--datadir=" + data, "--socket=" + filepath.Join(dir, "sock"),
		fmt.Sprintf("--port=%d", port), "--bind-address=127.0.0.1",
		"--pid-file=" + filepath.Join(dir, "pid"), "--log-error=" + filepath.Join(dir, "error.log"),
		"--skip-log-bin", "--innodb-buffer-pool-size=256M", "--max-connections=500",
		"--innodb-flush-log-at-trx-commit=2",
	}
	if os.Geteuid() == 0 {
		srvArgs = append(srvArgs, "--user=root")
	}
	p := &privateServer{dir: dir, bin: bin, args: srvArgs}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr = "root", "tcp", fmt.Sprintf("127.0.0.1:%d", port)
	cfg.Timeout = 2 * time.Second
	p.cfg = cfg
	if err := p.run(); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// run starts mariadbd on the server's data directory and port and waits
// until it answers.
func (p *privateServer) run() error {
	cmd := exec.Command(p.bin, p.args...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start mariadbd: %w", err)
	}
	p.cmd = cmd
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := ping(p.cfg); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(p.dir, "error.log"))
			return fmt.Errorf("private mariadbd did not answer in 60 s: %v; log: %s", err, lastLines(string(log), 10))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// halt stops mariadbd (SIGTERM, then SIGKILL after 20 s) and keeps its
// data directory.
func (p *privateServer) halt() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	p.cmd = nil
}

func (p *privateServer) stop() {
	p.halt()
	os.RemoveAll(p.dir)
}

// Private is a mariadbd of one test's own, which it may stop and start
// again (fault tests): same data directory, same port.
type Private struct {
	mu sync.Mutex
	p  *privateServer
}

// NewPrivate starts a private mariadbd for tb (whatever server the other
// tests use) and stops it, removing its data, when tb ends.
func NewPrivate(tb testing.TB) *Private {
	tb.Helper()
	p, err := startPrivate()
	if err != nil {
		tb.Fatalf("dbtest: private mariadbd: %v", err)
	}
	tb.Cleanup(p.stop)
	return &Private{p: p}
}

// Config is the admin (root) config of the private server.
func (s *Private) Config() *mysql.Config { return s.p.cfg.Clone() }

// NewDatabase creates a database on the private server, as NewDatabase.
func (s *Private) NewDatabase(tb testing.TB) string {
	tb.Helper()
	return newDatabaseOn(tb, s.Config())
}

// Stop stops the server (its data stays).
func (s *Private) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.p.halt()
}

// Start starts the stopped server again and waits until it answers.
func (s *Private) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p.run()
}

func findMariadbd() (string, error) {
	for _, name := range []string{"mariadbd", "mysqld"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
		if p := "/usr/sbin/" + name; fileExists(p) {
			return p, nil
		}
	}
	if os.Geteuid() != 0 {
		return "", errors.New("mariadbd not found: install the Debian package mariadb-server (apt-get install mariadb-server), or set MYSQL_TEST_DSN")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", "mariadb-server"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get %s: %v: %s", strings.Join(args, " "), err, lastLines(string(out), 5))
		}
	}
	if fileExists("/usr/sbin/mariadbd") {
		return "/usr/sbin/mariadbd", nil
	}
	return "", errors.New("mariadb-server installed but /usr/sbin/mariadbd is missing")
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

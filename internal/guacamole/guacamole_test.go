package guacamole_test

import (
	"context"
	"database/sql"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/guacamole"
	"github.com/ops-worker/ops-worker/internal/guacamole/guacdemo"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// openGuacamole is a new MariaDB database with Guacamole's two connection
// tables holding conns, and a Directory on it.
func openGuacamole(t *testing.T, conns ...domain.GuacConnection) *guacamole.Directory {
	t.Helper()
	dsn := dbtest.NewDatabase(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	if err := guacdemo.CreateTables(ctx, db, ""); err != nil {
		t.Fatal(err)
	}
	if err := guacdemo.Add(ctx, db, "", conns...); err != nil {
		t.Fatal(err)
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	d, err := guacamole.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestDirectory_Connections(t *testing.T) {
	want := []domain.GuacConnection{
		{ID: 3, Name: "RDP lab-ws-01", Protocol: "rdp", Hostname: "lab-ws-01", Port: "3389"},
		{ID: 7, Name: "VNC bench", Protocol: "vnc", Hostname: "10.1.2.7"},
		{ID: 9, Name: "no parameters", Protocol: "ssh"},
	}
	d := openGuacamole(t, want...)
	got, err := d.Connections(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Connections =\n%+v\nwant\n%+v", got, want)
	}
}

// The row limit holds: the first MaxConnections by id, the rest left.
func TestDirectory_MaxConnections(t *testing.T) {
	d := openGuacamole(t,
		domain.GuacConnection{ID: 1, Name: "a", Protocol: "rdp", Hostname: "h1"},
		domain.GuacConnection{ID: 2, Name: "b", Protocol: "rdp", Hostname: "h2"},
		domain.GuacConnection{ID: 3, Name: "c", Protocol: "rdp", Hostname: "h3"},
	)
	d.MaxConnections = 2
	got, err := d.Connections(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != 1 || got[1].ID != 2 {
		t.Errorf("Connections with MaxConnections 2 = %+v", got)
	}
}

// A database without Guacamole's tables: the error is the server's reason.
func TestDirectory_NoTables(t *testing.T) {
	cfg, err := mysql.ParseDSN(dbtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	d, err := guacamole.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, err = d.Connections(context.Background())
	if err == nil || !strings.Contains(err.Error(), "guacamole_connection") {
		t.Errorf("Connections without the tables: %v", err)
	}
}

// A server that accepts and never answers: the read ends at Timeout with
// an error that says so.
func TestDirectory_Timeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open and silent until the test ends
		}
	}()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = "guac", "S3cretGuacPw", "tcp", ln.Addr().String(), "guacamole_db"
	d, err := guacamole.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.Timeout = 300 * time.Millisecond
	start := time.Now()
	_, err = d.Connections(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no answer within 300ms") {
		t.Errorf("Connections to a silent server: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the read took %v, its bound is 300ms", took)
	}
}

// A refused connection and a refused password: the error says why and
// never holds the password.
func TestDirectory_ErrorsHoldNoSecret(t *testing.T) {
	const secret = "S3cretGuacPw-9d"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	admin := dbtest.AdminConfig(t)
	for _, addr := range []string{closed, admin.Addr} {
		cfg := mysql.NewConfig()
		cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = "guac_nobody", secret, "tcp", addr, "guacamole_db"
		cfg.Timeout = 2 * time.Second
		d, err := guacamole.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.Connections(context.Background())
		d.Close()
		if err == nil {
			t.Fatalf("%s: no error", addr)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error holds the password: %v", addr, err)
		}
		if addr == closed && !strings.Contains(err.Error(), "refused") {
			t.Errorf("refused connection: %v", err)
		}
		if addr == admin.Addr && !strings.Contains(err.Error(), "Access denied") {
			t.Errorf("wrong account: %v", err)
		}
	}
}

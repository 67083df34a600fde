package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/guacamole/guacdemo"
	"github.com/ops-worker/ops-worker/internal/labsim"
)

// guacamoleDB is a MariaDB database with Guacamole's two connection tables
// holding conns, and a DSN to it for an account of its own that may only
// read it (GUACAMOLE_MYSQL_DSN), with its password.
func guacamoleDB(t *testing.T, conns ...domain.GuacConnection) (dsn, password string) {
	t.Helper()
	ctx := context.Background()
	cfg, err := mysql.ParseDSN(dbtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := guacdemo.CreateTables(ctx, db, ""); err != nil {
		t.Fatal(err)
	}
	if err := guacdemo.Add(ctx, db, "", conns...); err != nil {
		t.Fatal(err)
	}
	user, password := "g"+strings.TrimPrefix(cfg.DBName, "opsw_test_"), "Guac-e2e-Pw-"+cfg.DBName[len(cfg.DBName)-6:]
	for _, q := range []string{
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", user, password),
		fmt.Sprintf("GRANT SELECT ON `%s`.* TO '%s'@'%%'", cfg.DBName, user),
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if db, err := sql.Open("mysql", dbtest.AdminConfig(t).FormatDSN()); err == nil {
			_, _ = db.ExecContext(context.Background(), fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", user))
			db.Close()
		}
	})
	g := cfg.Clone()
	g.User, g.Passwd = user, password
	return g.FormatDSN(), password
}

// TestE2E_HostsGuacamole: GET /api/hosts over HTTP with Guacamole's tables
// on MariaDB (read through an account that may only read them): linked,
// ambiguous and missing hosts, the unmatched candidates, the credential
// fields; then with Guacamole's database down and with a refused account,
// the hosts still listed (200) and the reason given. No password of any
// kind (the worker's stations, the Guacamole account, Guacamole's RDP
// parameters) in an answer or a log line.
func TestE2E_HostsGuacamole(t *testing.T) {
	conns := []domain.GuacConnection{
		{ID: 11, Name: "RDP 01", Protocol: "rdp", Hostname: "LAB-WS-01", Port: "3389"}, // lab-ws-01 by name
		{ID: 12, Name: "RDP 02", Protocol: "rdp", Hostname: "lab-ws-02", Port: "3389"},
		{ID: 13, Name: "VNC 02", Protocol: "vnc", Hostname: "lab-ws-02", Port: "5900"}, // lab-ws-02 ambiguous
		{ID: 14, Name: "Bench PC", Protocol: "rdp", Hostname: "bench-pc-07", Port: "3389"},
		{ID: 15, Name: "No hostname", Protocol: "ssh"},
	}
	dsn, guacPass := guacamoleDB(t, conns...)
	three := []labsim.HostOptions{{Name: "lab-ws-01"}, {Name: "lab-ws-02"}, {Name: "lab-ws-03"}}
	catalog := func(hs []map[string]any) {
		hs[1]["credential_ref"] = "Bench-02.Creds"
		delete(hs[2], "winrm_pass")
	}
	e := startE2E(t, e2eOpts{hosts: three, catalog: catalog, env: map[string]string{"GUACAMOLE_MYSQL_DSN": dsn}})
	e.secrets = append(e.secrets, guacPass, guacdemo.Password)

	r := e.do(t, "GET", "/api/hosts", nil)
	wantOK(t, r, "hosts", "guacamoleAvailable", "guacamoleUnmatched")
	if r.body["guacamoleAvailable"] != true || r.body["guacamoleError"] != nil {
		t.Errorf("guacamole not available: %s", r)
	}
	hs := arr(t, r.body["hosts"], "hosts")
	if len(hs) != 3 {
		t.Fatalf("hosts: %s", r)
	}
	for i, want := range []struct {
		name, status, ids, ref string
		winrm                  bool
	}{
		{"lab-ws-01", "linked", "11", "127.0.0.1", true},
		{"lab-ws-02", "ambiguous", "12,13", "bench-02.creds", true},
		{"lab-ws-03", "missing", "", "127.0.0.1", false},
	} {
		h := obj(t, hs[i], "host")
		g := obj(t, h["guacamole"], "guacamole")
		if h["name"] != want.name || g["status"] != want.status || connIDs(t, g["connections"]) != want.ids ||
			h["credentialRef"] != want.ref || h["winrmConfigured"] != want.winrm {
			t.Errorf("host %d = %v, want %+v", i, h, want)
		}
		if mac, _ := h["mac"].(string); mac == "" {
			t.Errorf("%s: mac %v", want.name, h["mac"])
		}
		if labs := arr(t, h["labs"], "labs"); len(labs) == 0 {
			t.Errorf("%s: labs %v", want.name, h["labs"])
		}
	}
	if got := connIDs(t, r.body["guacamoleUnmatched"]); got != "14,15" {
		t.Errorf("unmatched %s, want 14,15: %s", got, r)
	}
	c := obj(t, arr(t, obj(t, obj(t, hs[0], "host")["guacamole"], "guacamole")["connections"], "connections")[0], "connection")
	if c["name"] != "RDP 01" || c["hostname"] != "LAB-WS-01" || c["protocol"] != "rdp" || c["port"] != "3389" {
		t.Errorf("linked connection %v", c)
	}
	u := obj(t, arr(t, r.body["guacamoleUnmatched"], "unmatched")[1], "unmatched")
	if u["hostname"] != nil || u["port"] != nil {
		t.Errorf("a connection without parameters: %v", u)
	}

	// Guacamole's database down, then an account it refuses: the hosts
	// are listed all the same, each link null, and the reason is given.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	g, _ := mysql.ParseDSN(dsn)
	down := g.Clone()
	down.Addr = closed
	refused := g.Clone()
	refused.Passwd = "Wrong-" + guacPass
	for _, tt := range []struct{ dsn, why string }{{down.FormatDSN(), "connection refused"}, {refused.FormatDSN(), "Access denied"}} {
		e := startE2E(t, e2eOpts{hosts: three[:1], env: map[string]string{"GUACAMOLE_MYSQL_DSN": tt.dsn}})
		e.secrets = append(e.secrets, guacPass, "Wrong-"+guacPass)
		r := e.do(t, "GET", "/api/hosts", nil)
		wantOK(t, r, "hosts")
		msg, _ := r.body["guacamoleError"].(string)
		if r.body["guacamoleAvailable"] != false || !strings.HasPrefix(msg, "Guacamole query failed: ") || !strings.Contains(msg, tt.why) {
			t.Errorf("%s: %s", tt.why, r)
		}
		hs := arr(t, r.body["hosts"], "hosts")
		if len(hs) != 1 || obj(t, hs[0], "host")["guacamole"] != nil || len(arr(t, r.body["guacamoleUnmatched"], "unmatched")) != 0 {
			t.Errorf("%s: hosts %s", tt.why, r)
		}
	}
}

// connIDs is the ids of a JSON list of connections, comma-separated.
func connIDs(t *testing.T, v any) string {
	t.Helper()
	var ids []string
	for _, c := range arr(t, v, "connections") {
		ids = append(ids, fmt.Sprint(obj(t, c, "connection")["id"]))
	}
	return strings.Join(ids, ",")
}

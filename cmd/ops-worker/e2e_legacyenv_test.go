package main

import (
	"net"
	"testing"

	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/dbtest"
)

// TestE2E_CurrentWorkerEnvironment: the current (Python) worker's
// variables (GATEWAY.md section 4), with MYSQL_DSN passed through empty as
// a compose file may: the server reaches MariaDB through the DSN built
// from the parts, and the station range and transports come from the
// WINRM_* spellings.
func TestE2E_CurrentWorkerEnvironment(t *testing.T) {
	dsn := dbtest.NewDatabase(t)
	d, err := config.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	e := startE2E(t, e2eOpts{dsn: dsn, env: map[string]string{
		"MYSQL_DSN":      "",
		"MYSQL_HOSTNAME": host, "MYSQL_PORT": port,
		"OPS_BACKEND_MYSQL_USER": d.User, "OPS_BACKEND_MYSQL_PASSWORD": d.Passwd,
		"BLOCKCHAIN_MYSQL_DATABASE": d.DBName, "MYSQL_DATABASE": "guacamole_db",
		"WINRM_MANAGEMENT_CIDRS":   "127.0.0.0/8",
		"WINRM_ALLOWED_TRANSPORTS": "NTLM, basic",
	}})
	r := e.do(t, "GET", "/health", nil, noToken)
	wantOK(t, r, "db", "db_kind")
	if r.body["db"] != true || r.body["db_kind"] != "mysql" || r.body["status"] != "ok" {
		t.Fatalf("/health on the built DSN: %s", r)
	}
	wantOK(t, e.do(t, "POST", "/api/winrm", map[string]any{"host": "lab-ws-01", "command": "status"}), "exit_code")
	// The database the parts name is the one written to: the schema the
	// server migrated at start and the heartbeat it stored.
	wantOK(t, e.do(t, "POST", "/api/heartbeat/poll", map[string]any{"host": "lab-ws-01"}), "stored")
	if n := e.queryInt(t, "SELECT COUNT(*) FROM lab_host_heartbeat"); n != 1 {
		t.Errorf("%d heartbeats in the database the parts name, want 1", n)
	}
}

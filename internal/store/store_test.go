package store_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/store"
	"github.com/ops-worker/ops-worker/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

func openDSN(t testing.TB, dsn string) *store.Store {
	t.Helper()
	cfg, err := config.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// MustOpenDB returns a migrated store on a new MariaDB database.
func MustOpenDB(t *testing.T) (*store.Store, func() *store.Store) {
	t.Helper()
	dsn := dbtest.NewDatabase(t)
	s := openDSN(t, dsn)
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, func() *store.Store { return openDSN(t, dsn) }
}

func TestStore_MariaDB(t *testing.T) {
	t.Logf("MariaDB source: %s", dbtest.Kind(t))
	storetest.Run(t, storetest.Backend{Open: MustOpenDB, RowLocks: true})
}

// legacy002 is the schema an existing gateway has from the older worker:
// the four tables, without the worker's newer files.
const legacy002 = "../../mysql/002-labstation-ops.sql"

func TestMigrate_UpgradesPopulated002(t *testing.T) {
	dsn := dbtest.NewDatabase(t)
	s := openDSN(t, dsn)
	defer s.Close()
	ctx := context.Background()
	body, err := os.ReadFile(legacy002)
	if err != nil {
		t.Fatal(err)
	}
	body001, err := os.ReadFile("../../mysql/001-create-schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range append(store.SplitStatements(string(body001)), store.SplitStatements(string(body))...) {
		if _, err := s.DB.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	seed := []string{
		`INSERT INTO lab_reservations (transaction_hash, lab_id, start_time, end_time, status) VALUES ('0xaaa', '1', '2026-11-20 09:00:00', '2026-11-20 10:00:00', 'COMPLETED')`,
		`INSERT INTO lab_hosts (name, address, mac, mode, last_seen) VALUES ('lab-ws-01', '10.1.2.31', '00:11:22:33:44:55', 'hybrid', '2026-11-20 09:14:05')`,
		`INSERT INTO lab_host_heartbeat (host_id, timestamp_utc, ready, local_mode, local_session, raw_json) VALUES (1, '2026-11-20 09:14:05', 1, 0, 0, '{"schemaVersion":"1.0.0"}')`,
		`INSERT INTO lab_host_events (host_id, kind, timestamp_utc, payload) VALUES (1, 'session-guard', '2026-11-20 08:58:41', '{"action":"logoff"}')`,
		`INSERT INTO reservation_operations (reservation_id, lab_id, host, action, status, success, response_code, duration_ms, payload, message) VALUES ('0xaaa', '1', 'lab-ws-01', 'scheduler:start', 'completed', 1, 200, 1500, '{"status_code":200}', 'ok')`,
		`INSERT INTO reservation_operations (reservation_id, lab_id, host, action, status, success) VALUES ('0xaaa', '1', 'lab-ws-01', 'scheduler:end', 'completed', 1)`,
	}
	for _, q := range seed {
		if _, err := s.DB.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	dump := func() string {
		var b strings.Builder
		for _, q := range []string{
			`SELECT CONCAT_WS('|', id, transaction_hash, lab_id, start_time, end_time, status) FROM lab_reservations ORDER BY id`,
			`SELECT CONCAT_WS('|', id, name, address, mac, mode, last_seen) FROM lab_hosts ORDER BY id`,
			`SELECT CONCAT_WS('|', id, host_id, timestamp_utc, ready, local_mode, local_session, raw_json) FROM lab_host_heartbeat ORDER BY id`,
			`SELECT CONCAT_WS('|', id, host_id, kind, timestamp_utc, payload) FROM lab_host_events ORDER BY id`,
			`SELECT CONCAT_WS('|', id, reservation_id, action, status, success, response_code, duration_ms, payload, message) FROM reservation_operations ORDER BY id`,
		} {
			rows, err := s.DB.QueryContext(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					t.Fatal(err)
				}
				b.WriteString(line + "\n")
			}
			rows.Close()
		}
		return b.String()
	}
	before := dump()
	if strings.Count(before, "\n") != 6 {
		t.Fatalf("seed: %s", before)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	if after := dump(); after != before {
		t.Errorf("rows changed by the upgrade:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// The upgraded database works: new tables in place, old rows readable.
	if err := s.SetQuarantine(ctx, "lab-ws-01", true); err != nil {
		t.Fatal(err)
	}
	ops, total, err := s.ListOperations(ctx, "0xaaa", 10, 0)
	if err != nil || total != 2 || ops[0].Action != "scheduler:start" || *ops[0].DurationMs != 1500 {
		t.Errorf("old operations after upgrade: %+v %d %v", ops, total, err)
	}
	hb, err := s.LatestHeartbeat(ctx, "lab-ws-01")
	if err != nil || !*hb.Ready {
		t.Errorf("old heartbeat after upgrade: %+v %v", hb, err)
	}
}

func TestOpen_BadServer(t *testing.T) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = "nobody", "Sekr1t-pw", "tcp", "127.0.0.1:1", "x"
	_, err := store.Open(context.Background(), cfg)
	if err == nil {
		t.Fatal("no error for a closed port")
	}
	if strings.Contains(err.Error(), "Sekr1t-pw") {
		t.Errorf("error leaks the password: %v", err)
	}
}

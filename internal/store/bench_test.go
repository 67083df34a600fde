package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/store"
	"github.com/ops-worker/ops-worker/internal/store/storetest"
)

// benchNow is the fixed "now" of the benchmark data set.
var benchNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// Sizes of the realistic data set (issue: 1,000,000 reservations of history,
// 100,000 future CONFIRMED bookings, 1,000,000 operation rows).
const (
	benchHistory = 1_000_000
	benchFuture  = 100_000
	benchOps     = 1_000_000
)

// seedScanData fills lab_reservations and reservation_operations with
// MariaDB's SEQUENCE engine (seq_1_to_N), so a million rows take seconds.
// due is how many reservations are due for start and for end.
func seedScanData(tb testing.TB, db *sql.DB, history, future, ops, due int) {
	tb.Helper()
	ctx := context.Background()
	now := benchNow.Format("2006-01-02 15:04:05")
	stmts := []string{
		// History: a booking every 5 minutes going back ~9.5 years from a week ago, 90% COMPLETED,
		// 10% CANCELLED, one hour long.
		fmt.Sprintf(`INSERT INTO lab_reservations (transaction_hash, user_id, wallet_address, lab_id, start_time, end_time, block_number, contract_address, status)
SELECT CONCAT('0xhist', seq), seq %% 5000, '0x00000000000000000000000000000000000000aa', CAST(seq %% 200 AS CHAR),
  TIMESTAMP '%[1]s' - INTERVAL 7 DAY - INTERVAL (seq * 5) MINUTE, TIMESTAMP '%[1]s' - INTERVAL 7 DAY - INTERVAL (seq * 5) MINUTE + INTERVAL 1 HOUR,
  seq, '0x00000000000000000000000000000000000000bb', IF(seq %% 10 = 0, 'CANCELLED', 'COMPLETED')
FROM seq_1_to_%[2]d`, now, history),
		// Future: CONFIRMED bookings from 10 minutes ahead, one a minute.
		fmt.Sprintf(`INSERT INTO lab_reservations (transaction_hash, user_id, wallet_address, lab_id, start_time, end_time, block_number, contract_address, status)
SELECT CONCAT('0xfut', seq), seq %% 5000, '0x00000000000000000000000000000000000000aa', CAST(seq %% 200 AS CHAR),
  TIMESTAMP '%[1]s' + INTERVAL 10 MINUTE + INTERVAL seq MINUTE, TIMESTAMP '%[1]s' + INTERVAL 70 MINUTE + INTERVAL seq MINUTE,
  seq, '0x00000000000000000000000000000000000000bb', 'CONFIRMED'
FROM seq_1_to_%[2]d`, now, future),
		// Due for start: CONFIRMED, starting within the last 5 minutes or the next 2.
		fmt.Sprintf(`INSERT INTO lab_reservations (transaction_hash, lab_id, start_time, end_time, status)
SELECT CONCAT('0xdue-start', seq), '7', TIMESTAMP '%[1]s' - INTERVAL 5 MINUTE + INTERVAL (seq * 6) SECOND,
  TIMESTAMP '%[1]s' + INTERVAL 1 HOUR, 'CONFIRMED' FROM seq_1_to_%[2]d`, now, due),
		// Running: ACTIVE, ends in the future (read by the end scan, not due).
		fmt.Sprintf(`INSERT INTO lab_reservations (transaction_hash, lab_id, start_time, end_time, status)
SELECT CONCAT('0xrunning', seq), '8', TIMESTAMP '%[1]s' - INTERVAL 30 MINUTE, TIMESTAMP '%[1]s' + INTERVAL seq MINUTE, 'ACTIVE'
FROM seq_1_to_%[2]d`, now, due),
		// Due for end: ACTIVE, ended within the last 30 minutes (and 1 minute ago at least).
		fmt.Sprintf(`INSERT INTO lab_reservations (transaction_hash, lab_id, start_time, end_time, status)
SELECT CONCAT('0xdue-end', seq), '9', TIMESTAMP '%[1]s' - INTERVAL 2 HOUR, TIMESTAMP '%[1]s' - INTERVAL 2 MINUTE - INTERVAL seq MINUTE, 'ACTIVE'
FROM seq_1_to_%[2]d`, now, due),
	}
	if ops > 0 {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO reservation_operations (reservation_id, lab_id, host, action, status, success, response_code, duration_ms, payload, message, created_at)
SELECT CONCAT('0xhist', 1 + (seq %% %[3]d)), CAST(seq %% 200 AS CHAR), CONCAT('lab-ws-', seq %% 200),
  ELT(1 + seq %% 6, 'scheduler:start', 'wake', 'prepare', 'release', 'power:shutdown', 'scheduler:end'),
  'completed', 1, 200, seq %% 5000, '{"status_code": 200}', 'Exit code 0',
  TIMESTAMP '%[1]s' - INTERVAL 7 DAY - INTERVAL seq MINUTE
FROM seq_1_to_%[2]d`, now, ops, max(history, 1)))
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			tb.Fatalf("seed: %v\n%s", err, q)
		}
	}
	if _, err := db.ExecContext(ctx, `ANALYZE TABLE lab_reservations, reservation_operations`); err != nil {
		tb.Fatal(err)
	}
}

// benchWindow has no cooldown, so each iteration's claims have expired by
// the next one (the clock moves 1 ms): every scan claims all due rows
// again, the costly case.
func benchWindow() store.Window {
	w := store.Window{StartLead: 120 * time.Second, EndDelay: 60 * time.Second, Lookback: 6 * time.Hour, RetryCooldown: 0, MaxBatch: 200}
	return w
}

// handlerReads counts the rows and index entries the server examined: the
// session's Handler_read_* counters, plus the index entries that index
// condition pushdown examined and rejected inside the engine (those never
// reach Handler_read_next).
func handlerReads(tb testing.TB, conn *sql.DB) int64 {
	tb.Helper()
	rows, err := conn.QueryContext(context.Background(), `SHOW SESSION STATUS WHERE Variable_name LIKE 'Handler_read%' OR Variable_name LIKE 'Handler_icp%'`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var total int64
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			tb.Fatal(err)
		}
		switch {
		case name == "Handler_read_key": // one per index lookup, not per row
		case name == "Handler_icp_attempts":
			total += v
		case name == "Handler_icp_match":
			total -= v // already counted by Handler_read_next
		default:
			total += v
		}
	}
	return total
}

// scanStore opens a store with one connection, so session counters belong
// to the scans.
func scanStore(tb testing.TB, dsn string, now time.Time) *store.Store {
	cfg, err := config.ParseDSN(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := store.Open(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	s.DB.SetMaxOpenConns(1)
	clock := storetest.NewClock(now)
	s.Now = func() time.Time { clock.Advance(time.Millisecond); return clock.Now() }
	return s
}

func readsPerScan(tb testing.TB, s *store.Store, phase string) (reads int64, claimed int) {
	// SHOW STATUS reads rows itself: measure that overhead and take it off.
	first := handlerReads(tb, s.DB)
	before := handlerReads(tb, s.DB)
	overhead := before - first
	got, err := s.ClaimDue(context.Background(), phase, "scheduler:"+phase, benchWindow())
	if err != nil {
		tb.Fatal(err)
	}
	return handlerReads(tb, s.DB) - before - overhead, len(got)
}

// TestScan_ReadsDoNotGrowWithFutureBookings: the rows a scan reads depend on
// the due window, not on how many bookings lie in the future.
func TestScan_ReadsDoNotGrowWithFutureBookings(t *testing.T) {
	var reads [2][2]int64
	for i, future := range []int{1000, 10000} {
		dsn := dbtest.NewDatabase(t)
		s := openDSN(t, dsn)
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		seedScanData(t, s.DB, 2000, future, 0, 10)
		s.Close()
		sc := scanStore(t, dsn, benchNow)
		for j, phase := range []string{store.PhaseStart, store.PhaseEnd} {
			r, n := readsPerScan(t, sc, phase)
			if n != 10 {
				t.Errorf("future=%d %s: claimed %d, want the 10 due", future, phase, n)
			}
			reads[i][j] = r
		}
		sc.Close()
	}
	for j, phase := range []string{"start", "end"} {
		small, large := reads[0][j], reads[1][j]
		t.Logf("%s scan: %d reads with 1,000 future bookings, %d with 10,000", phase, small, large)
		if large > small+5 {
			t.Errorf("%s scan reads grew with future bookings: %d -> %d", phase, small, large)
		}
	}
}

func openBenchDB(b *testing.B) string {
	b.Helper()
	dsn := dbtest.NewDatabase(b)
	s := openDSN(b, dsn)
	defer s.Close()
	if err := s.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	seedScanData(b, s.DB, benchHistory, benchFuture, benchOps, 20)
	b.Logf("seeded %d history + %d future reservations, %d operations in %s", benchHistory, benchFuture, benchOps, time.Since(start).Round(time.Second))
	for _, q := range []string{"start", "end"} {
		b.Logf("EXPLAIN %s scan:\n%s", q, explain(b, s, q))
	}
	return dsn
}

func explain(tb testing.TB, s *store.Store, phase string) string {
	q, args := store.CandidatesQueryForTest(phase, "scheduler:"+phase, benchNow, benchWindow())
	rows, err := s.DB.QueryContext(context.Background(), "EXPLAIN "+q, args...)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out strings.Builder
	out.WriteString(strings.Join(cols, " | ") + "\n")
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			tb.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = v.String
		}
		out.WriteString(strings.Join(parts, " | ") + "\n")
	}
	return out.String()
}

// BenchmarkScan measures one start scan and one end scan, claims included,
// on the realistic data set. Run with `make bench-db`.
func BenchmarkScan(b *testing.B) {
	dsn := openBenchDB(b)
	// One store and clock for all runs: b.Run calls the function more than
	// once, and a clock restarted at benchNow would find its own claims
	// from the future.
	s := scanStore(b, dsn, benchNow)
	defer s.Close()
	for _, phase := range []string{store.PhaseStart, store.PhaseEnd} {
		b.Run(phase, func(b *testing.B) {
			reads, n := readsPerScan(b, s, phase)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				got, err := s.ClaimDue(context.Background(), phase, "scheduler:"+phase, benchWindow())
				if err != nil || len(got) != 20 {
					b.Fatalf("claimed %d: %v", len(got), err)
				}
			}
			b.ReportMetric(float64(reads), "reads/scan")
			b.ReportMetric(float64(n), "claimed/scan")
		})
	}
}

// seedHeartbeats adds hosts lab-ws-0001.. with perHost heartbeats each, one
// a minute back from benchNow (MariaDB's SEQUENCE engine), and returns the
// host names.
func seedHeartbeats(tb testing.TB, db *sql.DB, hosts, perHost int) []string {
	tb.Helper()
	ctx := context.Background()
	now := benchNow.Format("2006-01-02 15:04:05")
	for _, q := range []string{
		fmt.Sprintf(`INSERT INTO lab_hosts (name, address, mac, last_seen)
SELECT CONCAT('lab-ws-', LPAD(seq, 4, '0')), '10.1.2.3', '00:11:22:33:44:55', TIMESTAMP '%s' FROM seq_1_to_%d`, now, hosts),
		fmt.Sprintf(`INSERT INTO lab_host_heartbeat (host_id, timestamp_utc, ready, local_mode, local_session, raw_json, created_at)
SELECT h.id, TIMESTAMP '%[1]s' - INTERVAL s.seq MINUTE, s.seq %% 2, 0, 0, '{"schemaVersion":"1.0.0"}', TIMESTAMP '%[1]s'
FROM lab_hosts h JOIN seq_1_to_%[2]d s`, now, perHost),
		`ANALYZE TABLE lab_hosts, lab_host_heartbeat`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			tb.Fatalf("seed heartbeats: %v\n%s", err, q)
		}
	}
	names := make([]string, hosts)
	for i := range names {
		names[i] = fmt.Sprintf("lab-ws-%04d", i+1)
	}
	return names
}

// heartbeatStore is a migrated store with one connection (so the session
// counters are its queries') on a new database seeded by seedHeartbeats.
func heartbeatStore(tb testing.TB, hosts, perHost int) (*store.Store, []string) {
	tb.Helper()
	dsn := dbtest.NewDatabase(tb)
	s := openDSN(tb, dsn)
	tb.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	s.DB.SetMaxOpenConns(1)
	return s, seedHeartbeats(tb, s.DB, hosts, perHost)
}

// latestReads runs LatestHeartbeats(names) and returns the rows and index
// entries it read, checking it found every host's newest heartbeat.
func latestReads(tb testing.TB, s *store.Store, names []string) int64 {
	tb.Helper()
	first := handlerReads(tb, s.DB)
	before := handlerReads(tb, s.DB)
	overhead := before - first
	got, err := s.LatestHeartbeats(context.Background(), names)
	if err != nil {
		tb.Fatal(err)
	}
	reads := handlerReads(tb, s.DB) - before - overhead
	want := benchNow.Add(-time.Minute)
	for _, n := range names {
		if hb := got[n]; hb == nil || hb.Timestamp == nil || !hb.Timestamp.Equal(want) {
			tb.Fatalf("latest heartbeat of %s: %+v, want the one at %s", n, hb, want)
		}
	}
	return reads
}

// TestLatestHeartbeats_ReadsDoNotGrowWithHistory: GET /api/hosts' one
// heartbeat query reads about two rows per host, however many heartbeats
// each host has stored.
func TestLatestHeartbeats_ReadsDoNotGrowWithHistory(t *testing.T) {
	const hosts = 50
	var reads [2]int64
	for i, perHost := range []int{5, 100} {
		s, names := heartbeatStore(t, hosts, perHost)
		reads[i] = latestReads(t, s, names)
	}
	t.Logf("%d hosts: %d reads with 5 heartbeats each, %d with 100", hosts, reads[0], reads[1])
	if reads[1] > reads[0]+5 || reads[1] > 6*hosts {
		t.Errorf("reads grew with the heartbeat history: %d -> %d (%d hosts)", reads[0], reads[1], hosts)
	}
}

// BenchmarkLatestHeartbeats: GET /api/hosts' heartbeat reads for 1,000
// hosts with an hour of minutely heartbeats each, in one query (named, or
// every host) against one query per host as before.
//
//	go test -run '^$' -bench LatestHeartbeats ./internal/store
func BenchmarkLatestHeartbeats(b *testing.B) {
	s, names := heartbeatStore(b, 1000, 60)
	ctx := context.Background()
	b.Run("batched", func(b *testing.B) {
		reads := latestReads(b, s, names)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if got, err := s.LatestHeartbeats(ctx, names); err != nil || len(got) != len(names) {
				b.Fatalf("%d heartbeats: %v", len(got), err)
			}
		}
		b.ReportMetric(float64(reads), "reads/op")
	})
	b.Run("all", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if got, err := s.LatestHeartbeats(ctx, nil); err != nil || len(got) != len(names) {
				b.Fatalf("%d heartbeats: %v", len(got), err)
			}
		}
	})
	b.Run("per-host", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for _, n := range names {
				if _, err := s.LatestHeartbeat(ctx, n); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// Package storetest is the store's contract suite: the same tests run
// against MariaDB (internal/store) and against the embedded engine
// (internal/memsql), so the zero-configuration default really works.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/fixtures"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/store"
)

// Backend opens a fresh, migrated store with its own empty database.
type Backend struct {
	// Open returns a migrated store on a new database; OpenAgain returns a
	// second store with its own pool on the same database.
	Open func(t *testing.T) (s *store.Store, openAgain func() *store.Store)
	// RowLocks is true where concurrent transactions lock rows (MariaDB);
	// the concurrent claim test runs only there (the embedded engine, with
	// no row locks, holds it too through its statement gate, but takes
	// about 45 s).
	RowLocks bool
	// SerialWrites is true where one write or transaction at a time gets
	// in (the embedded engine's write gate): a transaction's write then
	// blocks every other writer, though claims are not row-locked.
	SerialWrites bool
}

// Clock is a controllable time source.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t.UTC()} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Fixture returns a copy of the named file of package fixtures.
func Fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := fixtures.Read(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// InsertReservation adds a lab_reservations row.
func InsertReservation(t testing.TB, s *store.Store, id, lab, status string, start, end time.Time) {
	t.Helper()
	_, err := s.DB.ExecContext(context.Background(), `INSERT INTO lab_reservations
  (transaction_hash, user_id, wallet_address, lab_id, start_time, end_time, block_number, contract_address, status)
  VALUES (?, 1, '0xabc', ?, ?, ?, 1, '0xdef', ?)`, id, lab, start.UTC(), end.UTC(), status)
	if err != nil {
		t.Fatalf("insert reservation %s: %v", id, err)
	}
}

func ctx() context.Context { return context.Background() }

func count(t testing.TB, s *store.Store, q string, args ...any) int {
	t.Helper()
	var n int
	if err := s.DB.QueryRowContext(ctx(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// Run runs the whole contract.
func Run(t *testing.T, b Backend) {
	t.Run("Migrate", func(t *testing.T) { testMigrate(t, b) })
	t.Run("Operations", func(t *testing.T) { testOperations(t, b) })
	t.Run("Heartbeat", func(t *testing.T) { testHeartbeat(t, b) })
	t.Run("HeartbeatColumns", func(t *testing.T) { testHeartbeatColumns(t, b) })
	t.Run("LatestHeartbeats", func(t *testing.T) { testLatestHeartbeats(t, b) })
	t.Run("Candidates", func(t *testing.T) { testCandidates(t, b) })
	t.Run("CandidateEdges", func(t *testing.T) { testCandidateEdges(t, b) })
	t.Run("PageBounds", func(t *testing.T) { testPageBounds(t, b) })
	t.Run("RecentByHost", func(t *testing.T) { testRecentByHost(t, b) })
	t.Run("Transitions", func(t *testing.T) { testTransitions(t, b) })
	t.Run("Quarantine", func(t *testing.T) { testQuarantine(t, b) })
	t.Run("Claims", func(t *testing.T) { testClaims(t, b) })
	t.Run("ReleaseClaim", func(t *testing.T) { testReleaseClaim(t, b) })
	t.Run("StillDue", func(t *testing.T) { testStillDue(t, b) })
	t.Run("OtherBooking", func(t *testing.T) { testOtherBooking(t, b) })
	t.Run("PollState", func(t *testing.T) { testPollState(t, b) })
	t.Run("OperationKey", func(t *testing.T) { testOperationKey(t, b) })
	t.Run("HostLock", func(t *testing.T) { testHostLock(t, b) })
	t.Run("Credentials", func(t *testing.T) { testCredentials(t, b) })
	t.Run("CatalogHosts", func(t *testing.T) { testCatalogHosts(t, b) })
	t.Run("PowerCatalog", func(t *testing.T) { testPowerCatalog(t, b) })
	t.Run("PowerOperations", func(t *testing.T) { testPowerOperations(t, b) })
	if b.RowLocks {
		t.Run("ClaimsConcurrent", func(t *testing.T) { testClaimsConcurrent(t, b) })
	}
	t.Run("RowLocks", func(t *testing.T) {
		s, openAgain := b.Open(t)
		other := openAgain()
		defer other.Close()
		if got := UpdateBlocksWhileRowLocked(t, s, other); got != (b.RowLocks || b.SerialWrites) {
			t.Errorf("a locked row blocks another writer: %v; the backend says RowLocks=%v, SerialWrites=%v", got, b.RowLocks, b.SerialWrites)
		}
	})
}

func schemaSnapshot(t *testing.T, s *store.Store) string {
	t.Helper()
	rows, err := s.DB.QueryContext(ctx(), `SHOW TABLES`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	sort.Strings(tables)
	var b strings.Builder
	for _, tb := range tables {
		var name, ddl string
		if err := s.DB.QueryRowContext(ctx(), "SHOW CREATE TABLE `"+tb+"`").Scan(&name, &ddl); err != nil {
			t.Fatal(err)
		}
		b.WriteString(ddl + "\n")
		b.WriteString(fmt.Sprintf("rows=%d\n", count(t, s, "SELECT COUNT(*) FROM `"+tb+"`")))
	}
	return b.String()
}

func testMigrate(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	before := schemaSnapshot(t, s)
	for _, name := range []string{"lab_reservations", "lab_hosts", "lab_host_heartbeat", "lab_host_events",
		"reservation_operations", "lab_host_quarantine", "reservation_claims", "schema_migrations"} {
		if !strings.Contains(before, "`"+name+"`") {
			t.Errorf("table %s missing after migration", name)
		}
	}
	if err := s.Migrate(ctx()); err != nil {
		t.Fatalf("second migration: %v", err)
	}
	// Every file applied again, the record of what was applied forgotten,
	// changes nothing.
	if _, err := s.DB.ExecContext(ctx(), "DELETE FROM schema_migrations"); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx()); err != nil {
		t.Fatalf("files applied twice: %v", err)
	}
	if after := schemaSnapshot(t, s); after != before {
		t.Errorf("schema changed by a second application:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func intp(v int) *int { return &v }

func testOperations(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	clock := NewClock(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC))
	s.Now = clock.Now
	actions := []string{"scheduler:start", "wake", "prepare", "release", "power:shutdown", "scheduler:end"}
	for i, a := range actions {
		if _, err := s.RecordOperation(ctx(), store.Operation{
			ReservationID: "0xres1", LabID: "1", Host: "lab-ws-01", Action: a, Status: "completed",
			Success: true, ResponseCode: intp(200), DurationMs: intp(10 * i), Payload: json.RawMessage(`{"i":` + fmt.Sprint(i) + `}`),
			Message: "step " + a,
		}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			clock.Advance(time.Second) // two ops share each timestamp: the id breaks the tie
		}
	}
	if _, err := s.RecordOperation(ctx(), store.Operation{ReservationID: "0xother", Action: "wake", Status: "failed"}); err != nil {
		t.Fatal(err)
	}
	page, total, err := s.ListOperations(ctx(), "0xres1", 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	if total != 6 || len(page) != 4 {
		t.Fatalf("total %d, page %d; want 6, 4", total, len(page))
	}
	for i, op := range page {
		if op.Action != actions[i] {
			t.Errorf("op %d: got %s, want %s (oldest first)", i, op.Action, actions[i])
		}
	}
	if got := page[2]; got.ResponseCode == nil || *got.ResponseCode != 200 || got.DurationMs == nil || *got.DurationMs != 20 ||
		string(got.Payload) != `{"i": 2}` && string(got.Payload) != `{"i":2}` || got.Message != "step prepare" || !got.Success || got.Host != "lab-ws-01" {
		t.Errorf("op 2 round trip: %+v payload=%s", got, got.Payload)
	}
	page2, _, err := s.ListOperations(ctx(), "0xres1", 4, 4)
	if err != nil || len(page2) != 2 || page2[1].Action != "scheduler:end" {
		t.Fatalf("second page: %v %v", page2, err)
	}
	recent, total, err := s.RecentOperations(ctx(), store.OperationFilter{}, 3, 0)
	if err != nil || total != 7 || len(recent) != 3 || recent[0].ReservationID != "0xother" || recent[1].Action != "scheduler:end" {
		t.Fatalf("recent: total=%d %+v %v", total, recent, err)
	}
	if _, err := s.RecordOperation(ctx(), store.Operation{ReservationID: "x", Action: "wake", Status: "ok", Payload: json.RawMessage(`{bad`)}); err == nil {
		t.Error("invalid payload JSON accepted")
	}
}

func testHeartbeat(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	s.Now = NewClock(time.Date(2026, 11, 20, 9, 15, 0, 0, time.UTC)).Now
	rec, raw := fixtureHeartbeat(t)

	// A failure inside the transaction leaves nothing half-written.
	bad := rec
	bad.Event = &store.EventRecord{Kind: strings.Repeat("k", 200), Timestamp: rec.Event.Timestamp, Payload: rec.Event.Payload}
	if _, err := s.SaveHeartbeat(ctx(), bad); err == nil {
		t.Fatal("an event kind over the column size was accepted")
	}
	for _, tb := range []string{"lab_hosts", "lab_host_heartbeat", "lab_host_events"} {
		if n := count(t, s, "SELECT COUNT(*) FROM "+tb); n != 0 {
			t.Errorf("after a failed save, %s has %d rows", tb, n)
		}
	}

	saved, err := s.SaveHeartbeat(ctx(), rec)
	if err != nil {
		t.Fatal(err)
	}
	if saved.HostID == 0 || saved.HeartbeatID == 0 || saved.EventID == 0 {
		t.Fatalf("saved = %+v", saved)
	}
	checkHeartbeatRows(t, s, rec, raw)

	// The same file polled again: host refreshed, no duplicate rows.
	again, err := s.SaveHeartbeat(ctx(), rec)
	if err != nil {
		t.Fatal(err)
	}
	if again.HostID != saved.HostID || again.HeartbeatID != 0 || again.EventID != 0 {
		t.Errorf("second save of the same heartbeat: %+v", again)
	}
	if n := count(t, s, "SELECT COUNT(*) FROM lab_host_heartbeat"); n != 1 {
		t.Errorf("heartbeat rows: %d, want 1", n)
	}
	checkNewerHeartbeat(t, s)
}

// fixtureHeartbeat is heartbeat.json and the last session-guard event as
// a poll maps them (the real parser and mapping), and the raw document.
func fixtureHeartbeat(t *testing.T) (store.HeartbeatRecord, []byte) {
	t.Helper()
	raw := Fixture(t, "heartbeat.json")
	ev := strings.Split(strings.TrimSpace(string(Fixture(t, "session-guard-events.jsonl"))), "\n")
	// The fixture goes through the real parser and mapping, as a poll does.
	hb, err := labstation.ParseHeartbeat(raw)
	if err != nil {
		t.Fatal(err)
	}
	last, err := labstation.ParseLastEvent([]byte(ev[len(ev)-1]))
	if err != nil {
		t.Fatal(err)
	}
	rec := store.NewHeartbeatRecord(store.HostRecord{Name: "LAB-WS-01", Address: "10.1.2.31", MAC: "00:11:22:33:44:55"}, hb, last)
	return rec, raw
}

// checkHeartbeatRows reads back the first save: every mapped column, the
// raw document and the event row.
func checkHeartbeatRows(t *testing.T, s *store.Store, rec store.HeartbeatRecord, raw []byte) {
	t.Helper()
	var (
		name, addr, mac, mode, lfUser, lpMode, rawCol string
		ts, lfAt, lpAt                                time.Time
		ready, lm, ls                                 bool
	)
	if err := s.DB.QueryRowContext(ctx(), `SELECT h.name, h.address, h.mac, h.mode, b.timestamp_utc, b.ready, b.local_mode,
 b.local_session, b.last_forced_logoff_ts, b.last_forced_logoff_user, b.last_power_action_ts, b.last_power_action_mode, b.raw_json
 FROM lab_host_heartbeat b JOIN lab_hosts h ON h.id = b.host_id`).Scan(&name, &addr, &mac, &mode, &ts, &ready, &lm, &ls,
		&lfAt, &lfUser, &lpAt, &lpMode, &rawCol); err != nil {
		t.Fatal(err)
	}
	got := []any{name, addr, mac, mode, ts.UTC().Format(time.RFC3339), ready, lm, ls, lfAt.UTC().Format(time.RFC3339), lfUser, lpAt.UTC().Format(time.RFC3339), lpMode}
	want := []any{"lab-ws-01", "10.1.2.31", "00:11:22:33:44:55", "hybrid", "2026-11-20T09:14:05Z", true, false, false,
		"2026-11-20T08:58:41Z", `LAB-WS-01\student`, "2026-11-19T18:02:10Z", "shutdown"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("column %d: got %v, want %v", i, got[i], want[i])
		}
	}
	// The whole document, as read (the parser only trims surrounding space).
	if rawCol != strings.TrimSpace(string(raw)) {
		t.Errorf("raw_json differs from the document")
	}
	var kind, payload string
	var evTS time.Time
	if err := s.DB.QueryRowContext(ctx(), `SELECT kind, timestamp_utc, payload FROM lab_host_events`).Scan(&kind, &evTS, &payload); err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if kind != "session-guard" || !evTS.Equal(*rec.Event.Timestamp) || json.Unmarshal([]byte(payload), &p) != nil || p["action"] != "logoff" {
		t.Errorf("event row: %s %v %s", kind, evTS, payload)
	}
}

// checkNewerHeartbeat saves a newer heartbeat from the needs-action fixture
// (no profile, empty lastForcedLogoff and lastPowerAction objects) and
// reads it back as the latest, the host's mode kept.
func checkNewerHeartbeat(t *testing.T, s *store.Store) {
	t.Helper()
	tp := func(s string) *time.Time { v, _ := time.Parse(time.RFC3339, s); return &v }
	hb2, err := labstation.ParseHeartbeat(Fixture(t, "heartbeat-needs-action.json"))
	if err != nil {
		t.Fatal(err)
	}
	newer := store.NewHeartbeatRecord(store.HostRecord{Name: "lab-ws-01", Address: "10.1.2.31"}, hb2, nil)
	if !newer.Timestamp.Equal(*tp("2026-11-20T10:01:00Z")) {
		t.Fatalf("needs-action timestamp: %v", newer.Timestamp)
	}
	if _, err := s.SaveHeartbeat(ctx(), newer); err != nil {
		t.Fatal(err)
	}
	latest, err := s.LatestHeartbeat(ctx(), "Lab-WS-01")
	if err != nil {
		t.Fatal(err)
	}
	if latest.Timestamp == nil || !latest.Timestamp.Equal(newer.Timestamp) || *latest.Ready || !*latest.LocalMode ||
		latest.LastForcedLogoffAt != nil || latest.LastPowerActionMode != "" || latest.LastSeen == nil {
		t.Errorf("latest = %+v", latest)
	}
	if _, err := s.LatestHeartbeat(ctx(), "nobody"); err != store.ErrNotFound {
		t.Errorf("unknown host: %v, want ErrNotFound", err)
	}
	var modeAfter string
	if err := s.DB.QueryRowContext(ctx(), `SELECT mode FROM lab_hosts WHERE name = 'lab-ws-01'`).Scan(&modeAfter); err != nil || modeAfter != "hybrid" {
		t.Errorf("mode after a poll without one: %q %v (must be kept)", modeAfter, err)
	}
}

// testHeartbeatColumns maps heartbeat-distinct.json, whose mapped fields
// all differ from each other where they share a type (localModeEnabled is
// false, localSessionActive true, ready false; three distinct timestamps;
// user and mode distinct strings), so that two fields swapped anywhere
// between the document and the columns show. (heartbeat.json, with ready
// true and both local flags false, covers a swap with ready.)
func testHeartbeatColumns(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	s.Now = NewClock(time.Date(2026, 11, 21, 7, 31, 0, 0, time.UTC)).Now
	hb, err := labstation.ParseHeartbeat(Fixture(t, "heartbeat-distinct.json"))
	if err != nil {
		t.Fatal(err)
	}
	rec := store.NewHeartbeatRecord(store.HostRecord{Name: "LAB-WS-07", Address: "10.1.2.37", MAC: "00:11:22:33:44:77"}, hb, nil)
	const (
		wantTS   = "2026-11-21T07:30:15Z"
		wantLF   = "2026-11-21T06:45:02Z"
		wantLP   = "2026-11-20T22:10:33Z"
		wantUser = `LAB-WS-07\guest`
		wantMode = "restart"
	)
	rfc := func(t *time.Time) string {
		if t == nil {
			return "<nil>"
		}
		return t.UTC().Format(time.RFC3339)
	}
	deref := func(b *bool) any {
		if b == nil {
			return "<nil>"
		}
		return *b
	}
	gotRec := []any{rec.Host.Mode, rfc(&rec.Timestamp), deref(rec.Ready), deref(rec.LocalMode), deref(rec.LocalSession),
		rfc(rec.LastForcedLogoffAt), rec.LastForcedLogoffUser, rfc(rec.LastPowerActionAt), rec.LastPowerActionMode}
	wantRec := []any{"pure", wantTS, false, false, true, wantLF, wantUser, wantLP, wantMode}
	names := []string{"mode", "timestamp", "ready", "local_mode", "local_session", "last_forced_logoff_ts",
		"last_forced_logoff_user", "last_power_action_ts", "last_power_action_mode"}
	for i := range wantRec {
		if gotRec[i] != wantRec[i] {
			t.Errorf("record %s: got %v, want %v", names[i], gotRec[i], wantRec[i])
		}
	}
	if _, err := s.SaveHeartbeat(ctx(), rec); err != nil {
		t.Fatal(err)
	}
	var (
		mode, lfUser, lpMode string
		ts, lfAt, lpAt       time.Time
		ready, lm, ls        bool
	)
	if err := s.DB.QueryRowContext(ctx(), `SELECT h.mode, b.timestamp_utc, b.ready, b.local_mode, b.local_session,
 b.last_forced_logoff_ts, b.last_forced_logoff_user, b.last_power_action_ts, b.last_power_action_mode
 FROM lab_host_heartbeat b JOIN lab_hosts h ON h.id = b.host_id`).Scan(&mode, &ts, &ready, &lm, &ls, &lfAt, &lfUser, &lpAt, &lpMode); err != nil {
		t.Fatal(err)
	}
	gotCol := []any{mode, rfc(&ts), ready, lm, ls, rfc(&lfAt), lfUser, rfc(&lpAt), lpMode}
	for i := range wantRec {
		if gotCol[i] != wantRec[i] {
			t.Errorf("column %s: got %v, want %v", names[i], gotCol[i], wantRec[i])
		}
	}
	// And back through the store's own reader.
	got, err := s.LatestHeartbeat(ctx(), "lab-ws-07")
	if err != nil {
		t.Fatal(err)
	}
	gotRead := []any{"pure", rfc(got.Timestamp), deref(got.Ready), deref(got.LocalMode), deref(got.LocalSession),
		rfc(got.LastForcedLogoffAt), got.LastForcedLogoffUser, rfc(got.LastPowerActionAt), got.LastPowerActionMode}
	for i := 1; i < len(wantRec); i++ {
		if gotRead[i] != wantRec[i] {
			t.Errorf("LatestHeartbeat %s: got %v, want %v", names[i], gotRead[i], wantRec[i])
		}
	}
}

// testLatestHeartbeats: LatestHeartbeats finds, in one query, what
// LatestHeartbeat finds host by host: the newest by timestamp (not the
// last inserted), the higher id on a tie, a row without timestamp only
// when there is nothing else; hosts without heartbeats and unknown names
// are absent; no names means every host; more names than MaxBatch still
// work.
func testLatestHeartbeats(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	s.Now = NewClock(time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)).Now
	hostIDs := map[string]int64{}
	for _, n := range []string{"lab-a", "lab-b", "lab-c", "lab-d"} {
		id, err := s.UpsertHost(ctx(), store.HostRecord{Name: n, Address: "10.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		hostIDs[n] = id
	}
	rowIDs := map[string]int64{}
	insert := func(label, host, ts string, ready bool) {
		t.Helper()
		var tsv any
		if ts != "" {
			tsv = ts
		}
		res, err := s.DB.ExecContext(ctx(), `INSERT INTO lab_host_heartbeat (host_id, timestamp_utc, ready, raw_json, created_at)
  VALUES (?, ?, ?, ?, ?)`, hostIDs[host], tsv, ready, fmt.Sprintf(`{"label":%q}`, label), "2026-11-22 08:00:00")
		if err != nil {
			t.Fatalf("insert %s: %v", label, err)
		}
		if rowIDs[label], err = res.LastInsertId(); err != nil {
			t.Fatal(err)
		}
	}
	// lab-a: the newest first, then older ones, and a tie at the newest
	// time inserted after an older one; lab-b: one row; lab-c: only a
	// row without timestamp; lab-d: none.
	insert("a-old", "lab-a", "2026-11-22 07:00:00", true)
	insert("a-newest-1", "lab-a", "2026-11-22 07:59:00.250", true)
	insert("a-older", "lab-a", "2026-11-22 07:30:00", true)
	insert("a-newest-2", "lab-a", "2026-11-22 07:59:00.250", false)
	insert("a-nots", "lab-a", "", true)
	insert("b-only", "lab-b", "2026-11-21 12:00:00", true)
	insert("c-nots", "lab-c", "", false)

	want := map[string]string{"lab-a": "a-newest-2", "lab-b": "b-only", "lab-c": "c-nots"}
	check := func(what string, got map[string]*store.StoredHeartbeat, err error, hosts ...string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if len(got) != len(hosts) {
			t.Errorf("%s: %d hosts, want %v: %v", what, len(got), hosts, got)
		}
		for _, h := range hosts {
			hb := got[h]
			if hb == nil || hb.ID != rowIDs[want[h]] {
				t.Errorf("%s: %s is %+v, want row %s (%d)", what, h, hb, want[h], rowIDs[want[h]])
				continue
			}
			one, err := s.LatestHeartbeat(ctx(), h)
			if err != nil || !reflect.DeepEqual(one, hb) {
				t.Errorf("%s: %s differs from LatestHeartbeat:\n%+v\n%+v %v", what, h, hb, one, err)
			}
		}
	}
	got, err := s.LatestHeartbeats(ctx(), []string{" Lab-A ", "lab-b", "lab-c", "lab-d", "nobody"})
	check("named", got, err, "lab-a", "lab-b", "lab-c")
	got, err = s.LatestHeartbeats(ctx(), nil)
	check("all", got, err, "lab-a", "lab-b", "lab-c")
	got, err = s.LatestHeartbeats(ctx(), []string{"lab-d", "nobody"})
	check("none stored", got, err)
	many := make([]string, 0, store.MaxBatch+2)
	for i := range store.MaxBatch {
		many = append(many, fmt.Sprintf("ghost-%04d", i))
	}
	got, err = s.LatestHeartbeats(ctx(), append(many, "lab-b", "LAB-A"))
	check("over MaxBatch", got, err, "lab-a", "lab-b")
}

// testCandidateEdges puts reservations exactly on each bound of the
// windows (now+StartLead, now-EndDelay, now-Lookback) and one second either
// side: every bound is inclusive, so an off-by-one anywhere shows.
func testCandidateEdges(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	s.Now = NewClock(now).Now
	w := window()
	sec := time.Second
	// Start: CONFIRMED, start_time on the bounds; the end is far away.
	for _, r := range []struct {
		id    string
		start time.Duration
	}{
		{"s-lead-1", w.StartLead - sec}, {"s-lead", w.StartLead}, {"s-lead+1", w.StartLead + sec},
		{"s-lookback-1", -w.Lookback - sec}, {"s-lookback", -w.Lookback}, {"s-lookback+1", -w.Lookback + sec},
	} {
		InsertReservation(t, s, r.id, "1", "CONFIRMED", now.Add(r.start), now.Add(r.start+24*time.Hour))
	}
	// End: ACTIVE (never a start candidate), end_time on the bounds.
	for _, r := range []struct {
		id  string
		end time.Duration
	}{
		{"e-delay-1", -w.EndDelay - sec}, {"e-delay", -w.EndDelay}, {"e-delay+1", -w.EndDelay + sec},
		{"e-lookback-1", -w.Lookback - sec}, {"e-lookback", -w.Lookback}, {"e-lookback+1", -w.Lookback + sec},
	} {
		InsertReservation(t, s, r.id, "2", "ACTIVE", now.Add(r.end-time.Hour), now.Add(r.end))
	}
	st, err := dueIDs(t, s, store.PhaseStart, w)
	if err != nil {
		t.Fatal(err)
	}
	// Earliest start first: now-Lookback, now-Lookback+1s, ..., now+StartLead.
	if got, want := ids(st), "s-lookback,s-lookback+1,s-lead-1,s-lead"; got != want {
		t.Errorf("start candidates: got %s, want %s", got, want)
	}
	en, err := dueIDs(t, s, store.PhaseEnd, w)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(en), "e-lookback,e-lookback+1,e-delay-1,e-delay"; got != want {
		t.Errorf("end candidates: got %s, want %s", got, want)
	}
	// An oversized MaxBatch is clamped to store.MaxBatch, not refused.
	w.MaxBatch = 1 << 30
	if st, err := dueIDs(t, s, store.PhaseStart, w); err != nil || len(st) != 4 {
		t.Errorf("MaxBatch %d: %d candidates, %v", w.MaxBatch, len(st), err)
	}
}

// testPageBounds: limit and offset out of range are clamped, not sent to
// MySQL (which refuses a negative LIMIT or OFFSET as a syntax error).
func testPageBounds(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	for i := 0; i < 3; i++ {
		if _, err := s.RecordOperation(ctx(), store.Operation{ReservationID: "0xb", Action: "wake", Status: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	if page, total, err := s.ListOperations(ctx(), "0xb", -1, -5); err != nil || total != 3 || len(page) != 0 {
		t.Errorf("ListOperations(-1, -5) = %d rows of %d, %v; want an empty page of 3", len(page), total, err)
	}
	if page, total, err := s.ListOperations(ctx(), "0xb", 2, -5); err != nil || total != 3 || len(page) != 2 {
		t.Errorf("ListOperations(2, -5) = %d rows of %d, %v; want the first 2 of 3", len(page), total, err)
	}
	if page, _, err := s.ListOperations(ctx(), "0xb", 1<<62, 1<<62); err != nil || len(page) != 0 {
		t.Errorf("ListOperations(huge, huge) = %d rows, %v; want an empty page", len(page), err)
	}
	if page, total, err := s.RecentOperations(ctx(), store.OperationFilter{}, -3, -3); err != nil || total != 3 || len(page) != 0 {
		t.Errorf("RecentOperations(-3, -3) = %d rows of %d, %v", len(page), total, err)
	}
	if page, _, err := s.RecentOperations(ctx(), store.OperationFilter{ReservationID: "0xb"}, 1<<62, -1); err != nil || len(page) != 3 {
		t.Errorf("RecentOperations(huge, -1) = %d rows, %v; want 3", len(page), err)
	}
}

// testRecentByHost: the recent operations of one host, alone or with a
// reservation, newest first, and the index that serves that order.
func testRecentByHost(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	clock := NewClock(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC))
	s.Now = clock.Now
	for _, op := range []store.Operation{
		{ReservationID: "0xa", Host: "lab-ws-01", Action: "wake"},
		{ReservationID: "0xa", Host: "lab-ws-02", Action: "wake"},
		{ReservationID: "0xb", Host: "lab-ws-01", Action: "prepare"},
		{ReservationID: "0xa", Host: "lab-ws-01", Action: "release"},
		{ReservationID: "0xc", Action: "scheduler:start"}, // no host
	} {
		op.Status = "completed"
		if _, err := s.RecordOperation(ctx(), op); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
	}
	actions := func(ops []store.Operation) string {
		var out []string
		for _, op := range ops {
			out = append(out, op.ReservationID+"/"+op.Action)
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		f     store.OperationFilter
		limit int
		want  string
		wantN int
	}{
		{store.OperationFilter{Host: "lab-ws-01"}, 10, "0xa/release,0xb/prepare,0xa/wake", 3},
		{store.OperationFilter{Host: "lab-ws-01"}, 2, "0xa/release,0xb/prepare", 3},
		{store.OperationFilter{Host: "lab-ws-01", ReservationID: "0xa"}, 10, "0xa/release,0xa/wake", 2},
		{store.OperationFilter{Host: "lab-ws-02", ReservationID: "0xb"}, 10, "", 0},
		{store.OperationFilter{Host: "lab-ws-09"}, 10, "", 0},
		{store.OperationFilter{ReservationID: "0xa"}, 10, "0xa/release,0xa/wake,0xa/wake", 3},
		{store.OperationFilter{}, 10, "0xc/scheduler:start,0xa/release,0xb/prepare,0xa/wake,0xa/wake", 5},
	} {
		page, total, err := s.RecentOperations(ctx(), c.f, c.limit, 0)
		if err != nil {
			t.Fatalf("%+v: %v", c.f, err)
		}
		if got := actions(page); got != c.want || total != c.wantN {
			t.Errorf("%+v limit %d: got %q of %d, want %q of %d", c.f, c.limit, got, total, c.want, c.wantN)
		}
	}
	// (host, created_at, id), in that order: the filter and the order.
	rows, err := s.DB.QueryContext(ctx(), `SELECT column_name FROM information_schema.statistics
  WHERE table_schema = DATABASE() AND table_name = 'reservation_operations' AND index_name = 'idx_resops_host_created'
  ORDER BY seq_in_index`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, strings.ToLower(c))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cols, ","); got != "host,created_at,id" {
		t.Errorf("idx_resops_host_created columns = %q, want host,created_at,id", got)
	}
}

func window() store.Window {
	return store.Window{StartLead: 120 * time.Second, EndDelay: 60 * time.Second, Lookback: 6 * time.Hour, RetryCooldown: 60 * time.Second, MaxBatch: 200}
}

// cooldownActions are the scheduler's records that block a retry.
var cooldownActions = map[string]string{store.PhaseStart: "scheduler:start", store.PhaseEnd: "scheduler:end"}

// dueIDs returns what ClaimDue hands out now, then frees the claims again,
// so each check of the window rules sees the rules alone.
func dueIDs(t *testing.T, s *store.Store, phase string, w store.Window) ([]store.Reservation, error) {
	t.Helper()
	got, err := s.ClaimDue(ctx(), phase, cooldownActions[phase], w)
	if _, derr := s.DB.ExecContext(ctx(), "DELETE FROM reservation_claims"); derr != nil {
		t.Fatal(derr)
	}
	out := make([]store.Reservation, len(got))
	for i, c := range got {
		out[i] = c.Reservation
	}
	return out, err
}

func ids(rs []store.Reservation) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ReservationID
	}
	return strings.Join(out, ",")
}

func testCandidates(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	clock := NewClock(now)
	s.Now = clock.Now
	m := func(d time.Duration) time.Time { return now.Add(d) }
	const min = time.Minute
	InsertReservation(t, s, "s-due-soon", "1", "CONFIRMED", m(90*time.Second), m(60*min))
	InsertReservation(t, s, "s-due-late", "1", "CONFIRMED", m(-30*min), m(30*min))
	InsertReservation(t, s, "s-too-far", "1", "CONFIRMED", m(3*min), m(60*min))
	InsertReservation(t, s, "s-too-old", "1", "CONFIRMED", m(-7*time.Hour), m(-6*time.Hour-30*min))
	InsertReservation(t, s, "s-pending", "1", "PENDING", m(0), m(60*min))
	InsertReservation(t, s, "s-active", "1", "ACTIVE", m(-min), m(60*min))
	InsertReservation(t, s, "e-due", "2", "ACTIVE", m(-60*min), m(-2*min))
	InsertReservation(t, s, "e-due-confirmed", "2", "CONFIRMED", m(-90*min), m(-5*min))
	InsertReservation(t, s, "e-not-yet", "2", "ACTIVE", m(-60*min), m(-30*time.Second))
	InsertReservation(t, s, "e-completed", "2", "COMPLETED", m(-60*min), m(-10*min))
	InsertReservation(t, s, "e-cancelled", "2", "CANCELLED", m(-60*min), m(-10*min))

	st, err := dueIDs(t, s, store.PhaseStart, window())
	if err != nil {
		t.Fatal(err)
	}
	// e-due-confirmed starts within the lookback too: it is a start
	// candidate as well as an end candidate, as API.md's rules say.
	if got, want := ids(st), "e-due-confirmed,s-due-late,s-due-soon"; got != want {
		t.Errorf("start candidates: got %s, want %s", got, want)
	}
	en, err := dueIDs(t, s, store.PhaseEnd, window())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(en), "e-due-confirmed,e-due"; got != want {
		t.Errorf("end candidates: got %s, want %s", got, want)
	}
	w := window()
	w.MaxBatch = 1
	if st, _ := dueIDs(t, s, store.PhaseStart, w); ids(st) != "e-due-confirmed" {
		t.Errorf("MaxBatch 1: %s", ids(st))
	}
	// A recent scheduler:start record, failed or not, blocks a retry.
	if _, err := s.RecordOperation(ctx(), store.Operation{ReservationID: "s-due-late", Action: "scheduler:start", Status: "failed"}); err != nil {
		t.Fatal(err)
	}
	if st, _ := dueIDs(t, s, store.PhaseStart, window()); ids(st) != "e-due-confirmed,s-due-soon" {
		t.Errorf("after a scheduler:start record: %s", ids(st))
	}
	clock.Advance(61 * time.Second)
	if st, _ := dueIDs(t, s, store.PhaseStart, window()); !strings.Contains(ids(st), "s-due-late") {
		t.Errorf("after the cooldown: %s", ids(st))
	}
	r, err := s.GetReservation(ctx(), "e-due")
	if err != nil || r.LabID != "2" || r.Status != "ACTIVE" || r.Start == nil || !r.Start.Equal(m(-60*min)) || r.WalletAddress != "0xabc" {
		t.Errorf("GetReservation: %+v %v", r, err)
	}
	if _, err := s.GetReservation(ctx(), "nope"); err != store.ErrNotFound {
		t.Errorf("unknown reservation: %v", err)
	}
}

func testTransitions(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	now := time.Now().UTC()
	InsertReservation(t, s, "r1", "1", "CONFIRMED", now, now.Add(time.Hour))
	InsertReservation(t, s, "r2", "1", "CANCELLED", now, now.Add(time.Hour))
	ok, err := s.TransitionStatus(ctx(), "r1", "CONFIRMED", "ACTIVE")
	if err != nil || !ok {
		t.Fatalf("CONFIRMED->ACTIVE: %v %v", ok, err)
	}
	// The status read earlier is stale now: no change.
	if ok, err := s.TransitionStatus(ctx(), "r1", "CONFIRMED", "COMPLETED"); err != nil || ok {
		t.Errorf("stale transition applied: %v %v", ok, err)
	}
	if ok, err := s.TransitionStatus(ctx(), "r1", "ACTIVE", "COMPLETED"); err != nil || !ok {
		t.Errorf("ACTIVE->COMPLETED: %v %v", ok, err)
	}
	if _, err := s.TransitionStatus(ctx(), "r2", "CANCELLED", "ACTIVE"); err == nil {
		t.Error("CANCELLED->ACTIVE allowed")
	}
	if _, err := s.TransitionStatus(ctx(), "r1", "COMPLETED", "CONFIRMED"); err == nil {
		t.Error("COMPLETED->CONFIRMED allowed")
	}
	var st string
	if err := s.DB.QueryRowContext(ctx(), `SELECT status FROM lab_reservations WHERE transaction_hash = 'r2'`).Scan(&st); err != nil || st != "CANCELLED" {
		t.Errorf("r2 status %q %v", st, err)
	}
}

func testQuarantine(t *testing.T, b Backend) {
	s, openAgain := b.Open(t)
	if _, found, err := s.Quarantine(ctx(), "lab-ws-01"); err != nil || found {
		t.Fatalf("fresh: found=%v %v", found, err)
	}
	if err := s.SetQuarantine(ctx(), "LAB-WS-01", true); err != nil {
		t.Fatal(err)
	}
	other := openAgain() // another instance sees the flag
	defer other.Close()
	if q, found, err := other.Quarantine(ctx(), "lab-ws-01"); err != nil || !found || !q {
		t.Errorf("other instance: q=%v found=%v %v", q, found, err)
	}
	if err := other.SetQuarantine(ctx(), "lab-ws-01", false); err != nil {
		t.Fatal(err)
	}
	all, err := s.Quarantines(ctx())
	if err != nil || len(all) != 1 || all["lab-ws-01"] {
		t.Errorf("Quarantines = %v %v", all, err)
	}
}

func testClaims(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	clock := NewClock(now)
	s.Now = clock.Now
	InsertReservation(t, s, "c1", "1", "CONFIRMED", now.Add(time.Minute), now.Add(time.Hour))
	InsertReservation(t, s, "c2", "1", "CONFIRMED", now.Add(-time.Minute), now.Add(time.Hour))
	first, err := s.ClaimDue(ctx(), store.PhaseStart, "scheduler:start", window())
	if err != nil || len(first) != 2 {
		t.Fatalf("first claim: %d %v", len(first), err)
	}
	if again, err := s.ClaimDue(ctx(), store.PhaseStart, "scheduler:start", window()); err != nil || len(again) != 0 {
		t.Fatalf("claimed twice within the cooldown: %d %v", len(again), err)
	}
	if _, ok, err := s.ClaimOne(ctx(), "c1", store.PhaseStart, window().RetryCooldown); err != nil || ok {
		t.Fatalf("ClaimOne of a live claim: ok=%v %v", ok, err)
	}
	// The end phase is claimed independently.
	if _, ok, err := s.ClaimOne(ctx(), "c1", store.PhaseEnd, window().RetryCooldown); err != nil || !ok {
		t.Fatalf("end phase of c1: ok=%v %v", ok, err)
	}
	// c2's dispatch finishes 50 s later; c1's never does (its instance died).
	clock.Advance(50 * time.Second)
	for _, c := range first {
		if c.Reservation.ReservationID == "c2" {
			if err := s.FinishClaim(ctx(), c.Claim); err != nil {
				t.Fatal(err)
			}
		}
	}
	clock.Advance(11 * time.Second) // 61 s after the claims
	got, err := s.ClaimDue(ctx(), store.PhaseStart, "scheduler:start", window())
	if err != nil || len(got) != 1 || got[0].Reservation.ReservationID != "c1" {
		t.Fatalf("after the cooldown, want only the unfinished c1 reclaimable, got %v %v", got, err)
	}
	clock.Advance(50 * time.Second) // 61 s after c2 finished
	got, err = s.ClaimDue(ctx(), store.PhaseStart, "scheduler:start", window())
	if err != nil || len(got) != 1 || got[0].Reservation.ReservationID != "c2" {
		t.Fatalf("cooldown counted from the finish: got %v %v", got, err)
	}
}

func testClaimsConcurrent(t *testing.T, b Backend) {
	s, openAgain := b.Open(t)
	const (
		due      = 520
		scanners = 8
		rounds   = 20
	)
	base := time.Now().UTC().Truncate(time.Second)
	for i := 0; i < due; i++ {
		InsertReservation(t, s, fmt.Sprintf("cc-%04d", i), "1", "CONFIRMED", base.Add(time.Duration(i%60)*time.Second), base.Add(time.Hour))
	}
	clock := NewClock(base)
	stores := make([]*store.Store, scanners)
	for i := range stores {
		stores[i] = openAgain()
		stores[i].DB.SetMaxOpenConns(1) // each scanner its own single connection
		stores[i].Now = clock.Now
		defer stores[i].Close()
	}
	w := window()
	w.MaxBatch = 1000
	for round := 0; round < rounds; round++ {
		counts := make([]map[string]int, scanners)
		var wg sync.WaitGroup
		errs := make(chan error, scanners)
		start := make(chan struct{})
		for i := range stores {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				got, err := stores[i].ClaimDue(ctx(), store.PhaseStart, "scheduler:start", w)
				if err != nil {
					errs <- err
					return
				}
				counts[i] = map[string]int{}
				for _, c := range got {
					counts[i][c.Reservation.ReservationID]++
				}
			}(i)
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
		total := map[string]int{}
		for _, m := range counts {
			for id, n := range m {
				total[id] += n
			}
		}
		if len(total) != due {
			t.Fatalf("round %d: %d reservations claimed, want %d", round, len(total), due)
		}
		for id, n := range total {
			if n != 1 {
				t.Fatalf("round %d: %s claimed %d times", round, id, n)
			}
		}
		clock.Advance(61 * time.Second) // next round: every claim expired, none finished
	}
}

// A claim given back before its dispatch started is claimable at once;
// only by its holder, and never once finished.
func testReleaseClaim(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	s.Now = NewClock(now).Now
	InsertReservation(t, s, "g1", "1", "CONFIRMED", now.Add(time.Minute), now.Add(time.Hour))
	first, err := s.ClaimDue(ctx(), store.PhaseStart, "scheduler:start", window())
	if err != nil || len(first) != 1 {
		t.Fatalf("claim: %v %v", first, err)
	}
	other := first[0].Claim
	other.Token = "not-the-holder"
	if err := s.ReleaseClaim(ctx(), other); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.ClaimDue(ctx(), store.PhaseStart, "scheduler:start", window()); len(again) != 0 {
		t.Fatal("a claim was released by someone else than its holder")
	}
	if err := s.ReleaseClaim(ctx(), first[0].Claim); err != nil {
		t.Fatal(err)
	}
	again, err := s.ClaimDue(ctx(), store.PhaseStart, "scheduler:start", window())
	if err != nil || len(again) != 1 {
		t.Fatalf("after the release: %v %v", again, err)
	}
	if err := s.FinishClaim(ctx(), again[0].Claim); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseClaim(ctx(), again[0].Claim); err != nil {
		t.Fatal(err)
	}
	if more, _ := s.ClaimDue(ctx(), store.PhaseStart, "scheduler:start", window()); len(more) != 0 {
		t.Fatal("a finished claim was released")
	}
}

// The heartbeat tick's back-off: failures counted, next poll from the
// count, cleared by a success; names case-insensitive.
func testPollState(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	s.Now = NewClock(now).Now
	backoff := func(n int) time.Duration {
		if n < 2 {
			return 0
		}
		return time.Duration(n) * time.Minute
	}
	p, err := s.RecordPollFailure(ctx(), "Lab-WS-01", "HOST_UNREACHABLE: not answering", backoff)
	if err != nil || p.Failures != 1 || p.NextPollAt != nil {
		t.Fatalf("first failure: %+v %v", p, err)
	}
	p, err = s.RecordPollFailure(ctx(), "lab-ws-01", "TIMEOUT", backoff)
	if err != nil || p.Failures != 2 || p.NextPollAt == nil || !p.NextPollAt.Equal(now.Add(2*time.Minute)) {
		t.Fatalf("second failure: %+v %v", p, err)
	}
	all, err := s.PollStates(ctx())
	if got := all["lab-ws-01"]; err != nil || got.Failures != 2 || got.LastError != "TIMEOUT" ||
		got.NextPollAt == nil || !got.NextPollAt.Equal(now.Add(2*time.Minute)) || got.LastFailureAt == nil {
		t.Fatalf("stored: %+v %v", all, err)
	}
	if err := s.ClearPollFailures(ctx(), "LAB-WS-01"); err != nil {
		t.Fatal(err)
	}
	all, _ = s.PollStates(ctx())
	if got := all["lab-ws-01"]; got.Failures != 0 || got.NextPollAt != nil {
		t.Fatalf("after a success: %+v", got)
	}
}

// A record written twice with one key (a retry after a dropped
// connection) is stored once.
func testOperationKey(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	op := store.Operation{ReservationID: "k1", Action: "scheduler:start", Status: "completed", Success: true,
		Key: store.NewOperationKey()}
	id1, err := s.RecordOperation(ctx(), op)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := s.RecordOperation(ctx(), op)
	if err != nil || id2 != id1 {
		t.Fatalf("second write: id %d (first %d) %v", id2, id1, err)
	}
	op.Key = store.NewOperationKey()
	if _, err := s.RecordOperation(ctx(), op); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM reservation_operations WHERE reservation_id = 'k1'`); n != 2 {
		t.Fatalf("%d records, want 2", n)
	}
}

// A host's lock is held by one holder at a time, across pools.
func testHostLock(t *testing.T, b Backend) {
	s, again := b.Open(t)
	s2 := again()
	unlock, err := s.LockHost(ctx(), "lab-ws-01", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.LockHost(ctx(), "LAB-WS-01", 0); err == nil {
		t.Fatal("a second holder got a held host lock")
	}
	if u, err := s2.LockHost(ctx(), "lab-ws-02", 0); err != nil {
		t.Fatalf("another host's lock: %v", err)
	} else {
		u()
	}
	unlock()
	u, err := s2.LockHost(ctx(), "lab-ws-01", time.Second)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	u()
}

// The re-check before a dispatch: due while nothing changed; not once the
// status moved, the claim was taken over after expiring, or the phase was
// recorded within the cooldown.
func testStillDue(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	clock := NewClock(now)
	s.Now = clock.Now
	InsertReservation(t, s, "d1", "1", "CONFIRMED", now.Add(time.Minute), now.Add(time.Hour))
	InsertReservation(t, s, "d2", "1", "CONFIRMED", now.Add(time.Minute), now.Add(time.Hour))
	InsertReservation(t, s, "d3", "1", "CONFIRMED", now.Add(time.Minute), now.Add(time.Hour))
	w := window()
	first, err := s.ClaimDue(ctx(), store.PhaseStart, "scheduler:start", w)
	if err != nil || len(first) != 3 {
		t.Fatalf("claim: %v %v", first, err)
	}
	by := map[string]store.Claimed{}
	for _, c := range first {
		by[c.Reservation.ReservationID] = c
		if why, err := s.StillDue(ctx(), c, "scheduler:start", w.RetryCooldown); err != nil || why != "" {
			t.Fatalf("%s fresh: %q %v", c.Reservation.ReservationID, why, err)
		}
	}
	if ok, err := s.TransitionStatus(ctx(), "d1", "CONFIRMED", "ACTIVE"); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if why, _ := s.StillDue(ctx(), by["d1"], "scheduler:start", w.RetryCooldown); why != "status is now ACTIVE" {
		t.Errorf("d1 after its move: %q", why)
	}
	// d2's claim expires (its holder waits for a busy station) and another
	// scanner takes it over.
	clock.Advance(w.RetryCooldown + time.Second)
	if _, ok, err := s.ClaimOne(ctx(), "d2", store.PhaseStart, w.RetryCooldown); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if why, _ := s.StillDue(ctx(), by["d2"], "scheduler:start", w.RetryCooldown); why != "claim taken over by another scanner" {
		t.Errorf("d2 taken over: %q", why)
	}
	// d3 was run (and recorded) by another scanner meanwhile.
	if _, err := s.RecordOperation(ctx(), store.Operation{ReservationID: "d3", Action: "scheduler:start", Status: "failed"}); err != nil {
		t.Fatal(err)
	}
	if why, _ := s.StillDue(ctx(), by["d3"], "scheduler:start", w.RetryCooldown); why != "scheduler:start recorded within the cooldown" {
		t.Errorf("d3 recorded: %q", why)
	}
}

// Back-to-back bookings: A (11:00-12:00) and B (12:00-13:00) on lab 1, C
// overlapping nothing on lab 2, and a cancelled and a completed one that
// never count.
func testOtherBooking(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	at := func(h, m int) time.Time { return time.Date(2026, 11, 20, h, m, 0, 0, time.UTC) }
	InsertReservation(t, s, "A", "1", "ACTIVE", at(11, 0), at(12, 0))
	InsertReservation(t, s, "B", "1", "CONFIRMED", at(12, 0), at(13, 0))
	InsertReservation(t, s, "C", "2", "ACTIVE", at(11, 30), at(12, 30))
	InsertReservation(t, s, "X", "1", "CANCELLED", at(11, 59), at(13, 0))
	InsertReservation(t, s, "Y", "1", "COMPLETED", at(11, 59), at(13, 0))
	lead := 2 * time.Minute
	get := func(q store.BookingQuery) string {
		t.Helper()
		r, err := s.OtherBooking(ctx(), q)
		if err != nil {
			t.Fatal(err)
		}
		if r == nil {
			return ""
		}
		return r.ReservationID + "/" + r.Status + "/" + r.LabID
	}
	for _, tc := range []struct {
		name string
		q    store.BookingQuery
		want string
	}{
		// A's end flow at 12:01: B has started (and ends later).
		{"A end, B started", store.BookingQuery{Labs: []string{"1"}, Except: "A", StartsBy: at(12, 1).Add(lead), EndsAfter: at(12, 1)}, "B/CONFIRMED/1"},
		// At 11:58 + lead = 12:00: B's start is exactly the bound.
		{"B starts at the bound", store.BookingQuery{Labs: []string{"1"}, Except: "A", StartsBy: at(11, 58).Add(lead), EndsAfter: at(11, 58)}, "B/CONFIRMED/1"},
		{"B starts after the bound", store.BookingQuery{Labs: []string{"1"}, Except: "A", StartsBy: at(11, 57).Add(lead), EndsAfter: at(11, 57)}, ""},
		// B's end flow at 13:01: nothing after it (A has ended).
		{"B end, nothing follows", store.BookingQuery{Labs: []string{"1"}, Except: "B", StartsBy: at(13, 1).Add(lead), EndsAfter: at(13, 1)}, ""},
		// The station serves labs 1 and 2: C counts too.
		{"station with two labs", store.BookingQuery{Labs: []string{"2", "1"}, Except: "A", StartsBy: at(12, 1).Add(lead), EndsAfter: at(12, 1)}, "C/ACTIVE/2"},
		// B's start flow at 11:58: A runs until B's start.
		{"B start, A still running", store.BookingQuery{Labs: []string{"1"}, Except: "B", StartsBy: at(11, 58), EndsAfter: at(11, 58), EndsBy: at(12, 0)}, "A/ACTIVE/1"},
		// At 12:00 A has ended.
		{"B start, A ended", store.BookingQuery{Labs: []string{"1"}, Except: "B", StartsBy: at(12, 0), EndsAfter: at(12, 0), EndsBy: at(12, 0)}, ""},
		// C on lab 2 ends after 12:00: not a booking before B's start.
		{"overlap is not before", store.BookingQuery{Labs: []string{"2"}, Except: "B", StartsBy: at(11, 58), EndsAfter: at(11, 58), EndsBy: at(12, 0)}, ""},
		{"no labs", store.BookingQuery{Except: "A", StartsBy: at(12, 1), EndsAfter: at(12, 1)}, ""},
	} {
		if got := get(tc.q); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

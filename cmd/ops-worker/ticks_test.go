package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/logtest"
)

// tickWorld is labsim stations, their hosts.json and a MariaDB database
// for local servers with the automation on.
type tickWorld struct {
	sim  *labsim.Sim
	path string
	dsn  string
	db   *sql.DB
}

func newTickWorld(t *testing.T, n int, opt func(i int, o *labsim.HostOptions)) *tickWorld {
	t.Helper()
	hs := make([]labsim.HostOptions, n)
	for i := range hs {
		hs[i].Name = fmt.Sprintf("lab-ws-%03d", i+1)
		hs[i].BootDelay = 100 * time.Millisecond
		hs[i].TimeScale = 0.001
		if opt != nil {
			opt(i, &hs[i])
		}
	}
	sim := labsimtest.Start(t, hs...)
	path := labsimtest.WriteSimHosts(t, sim)
	w := &tickWorld{sim: sim, path: path, dsn: dbtest.NewDatabase(t)}
	var err error
	w.db, err = sql.Open("mysql", w.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.db.Close() })
	return w
}

// start runs one local server on the world with env added.
func (w *tickWorld) start(t *testing.T, env map[string]string) (*Main, string, *logtest.Buffer) {
	t.Helper()
	full := map[string]string{"OPS_CONFIG": w.path, "MYSQL_DSN": w.dsn, "LAB_MANAGER_TOKEN": "e2e-token",
		"OPS_WINRM_OPERATION_TIMEOUT": "5", "OPS_WINRM_READ_TIMEOUT": "10", "OPS_WINRM_COMMAND_TIMEOUT": "30"}
	for k, v := range env {
		full[k] = v
	}
	logs := &logtest.Buffer{}
	m := &Main{Addr: "127.0.0.1:0", LogFormat: "json", Env: full, LogOutput: logs, ShutdownTimeout: 10 * time.Second}
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		t.Fatalf("Run: %v\n%s", err, logs)
	}
	t.Cleanup(func() { m.Close() })
	return m, "http://" + m.BoundAddr(), logs
}

func (w *tickWorld) status(t *testing.T, id string) string {
	t.Helper()
	var s string
	if err := w.db.QueryRow(`SELECT status FROM lab_reservations WHERE transaction_hash = ?`, id).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func (w *tickWorld) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := w.db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func postJSON(t *testing.T, url, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	req.Header.Set("X-Lab-Manager-Token", token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("POST %s: %d %q", url, res.StatusCode, raw)
	}
	return res.StatusCode, body
}

// The local server with OPS_RESERVATION_AUTOMATION on, on MariaDB: a
// booking starting inside the lead window on a sleeping station is woken,
// prepared and ACTIVE; after its end it is released, powered down and
// COMPLETED; its timeline shows every phase. The heartbeat timer polls
// too, and the tick routes answer their summaries.
func TestMain_TicksEndToEnd(t *testing.T) {
	w := newTickWorld(t, 2, func(i int, o *labsim.HostOptions) { o.Asleep = i == 0 })
	now := time.Now().UTC()
	start, end := now.Add(2*time.Second), now.Add(5*time.Second)
	m, base, logs := w.start(t, map[string]string{
		"OPS_RESERVATION_AUTOMATION": "true", "OPS_RESERVATION_SCAN_INTERVAL": "1",
		"OPS_RESERVATION_END_DELAY": "0", "OPS_POLL_ENABLED": "true", "OPS_POLL_INTERVAL": "1",
	})
	if _, err := w.db.Exec(`INSERT INTO lab_reservations (transaction_hash, user_id, wallet_address, lab_id, start_time, end_time, status)
VALUES ('e2e-1', 1, '0x0000000000000000000000000000000000000001', '1', ?, ?, 'CONFIRMED')`, start, end); err != nil {
		t.Fatal(err)
	}
	host := w.sim.Host("lab-ws-001")
	if !host.Asleep() {
		t.Fatal("lab-ws-001 should start asleep")
	}
	waitUntil(t, 20*time.Second, "e2e-1 ACTIVE", func() bool { return w.status(t, "e2e-1") != "CONFIRMED" })
	if s := w.status(t, "e2e-1"); s != "ACTIVE" && s != "COMPLETED" {
		t.Fatalf("e2e-1 is %s\n%s", s, logs)
	}
	waitUntil(t, 20*time.Second, "e2e-1 COMPLETED", func() bool { return w.status(t, "e2e-1") == "COMPLETED" })
	waitUntil(t, 5*time.Second, "lab-ws-001 powered down", host.Asleep)

	code, tl := call(t, http.MethodGet, base+"/api/reservations/timeline?reservationId=e2e-1", "e2e-token")
	if code != http.StatusOK {
		t.Fatalf("timeline: %d %v", code, tl)
	}
	phases, _ := tl["phases"].(map[string]any)
	for _, p := range []string{"wake", "prepare", "release", "power", "schedulerEnd"} {
		op, _ := phases[p].(map[string]any)
		if op == nil || op["success"] != true {
			t.Errorf("timeline phase %s: %v", p, phases[p])
		}
	}
	var actions []string
	for _, op := range tl["operations"].([]any) {
		actions = append(actions, op.(map[string]any)["action"].(string))
	}
	if got := strings.Join(actions, ","); got != "wake,prepare,scheduler:start,release,power:shutdown,power-off,scheduler:end" {
		t.Errorf("timeline actions: %s", got)
	}

	// The heartbeat timer polled the awake station.
	waitUntil(t, 10*time.Second, "a heartbeat stored", func() bool {
		return w.count(t, `SELECT COUNT(*) FROM lab_host_heartbeat`) > 0
	})
	// The tick routes, as an external cron calls them.
	code, hb := postJSON(t, base+"/api/ticks/heartbeats", "e2e-token")
	if code != http.StatusOK || hb["tick"] != "heartbeats" || hb["hosts"] != 2.0 {
		t.Errorf("POST /api/ticks/heartbeats: %d %v", code, hb)
	}
	code, rs := postJSON(t, base+"/api/ticks/reservations", "e2e-token")
	if code != http.StatusOK || rs["tick"] != "reservations" {
		t.Errorf("POST /api/ticks/reservations: %d %v", code, rs)
	}
	if code, _ := postJSON(t, base+"/api/ticks/reservations", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("tick route without the token: %d", code)
	}
	for _, want := range []string{`"msg":"scheduler ticks on"`, `"msg":"reservation tick"`, `"msg":"heartbeat tick"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s", want)
		}
	}
	if os.Getenv("OPS_TEST_SHOW_LOG") != "" {
		os.Stdout.WriteString(logs.String())
	}
	t0 := time.Now()
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("Close took %v with the timers running", d)
	}
}

// tickReps is how often the exactly-once tests run (OPS_TEST_TICK_REPS;
// make test-ticks: 10; make test: 1).
func tickReps() int {
	if n, err := strconv.Atoi(os.Getenv("OPS_TEST_TICK_REPS")); err == nil && n > 0 {
		return n
	}
	return 1
}

// Sizes of the exactly-once tests (issue 9).
const (
	onceStations = 100
	onceBookings = 1000
)

// bookDue books n CONFIRMED reservations in one statement, m-00000 on lab
// 1 (lab-ws-001) and so on round the stations, every start within
// [now - 30 s, now + 69 s]: all inside the start lead, all due.
func (w *tickWorld) bookDue(t *testing.T, n, stations int) {
	t.Helper()
	now := time.Now().UTC()
	var q strings.Builder
	args := []any{}
	q.WriteString(`INSERT INTO lab_reservations (transaction_hash, user_id, wallet_address, lab_id, start_time, end_time, status) VALUES `)
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, 1, '0x0000000000000000000000000000000000000001', ?, ?, ?, 'CONFIRMED')")
		st := now.Add(time.Duration(i%100-30) * time.Second)
		args = append(args, bookingID(i), fmt.Sprint(i%stations+1), st, st.Add(time.Hour))
	}
	if _, err := w.db.Exec(q.String(), args...); err != nil {
		t.Fatalf("book %d reservations: %v", n, err)
	}
}

// bookingID is the id bookDue gives booking i; stationOf is its station.
func bookingID(i int) string           { return fmt.Sprintf("m-%05d", i) }
func stationOf(i, stations int) string { return fmt.Sprintf("lab-ws-%03d", i%stations+1) }

// waitAllActive waits (at most d) until bookDue's n bookings are ACTIVE,
// failing with the count of each status when they are not.
func (w *tickWorld) waitAllActive(t *testing.T, d time.Duration, n int) {
	t.Helper()
	deadline := time.Now().Add(d)
	for w.count(t, `SELECT COUNT(*) FROM lab_reservations WHERE status = 'ACTIVE'`) != n {
		if time.Now().After(deadline) {
			t.Fatalf("after %v, not every one of %d bookings is ACTIVE: %s", d, n, w.statusCounts(t))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// statusCounts is "ACTIVE=990 CONFIRMED=10": lab_reservations by status.
func (w *tickWorld) statusCounts(t *testing.T) string {
	t.Helper()
	rows, err := w.db.Query(`SELECT status, COUNT(*) FROM lab_reservations GROUP BY status ORDER BY status`)
	if err != nil {
		t.Fatalf("count statuses: %v", err)
	}
	defer rows.Close()
	var parts []string
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatalf("count statuses: %v", err)
		}
		parts = append(parts, fmt.Sprintf("%s=%d", s, n))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("count statuses: %v", err)
	}
	return strings.Join(parts, " ")
}

// checkExactlyOnce checks bookDue's n bookings once every server has
// stopped (a late duplicate is then counted too): every booking ACTIVE;
// each station received exactly one prepare-session (labsim's record of
// the commands that reached it) per booking on it; each booking has
// exactly one prepare record, successful and on its own station, and one
// scheduler:start record. The prepare-session command line does not carry
// the booking, so labsim is counted per station: a booking prepared twice
// is a duplicate on its station, one never prepared a miss there.
func (w *tickWorld) checkExactlyOnce(t *testing.T, n, stations int) {
	t.Helper()
	if got := w.count(t, `SELECT COUNT(*) FROM lab_reservations WHERE status = 'ACTIVE'`); got != n {
		t.Errorf("%d of %d bookings ACTIVE: %s", got, n, w.statusCounts(t))
	}
	want := map[string]int{}
	for i := range n {
		want[stationOf(i, stations)]++
	}
	dup, miss := 0, 0
	var bad []string
	for _, h := range w.sim.Hosts() {
		got := 0
		for _, c := range h.Commands() {
			if strings.Contains(c.CommandLine, "prepare-session") {
				got++
			}
		}
		if got != want[h.Name()] && len(bad) < 5 {
			bad = append(bad, fmt.Sprintf("%s: %d, want %d", h.Name(), got, want[h.Name()]))
		}
		if got > want[h.Name()] {
			dup += got - want[h.Name()]
		} else {
			miss += want[h.Name()] - got
		}
	}
	if dup != 0 || miss != 0 {
		t.Errorf("labsim prepare-session: %d duplicates, %d missing (%s)", dup, miss, strings.Join(bad, "; "))
	}

	type key struct{ id, action string }
	type rec struct {
		n, ok int
		host  string
	}
	recs := map[key]*rec{}
	rows, err := w.db.Query(`SELECT reservation_id, action, COALESCE(host, ''), success FROM reservation_operations
WHERE action IN ('prepare', 'scheduler:start')`)
	if err != nil {
		t.Fatalf("read reservation_operations: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k key
		var host string
		var ok bool
		if err := rows.Scan(&k.id, &k.action, &host, &ok); err != nil {
			t.Fatalf("read reservation_operations: %v", err)
		}
		r := recs[k]
		if r == nil {
			r = &rec{host: host}
			recs[k] = r
		}
		r.n++
		if ok {
			r.ok++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read reservation_operations: %v", err)
	}
	for _, action := range []string{"prepare", "scheduler:start"} {
		wrong := 0
		for i := range n {
			r := recs[key{bookingID(i), action}]
			if r == nil {
				r = &rec{}
			}
			if r.n == 1 && r.ok == 1 && (action != "prepare" || r.host == stationOf(i, stations)) {
				continue
			}
			if wrong++; wrong <= 5 {
				t.Errorf("%s: %d %s records (%d successful, host %q), want one successful on %s",
					bookingID(i), r.n, action, r.ok, r.host, stationOf(i, stations))
			}
		}
		if wrong > 0 {
			t.Errorf("%d of %d bookings without exactly one successful %s record", wrong, n, action)
		}
	}
}

// Three local servers (each its own pool, in this process) with the
// automation on, sharing one MariaDB, over 1,000 due bookings on 100
// stations: each booking is prepared exactly once and ends ACTIVE.
// OPS_TEST_TICK_REPS repeats it (make test-ticks: 10). The same with three
// processes of the built binary: TestMain_ThreeServersSeparateProcessesExactlyOnce.
func TestMain_ThreeServersExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	for rep := range tickReps() {
		t.Run(fmt.Sprint("rep", rep+1), func(t *testing.T) {
			w := newTickWorld(t, onceStations, nil)
			var mains []*Main
			for range 3 {
				m, _, _ := w.start(t, map[string]string{"OPS_RESERVATION_AUTOMATION": "true",
					"OPS_RESERVATION_SCAN_INTERVAL": "1", "OPS_RESERVATION_MAX_BATCH": "100"}) // 100: the three share the work (1000 lets the first tick claim all)
				mains = append(mains, m)
			}
			t0 := time.Now()
			w.bookDue(t, onceBookings, onceStations)
			w.waitAllActive(t, 3*time.Minute, onceBookings)
			t.Logf("3 servers, %d bookings, %d stations: all ACTIVE in %v", onceBookings, onceStations, time.Since(t0).Round(time.Millisecond))
			var wg sync.WaitGroup
			for _, m := range mains {
				wg.Add(1)
				go func() { defer wg.Done(); m.Close() }()
			}
			wg.Wait()
			w.checkExactlyOnce(t, onceBookings, onceStations)
		})
	}
}

// On the embedded database (no MYSQL_DSN) the automation works too: one
// reservation tick at a time, host locks and claims on go-mysql-server.
func TestMain_TicksEmbedded(t *testing.T) {
	w := newTickWorld(t, 1, nil)
	m, base, logs := w.start(t, map[string]string{"MYSQL_DSN": "",
		"OPS_RESERVATION_AUTOMATION": "true", "OPS_RESERVATION_SCAN_INTERVAL": "1", "OPS_RESERVATION_END_DELAY": "0",
		"OPS_POLL_ENABLED": "true", "OPS_POLL_INTERVAL": "1"})
	now := time.Now().UTC()
	db := m.app.Store().DB
	if _, err := db.Exec(`INSERT INTO lab_reservations (transaction_hash, user_id, wallet_address, lab_id, start_time, end_time, status)
VALUES ('emb-1', 1, '0x0000000000000000000000000000000000000001', '1', ?, ?, 'CONFIRMED')`, now.Add(time.Second), now.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	status := func() string {
		var s string
		if err := db.QueryRow(`SELECT status FROM lab_reservations WHERE transaction_hash = 'emb-1'`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	t.Cleanup(func() {
		if t.Failed() {
			var st string
			err := db.QueryRow(`SELECT status FROM lab_reservations WHERE transaction_hash = 'emb-1'`).Scan(&st)
			t.Logf("last status %q (%v); worker log:\n%s", st, err, logs)
		}
	})
	waitUntil(t, 60*time.Second, "emb-1 COMPLETED", func() bool { return status() == "COMPLETED" })
	code, tl := call(t, http.MethodGet, base+"/api/reservations/timeline?reservationId=emb-1", "e2e-token")
	// wake, prepare, scheduler:start, release, power:shutdown, power-off, scheduler:end
	if code != http.StatusOK || len(tl["operations"].([]any)) != 7 {
		t.Errorf("timeline: %d %v\n%s", code, tl, logs)
	}
	code, hosts := call(t, http.MethodGet, base+"/api/hosts", "e2e-token")
	if code != http.StatusOK {
		t.Errorf("hosts: %d %v", code, hosts)
	}
}

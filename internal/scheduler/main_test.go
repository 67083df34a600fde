package scheduler_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/app"
	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/logtest"
	"github.com/ops-worker/ops-worker/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.MainQuietDriver(m)) }

// world is a labsim, its hosts.json, one database and a clock; instances
// (app.App, each with its own pool) are built on it.
type world struct {
	sim   *labsim.Sim
	path  string
	dsn   string
	clock *storetest.Clock // shared by every instance (store, use cases, scheduler)
	logs  *logtest.Buffer
	env   map[string]string
}

// newWorld starts n simulated stations (station i serves lab i+1; opt
// edits each station's options) and a fresh database.
func newWorld(t testing.TB, n int, opt func(i int, o *labsim.HostOptions)) *world {
	t.Helper()
	return newWorldDSN(t, n, opt, dbtest.NewDatabase(t))
}

func newWorldDSN(t testing.TB, n int, opt func(i int, o *labsim.HostOptions), dsn string) *world {
	t.Helper()
	hs := make([]labsim.HostOptions, n)
	for i := range hs {
		hs[i].Name = fmt.Sprintf("lab-ws-%03d", i+1)
		// Fast station timing: a power action or reboot takes 50 ms, a
		// guard grace is cut by TimeScale.
		hs[i].BootDelay = 50 * time.Millisecond
		hs[i].TimeScale = 0.001
		if opt != nil {
			opt(i, &hs[i])
		}
	}
	sim := labsimtest.Start(t, hs...)
	path := labsimtest.WriteSimHosts(t, sim)
	w := &world{sim: sim, path: path, dsn: dsn, clock: storetest.NewClock(time.Now().Truncate(time.Second)), logs: &logtest.Buffer{}}
	w.env = map[string]string{
		"OPS_CONFIG": path, "MYSQL_DSN": dsn, "LAB_MANAGER_TOKEN": "tick-token",
		"OPS_WINRM_OPERATION_TIMEOUT": "5", "OPS_WINRM_READ_TIMEOUT": "10", "OPS_WINRM_COMMAND_TIMEOUT": "30",
		"OPS_RESERVATION_MAX_BATCH": "1000", "OPS_LOG_LEVEL": "INFO",
	}
	return w
}

// newApp builds one worker instance on the world (its own pool), its
// clocks set to the world's.
func (w *world) newApp(t testing.TB, extra map[string]string) *app.App {
	t.Helper()
	env := map[string]string{}
	for k, v := range w.env {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	cfg, err := config.LoadMap(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{
		Logger: slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	a.Store().Now = w.clock.Now
	a.Service().Now = w.clock.Now
	a.Scheduler().Now = w.clock.Now
	return a
}

// db is an admin handle on the world's database.
func (w *world) db(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", w.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

type booking struct {
	id         string
	lab        string
	start, end time.Time
	status     string
}

// book inserts reservations into lab_reservations, in batches.
func book(t testing.TB, db *sql.DB, bs []booking) {
	t.Helper()
	for len(bs) > 0 {
		n := min(len(bs), 500)
		var q strings.Builder
		args := []any{}
		q.WriteString(`INSERT INTO lab_reservations (transaction_hash, user_id, wallet_address, lab_id, start_time, end_time, status) VALUES `)
		for i, b := range bs[:n] {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, 1, '0x0000000000000000000000000000000000000001', ?, ?, ?, ?)")
			st := b.status
			if st == "" {
				st = "CONFIRMED"
			}
			args = append(args, b.id, b.lab, b.start.UTC(), b.end.UTC(), st)
		}
		if _, err := db.ExecContext(context.Background(), q.String(), args...); err != nil {
			t.Fatalf("book: %v", err)
		}
		bs = bs[n:]
	}
}

func statusOf(t testing.TB, db *sql.DB, id string) string {
	t.Helper()
	var s string
	if err := db.QueryRow(`SELECT status FROM lab_reservations WHERE transaction_hash = ?`, id).Scan(&s); err != nil {
		t.Fatalf("status of %s: %v", id, err)
	}
	return s
}

// statusCounts counts reservations by status.
func statusCounts(t testing.TB, db *sql.DB) map[string]int {
	t.Helper()
	rows, err := db.Query(`SELECT status, COUNT(*) FROM lab_reservations GROUP BY status`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		out[s] = n
	}
	return out
}

// opCounts counts reservation_operations rows by (reservation, action).
func opCounts(t testing.TB, db *sql.DB, action string) map[string]int {
	t.Helper()
	rows, err := db.Query(`SELECT reservation_id, COUNT(*) FROM reservation_operations WHERE action = ? GROUP BY reservation_id`, action)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		out[id] = n
	}
	return out
}

// prepares counts the prepare-session commands each station ran, by the
// reservation they were for: the scheduler's prepare carries no
// reservation id, so they are counted per station and compared with the
// station's share of the bookings.
func prepares(sim *labsim.Sim) map[string]int {
	out := map[string]int{}
	for _, h := range sim.Hosts() {
		for _, c := range h.Commands() {
			if strings.Contains(c.CommandLine, "prepare-session") {
				out[h.Name()]++
			}
		}
	}
	return out
}

// reps is how often the concurrency tests repeat (OPS_TEST_TICK_REPS;
// `make test-ticks` sets 10).
func reps() int {
	if n, err := strconv.Atoi(os.Getenv("OPS_TEST_TICK_REPS")); err == nil && n > 0 {
		return n
	}
	return 1
}

func ptr[T any](v T) *T { return &v }

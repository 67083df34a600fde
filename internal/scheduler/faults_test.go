package scheduler_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/scheduler"
)

// finishWork runs ticks, each after the cooldown, until one finds nothing
// due (at most n).
func finishWork(t *testing.T, w *world, s *scheduler.Scheduler, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		w.clock.Advance(61 * time.Second)
		sum, err := s.ReservationTick(context.Background(), scheduler.Event{Source: "after-fault"})
		// A connection killed while idle in the pool may still fail one
		// statement: that tick fails cleanly, and the next one goes on.
		t.Logf("tick after the fault: start %+v, err %v", sum.Start, err)
		if err == nil && sum.Start.Candidates == 0 {
			return
		}
	}
	t.Fatalf("work not finished after %d ticks", n)
}

// killLoop kills every connection to dbName but its own, every 30 ms,
// until stop is closed; it returns how many it killed.
func killLoop(t *testing.T, admin *sql.DB, dbName string, stop <-chan struct{}) (*atomic.Int64, <-chan struct{}) {
	var killed atomic.Int64
	conn, err := admin.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer conn.Close()
		for {
			select {
			case <-stop:
				return
			case <-time.After(30 * time.Millisecond):
			}
			rows, err := conn.QueryContext(context.Background(),
				`SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()`, dbName)
			if err != nil {
				continue
			}
			var ids []int64
			for rows.Next() {
				var id int64
				if rows.Scan(&id) == nil {
					ids = append(ids, id)
				}
			}
			rows.Close()
			for _, id := range ids {
				if _, err := conn.ExecContext(context.Background(), fmt.Sprintf("KILL CONNECTION %d", id)); err == nil {
					killed.Add(1)
				}
			}
		}
	}()
	return &killed, done
}

// The worker's database connections killed again and again in the middle
// of a tick: the tick fails cleanly or rides it out (writes retried on new
// connections), the next one finishes the work; nothing is dispatched
// twice, no operation record is lost.
func TestReservationTick_ConnectionsKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const stations, bookings = 20, 200
	w := newWorld(t, stations, func(_ int, o *labsim.HostOptions) { o.Latency = 5 * time.Millisecond })
	s := w.newApp(t, nil).Scheduler()
	db := w.db(t)
	bs := bookAllDue(t, w, db, bookings, stations)
	cfg, err := mysql.ParseDSN(w.dsn)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sql.Open("mysql", dbtest.AdminConfig(t).FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()

	stop := make(chan struct{})
	killed, killerDone := killLoop(t, admin, cfg.DBName, stop)
	sum, err := s.ReservationTick(context.Background(), scheduler.Event{Source: "under-fire"})
	close(stop)
	<-killerDone
	t.Logf("tick under fire: err %v, start %+v, %d connections killed", err, sum.Start, killed.Load())
	if killed.Load() == 0 {
		t.Fatal("no connection killed: the fault did not happen")
	}
	if err != nil && !strings.Contains(w.logs.String(), `"msg":"reservation tick failed"`) {
		t.Errorf("tick failed without a logged reason")
	}
	finishWork(t, w, s, 4)
	checkExactlyOnce(t, w, db, bs, stations)
}

// A private mariadbd stopped before a tick (which fails cleanly, with the
// reason logged) and stopped and started again in the middle of one (whose
// writes wait for it): the next tick finishes the work; nothing is
// dispatched twice, no operation record is lost.
func TestReservationTick_DatabaseRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const stations, bookings = 10, 100
	priv := dbtest.NewPrivate(t)
	w := newWorldDSN(t, stations, func(_ int, o *labsim.HostOptions) { o.Latency = 20 * time.Millisecond }, priv.NewDatabase(t))
	s := w.newApp(t, nil).Scheduler()
	db := w.db(t)
	bs := bookAllDue(t, w, db, bookings, stations)

	// Down before the tick: it fails at its scan, cleanly.
	priv.Stop()
	sum, err := s.ReservationTick(context.Background(), scheduler.Event{Source: "db-down"})
	if err == nil || sum.Total.Dispatched != 0 {
		t.Fatalf("tick with the database down: %+v, %v", sum, err)
	}
	if !strings.Contains(w.logs.String(), `"msg":"reservation tick failed"`) {
		t.Errorf("no logged reason: %s", w.logs)
	}
	t.Logf("tick with the database down: %v", err)
	if err := priv.Start(); err != nil {
		t.Fatal(err)
	}

	// Down in the middle of a tick, for about a second.
	done := make(chan struct{})
	go func() {
		defer close(done)
		sum, err = s.ReservationTick(context.Background(), scheduler.Event{Source: "db-restart"})
	}()
	waitFor(t, 20*time.Second, "first flows", func() bool {
		n := 0
		for _, v := range prepares(w.sim) {
			n += v
		}
		return n >= 5
	})
	priv.Stop()
	time.Sleep(time.Second)
	if err := priv.Start(); err != nil {
		t.Fatal(err)
	}
	<-done
	t.Logf("tick across the restart: err %v, start %+v", err, sum.Start)
	finishWork(t, w, s, 4)
	checkExactlyOnce(t, w, db, bs, stations)
}

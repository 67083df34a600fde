// Package soak holds the reservation tick's soak run (issue 9): a
// compressed day of bookings over many labsim stations with random station
// faults and database restarts, ticks of several worker instances running
// at once. It is not part of `make test`: it runs only with OPS_SOAK=1
// (`make soak`).
package soak

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ops-worker/ops-worker/internal/app"
	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/scheduler"
	"github.com/ops-worker/ops-worker/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.MainQuietDriver(m)) }

// knobs are the soak's sizes, from the environment (make soak passes them).
type knobs struct {
	reservations, stations, restarts, ticks int
	step                                    time.Duration // simulated time between tick rounds
	faultRate                               float64       // per station and step: chance a fault starts
	flowTimeout                             time.Duration
	slowBoot                                float64 // share of the stations that boot slowly
	seed                                    uint64
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n >= 0 {
		return n
	}
	return def
}

func envFloat(name string, def float64) float64 {
	if f, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil && f >= 0 {
		return f
	}
	return def
}

func loadKnobs() knobs {
	return knobs{
		reservations: envInt("SOAK_RESERVATIONS", 10000),
		stations:     max(1, envInt("SOAK_STATIONS", 200)),
		restarts:     envInt("SOAK_DB_RESTARTS", 3),
		ticks:        max(1, envInt("SOAK_TICKS", 3)),
		step:         time.Duration(max(1, envInt("SOAK_STEP_SECONDS", 60))) * time.Second,
		faultRate:    envFloat("SOAK_FAULT_RATE", 0.002),
		seed:         uint64(envInt("SOAK_SEED", 1)),
		slowBoot:     envFloat("SOAK_SLOW_BOOT", 0.02),
		flowTimeout:  time.Duration(max(1, envInt("SOAK_FLOW_TIMEOUT_SECONDS", 3))) * time.Second,
	}
}

// logCount is a slog handler that counts records by message (and keeps a
// few samples of the errors): the soak's logs are too many to keep.
type logCount struct {
	mu      sync.Mutex
	n       map[string]int
	samples map[string][]string
}

func (l *logCount) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCount) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logCount) WithGroup(string) slog.Handler            { return l }
func (l *logCount) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n[r.Message]++
	if r.Level >= slog.LevelError && len(l.samples[r.Message]) < 3 {
		var b strings.Builder
		r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, "%s=%v ", a.Key, a.Value); return true })
		l.samples[r.Message] = append(l.samples[r.Message], b.String())
	}
	return nil
}

type booking struct {
	id         string
	station    int // lab station+1
	start, end time.Time
	status     string
}

// plan lays out n bookings over the stations, station by station one
// after another from t0: 10-35 min each, 30% back to back with the one
// before, the others after a 1-12 min gap; 1% CANCELLED (to be left
// alone). With 50 bookings a station that is about a day.
func plan(rng *rand.Rand, t0 time.Time, n, stations int) []booking {
	var bs []booking
	cursor := make([]time.Time, stations)
	for i := range cursor {
		cursor[i] = t0.Add(time.Duration(rng.IntN(600)) * time.Second)
	}
	for i := range n {
		s := i % stations
		st := cursor[s]
		if rng.Float64() >= 0.3 {
			st = st.Add(time.Duration(60+rng.IntN(660)) * time.Second)
		}
		end := st.Add(time.Duration(600+rng.IntN(1500)) * time.Second)
		cursor[s] = end
		status := "CONFIRMED"
		if rng.Float64() < 0.01 {
			status = "CANCELLED"
		}
		bs = append(bs, booking{id: fmt.Sprintf("soak-%06d", i), station: s, start: st, end: end, status: status})
	}
	return bs
}

func book(t *testing.T, db *sql.DB, bs []booking) {
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
			args = append(args, b.id, fmt.Sprint(b.station+1), b.start.UTC(), b.end.UTC(), b.status)
		}
		if _, err := db.Exec(q.String(), args...); err != nil {
			t.Fatalf("book: %v", err)
		}
		bs = bs[n:]
	}
}

func hostName(i int) string { return fmt.Sprintf("lab-ws-%03d", i+1) }

// fault is a station fault of the soak: which, and until which round.
type fault struct {
	kind  string
	until int
}

func randomFault(rng *rand.Rand) (string, labsim.Faults) {
	switch x := rng.Float64(); {
	case x < 0.2:
		return "hang", labsim.Faults{Hang: true}
	case x < 0.4:
		return "die-mid-call", labsim.Faults{DieMidCall: true}
	case x < 0.6:
		return "fail-all", labsim.Faults{FailureRate: 1}
	default:
		return "fail-half", labsim.Faults{FailureRate: 0.5}
	}
}

// round is one tick round: its simulated time and its wall-clock span
// (labsim's command records carry wall-clock times).
type round struct {
	sim        time.Time
	from, till time.Time
}

// TestSoak is issue 9's soak: see the package doc and `make soak`.
func TestSoak(t *testing.T) {
	if os.Getenv("OPS_SOAK") != "1" {
		t.Skip("soak run: set OPS_SOAK=1 (make soak; sizes via SOAK_RESERVATIONS, SOAK_STATIONS, SOAK_DB_RESTARTS, SOAK_TICKS, SOAK_STEP_SECONDS, SOAK_FAULT_RATE, SOAK_FLOW_TIMEOUT_SECONDS, SOAK_SLOW_BOOT, SOAK_SEED)")
	}
	k := loadKnobs()
	wall0 := time.Now()
	rng := rand.New(rand.NewPCG(k.seed, 0x50a4))
	t.Logf("soak: %d reservations, %d stations, %d DB restarts, %d tick instances, %v per round, fault rate %.4f/station/round, flow timeout %v, seed %d",
		k.reservations, k.stations, k.restarts, k.ticks, k.step, k.faultRate, k.flowTimeout, k.seed)

	// Stations: SOAK_SLOW_BOOT of them (2%) boot slowly (1-2.5 s of wall
	// time against 50 ms: every round waking one waits for it; a
	// boot slower than the flow timeout would never finish, each round's
	// magic packet restarting it), 15% blackhole
	// their WinRM ports while asleep (the rest refuse at once).
	opts := make([]labsim.HostOptions, k.stations)
	slow, blackhole := 0, 0
	for i := range opts {
		o := &opts[i]
		o.Name = hostName(i)
		o.BootDelay = 50 * time.Millisecond
		o.TimeScale = 0.001
		o.SleepMode = labsim.SleepRefuse
		if rng.Float64() < k.slowBoot {
			o.BootDelay = time.Duration(1000+rng.IntN(1500)) * time.Millisecond
			slow++
		}
		if rng.Float64() < 0.15 {
			o.SleepMode = labsim.SleepBlackhole
			blackhole++
		}
	}
	sim := labsimtest.Start(t, opts...)
	path := labsimtest.WriteSimHosts(t, sim)

	priv := dbtest.NewPrivate(t)
	dsn := priv.NewDatabase(t)
	// The controlled clock of every instance (store, use cases, scheduler):
	// it moves only between tick rounds, so every record a round writes
	// carries that round's time.
	clk := storetest.NewClock(time.Now().Truncate(time.Minute))
	logs := &logCount{n: map[string]int{}, samples: map[string][]string{}}
	env := map[string]string{
		"OPS_CONFIG": path, "MYSQL_DSN": dsn, "LAB_MANAGER_TOKEN": "soak-token",
		"OPS_WINRM_OPERATION_TIMEOUT": "2", "OPS_WINRM_READ_TIMEOUT": "4", "OPS_WINRM_COMMAND_TIMEOUT": "4",
		"OPS_RESERVATION_MAX_BATCH": "1000", "OPS_LOG_LEVEL": "INFO",
	}
	cfg, err := config.LoadMap(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	var schs []*scheduler.Scheduler
	for range k.ticks {
		a, err := app.New(context.Background(), cfg, app.Options{Logger: slog.New(logs)})
		if err != nil {
			t.Fatalf("app: %v", err)
		}
		t.Cleanup(func() { a.Close() })
		a.Store().Now, a.Service().Now, a.Scheduler().Now = clk.Now, clk.Now, clk.Now
		// A hung prepare-session ends at its own deadline: the command
		// timeout (4 s here) raised to its guard's grace + 60 s, 150 s
		// with the default grace (the worker cannot tell a hang from a
		// guard waiting for a user; these stations wait 90 ms, TimeScale
		// 0.001), and the app's flow timeout is a backstop above that
		// (app.FlowTimeout). Compressed time cannot wait 150 s a hang:
		// SOAK_FLOW_TIMEOUT_SECONDS (3 s) cuts every flow sooner.
		a.Scheduler().Config.FlowTimeout = k.flowTimeout
		// The end flow waits until a powered-down station stops answering
		// (labsim: 300 ms after the command); probing every 50 ms keeps
		// that wait near it.
		a.Service().Settings.PowerOffProbe = 100 * time.Millisecond
		schs = append(schs, a.Scheduler())
	}
	cooldown := schs[0].Config.Window.RetryCooldown
	endDelay := schs[0].Config.Window.EndDelay
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	bs := plan(rng, clk.Now().Add(5*time.Minute), k.reservations, k.stations)
	book(t, db, bs)
	var last time.Time
	for _, b := range bs {
		if b.end.After(last) {
			last = b.end
		}
	}
	dayEnd := last.Add(endDelay)
	rounds := int(dayEnd.Sub(clk.Now())/k.step) + 1
	// Restart i is due from round rounds*(i+1)/(restarts+1), in the first
	// round from then that follows one with work (so that flows are in
	// flight when mariadbd goes down).
	var restartFrom []int
	for i := range k.restarts {
		restartFrom = append(restartFrom, rounds*(i+1)/(k.restarts+1))
	}
	t.Logf("soak: day of %v simulated (%d rounds), %d slow-boot and %d blackhole stations; booked in %v",
		dayEnd.Sub(clk.Now()).Round(time.Minute), rounds, slow, blackhole, time.Since(wall0).Round(time.Millisecond))

	// The day, then a drain with every fault cleared until a round finds
	// nothing due.
	var (
		rs                       []round
		faults                   = map[int]fault{}
		faultsStarted            = map[string]int{}
		ticksRun, tickErrs       int
		restartsDone, restartsIn int
		sum                      scheduler.PhaseSummary
		drain, prevDue           int
		slowRounds               int
		longest                  time.Duration
	)
	for r := 0; ; r++ {
		draining := !clk.Now().Before(dayEnd)
		if draining {
			drain++
			for s := range faults {
				sim.Host(hostName(s)).SetFaults(labsim.Faults{})
				delete(faults, s)
			}
		} else {
			for s, f := range faults {
				if r >= f.until {
					sim.Host(hostName(s)).SetFaults(labsim.Faults{})
					delete(faults, s)
				}
			}
			for s := range k.stations {
				if _, ok := faults[s]; !ok && rng.Float64() < k.faultRate {
					kind, f := randomFault(rng)
					sim.Host(hostName(s)).SetFaults(f)
					// A hang costs its round the flow timeout on every
					// retry: it lasts 1-4 rounds, the other faults 5-40.
					n := 5 + rng.IntN(36)
					if kind == "hang" {
						n = 1 + rng.IntN(4)
					}
					faults[s] = fault{kind: kind, until: r + n}
					faultsStarted[kind]++
				}
			}
		}
		rd := round{sim: clk.Now(), from: time.Now()}
		var (
			wg       sync.WaitGroup
			inFlight atomic.Int32
			sums     = make([]scheduler.ReservationSummary, len(schs))
			errs     = make([]error, len(schs))
		)
		for i, s := range schs {
			wg.Add(1)
			inFlight.Add(1)
			go func() {
				defer wg.Done()
				defer inFlight.Add(-1)
				sums[i], errs[i] = s.ReservationTick(context.Background(), scheduler.Event{Source: fmt.Sprintf("soak-%d", i)})
			}()
		}
		var restart chan struct{}
		if len(restartFrom) > 0 && r >= restartFrom[0] && prevDue > 0 {
			restartFrom = restartFrom[1:]
			restart = make(chan struct{})
			delay := time.Duration(10+rng.IntN(40)) * time.Millisecond
			go func() {
				defer close(restart)
				time.Sleep(delay)
				if inFlight.Load() > 0 {
					restartsIn++
				}
				priv.Stop()
				time.Sleep(time.Second)
				if err := priv.Start(); err != nil {
					t.Errorf("mariadbd did not start again: %v", err)
				}
				restartsDone++
			}()
		}
		wg.Wait()
		if restart != nil {
			<-restart
		}
		// A station told to power down goes to sleep 300 ms (wall clock)
		// later in labsim, as Windows takes a while to shut down: the end
		// flow waits, holding the station's lock, until it stops answering
		// (its "power-off" step), so the next round, minutes later on the
		// station's clock, finds it asleep without a pause here (in
		// production the gap between an end flow and the next start on a
		// station can be as short as ~30 s).
		rd.till = time.Now()
		if el := rd.till.Sub(rd.from); el > 2*time.Second {
			slowRounds++
			longest = max(longest, el)
		}
		rs = append(rs, rd)
		due := 0
		for i := range sums {
			ticksRun++
			if errs[i] != nil {
				tickErrs++
			}
			sum.Claimed += sums[i].Total.Claimed
			sum.Dispatched += sums[i].Total.Dispatched
			sum.Succeeded += sums[i].Total.Succeeded
			sum.Failed += sums[i].Total.Failed
			sum.Skipped += sums[i].Total.Skipped
			due += sums[i].Total.Candidates
		}
		if r%100 == 0 {
			t.Logf("round %d/%d (%s): %d faulted stations, candidates %d; so far %d ticks, dispatched %d (failed %d); wall %v",
				r, rounds, rd.sim.Format("15:04"), len(faults), due, ticksRun, sum.Dispatched, sum.Failed, time.Since(wall0).Round(time.Second))
		}
		prevDue = due
		clk.Advance(k.step)
		if draining && due == 0 {
			break
		}
		if drain > 30 {
			t.Errorf("drain: still %d candidates after 30 rounds", due)
			break
		}
	}
	wallRun := time.Since(wall0)

	rep := check(t, db, sim, bs, rs, cooldown)
	t.Logf("\n==== soak summary ====\n"+
		"reservations %d over %d stations (%d slow-boot, %d blackhole-asleep), simulated day %v in %d rounds of %v + %d drain rounds\n"+
		"tick instances %d; ticks run %d (%d returned an error); claimed %d, dispatched %d (succeeded %d, failed %d), skipped %d\n"+
		"rounds over 2 s of wall time %d (longest %v)\n"+
		"faults started %v\n"+
		"DB restarts %d of %d survived (%d while ticks ran)\n"+
		"final states %v\n"+
		"%s"+
		"log: %d 'reservation tick failed', %d 'operation NOT RECORDED', %d 'status not moved', %d 'claim not finished', %d 'database write succeeded after retry'\n"+
		"wall time %v (run %v, checks %v)",
		len(bs), k.stations, slow, blackhole, dayEnd.Sub(rs[0].sim).Round(time.Minute), rounds, k.step, drain,
		k.ticks, ticksRun, tickErrs, sum.Claimed, sum.Dispatched, sum.Succeeded, sum.Failed, sum.Skipped,
		slowRounds, longest.Round(time.Millisecond),
		faultsStarted, restartsDone, k.restarts, restartsIn, rep.states, rep.text,
		logs.n["reservation tick failed"], logs.n["reservation tick: operation NOT RECORDED"],
		logs.n["reservation tick: status not moved"], logs.n["reservation tick: claim not finished; it expires after the cooldown"],
		logs.n["database write succeeded after retry"],
		time.Since(wall0).Round(time.Second), wallRun.Round(time.Second), (time.Since(wall0) - wallRun).Round(time.Second))
	for msg, ss := range logs.samples {
		t.Logf("log error %q (%d): e.g. %s", msg, logs.n[msg], ss[0])
	}
	if restartsDone != k.restarts {
		t.Errorf("%d of %d DB restarts done", restartsDone, k.restarts)
	}
	if n := logs.n["reservation tick: operation NOT RECORDED"]; n > 0 {
		t.Errorf("%d operation records not written", n)
	}
}

// opRow is one reservation_operations row of the scheduler (or a step).
type opRow struct {
	res, host, action, status, msg string
	success                        bool
	at                             time.Time
	payload                        []byte
}

type report struct {
	states map[string]int
	text   string
}

// check verifies the soak's outcome; see the definitions inline.
func check(t *testing.T, db *sql.DB, sim *labsim.Sim, bs []booking, rs []round, cooldown time.Duration) report {
	t.Helper()
	status := map[string]string{}
	rows, err := db.Query(`SELECT transaction_hash, status FROM lab_reservations`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, st string
		if err := rows.Scan(&id, &st); err != nil {
			t.Fatal(err)
		}
		status[id] = st
	}
	rows.Close()
	rows, err = db.Query(`SELECT reservation_id, COALESCE(host, ''), action, status, COALESCE(message, ''), success, created_at, COALESCE(payload, '{}')
		FROM reservation_operations ORDER BY reservation_id, created_at, id`)
	if err != nil {
		t.Fatal(err)
	}
	byRes := map[string][]opRow{}
	for rows.Next() {
		var o opRow
		var at mysql.NullTime
		if err := rows.Scan(&o.res, &o.host, &o.action, &o.status, &o.msg, &o.success, &at, &o.payload); err != nil {
			t.Fatal(err)
		}
		o.at = at.Time.UTC()
		byRes[o.res] = append(byRes[o.res], o)
	}
	rows.Close()

	var b strings.Builder
	states := map[string]int{}
	failReasons := map[string]int{}
	var startedLate, completedNeverStarted, endRetried, unexplained, doubleSuccess, cooldownViolations, cancelledTouched, lostRecords int
	// flowSteps[(host, round time, phase)] counts the scheduler records
	// whose flow reached prepare-session (start) or release-session (end).
	type key struct {
		host  string
		at    time.Time
		phase string
	}
	recorded := map[key]int{}
	bad := func(format string, args ...any) {
		if unexplained+doubleSuccess+cooldownViolations+cancelledTouched+lostRecords < 20 {
			t.Errorf(format, args...)
		}
	}
	for _, bk := range bs {
		st := status[bk.id]
		ops := byRes[bk.id]
		if bk.status == "CANCELLED" {
			states["CANCELLED (left alone)"]++
			if st != "CANCELLED" || len(ops) > 0 {
				cancelledTouched++
				bad("%s: cancelled, now %s with %d operations", bk.id, st, len(ops))
			}
			continue
		}
		var starts, ends []opRow
		sched := map[time.Time]bool{} // round times of this booking's scheduler records
		for _, o := range ops {
			switch o.action {
			case "scheduler:start":
				starts = append(starts, o)
				sched[o.at] = true
			case "scheduler:end":
				ends = append(ends, o)
				sched[o.at] = true
			}
		}
		// Lost records: every step a flow recorded (wake, prepare,
		// release, power:*) has its flow's scheduler:start|end record
		// from the same round.
		for _, o := range ops {
			if !strings.HasPrefix(o.action, "scheduler:") && !sched[o.at] {
				lostRecords++
				bad("%s: %s step at %s without a scheduler record of that round", bk.id, o.action, o.at.Format(time.RFC3339))
			}
		}
		// Double dispatch, in the database: at most one successful start
		// and one successful end per booking; two records of one phase
		// never less than the cooldown apart.
		for _, list := range [][]opRow{starts, ends} {
			ok := 0
			for i, o := range list {
				if o.success {
					ok++
				}
				if i > 0 && o.at.Sub(list[i-1].at) < cooldown {
					cooldownViolations++
					bad("%s: %s records %v apart", bk.id, o.action, o.at.Sub(list[i-1].at))
				}
				if !o.success {
					failReasons[o.action+": "+reason(o.msg)]++
				}
				if n := flowReached(o.payload, o.action); n > 0 {
					recorded[key{o.host, o.at, o.action}] += n
				}
			}
			if ok > 1 {
				doubleSuccess++
				bad("%s: %d successful %s records", bk.id, ok, list[0].action)
			}
		}
		startedOK := false
		for _, o := range starts {
			if o.success {
				startedOK = true
				if o.at.After(bk.start) {
					startedLate++
				}
			}
		}
		if len(ends) > 1 {
			endRetried++
		}
		switch {
		case st == "COMPLETED" && startedOK:
			states["COMPLETED (started)"]++
		case st == "COMPLETED" && len(starts) > 0:
			completedNeverStarted++
			states["COMPLETED (start failed every try, reasons recorded)"]++
		case st == "COMPLETED":
			// No start ever ran: every start was deferred (the booking
			// before it on the station ran to its end) or lost its claim.
			completedNeverStarted++
			states["COMPLETED (no start record)"]++
		default:
			// Not completed: it must carry a failed record saying why.
			failed := false
			for _, o := range ops {
				if strings.HasPrefix(o.action, "scheduler:") && !o.success {
					failed = true
				}
			}
			if failed {
				states[st+" (failed, reason recorded)"]++
			} else {
				unexplained++
				states[st+" (NO recorded reason)"]++
				bad("%s: ends %s with no failed record (%d operations)", bk.id, st, len(ops))
			}
		}
	}

	// Double dispatch and lost records against the stations: per station
	// and round, labsim's prepare-session (release-session) commands
	// equal the scheduler:start (end) records of that round whose flow
	// reached that step. More commands than records: a flow ran twice or
	// ran without its record; fewer: a record of a flow that never ran.
	roundOf := func(at time.Time) (time.Time, bool) {
		i := sort.Search(len(rs), func(i int) bool { return !rs[i].till.Before(at) })
		if i == len(rs) || at.Before(rs[i].from) {
			return time.Time{}, false
		}
		return rs[i].sim, true
	}
	ran := map[key]int{}
	outside := 0
	for _, h := range sim.Hosts() {
		for _, c := range h.Commands() {
			phase := ""
			switch {
			case strings.Contains(c.CommandLine, "prepare-session"):
				phase = "scheduler:start"
			case strings.Contains(c.CommandLine, "release-session"):
				phase = "scheduler:end"
			default:
				continue
			}
			at, ok := roundOf(c.At)
			if !ok {
				outside++
				continue
			}
			ran[key{h.Name(), at.UTC(), phase}]++
		}
	}
	var dupDispatch, phantom, prepares, releases int
	for k, n := range ran {
		if k.phase == "scheduler:start" {
			prepares += n
		} else {
			releases += n
		}
		if r := recorded[k]; n > r {
			dupDispatch += n - r
			if dupDispatch <= 5 {
				t.Errorf("%s round %s: labsim ran %d %s flows, %d recorded", k.host, k.at.Format("15:04:05"), n, k.phase, r)
			}
		}
	}
	// (Informational: a prepare or release step recorded failed may
	// have failed before its command reached the station.)
	for k, r := range recorded {
		if n := ran[k]; r > n {
			phantom += r - n
		}
	}
	if outside > 0 {
		t.Errorf("%d labsim session commands outside any tick round", outside)
	}
	if unexplained+doubleSuccess+cooldownViolations+cancelledTouched+lostRecords+dupDispatch > 0 {
		t.Errorf("soak failed: %d unexplained, %d double successes, %d cooldown violations, %d cancelled touched, %d lost records, %d unrecorded/duplicate station flows",
			unexplained, doubleSuccess, cooldownViolations, cancelledTouched, lostRecords, dupDispatch)
	}
	reasons := make([]string, 0, len(failReasons))
	for r := range failReasons {
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, j int) bool { return failReasons[reasons[i]] > failReasons[reasons[j]] })
	fmt.Fprintf(&b, "labsim: %d prepare-session, %d release-session commands (%d outside rounds)\n", prepares, releases, outside)
	fmt.Fprintf(&b, "double dispatch: %d station flows beyond their records, %d bookings with 2+ successful records of a phase, %d records of a phase closer than the cooldown (%v); recorded steps that never reached the station %d (failed before sending)\n",
		dupDispatch, doubleSuccess, cooldownViolations, cooldown, phantom)
	fmt.Fprintf(&b, "lost records: %d steps without their scheduler record; unexplained final states %d; cancelled touched %d\n",
		lostRecords, unexplained, cancelledTouched)
	fmt.Fprintf(&b, "started after their start time %d; completed without a successful start %d; end flow retried %d\n",
		startedLate, completedNeverStarted, endRetried)
	b.WriteString("failed records by reason:\n")
	for _, r := range reasons {
		fmt.Fprintf(&b, "  %6d  %s\n", failReasons[r], r)
	}
	return report{states: states, text: b.String()}
}

// flowReached is how many of a scheduler record's flow steps sent the
// session command to the station (prepare for a start, release for an
// end): 0 or 1.
func flowReached(payload []byte, action string) int {
	var p struct {
		Response struct {
			Steps []struct {
				Action  string         `json:"action"`
				Details map[string]any `json:"details"`
			} `json:"steps"`
		} `json:"response"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return 0
	}
	want := "prepare"
	if action == "scheduler:end" {
		want = "release"
	}
	n := 0
	for _, s := range p.Response.Steps {
		// A step recorded failed, or skipped because the station was
		// found asleep, may or may not have reached it (a station that
		// dies mid-call ran the command): counted, as an attempt.
		if s.Action == want {
			n++
		}
	}
	return n
}

// reason is a failure message without its variable parts (ids, numbers),
// to count failures by kind.
func reason(msg string) string {
	var b strings.Builder
	digits := false
	for _, r := range msg {
		if r >= '0' && r <= '9' {
			if !digits {
				b.WriteByte('#')
			}
			digits = true
			continue
		}
		digits = false
		b.WriteRune(r)
	}
	s := b.String()
	if len(s) > 140 {
		s = s[:140] + "..."
	}
	return s
}

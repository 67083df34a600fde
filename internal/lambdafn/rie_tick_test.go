package lambdafn_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/store"
)

// scheduledEvent is what EventBridge's Schedule rule of a tick function
// sends it (template.yaml: rate(1 minute)).
func scheduledEvent(rule string) events.EventBridgeEvent {
	return events.EventBridgeEvent{
		Version: "0", ID: "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", DetailType: "Scheduled Event", Source: "aws.events",
		AccountID: "123456789012", Time: time.Now().UTC(), Region: "eu-west-1",
		Resources: []string{"arn:aws:events:eu-west-1:123456789012:rule/ops-worker-" + rule}, Detail: json.RawMessage(`{}`),
	}
}

// openStore opens w's MariaDB database for the test's own reads.
func openStore(t *testing.T, w twin) *store.Store {
	t.Helper()
	cfg, err := config.ParseDSN(w.env["MYSQL_DSN"])
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// reservationTickAnswer is the part of tick-reservations' answer checked.
type reservationTickAnswer struct {
	Tick   string `json:"tick"`
	Errors int    `json:"errors"`
	Ticks  []struct {
		Source string      `json:"source"`
		Start  phaseCounts `json:"start"`
		End    phaseCounts `json:"end"`
	} `json:"ticks"`
}

// phaseCounts is scheduler.PhaseSummary as the answer's JSON has it.
type phaseCounts struct {
	Candidates int    `json:"candidates"`
	Claimed    int    `json:"claimed"`
	Dispatched int    `json:"dispatched"`
	Succeeded  int    `json:"succeeded"`
	Failed     int    `json:"failed"`
	Skipped    int    `json:"skipped"`
	NoHost     int    `json:"noHost"`
	Error      string `json:"error"`
}

// stationCommands are the LabStation.exe command lines h received, from
// the subcommand on ("release-session", "power shutdown").
func stationCommands(h *labsim.Host) []string {
	var out []string
	for _, c := range h.Commands() {
		line := c.CommandLine
		if i := strings.Index(strings.ToLower(line), "labstation.exe"); i >= 0 {
			line = strings.TrimLeft(line[i+len("labstation.exe"):], `"' `)
		}
		out = append(out, line)
	}
	return out
}

// TestRIE_TickReservations runs the built tick-reservations binary under
// the emulator, one EventBridge scheduled event per invocation, against
// MariaDB and a labsim station, through a booking's whole life. The
// booking starts now and lasts a few seconds, with END_DELAY 1 s (the
// binary reads the real clock: there is no clock to inject into it):
//
//   - first invocation: only the start is due; the station is woken and
//     prepared and the booking ACTIVE; a later booking is left CONFIRMED.
//   - second invocation, after the end plus END_DELAY: the session is
//     released and the station powered down (OPS_RESERVATION_END_POWER
//     shutdown) and the booking COMPLETED; the later one is still left.
//
// Each answer carries the tick's summary and each invocation prints one
// EMF line; the local server's timeline API, on the same database, shows
// every phase of the booking in order.
func TestRIE_TickReservations(t *testing.T) {
	rieBinary(t)
	const endDelay = time.Second
	w := newWorld(t, map[string]string{
		"OPS_RESERVATION_AUTOMATION": "true",
		// One tick per invocation (30 s would run two, 30 s apart).
		"OPS_RESERVATION_SCAN_INTERVAL": "60",
		"OPS_RESERVATION_END_DELAY":     "1",
		"OPS_RESERVATION_END_POWER":     "shutdown",
	})
	migrateUnderRIE(t, w)
	e := startRIE(t, "tick-reservations", w.env)
	st := openStore(t, w)
	station := w.sim.Host("lab-ws-01")

	// Whole seconds: lab_reservations keeps TIMESTAMP(0). The end leaves
	// the first invocation (cold start included) 5 s to scan before the
	// end is due; its summary says if it did not.
	start := time.Now().UTC().Truncate(time.Second)
	end := start.Add(5 * time.Second)
	addBooking(t, w, "tick-1", start, end)
	addReservation(t, w, "tick-later", start.Add(time.Hour))

	checkStatus := func(when string, want map[string]string) {
		t.Helper()
		for id, status := range want {
			r, err := st.GetReservation(t.Context(), id)
			if err != nil || r.Status != status {
				t.Errorf("%s: %s is %+v %v, want %s", when, id, r, err, status)
			}
		}
	}
	invoke := func(when string) (phaseCounts, phaseCounts) {
		t.Helper()
		out := e.invokeRaw(t, scheduledEvent("TickReservations"))
		var res reservationTickAnswer
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("%s: answer %s: %v", when, out, err)
		}
		if res.Tick != "reservations" || res.Errors != 0 || len(res.Ticks) != 1 || res.Ticks[0].Source != "aws.events" {
			t.Fatalf("%s: answer %s\n%s", when, out, e.logs)
		}
		return res.Ticks[0].Start, res.Ticks[0].End
	}

	// The start.
	s, en := invoke("first tick")
	t.Logf("first tick answered %s after the booking's start", time.Since(start))
	if en.Candidates != 0 {
		t.Fatalf("first tick: the end was due already (%+v): seed to scan took over %s", en, end.Sub(start))
	}
	if s.Candidates != 1 || s.Claimed != 1 || s.Dispatched != 1 || s.Succeeded != 1 || s.Failed+s.Skipped+s.NoHost != 0 {
		t.Fatalf("first tick: start phase %+v\n%s", s, e.logs)
	}
	checkStatus("after the start", map[string]string{"tick-1": "ACTIVE", "tick-later": "CONFIRMED"})
	afterStart := stationCommands(station)
	if len(afterStart) != 1 || !strings.HasPrefix(afterStart[0], "prepare-session") {
		t.Fatalf("station ran %q at the start, want prepare-session only", afterStart)
	}
	docs := emfLines(t, e.logs.String())
	if len(docs) != 1 {
		t.Fatalf("%d EMF lines after the first tick, want 1:\n%s", len(docs), e.logs)
	}
	checkEMF(t, docs[0], "reservations", map[string]float64{
		"Runs": 1, "Errors": 0, "Dispatched": 1, "Failed": 0, "ClaimsTaken": 1,
		"StartDispatched": 1, "StartFailed": 0, "EndDispatched": 0,
	})

	// The end, once end + END_DELAY has passed.
	time.Sleep(time.Until(end.Add(endDelay + 200*time.Millisecond)))
	s, en = invoke("second tick")
	if en.Candidates != 1 || en.Claimed != 1 || en.Dispatched != 1 || en.Succeeded != 1 || en.Failed+en.Skipped+en.NoHost != 0 {
		t.Fatalf("second tick: end phase %+v\n%s", en, e.logs)
	}
	if s.Candidates != 0 {
		t.Errorf("second tick: start phase %+v, want nothing due", s)
	}
	checkStatus("after the end", map[string]string{"tick-1": "COMPLETED", "tick-later": "CONFIRMED"})
	if got, want := strings.Join(stationCommands(station)[len(afterStart):], "|"), "release-session|power shutdown"; got != want {
		t.Errorf("station ran %q at the end, want %q", got, want)
	}
	for _, c := range station.Commands() {
		if c.ExitCode != 0 {
			t.Errorf("station command %q exited %d", c.CommandLine, c.ExitCode)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for !station.Asleep() {
		if time.Now().After(deadline) {
			t.Fatal("station not powered down after power shutdown")
		}
		time.Sleep(50 * time.Millisecond)
	}
	docs = emfLines(t, e.logs.String())
	if len(docs) != 2 {
		t.Fatalf("%d EMF lines after the second tick, want 2:\n%s", len(docs), e.logs)
	}
	checkEMF(t, docs[1], "reservations", map[string]float64{
		"Runs": 1, "Errors": 0, "Dispatched": 1, "Failed": 0, "ClaimsTaken": 1,
		"EndDispatched": 1, "EndFailed": 0, "StartDispatched": 0,
	})

	// The timeline, as GET /api/reservations/timeline answers it.
	rec := httptest.NewRecorder()
	localServer(t, w).ServeHTTP(rec, call{method: "GET", path: "/api/reservations/timeline", query: "reservationId=tick-1", token: true}.request())
	var tl ops.TimelineResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &tl); rec.Code != 200 || err != nil {
		t.Fatalf("timeline: %d %s %v", rec.Code, rec.Body, err)
	}
	if tl.Reservation.Status != "COMPLETED" {
		t.Errorf("timeline reservation %+v", tl.Reservation)
	}
	p := tl.Phases
	for name, op := range map[string]*ops.OperationView{"wake": p.Wake, "prepare": p.Prepare, "release": p.Release,
		"power": p.Power, "schedulerEnd": p.SchedulerEnd} {
		if op == nil || !op.Success || op.Host != "lab-ws-01" {
			t.Errorf("timeline phase %s: %+v", name, op)
		}
	}
	var actions []string
	for _, op := range tl.Operations {
		actions = append(actions, op.Action)
		if !op.Success {
			t.Errorf("timeline operation %s failed: %s", op.Action, op.Message)
		}
		if strings.HasPrefix(op.Action, "scheduler:") {
			var pl struct {
				Response   struct{ OK bool } `json:"response"`
				StatusCode int               `json:"status_code"`
			}
			if err := json.Unmarshal(op.Payload, &pl); err != nil || pl.StatusCode != 200 {
				t.Errorf("%s payload %s: %v", op.Action, op.Payload, err)
			}
		}
	}
	// power-off: the end flow saw the station go down before it let go
	// of the host (OPS_RESERVATION_POWER_OFF_WAIT).
	if got, want := strings.Join(actions, ","), "wake,prepare,scheduler:start,release,power:shutdown,power-off,scheduler:end"; got != want {
		t.Errorf("timeline actions %s, want %s", got, want)
	}
	for _, op := range tl.Operations {
		if op.Action == "power-off" && !strings.HasPrefix(op.Message, "Power-off confirmed") {
			t.Errorf("power-off step %q, want it confirmed", op.Message)
		}
	}
}

// TestRIE_TickHeartbeats runs the built tick-heartbeats binary under the
// emulator with one EventBridge scheduled event, against MariaDB and two
// labsim stations (one with a local user signed in): both are polled and
// their heartbeats stored with the stations' own values, the answer
// carries the summary and the output one EMF line.
func TestRIE_TickHeartbeats(t *testing.T) {
	rieBinary(t)
	w := newWorldOf(t, []labsim.HostOptions{{Name: "lab-ws-01"}, {Name: "lab-ws-02", LocalUser: "student"}}, map[string]string{
		"OPS_POLL_ENABLED": "true",
		// One tick per invocation.
		"OPS_POLL_INTERVAL": "60",
	})
	st := openStore(t, w)
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	e := startRIE(t, "tick-heartbeats", w.env)
	out := e.invokeRaw(t, scheduledEvent("TickHeartbeats"))

	var res struct {
		Tick   string `json:"tick"`
		Errors int    `json:"errors"`
		Ticks  []struct {
			Source                           string `json:"source"`
			Hosts, Polled, OK, Failed, Stale int
			NotStored                        int `json:"notStored"`
		} `json:"ticks"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("answer %s: %v", out, err)
	}
	if res.Tick != "heartbeats" || res.Errors != 0 || len(res.Ticks) != 1 {
		t.Fatalf("answer %s", out)
	}
	if s := res.Ticks[0]; s.Source != "aws.events" || s.Hosts != 2 || s.Polled != 2 || s.OK != 2 || s.Failed != 0 ||
		s.Stale != 0 || s.NotStored != 0 {
		t.Fatalf("tick summary %s\n%s", out, e.logs)
	}

	var rows int
	if err := st.DB.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM lab_host_heartbeat`).Scan(&rows); err != nil || rows != 2 {
		t.Fatalf("%d heartbeat rows (%v), want 2", rows, err)
	}
	for _, tc := range []struct {
		host         string
		ready, local bool
	}{{"lab-ws-01", true, false}, {"lab-ws-02", false, true}} {
		hb, err := st.LatestHeartbeat(t.Context(), tc.host)
		if err != nil {
			t.Fatalf("%s: %v", tc.host, err)
		}
		var raw struct {
			Host      string    `json:"host"`
			Timestamp time.Time `json:"timestamp"`
			Status    struct {
				LocalModeEnabled bool `json:"localModeEnabled"`
			} `json:"status"`
		}
		if err := json.Unmarshal(hb.Raw, &raw); err != nil {
			t.Fatalf("%s: raw_json %q: %v", tc.host, hb.Raw, err)
		}
		switch {
		case hb.Host != tc.host || raw.Host != strings.ToUpper(tc.host):
			t.Errorf("%s: stored as %q, raw host %q", tc.host, hb.Host, raw.Host)
		case hb.Ready == nil || *hb.Ready != tc.ready || hb.LocalSession == nil || *hb.LocalSession != tc.local:
			t.Errorf("%s: ready %v local_session %v, want %v %v", tc.host, deref(hb.Ready), deref(hb.LocalSession), tc.ready, tc.local)
		case hb.LocalMode == nil || *hb.LocalMode != raw.Status.LocalModeEnabled:
			t.Errorf("%s: local_mode %v, station says %v", tc.host, deref(hb.LocalMode), raw.Status.LocalModeEnabled)
		case hb.Timestamp == nil || !hb.Timestamp.Equal(raw.Timestamp) || raw.Timestamp.IsZero():
			t.Errorf("%s: timestamp_utc %v, station's %v", tc.host, hb.Timestamp, raw.Timestamp)
		case hb.LastSeen == nil || time.Since(*hb.LastSeen) > time.Minute:
			t.Errorf("%s: last_seen %v", tc.host, hb.LastSeen)
		}
	}

	docs := emfLines(t, e.logs.String())
	if len(docs) != 1 {
		t.Fatalf("%d EMF lines, want 1:\n%s", len(docs), e.logs)
	}
	checkEMF(t, docs[0], "heartbeats", map[string]float64{
		"Runs": 1, "Errors": 0, "Dispatched": 2, "Failed": 0, "Skipped": 0,
		"PollDispatched": 2, "PollFailed": 0, "PollSkipped": 0,
	})
}

func deref(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

// checkEMF checks one EMF document's shape (CloudWatch's: namespace
// OpsWorker, the one dimension Kind, every metric declared with a unit and
// present as a number, a millisecond timestamp) and its values.
func checkEMF(t *testing.T, d map[string]any, kind string, want map[string]float64) {
	t.Helper()
	if d["Kind"] != kind {
		t.Errorf("EMF Kind %v, want %s: %v", d["Kind"], kind, d)
	}
	aws, _ := d["_aws"].(map[string]any)
	ts, _ := aws["Timestamp"].(float64)
	if age := time.Since(time.UnixMilli(int64(ts))); age < 0 || age > 5*time.Minute {
		t.Errorf("EMF _aws.Timestamp %v is not a recent time in ms", aws["Timestamp"])
	}
	cw, _ := aws["CloudWatchMetrics"].([]any)
	if len(cw) != 1 {
		t.Fatalf("EMF line without one CloudWatchMetrics entry: %v", d)
	}
	m, _ := cw[0].(map[string]any)
	if m["Namespace"] != "OpsWorker" || mustJSON(m["Dimensions"]) != `[["Kind"]]` {
		t.Errorf("EMF namespace/dimensions: %v", m)
	}
	defs, _ := m["Metrics"].([]any)
	declared := map[string]bool{}
	for _, def := range defs {
		dm, _ := def.(map[string]any)
		name, _ := dm["Name"].(string)
		unit, _ := dm["Unit"].(string)
		if _, num := d[name].(float64); !num || (unit != "Count" && unit != "Milliseconds") {
			t.Errorf("EMF metric %q (unit %q) is %v", name, unit, d[name])
		}
		declared[name] = true
	}
	for _, name := range []string{"Runs", "Errors", "Duration"} {
		if !declared[name] {
			t.Errorf("EMF metric %s not declared: %v", name, defs)
		}
	}
	for name, v := range want {
		if !declared[name] || d[name] != v {
			t.Errorf("EMF %s = %v (declared %v), want %v", name, d[name], declared[name], v)
		}
	}
}

package main

// Issue 16: GET /api/heartbeat/stream over real HTTP, against MariaDB and
// labsim, direct and through the relay.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/leakcheck"
	"github.com/ops-worker/ops-worker/internal/metrics/metricstest"
)

// streamEnv is the stream tests' server setting: a 1 s interval.
var streamEnv = map[string]string{"OPS_HEARTBEAT_SSE_INTERVAL_SECONDS": "1"}

// sseEvent is one server-sent event.
type sseEvent struct {
	name string
	data map[string]any
	at   time.Time
}

// sseStream is one open stream, read on a goroutine of its own.
type sseStream struct {
	res    *http.Response
	events chan sseEvent
	cancel context.CancelFunc
	done   chan struct{} // closed when the body ends
	mu     sync.Mutex
	raw    strings.Builder // everything read, for the secrets check
	lines  []string        // comment lines (": keep-alive")
}

// openStream opens path on e's server (with the token) and fails on
// anything but a 200 event stream.
func (e *e2eEnv) openStream(t *testing.T, path string) *sseStream {
	t.Helper()
	s, code, body := e.tryStream(t, path)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	return s
}

// tryStream opens path; on a status other than 200 it answers the status
// and the body (and no stream).
func (e *e2eEnv) tryStream(t *testing.T, path string) (*sseStream, int, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", e.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Lab-Manager-Token", e2eToken)
	req.Header.Set("Accept", "text/event-stream")
	// Not e.client: its capture reads whole bodies. A transport per
	// stream, so that each is its own connection and a cancel ends it.
	tr := &http.Transport{DisableKeepAlives: true}
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", path, err)
	}
	if res.StatusCode != http.StatusOK {
		var b strings.Builder
		bufio.NewReader(res.Body).WriteTo(&b)
		res.Body.Close()
		cancel()
		tr.CloseIdleConnections()
		return nil, res.StatusCode, b.String()
	}
	s := &sseStream{res: res, events: make(chan sseEvent, 64), cancel: cancel, done: make(chan struct{})}
	go s.read()
	t.Cleanup(func() {
		s.close()
		tr.CloseIdleConnections()
		e.capture.Write([]byte(s.text()))
	})
	return s, http.StatusOK, ""
}

func (s *sseStream) read() {
	defer close(s.done)
	defer close(s.events)
	sc := bufio.NewScanner(s.res.Body)
	var name, data string
	for sc.Scan() {
		line := sc.Text()
		s.mu.Lock()
		s.raw.WriteString(line + "\n")
		if strings.HasPrefix(line, ":") {
			s.lines = append(s.lines, line)
		}
		s.mu.Unlock()
		switch {
		case line == "":
			if data != "" {
				ev := sseEvent{name: name, at: time.Now()}
				_ = json.Unmarshal([]byte(data), &ev.data)
				select {
				case s.events <- ev:
				default: // a test that stopped reading
				}
			}
			name, data = "", ""
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
}

func (s *sseStream) close() {
	s.cancel()
	s.res.Body.Close()
	<-s.done
}

func (s *sseStream) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.raw.String()
}

// next is the next event, within d.
func (s *sseStream) next(t *testing.T, d time.Duration) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatal("stream ended")
		}
		return ev
	case <-time.After(d):
		t.Fatalf("no event within %v", d)
	}
	return sseEvent{}
}

// heartbeatCommands counts the heartbeat reads labsim received (the one
// PowerShell command a poll is).
func heartbeatCommands(h *labsim.Host) int {
	n := 0
	for _, c := range h.Commands() {
		if strings.Contains(strings.ToLower(c.CommandLine), "powershell") {
			n++
		}
	}
	return n
}

func TestE2E_HeartbeatStream(t *testing.T) {
	e := startE2E(t, e2eOpts{hosts: []labsim.HostOptions{{}, {SleepMode: labsim.SleepRefuse}}, env: streamEnv})

	t.Run("refusals before the stream", func(t *testing.T) {
		wantErr(t, e.do(t, "GET", "/api/heartbeat/stream", nil), 400, "BAD_REQUEST", "host is required")
		wantErr(t, e.do(t, "GET", "/api/heartbeat/stream?host=nope", nil), 404, "HOST_NOT_FOUND", "host 'nope' not found")
		wantErr(t, e.do(t, "GET", "/api/heartbeat/stream?host=lab-ws-01&include_events=maybe", nil), 400, "INVALID_FIELD", "")
		if r := e.do(t, "GET", "/api/heartbeat/stream?host=lab-ws-01", nil, noToken); r.code != 401 {
			t.Fatalf("no token: %s", r)
		}
	})

	t.Run("heartbeat within the interval", func(t *testing.T) {
		s := e.openStream(t, "/api/heartbeat/stream?host=LAB-WS-01&include_events=false")
		h := s.res.Header
		if h.Get("Content-Type") != "text/event-stream" || h.Get("Cache-Control") != "no-cache" || h.Get("X-Accel-Buffering") != "no" {
			t.Fatalf("headers %v", h)
		}
		ev := s.next(t, 2*time.Second)
		if ev.name != "heartbeat" {
			t.Fatalf("first event %q %v", ev.name, ev.data)
		}
		hasKeys(t, ev.data, "heartbeat event", "heartbeat", "last_event", "host", "duration_ms", "stale", "stored", "source")
		if ev.data["host"] != "lab-ws-01" || ev.data["last_event"] != nil {
			t.Fatalf("event data %v", ev.data)
		}
		if obj(t, ev.data["heartbeat"], "heartbeat")["schemaVersion"] == nil {
			t.Fatalf("heartbeat document %v", ev.data["heartbeat"])
		}
		second := s.next(t, 2500*time.Millisecond)
		if gap := second.at.Sub(ev.at); second.name != "heartbeat" || gap < 500*time.Millisecond {
			t.Fatalf("second event %q after %v", second.name, gap)
		}
	})

	t.Run("ten streams, one WinRM poll per interval", func(t *testing.T) {
		host := e.sim.Host("lab-ws-02")
		var ss []*sseStream
		for range 10 {
			ss = append(ss, e.openStream(t, "/api/heartbeat/stream?host=lab-ws-02"))
		}
		for _, s := range ss {
			if ev := s.next(t, 2*time.Second); ev.name != "heartbeat" {
				t.Fatalf("first event %q %v", ev.name, ev.data)
			}
		}
		before, start := heartbeatCommands(host), time.Now()
		for range 3 {
			for _, s := range ss {
				if ev := s.next(t, 2500*time.Millisecond); ev.name != "heartbeat" {
					t.Fatalf("event %q %v", ev.name, ev.data)
				}
			}
		}
		polls, took := heartbeatCommands(host)-before, time.Since(start)
		// One read per interval started in that time, whatever the number
		// of streams (10 streams polling on their own would be 30).
		if max := int(took/time.Second) + 1; polls < 2 || polls > max {
			t.Fatalf("%d heartbeat reads on the station in %v for 10 streams, want one per 1 s interval (at most %d)", polls, took, max)
		}
		t.Logf("10 streams, 3 beats each: %d heartbeat reads on labsim in %v", polls, took.Round(time.Millisecond))
		_, body, _ := send(t, "GET", e.base+"/metrics", "", map[string]string{"X-Lab-Manager-Token": e2eToken})
		fams := metricstest.Parse(t, strings.NewReader(body))
		if v, _ := metricstest.Value(fams, "ops_heartbeat_stream_open", nil); v < 10 {
			t.Fatalf("open streams gauge %v, want >= 10", v)
		}
		if v, _ := metricstest.Value(fams, "ops_heartbeat_stream_hub_fetches_total", map[string]string{"source": "poll", "outcome": "ok"}); v < 3 {
			t.Fatalf("hub polls counter %v, want >= 3", v)
		}
		for _, s := range ss {
			s.close()
		}
	})

	t.Run("station asleep: error events", func(t *testing.T) {
		s := e.openStream(t, "/api/heartbeat/stream?host=lab-ws-02")
		s.next(t, 2*time.Second)
		e.sim.Host("lab-ws-02").Sleep()
		defer e.sim.Host("lab-ws-02").Wake()
		deadline := time.Now().Add(10 * time.Second)
		for {
			ev := s.next(t, 5*time.Second)
			if ev.name == "error" {
				hasKeys(t, ev.data, "error event", "error", "code", "requestId", "host")
				if ev.data["host"] != "lab-ws-02" || ev.data["code"] != "HOST_UNREACHABLE" {
					t.Fatalf("error event %v", ev.data)
				}
				if !requestIDPattern.MatchString(fmt.Sprint(ev.data["requestId"])) {
					t.Fatalf("requestId %v", ev.data["requestId"])
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no error event within 10 s of the station going to sleep")
			}
		}
		if ev := s.next(t, 3*time.Second); ev.name != "error" {
			t.Fatalf("next event while asleep %q, want error", ev.name)
		}
	})

	t.Run("client leaves: no goroutine left", func(t *testing.T) {
		for range 3 {
			s := e.openStream(t, "/api/heartbeat/stream?host=lab-ws-01")
			s.next(t, 2*time.Second)
			s.close()
		}
		deadline := time.Now().Add(5 * time.Second)
		for e.m.app.Streams().Open() != 0 || e.m.app.Streams().Pollers() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("open %d pollers %d after every client left", e.m.app.Streams().Open(), e.m.app.Streams().Pollers())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if leaked := leakcheck.Leaked(5*time.Second, "internal/heartbeatstream", "api.serveStream"); leaked != "" {
			t.Fatalf("stream goroutines left:\n%s", leaked)
		}
	})
}

// Shutdown ends the streams at once (not after -shutdown-timeout), and
// the clients see the end of the stream.
func TestE2E_HeartbeatStreamShutdown(t *testing.T) {
	e := startE2E(t, e2eOpts{env: streamEnv})
	e.m.ShutdownTimeout = 30 * time.Second
	var ss []*sseStream
	for range 3 {
		s := e.openStream(t, "/api/heartbeat/stream?host=lab-ws-01")
		s.next(t, 2*time.Second)
		ss = append(ss, s)
	}
	start := time.Now()
	if err := e.m.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("Close took %v with streams open", took)
	}
	for i, s := range ss {
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			t.Fatalf("stream %d still open after shutdown", i)
		}
	}
	if leaked := leakcheck.Leaked(5*time.Second, "internal/heartbeatstream", "api.serveStream"); leaked != "" {
		t.Fatalf("stream goroutines left:\n%s", leaked)
	}
}

// OPS_HEARTBEAT_STREAM_MAX: past it, a 503 in the error contract.
func TestE2E_HeartbeatStreamLimit(t *testing.T) {
	e := startE2E(t, e2eOpts{noDB: true, env: map[string]string{"OPS_HEARTBEAT_SSE_INTERVAL_SECONDS": "1", "OPS_HEARTBEAT_STREAM_MAX": "2"}})
	a := e.openStream(t, "/api/heartbeat/stream?host=lab-ws-01")
	e.openStream(t, "/api/heartbeat/stream?host=lab-ws-01")
	wantErr(t, e.do(t, "GET", "/api/heartbeat/stream?host=lab-ws-01", nil), 503, "SERVICE_BUSY", "")
	a.close()
	deadline := time.Now().Add(5 * time.Second)
	for e.m.app.Streams().Open() > 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	e.openStream(t, "/api/heartbeat/stream?host=lab-ws-01").next(t, 2*time.Second)
}

// Through the relay: the stream's polls go through it (the worker's
// catalog has no station password), and a heartbeat stored by another
// instance within the interval is served without asking the station.
func TestE2E_HeartbeatStreamRelayAndStored(t *testing.T) {
	e, _ := startRelayMode(t, e2eOpts{env: streamEnv})
	s := e.openStream(t, "/api/heartbeat/stream?host=lab-ws-01")
	ev := s.next(t, 3*time.Second)
	if ev.name != "heartbeat" || ev.data["source"] != "poll" {
		t.Fatalf("through the relay: %q %v", ev.name, ev.data)
	}
	s.close()

	// A second instance on the same database and catalog: the first one's
	// stored heartbeat is younger than the interval, so its stream's first
	// event is that one, and the station is not asked.
	e2 := startE2E(t, e2eOpts{dsn: e.dsn, catalogPath: e.path, env: map[string]string{"OPS_HEARTBEAT_SSE_INTERVAL_SECONDS": "30",
		"OPS_RELAY_URL": "http://127.0.0.1:1", "OPS_RELAY_SECRET": e2eRelaySecret}})
	e2.secrets = append(e2.secrets, e2eRelaySecret)
	before := heartbeatCommands(e.sim.Host("lab-ws-01"))
	s2 := e2.openStream(t, "/api/heartbeat/stream?host=lab-ws-01")
	ev = s2.next(t, 3*time.Second)
	if ev.name != "heartbeat" || ev.data["source"] != "stored" || ev.data["stored"] != true {
		t.Fatalf("second instance: %q %v", ev.name, ev.data)
	}
	if got := heartbeatCommands(e.sim.Host("lab-ws-01")) - before; got != 0 {
		t.Fatalf("%d station reads for a stored heartbeat, want 0", got)
	}
}

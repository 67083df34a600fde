package api

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/heartbeatstream"
	"github.com/ops-worker/ops-worker/internal/ops"
)

// beatSource stands in for the use cases in this package's stream tests:
// every host but "nope" exists and answers a heartbeat (the end-to-end
// tests in cmd/ops-worker use ops.Service on labsim).
type beatSource struct{}

func (beatSource) StreamHost(ctx context.Context, name string) (string, error) {
	if name == "" {
		return "", ops.Errorf(ops.CodeBadRequest, "host is required")
	}
	if name == "nope" {
		return "", ops.Errorf(ops.CodeHostNotFound, "host 'nope' not found")
	}
	return name, nil
}

func (beatSource) FreshHeartbeat(_ context.Context, host string, _ time.Time) (ops.Fresh, error) {
	return ops.Fresh{Response: ops.PollResponse{Host: host, Heartbeat: []byte(`{"schemaVersion":"1.0"}`), LastEvent: []byte(`{"k":1}`)}}, nil
}

// streamServer is the API on a real loopback server with the given read
// and write timeouts.
func streamServer(t *testing.T, timeout time.Duration, so StreamOptions) string {
	t.Helper()
	hub := heartbeatstream.New(beatSource{}, heartbeatstream.Options{Interval: 50 * time.Millisecond})
	so.Hub = hub
	hs := newHarness(t, func(o *Options) { o.Streams = so })
	srv := httptest.NewUnstartedServer(hs.h)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = timeout, timeout
	srv.Start()
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
	})
	return srv.URL
}

// readStream reads the stream at url for at most d (or until it ends) and
// answers its lines and whether the server ended it.
func readStream(t *testing.T, url string, d time.Duration) (lines []string, ended bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	withToken(req)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %v", res.StatusCode, res.Header)
	}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, ctx.Err() == nil
}

func count(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// The server's read and write timeouts (200 ms here; in the local server
// the flow budget + 30 s) do not cut a stream: the handler clears the read
// deadline and moves the write deadline with each write.
func TestStream_OutlivesServerTimeouts(t *testing.T) {
	url := streamServer(t, 200*time.Millisecond, StreamOptions{KeepAlive: 100 * time.Millisecond})
	lines, ended := readStream(t, url+"/api/heartbeat/stream?host=ws-1&include_events=off", time.Second)
	if ended {
		t.Fatalf("the server ended the stream within 1 s (timeouts 200 ms):\n%s", strings.Join(lines, "\n"))
	}
	if n := count(lines, "event: heartbeat"); n < 10 {
		t.Fatalf("%d heartbeat events in 1 s at a 50 ms interval, want >= 10:\n%s", n, strings.Join(lines, "\n"))
	}
	if count(lines, ": keep-alive") < 3 {
		t.Fatalf("keep-alive comments missing:\n%s", strings.Join(lines, "\n"))
	}
	if lines[0] != "retry: 3000" {
		t.Fatalf("first line %q, want the retry hint", lines[0])
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "data: ") && !strings.Contains(l, `"last_event":null`) {
			t.Fatalf("include_events=off but the event has one: %s", l)
		}
	}
}

// MaxDuration (and a context deadline, as in Lambda) end the stream by
// itself, so that EventSource reconnects.
func TestStream_EndsByItself(t *testing.T) {
	url := streamServer(t, time.Minute, StreamOptions{MaxDuration: 300 * time.Millisecond})
	lines, ended := readStream(t, url+"/api/heartbeat/stream?host=ws-1", 5*time.Second)
	if !ended {
		t.Fatal("stream not ended by MaxDuration")
	}
	if count(lines, "event: heartbeat") < 2 || !strings.Contains(strings.Join(lines, "\n"), `"last_event":{"k":1}`) {
		t.Fatalf("events:\n%s", strings.Join(lines, "\n"))
	}

	o := StreamOptions{EndMargin: 10 * time.Second}
	soon := time.Now().Add(60 * time.Second)
	if d, ok := streamTime(func() (time.Time, bool) { return soon, true }, o); !ok || d > 50*time.Second || d < 49*time.Second {
		t.Fatalf("60 s deadline, 10 s margin: %v %v, want ~50 s", d, ok)
	}
	short := time.Now().Add(4 * time.Second)
	if d, ok := streamTime(func() (time.Time, bool) { return short, true }, o); !ok || d <= 0 || d > 2*time.Second {
		t.Fatalf("4 s deadline, 10 s margin: %v %v, want half of it", d, ok)
	}
	if _, ok := streamTime(func() (time.Time, bool) { return time.Time{}, false }, o); ok {
		t.Fatal("no deadline, no MaxDuration: want unbounded")
	}
}

// Before the stream: the error contract.
func TestStream_Refusals(t *testing.T) {
	hs := newHarness(t, func(o *Options) {
		o.Streams = StreamOptions{Hub: heartbeatstream.New(beatSource{}, heartbeatstream.Options{})}
	})
	for _, tc := range []struct {
		target string
		status int
		code   ops.Code
	}{
		{"/api/heartbeat/stream", 400, ops.CodeBadRequest},
		{"/api/heartbeat/stream?host=nope", 404, ops.CodeHostNotFound},
		{"/api/heartbeat/stream?host=a&host=b", 400, ops.CodeBadRequest},
		{"/api/heartbeat/stream?host=a&include_events=2", 400, ops.CodeInvalidField},
	} {
		w := hs.do(t, "GET", tc.target, "")
		if w.Code != tc.status || errorOf(t, w).Code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.target, w.Code, w.Body, tc.status, tc.code)
		}
	}
	if w := hs.do(t, "GET", "/api/heartbeat/stream?host=ws-1", "", noEdit); w.Code != 401 {
		t.Errorf("no token: %d", w.Code)
	}
	// No hub: 503.
	bare := newHarness(t, func(o *Options) { o.Streams = StreamOptions{} })
	if w := bare.do(t, "GET", "/api/heartbeat/stream?host=ws-1", ""); w.Code != 503 || errorOf(t, w).Code != ops.CodeServiceBusy {
		t.Errorf("no hub: %d %s", w.Code, w.Body)
	}
}

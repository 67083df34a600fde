package heartbeatstream_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/heartbeatstream"
	"github.com/ops-worker/ops-worker/internal/leakcheck"
	"github.com/ops-worker/ops-worker/internal/ops"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m, 5*time.Second)) }

// countingSource stands in for ops.Service in this package's unit tests
// (the end-to-end tests in cmd/ops-worker use the real one on labsim): it
// counts polls per host and can hold them or fail them.
type countingSource struct {
	mu      sync.Mutex
	polls   map[string]int
	stored  map[string]time.Time // host -> LastSeen of a heartbeat "stored by someone else"
	fail    error
	hold    chan struct{} // non-nil: each poll waits for it (or ctx)
	started chan string   // non-nil: told each poll's host
}

func newSource() *countingSource {
	return &countingSource{polls: map[string]int{}, stored: map[string]time.Time{}}
}

func (c *countingSource) StreamHost(ctx context.Context, name string) (string, error) {
	switch strings.ToLower(name) {
	case "":
		return "", ops.Errorf(ops.CodeBadRequest, "host is required")
	case "ws-1", "ws-2":
		return strings.ToLower(name), nil
	}
	return "", ops.Errorf(ops.CodeHostNotFound, "host '%s' not found", name)
}

func (c *countingSource) FreshHeartbeat(ctx context.Context, host string, since time.Time) (ops.Fresh, error) {
	c.mu.Lock()
	if seen, ok := c.stored[host]; ok && seen.After(since) {
		c.mu.Unlock()
		return ops.Fresh{Response: ops.PollResponse{Host: host}, Stored: true}, nil
	}
	c.polls[host]++
	hold, started, fail := c.hold, c.started, c.fail
	c.mu.Unlock()
	if started != nil {
		started <- host
	}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return ops.Fresh{}, ctx.Err()
		}
	}
	if fail != nil {
		return ops.Fresh{}, fail
	}
	return ops.Fresh{Response: ops.PollResponse{Host: host}}, nil
}

func (c *countingSource) count(host string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.polls[host]
}

func next(t *testing.T, s *heartbeatstream.Subscription, within time.Duration) heartbeatstream.Update {
	t.Helper()
	select {
	case u := <-s.Updates():
		return u
	case <-time.After(within):
		t.Fatalf("no update of %s within %v", s.Host(), within)
	}
	return heartbeatstream.Update{}
}

// Ten subscribers of one host share one poller: one poll per interval,
// every subscriber gets every beat.
func TestHub_OnePollerPerHost(t *testing.T) {
	src := newSource()
	const interval = 200 * time.Millisecond
	h := heartbeatstream.New(src, heartbeatstream.Options{Interval: interval})
	defer h.Close()
	var subs []*heartbeatstream.Subscription
	for range 10 {
		s, err := h.Subscribe(context.Background(), "WS-1")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		subs = append(subs, s)
	}
	if got := h.Pollers(); got != 1 {
		t.Fatalf("pollers = %d, want 1", got)
	}
	for round := range 3 {
		for i, s := range subs {
			if u := next(t, s, 2*interval); u.Host != "ws-1" || u.Err != nil {
				t.Fatalf("round %d sub %d: %+v", round, i, u)
			}
		}
	}
	// Three rounds took at most three polls (a fourth may have started
	// while the last subscriber read the third).
	if got := src.count("ws-1"); got < 3 || got > 4 {
		t.Fatalf("polls = %d for 3 rounds of 10 subscribers, want 3 (4 at most)", got)
	}
	if got := h.Open(); got != 10 {
		t.Fatalf("open = %d, want 10", got)
	}
}

// The poller stops with its last subscriber, cancelling a poll in
// progress; a new subscriber within the interval gets the last beat at
// once and no new poll.
func TestHub_StopsWithLastSubscriberAndReusesLastBeat(t *testing.T) {
	src := newSource()
	h := heartbeatstream.New(src, heartbeatstream.Options{Interval: time.Hour})
	defer h.Close()
	a, err := h.Subscribe(context.Background(), "ws-1")
	if err != nil {
		t.Fatal(err)
	}
	next(t, a, 5*time.Second)
	a.Close()
	a.Close() // twice is fine
	if h.Pollers() != 0 || h.Open() != 0 {
		t.Fatalf("after the last Close: pollers %d open %d, want 0 0", h.Pollers(), h.Open())
	}
	b, err := h.Subscribe(context.Background(), "ws-1")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if u := next(t, b, time.Second); u.Host != "ws-1" {
		t.Fatalf("reopened: %+v", u)
	}
	time.Sleep(50 * time.Millisecond)
	if got := src.count("ws-1"); got != 1 {
		t.Fatalf("polls = %d after a reopen within the interval, want 1", got)
	}

	// A poll in progress is cancelled when its last subscriber leaves.
	src.mu.Lock()
	src.hold, src.started = make(chan struct{}), make(chan string, 1)
	src.mu.Unlock()
	c, err := h.Subscribe(context.Background(), "ws-2")
	if err != nil {
		t.Fatal(err)
	}
	<-src.started
	c.Close() // the goroutine check of TestMain fails if the poll is left waiting
}

// A subscriber that never reads does not hold up the others: its slot
// keeps the latest beat only.
func TestHub_SlowSubscriberNeverBlocks(t *testing.T) {
	src := newSource()
	h := heartbeatstream.New(src, heartbeatstream.Options{Interval: 20 * time.Millisecond})
	defer h.Close()
	slow, err := h.Subscribe(context.Background(), "ws-1")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast, err := h.Subscribe(context.Background(), "ws-1")
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	for range 10 {
		next(t, fast, time.Second)
	}
	if got := len(slow.Updates()); got != 1 {
		t.Fatalf("slow subscriber holds %d beats, want 1 (the latest)", got)
	}
	u := next(t, slow, time.Second)
	if since := time.Since(u.At); since > 200*time.Millisecond {
		t.Fatalf("slow subscriber's beat is %v old, want the latest", since)
	}
}

// A heartbeat stored by someone else after the hub's last beat is served
// instead of a poll.
func TestHub_ServesStoredHeartbeat(t *testing.T) {
	src := newSource()
	src.stored["ws-1"] = time.Now()
	h := heartbeatstream.New(src, heartbeatstream.Options{Interval: time.Hour})
	defer h.Close()
	s, err := h.Subscribe(context.Background(), "ws-1")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if u := next(t, s, 5*time.Second); !u.Stored {
		t.Fatalf("first beat %+v, want the stored heartbeat", u)
	}
	if got := src.count("ws-1"); got != 0 {
		t.Fatalf("polls = %d, want 0", got)
	}
}

// Errors are beats too; bad hosts, the limit and a closed hub are refused
// with the error contract's codes.
func TestHub_ErrorsAndRefusals(t *testing.T) {
	src := newSource()
	src.fail = ops.Errorf(ops.CodeHostUnreachable, "host not answering")
	h := heartbeatstream.New(src, heartbeatstream.Options{Interval: time.Hour, Max: 2})
	s, err := h.Subscribe(context.Background(), "ws-1")
	if err != nil {
		t.Fatal(err)
	}
	if u := next(t, s, 5*time.Second); u.Err == nil || ops.StatusOf(u.Err) != 502 {
		t.Fatalf("beat %+v, want the station's error", u)
	}
	for _, tc := range []struct {
		host string
		code ops.Code
	}{{"", ops.CodeBadRequest}, {"nope", ops.CodeHostNotFound}} {
		if _, err := h.Subscribe(context.Background(), tc.host); !isCode(err, tc.code) {
			t.Errorf("Subscribe(%q) = %v, want %s", tc.host, err, tc.code)
		}
	}
	s2, err := h.Subscribe(context.Background(), "ws-2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe(context.Background(), "ws-2"); !isCode(err, ops.CodeServiceBusy) || ops.StatusOf(err) != 503 {
		t.Fatalf("third subscription of Max 2: %v, want 503 SERVICE_BUSY", err)
	}
	s2.Close()
	h.Close()
	select {
	case <-s.Done():
	default:
		t.Fatal("Done not closed by Close")
	}
	if _, err := h.Subscribe(context.Background(), "ws-1"); !isCode(err, ops.CodeServiceBusy) {
		t.Fatalf("Subscribe after Close: %v, want SERVICE_BUSY", err)
	}
	s.Close()
	h.Close() // twice is fine
}

func isCode(err error, code ops.Code) bool {
	var oe *ops.Error
	return errors.As(err, &oe) && oe.Code == code
}

// Subscribers coming and going at once leave the counts right (run with
// -race).
func TestHub_ConcurrentSubscribers(t *testing.T) {
	src := newSource()
	h := heartbeatstream.New(src, heartbeatstream.Options{Interval: 5 * time.Millisecond})
	defer h.Close()
	var wg sync.WaitGroup
	var got atomic.Int64
	for i := range 50 {
		wg.Go(func() {
			host := []string{"ws-1", "ws-2"}[i%2]
			for range 20 {
				s, err := h.Subscribe(context.Background(), host)
				if err != nil {
					t.Error(err)
					return
				}
				select {
				case <-s.Updates():
					got.Add(1)
				case <-time.After(time.Second):
				}
				s.Close()
			}
		})
	}
	wg.Wait()
	if h.Open() != 0 || h.Pollers() != 0 {
		t.Fatalf("open %d pollers %d, want 0 0", h.Open(), h.Pollers())
	}
	if got.Load() == 0 {
		t.Fatal("no subscriber got a beat")
	}
}

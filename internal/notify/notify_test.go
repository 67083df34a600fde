package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/logtest"
	"github.com/ops-worker/ops-worker/internal/notify"
)

// sink is a local HTTP receiver that keeps what it got and answers from
// a script of statuses (the last one repeats).
type sink struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests []received
	statuses []int
	// block, when set, holds every request until it is closed.
	block chan struct{}
}

type received struct {
	path   string
	header http.Header
	body   []byte
	at     time.Time
}

func newSink(t testing.TB, statuses ...int) *sink {
	t.Helper()
	s := &sink{statuses: statuses}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, received{path: r.URL.Path, header: r.Header.Clone(), body: body, at: time.Now()})
		status := http.StatusOK
		if len(s.statuses) > 0 {
			status = s.statuses[0]
			if len(s.statuses) > 1 {
				s.statuses = s.statuses[1:]
			}
		}
		block := s.block
		s.mu.Unlock()
		if block != nil {
			select {
			case <-block:
			case <-r.Context().Done():
			}
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"secret":"the sink's answer is never used"}`)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) got() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.requests...)
}

// memRecorder keeps the operations recorded (this package's unit tests;
// the end-to-end test records on MariaDB).
type memRecorder struct {
	mu  sync.Mutex
	ops []domain.Operation
}

func (m *memRecorder) RecordOperation(_ context.Context, op domain.Operation) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ops = append(m.ops, op)
	return int64(len(m.ops)), nil
}

func (m *memRecorder) all() []domain.Operation {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]domain.Operation(nil), m.ops...)
}

// counts is an Observer.
type counts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counts) ObserveNotification(target, outcome string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[target+" "+outcome]++
}

func (c *counts) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

// clock is an injected clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newDispatcher(t *testing.T, cfg notify.Config, rec notify.Recorder, obs notify.Observer, log *slog.Logger) *notify.Dispatcher {
	t.Helper()
	d, err := notify.New(cfg, rec, obs, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = d.Close(ctx)
	})
	return d
}

func flush(t *testing.T, d *notify.Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func failure(host string) domain.Failure {
	exit := 2
	return domain.Failure{Host: host, LabID: "7", ReservationID: "res-1", Flow: domain.FlowStart, Action: "prepare",
		Code: domain.FailureExitCode, Message: "Exit code 2", ExitCode: &exit,
		Details: map[string]any{"exitCode": 2, "stderr": "simulated <failure>"},
		At:      time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
}

func TestNotify_ServiceBody(t *testing.T) {
	t.Parallel()
	s := newSink(t)
	rec := &memRecorder{}
	d := newDispatcher(t, notify.Config{ServiceURL: s.srv.URL + "/billing/admin/notifications/send",
		Recipients: []string{"ops@lab.example", "it@lab.example"}, Token: "tok-123"}, rec, nil, nil)
	f := failure("lab-ws-01")
	f.Message = "Exit code 2 <b>"
	d.Notify(f)
	flush(t, d)

	got := s.got()
	if len(got) != 1 {
		t.Fatalf("sink got %d requests, want 1", len(got))
	}
	r := got[0]
	if r.path != "/billing/admin/notifications/send" || r.header.Get("X-Access-Token") != "tok-123" ||
		r.header.Get("Content-Type") != "application/json" {
		t.Errorf("request: path %s, headers %v", r.path, r.header)
	}
	var b map[string]any
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatal(err)
	}
	wantText := "Reservation: res-1\nLab ID: 7\nHost: lab-ws-01\nAction: prepare\nReason: Exit code 2 <b>\nDetails: "
	if b["subject"] != "Lab Gateway alert: prepare failed for lab-ws-01" ||
		!strings.HasPrefix(b["textBody"].(string), wantText) {
		t.Errorf("subject %q, textBody %q", b["subject"], b["textBody"])
	}
	if rs, _ := b["recipients"].([]any); len(rs) != 2 || rs[0] != "ops@lab.example" {
		t.Errorf("recipients %v", b["recipients"])
	}
	html := b["htmlBody"].(string)
	if !strings.HasPrefix(html, "<p>Reservation: res-1</p><p>Lab ID: 7</p>") || strings.Contains(html, "<b>") ||
		!strings.Contains(html, "<p>Reason: Exit code 2 &lt;b&gt;</p>") {
		t.Errorf("htmlBody %q (the station's text must be escaped)", html)
	}
	if _, ok := b["icsContent"]; !ok || b["icsContent"] != nil {
		t.Errorf("icsContent %v, want null", b["icsContent"])
	}

	ops := rec.all()
	if len(ops) != 1 {
		t.Fatalf("records %+v", ops)
	}
	op := ops[0]
	if op.Action != "notification" || op.Status != "completed" || !op.Success || op.Host != "lab-ws-01" ||
		op.ReservationID != "res-1" || op.LabID != "7" || op.ResponseCode == nil || *op.ResponseCode != 200 ||
		op.Message != "Notification sent after 1 attempt(s)" {
		t.Errorf("record %+v", op)
	}
	var p map[string]any
	if err := json.Unmarshal(op.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if p["failureAction"] != "prepare" || p["failureCode"] != "EXIT_CODE" {
		t.Errorf("payload %s", op.Payload)
	}
	// The record names the sink by its origin: no path, no token, and
	// nothing of the sink's answer.
	for _, leak := range []string{"billing", "tok-123", "never used"} {
		if strings.Contains(string(op.Payload)+op.Message, leak) {
			t.Errorf("record carries %q: %s %s", leak, op.Payload, op.Message)
		}
	}
}

func TestNotify_WebhookBodyAndSignature(t *testing.T) {
	t.Parallel()
	s := newSink(t)
	c := &clock{t: time.Date(2026, 5, 1, 10, 0, 5, 0, time.UTC)}
	secret := "whsec-0123456789"
	d := newDispatcher(t, notify.Config{WebhookURL: s.srv.URL + "/hooks/T000/B000/XXXXSECRETPATH", WebhookSecret: secret,
		Now: c.Now}, &memRecorder{}, nil, nil)
	f := failure("lab-ws-01")
	f.ReservationID, f.LabID, f.Flow, f.Action = "", "", domain.FlowWake, "wake"
	f.Code, f.Message, f.ExitCode = domain.FailureNoResponse, "Host did not respond to ping", nil
	d.Notify(f)
	flush(t, d)
	got := s.got()
	if len(got) != 1 {
		t.Fatalf("sink got %d", len(got))
	}
	r := got[0]
	ts := r.header.Get(notify.TimestampHeader)
	if ts != "1777629605" || r.header.Get(notify.SignatureHeader) != notify.Sign(secret, ts, r.body) {
		t.Errorf("timestamp %q signature %q", ts, r.header.Get(notify.SignatureHeader))
	}
	var b notify.WebhookBody
	dec := json.NewDecoder(strings.NewReader(string(r.body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		t.Fatal(err)
	}
	if b.Schema != "ops-worker.notification.v1" || b.Kind != "failure" || b.Host != "lab-ws-01" || b.Action != "wake" ||
		b.Flow != "wol" || b.ReservationID != nil || b.LabID != nil || b.Error.Code != "NO_RESPONSE" ||
		b.Error.Message != "Host did not respond to ping" || b.Alert != nil || !b.Time.Equal(f.At) || b.ID == "" ||
		r.header.Get(notify.EventIDHeader) != b.ID || r.header.Get(notify.EventHeader) != "failure" ||
		b.Text != "Lab Gateway alert: wake failed for lab-ws-01: Host did not respond to ping" {
		t.Errorf("webhook body %s", r.body)
	}
	// Unknown values are null, not absent.
	var raw map[string]any
	_ = json.Unmarshal(r.body, &raw)
	for _, k := range []string{"labId", "reservationId", "exitCode", "alert"} {
		if v, ok := raw[k]; !ok || v != nil {
			t.Errorf("%s = %v (present %v), want null", k, v, ok)
		}
	}
}

func TestNotify_RetriesWithBackoff(t *testing.T) {
	t.Parallel()
	s := newSink(t, 500, 503, 200)
	rec := &memRecorder{}
	obs := &counts{}
	backoff := 20 * time.Millisecond
	d := newDispatcher(t, notify.Config{ServiceURL: s.srv.URL, RetryBackoff: backoff}, rec, obs, nil)
	d.Notify(failure("lab-ws-01"))
	flush(t, d)
	got := s.got()
	if len(got) != 3 {
		t.Fatalf("sink got %d requests, want 3 (500, 503, then 200)", len(got))
	}
	// The waits are the back-off's: 20 ms, then 40 ms (doubled, capped at
	// 3 x 20 ms). Checked as lower bounds only.
	for i, want := range []time.Duration{backoff, 2 * backoff} {
		if gap := got[i+1].at.Sub(got[i].at); gap < want {
			t.Errorf("wait before try %d: %v, want at least %v", i+2, gap, want)
		}
	}
	if string(got[0].body) != string(got[2].body) {
		t.Error("a retry sent another body")
	}
	op := rec.all()[0]
	if !op.Success || op.Message != "Notification sent after 3 attempt(s)" || *op.ResponseCode != 200 {
		t.Errorf("record %+v", op)
	}
	if obs.get("notification-service sent") != 1 || obs.get("notification-service failed") != 0 {
		t.Errorf("metrics %v", obs.n)
	}
}

func TestNotify_GivesUp(t *testing.T) {
	t.Parallel()
	t.Run("after the retries", func(t *testing.T) {
		t.Parallel()
		s := newSink(t, 500)
		rec, obs := &memRecorder{}, &counts{}
		d := newDispatcher(t, notify.Config{ServiceURL: s.srv.URL, RetryAttempts: 2, RetryBackoff: time.Millisecond}, rec, obs, nil)
		d.Notify(failure("lab-ws-01"))
		flush(t, d)
		if n := len(s.got()); n != 3 {
			t.Errorf("sink got %d requests, want 1 + 2 retries", n)
		}
		op := rec.all()[0]
		if op.Success || op.Status != "failed" || op.Message != "Notification failed after 3 attempt(s) (HTTP 500)" ||
			*op.ResponseCode != 500 || obs.get("notification-service failed") != 1 {
			t.Errorf("record %+v, metrics %v", op, obs.n)
		}
	})
	t.Run("a 4xx is not retried", func(t *testing.T) {
		t.Parallel()
		s := newSink(t, 400)
		d := newDispatcher(t, notify.Config{ServiceURL: s.srv.URL, RetryBackoff: time.Millisecond}, &memRecorder{}, nil, nil)
		d.Notify(failure("lab-ws-01"))
		flush(t, d)
		if n := len(s.got()); n != 1 {
			t.Errorf("sink got %d requests, want 1", n)
		}
	})
	t.Run("a dead sink", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + l.Addr().String() + "/notify"
		l.Close() // a closed port: every connection refused
		rec := &memRecorder{}
		d := newDispatcher(t, notify.Config{ServiceURL: dead, RetryAttempts: 1, RetryBackoff: time.Millisecond}, rec, nil, nil)
		d.Notify(failure("lab-ws-01"))
		flush(t, d)
		op := rec.all()[0]
		if op.Success || op.Message != "Notification failed after 2 attempt(s) (connection refused)" || op.ResponseCode != nil {
			t.Errorf("record %+v", op)
		}
		if strings.Contains(string(op.Payload), "/notify") {
			t.Errorf("payload names the URL's path: %s", op.Payload)
		}
	})
	t.Run("a slow sink times out", func(t *testing.T) {
		t.Parallel()
		s := newSink(t)
		s.block = make(chan struct{})
		t.Cleanup(func() { close(s.block) })
		rec := &memRecorder{}
		d := newDispatcher(t, notify.Config{ServiceURL: s.srv.URL, RetryAttempts: -1, Timeout: 50 * time.Millisecond}, rec, nil, nil)
		d.Notify(failure("lab-ws-01"))
		flush(t, d)
		if op := rec.all()[0]; op.Success || op.Message != "Notification failed after 1 attempt(s) (timed out)" {
			t.Errorf("record %+v", op)
		}
	})
}

func TestNotify_NeverBlocks(t *testing.T) {
	t.Parallel()
	// A sink that holds every request: the first event is being sent, the
	// queue (2) fills, further events are dropped, and Notify returned
	// every time.
	s := newSink(t)
	s.block = make(chan struct{})
	var log logtest.Buffer
	obs := &counts{}
	d := newDispatcher(t, notify.Config{ServiceURL: s.srv.URL, QueueSize: 2, RetryAttempts: -1, Timeout: time.Minute,
		AlertThreshold: 100}, &memRecorder{}, obs, slog.New(slog.NewTextHandler(&log, nil)))
	d.Notify(failure("lab-ws-01"))
	waitFor(t, func() bool { return len(s.got()) == 1 }) // the sender holds it
	for range 5 {
		d.Notify(failure("lab-ws-01"))
	}
	if obs.get("notification-service dropped") != 3 || d.Pending() != 3 {
		t.Errorf("dropped %d, pending %d: want 3 and 3", obs.get("notification-service dropped"), d.Pending())
	}
	if !strings.Contains(log.String(), "notification dropped: queue full") {
		t.Errorf("log: %s", log.String())
	}
	close(s.block)
	flush(t, d)
	if n := len(s.got()); n != 3 {
		t.Errorf("sink got %d, want 3 (1 + the 2 queued)", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNotify_AlertAfterRepeatedFailures(t *testing.T) {
	t.Parallel()
	s := newSink(t)
	rec := &memRecorder{}
	c := &clock{t: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	d := newDispatcher(t, notify.Config{ServiceURL: s.srv.URL, WebhookURL: s.srv.URL + "/hook", Now: c.Now}, rec, nil, nil)
	alerts := func() (n int) {
		for _, op := range rec.all() {
			if op.Action == "alert" {
				n++
			}
		}
		return n
	}
	step := func(host string, after time.Duration) {
		c.add(after)
		d.Notify(failure(host))
		flush(t, d)
	}
	step("lab-ws-01", 0)
	step("lab-ws-01", 100*time.Second)
	step("lab-ws-02", time.Second) // another host counts apart
	if alerts() != 0 {
		t.Fatal("alert before the third failure")
	}
	step("lab-ws-01", 199*time.Second) // third within 300 s (0, 100, 300)
	if alerts() != 0 {
		t.Fatal("the first failure is 300 s old: out of the window")
	}
	step("lab-ws-01", 10*time.Second) // 100, 300, 310
	if alerts() != 1 {
		t.Fatalf("alerts %d after 3 failures within 300 s, want 1", alerts())
	}
	var alert domain.Operation
	for _, op := range rec.all() {
		if op.Action == "alert" {
			alert = op
		}
	}
	if !alert.Success || alert.Host != "lab-ws-01" || alert.ReservationID != "res-1" ||
		alert.Message != "Alert notification-service: sent after 1 attempt(s); webhook: sent after 1 attempt(s)" {
		t.Errorf("alert record %+v", alert)
	}
	var p map[string]any
	_ = json.Unmarshal(alert.Payload, &p)
	if p["failureReason"] != "At least 3 failed operations in the last 300 seconds" || p["failures"] != 3.0 {
		t.Errorf("alert payload %s", alert.Payload)
	}
	// Both targets got it: the e-mail's subject, the webhook's kind.
	var sawMail, sawHook bool
	for _, r := range s.got() {
		var b map[string]any
		_ = json.Unmarshal(r.body, &b)
		sawMail = sawMail || b["subject"] == "Lab Gateway alert: repeated failures for lab-ws-01"
		if r.path == "/hook" && b["kind"] == "alert" {
			a := b["alert"].(map[string]any)
			sawHook = a["failures"] == 3.0 && a["windowSeconds"] == 300.0 && a["cooldownSeconds"] == 900.0
		}
	}
	if !sawMail || !sawHook {
		t.Errorf("alert e-mail %v, webhook %v", sawMail, sawHook)
	}

	// The cooldown: more failures within 900 s of the alert send none.
	for range 4 {
		step("lab-ws-01", 60*time.Second)
	}
	if alerts() != 1 {
		t.Fatalf("alerts %d during the cooldown, want 1", alerts())
	}
	// 900 s after the alert, three failures in the window alert again.
	step("lab-ws-01", 900*time.Second-4*60*time.Second)
	if alerts() != 1 {
		t.Fatal("one failure after the cooldown is not three")
	}
	step("lab-ws-01", time.Second)
	step("lab-ws-01", time.Second)
	if alerts() != 2 {
		t.Fatalf("alerts %d after the cooldown, want 2", alerts())
	}
	if n := len(rec.all()) - alerts(); n != 12 {
		t.Errorf("%d notification records, want one per failure (12)", n)
	}
}

func TestNotify_CloseDrainsThenCancels(t *testing.T) {
	t.Parallel()
	s := newSink(t)
	rec := &memRecorder{}
	d, err := notify.New(notify.Config{ServiceURL: s.srv.URL, AlertThreshold: 100}, rec, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		d.Notify(failure("lab-ws-01"))
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(s.got()) != 3 || len(rec.all()) != 3 {
		t.Errorf("after Close: sink %d, records %d, want 3 and 3", len(s.got()), len(rec.all()))
	}
	d.Notify(failure("lab-ws-01")) // after Close: dropped, no panic
	if len(s.got()) != 3 {
		t.Error("sent after Close")
	}

	// A sink that never answers: Close's deadline cancels the send.
	slow := newSink(t)
	slow.block = make(chan struct{})
	t.Cleanup(func() { close(slow.block) })
	rec2 := &memRecorder{}
	d2, err := notify.New(notify.Config{ServiceURL: slow.srv.URL, Timeout: time.Hour, AlertThreshold: 100}, rec2, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d2.Notify(failure("lab-ws-01"))
	d2.Notify(failure("lab-ws-01"))
	waitFor(t, func() bool { return len(slow.got()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := d2.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want the deadline", err)
	}
	if ops := rec2.all(); len(ops) != 1 || ops[0].Success || !strings.Contains(ops[0].Message, "cancelled") {
		t.Errorf("records after a cancelled Close: %+v (the one in flight is recorded failed, the queued one dropped)", ops)
	}
}

func TestNew_RefusesBadTargets(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg  notify.Config
		want string
	}{
		{notify.Config{}, "no target"},
		{notify.Config{ServiceURL: "ftp://mail.example/x"}, "NOTIFICATION_SERVICE_URL: not an http"},
		{notify.Config{ServiceURL: "/relative"}, "NOTIFICATION_SERVICE_URL: not an http"},
		{notify.Config{WebhookURL: "https://user:hunter2@hooks.example/x"}, "OPS_WEBHOOK_URL: user info"},
	} {
		_, err := notify.New(c.cfg, nil, nil, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want %q", c.cfg, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error quotes the URL: %v", err)
		}
	}
}

func TestNotify_TLSVerified(t *testing.T) {
	t.Parallel()
	// A sink with a certificate nobody trusts: refused, not sent.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	rec := &memRecorder{}
	d := newDispatcher(t, notify.Config{WebhookURL: srv.URL, RetryAttempts: -1}, rec, nil, nil)
	d.Notify(failure("lab-ws-01"))
	flush(t, d)
	if op := rec.all()[0]; op.Success || !strings.Contains(op.Message, "TLS certificate not trusted") {
		t.Errorf("record %+v", op)
	}
}

// A target that holds its request does not hold the other back: both
// are sent at once, and the record waits for both.
func TestNotify_TargetsIndependent(t *testing.T) {
	t.Parallel()
	held, hook := newSink(t), newSink(t)
	held.block = make(chan struct{})
	rec := &memRecorder{}
	d := newDispatcher(t, notify.Config{ServiceURL: held.srv.URL, WebhookURL: hook.srv.URL, RetryAttempts: -1,
		Timeout: time.Minute}, rec, nil, nil)
	d.Notify(failure("lab-ws-01"))
	waitFor(t, func() bool { return len(hook.got()) == 1 && len(held.got()) == 1 })
	if len(rec.all()) != 0 {
		t.Error("recorded before every target answered")
	}
	close(held.block)
	flush(t, d)
	if ops := rec.all(); len(ops) != 1 || !ops[0].Success {
		t.Errorf("records %+v", ops)
	}
}

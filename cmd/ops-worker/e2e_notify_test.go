package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/notify"
)

// notifySink is a local HTTP receiver of notifications (127.0.0.1).
type notifySink struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     []sinkRequest
	arrived chan struct{} // one value per request, as it arrives
	release chan struct{} // non-nil: every request waits for it
}

type sinkRequest struct {
	path   string
	header http.Header
	body   map[string]any
	raw    []byte
}

func newNotifySink(t *testing.T, hold bool) *notifySink {
	t.Helper()
	s := &notifySink{arrived: make(chan struct{}, 64)}
	if hold {
		s.release = make(chan struct{})
	}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var b map[string]any
		_ = json.Unmarshal(raw, &b)
		s.mu.Lock()
		s.got = append(s.got, sinkRequest{path: r.URL.Path, header: r.Header.Clone(), body: b, raw: raw})
		s.mu.Unlock()
		s.arrived <- struct{}{}
		if s.release != nil {
			select {
			case <-s.release:
			case <-r.Context().Done():
			}
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *notifySink) requests() []sinkRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkRequest(nil), s.got...)
}

// wait waits for n more requests.
func (s *notifySink) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-s.arrived:
		case <-time.After(20 * time.Second):
			t.Fatalf("the sink got %d requests, still waiting for more", len(s.requests()))
		}
	}
}

// opRow is one reservation_operations row.
type opRow struct {
	reservation, host, action, status, message, payload string
	success                                             bool
}

func (e *e2eEnv) operations(t *testing.T, action string) []opRow {
	t.Helper()
	rows, err := e.db.QueryContext(context.Background(), `SELECT reservation_id, COALESCE(host, ''), action, status,
  COALESCE(message, ''), COALESCE(CAST(payload AS CHAR), ''), success FROM reservation_operations WHERE action = ? ORDER BY id`, action)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []opRow
	for rows.Next() {
		var r opRow
		if err := rows.Scan(&r.reservation, &r.host, &r.action, &r.status, &r.message, &r.payload, &r.success); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// waitOps waits until n rows of action are recorded (the sender records
// after the sink answered).
func (e *e2eEnv) waitOps(t *testing.T, action string, n int) []opRow {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rows := e.operations(t, action)
		if len(rows) >= n || time.Now().After(deadline) {
			if len(rows) != n {
				t.Fatalf("%d %s records, want %d: %+v", len(rows), action, n, rows)
			}
			return rows
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestE2E_Notifications: a failed prepare-session (labsim's forced exit
// code) and a failed /api/winrm post to the notification service and the
// webhook, each recorded as a "notification" operation on MariaDB; the
// third failure on the host within 300 s sends one alert, recorded as
// "alert". No secret (webhook URL path, token, webhook secret, WinRM
// password) reaches a log line, a response or a record.
func TestE2E_Notifications(t *testing.T) {
	sink := newNotifySink(t, false)
	const token, hookSecret, hookPath = "svc-Tok-83b1f0", "whsec-5d0a9c2e", "/hooks/T01/B02/PathSecret77"
	e := startE2E(t, e2eOpts{
		hosts: []labsim.HostOptions{{Name: "lab-ws-01"}},
		env: map[string]string{
			"NOTIFICATION_SERVICE_URL":          sink.srv.URL + "/billing/admin/notifications/send",
			"NOTIFICATION_SERVICE_RECIPIENTS":   "ops@lab.example,it@lab.example",
			"NOTIFICATION_SERVICE_ACCESS_TOKEN": token,
			"OPS_WEBHOOK_URL":                   sink.srv.URL + hookPath,
			"OPS_WEBHOOK_SECRET":                hookSecret,
		},
	})
	e.secrets = append(e.secrets, token, hookSecret, "PathSecret77")
	sh := e.sim.Host("lab-ws-01")
	sh.SetFaults(labsim.Faults{ExitCodes: map[string]int{"prepare-session": 2, "status": 3}})

	r := e.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "r-notify-1", "host": "lab-ws-01",
		"labId": "1", "wake": false})
	if r.code != http.StatusBadGateway {
		t.Fatalf("start: %s, want 502", r)
	}
	sink.wait(t, 2) // the e-mail and the webhook
	var mail, hook *sinkRequest
	for _, q := range sink.requests() {
		switch q.path {
		case "/billing/admin/notifications/send":
			mail = &q
		case hookPath:
			hook = &q
		}
	}
	if mail == nil || hook == nil {
		t.Fatalf("sink got %+v", sink.requests())
	}
	if mail.body["subject"] != "Lab Gateway alert: prepare failed for lab-ws-01" || mail.header.Get("X-Access-Token") != token ||
		!strings.HasPrefix(mail.body["textBody"].(string), "Reservation: r-notify-1\nLab ID: 1\nHost: lab-ws-01\nAction: prepare\nReason: Exit code 2\n") {
		t.Errorf("e-mail %s (headers %v)", mail.raw, mail.header)
	}
	if hook.header.Get(notify.SignatureHeader) != notify.Sign(hookSecret, hook.header.Get(notify.TimestampHeader), hook.raw) ||
		hook.header.Get("X-Access-Token") != "" {
		t.Errorf("webhook headers %v", hook.header)
	}
	if hook.body["kind"] != "failure" || hook.body["reservationId"] != "r-notify-1" || hook.body["action"] != "prepare" ||
		hook.body["flow"] != "reservation-start" || hook.body["exitCode"] != 2.0 ||
		hook.body["error"].(map[string]any)["code"] != "EXIT_CODE" {
		t.Errorf("webhook body %s", hook.raw)
	}
	rows := e.waitOps(t, "notification", 1)
	if n := rows[0]; n.reservation != "r-notify-1" || n.host != "lab-ws-01" || !n.success || n.status != "completed" ||
		n.message != "Notification notification-service: sent after 1 attempt(s); webhook: sent after 1 attempt(s)" ||
		strings.Contains(n.payload, "billing") || strings.Contains(n.payload, "hooks") {
		t.Errorf("notification record %+v", n)
	}

	// /api/winrm: exit code 3 of status is a failed command; no
	// reservation, so the record is under domain.HostScope (host:<name>).
	r = e.do(t, "POST", "/api/winrm", map[string]any{"host": "lab-ws-01", "command": "status"})
	if r.code != http.StatusOK || r.body["exit_code"] != 3.0 {
		t.Fatalf("winrm: %s", r)
	}
	rows = e.waitOps(t, "notification", 2)
	if n := rows[1]; n.reservation != domain.HostScope("lab-ws-01") || n.host != "lab-ws-01" || !strings.Contains(n.payload, `"failureAction": "status"`) &&
		!strings.Contains(n.payload, `"failureAction":"status"`) {
		t.Errorf("winrm notification record %+v", n)
	}
	if len(e.operations(t, "alert")) != 0 {
		t.Fatal("alert after two failures")
	}

	// The third failure within 300 s: one alert, to both targets.
	r = e.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "r-notify-2", "host": "lab-ws-01", "wake": false})
	if r.code != http.StatusBadGateway {
		t.Fatalf("start 2: %s", r)
	}
	alerts := e.waitOps(t, "alert", 1)
	if a := alerts[0]; a.reservation != "r-notify-2" || !a.success || !strings.Contains(a.payload, "At least 3 failed operations in the last 300 seconds") {
		t.Errorf("alert record %+v", a)
	}
	e.waitOps(t, "notification", 3)
	var sawAlertMail bool
	for _, q := range sink.requests() {
		sawAlertMail = sawAlertMail || q.body["subject"] == "Lab Gateway alert: repeated failures for lab-ws-01"
	}
	if !sawAlertMail {
		t.Error("no alert e-mail")
	}
	// The timeline of the reservation shows its notification.
	r = e.do(t, "GET", "/api/operations/recent?reservationId=r-notify-1", nil)
	if !strings.Contains(string(r.raw), `"action":"notification"`) {
		t.Errorf("recent operations of r-notify-1: %s", r.raw)
	}
}

// TestE2E_NotificationSinkDownOrSlow: a reservation whose prepare fails
// answers while the notification is still held by a sink that does not
// answer (the flow does not wait for it), and a sink whose port is closed
// changes nothing of the reservation's answer; its failed delivery is
// recorded.
func TestE2E_NotificationSinkDownOrSlow(t *testing.T) {
	t.Run("slow", func(t *testing.T) {
		sink := newNotifySink(t, true)
		e := startE2E(t, e2eOpts{hosts: []labsim.HostOptions{{Name: "lab-ws-01"}},
			env: map[string]string{"OPS_WEBHOOK_URL": sink.srv.URL + "/hook", "OPS_NOTIFY_TIMEOUT": "30",
				"NOTIFICATION_SERVICE_RETRY_ATTEMPTS": "0"}})
		// Runs before the server's Close (cleanups run last first): the
		// shutdown's drain then finds the sink answering.
		t.Cleanup(func() { close(sink.release) })
		e.sim.Host("lab-ws-01").SetFaults(labsim.Faults{ExitCodes: map[string]int{"prepare-session": 2}})
		done := make(chan e2eResp, 1)
		go func() {
			done <- e.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "r-slow", "host": "lab-ws-01", "wake": false})
		}()
		var r e2eResp
		select {
		case r = <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("the reservation did not answer: it waits for the sink")
		}
		if r.code != http.StatusBadGateway || r.body["steps"].([]any)[0].(map[string]any)["message"] != "Exit code 2" {
			t.Fatalf("start: %s", r)
		}
		// The answer came while the sink still holds the webhook request
		// (or before the sender reached it): nothing waited for the sink.
		if len(e.operations(t, "notification")) != 0 {
			t.Fatal("the notification finished before the sink answered")
		}
		sink.wait(t, 1)
		sink.release <- struct{}{}
		if rows := e.waitOps(t, "notification", 1); !rows[0].success {
			t.Errorf("record %+v", rows[0])
		}
	})
	t.Run("dead", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + l.Addr().String() + "/notify"
		l.Close()
		e := startE2E(t, e2eOpts{hosts: []labsim.HostOptions{{Name: "lab-ws-01"}},
			env: map[string]string{"NOTIFICATION_SERVICE_URL": dead, "NOTIFICATION_SERVICE_RETRY_ATTEMPTS": "1",
				"NOTIFICATION_SERVICE_RETRY_BACKOFF_SECONDS": "1"}})
		e.sim.Host("lab-ws-01").SetFaults(labsim.Faults{ExitCodes: map[string]int{"release-session": 2}})
		r := e.do(t, "POST", "/api/reservations/end", map[string]any{"reservationId": "r-dead", "host": "lab-ws-01"})
		if r.code != http.StatusBadGateway || len(r.body["steps"].([]any)) != 1 {
			t.Fatalf("end: %s", r)
		}
		rows := e.waitOps(t, "notification", 1)
		if n := rows[0]; n.success || n.status != "failed" || n.reservation != "r-dead" ||
			n.message != "Notification failed after 2 attempt(s) (connection refused)" || strings.Contains(n.payload, "/notify") {
			t.Errorf("record %+v", n)
		}
		if !strings.Contains(e.logs.String(), "notification failed") {
			t.Error("no log line for the failed delivery")
		}
	})
}

// TestE2E_NotificationFromReservationTick: the reservation tick's start
// flow (POST /api/ticks/reservations, as the local timers and the Lambda
// tick run it) notifies its failed prepare like the API's.
func TestE2E_NotificationFromReservationTick(t *testing.T) {
	sink := newNotifySink(t, false)
	e := startE2E(t, e2eOpts{hosts: []labsim.HostOptions{{Name: "lab-ws-01"}},
		env: map[string]string{"OPS_WEBHOOK_URL": sink.srv.URL + "/hook"}})
	e.sim.Host("lab-ws-01").SetFaults(labsim.Faults{ExitCodes: map[string]int{"prepare-session": 2}})
	e.insertReservation(t, "r-tick", "1", "CONFIRMED", time.Now().Add(30*time.Second))
	r := e.do(t, "POST", "/api/ticks/reservations", nil)
	if r.code != http.StatusOK {
		t.Fatalf("tick: %s", r)
	}
	rows := e.waitOps(t, "notification", 1)
	if n := rows[0]; n.reservation != "r-tick" || n.host != "lab-ws-01" || !n.success {
		t.Errorf("record %+v", n)
	}
	sink.wait(t, 1)
	hook := sink.requests()[0]
	if hook.body["reservationId"] != "r-tick" || hook.body["action"] != "prepare" || hook.body["flow"] != "reservation-start" {
		t.Errorf("webhook body %s", hook.raw)
	}
}

// TestE2E_NotificationsDrainedAtShutdown: the graceful shutdown sends
// what is queued (and records it) before the database closes.
func TestE2E_NotificationsDrainedAtShutdown(t *testing.T) {
	sink := newNotifySink(t, true)
	e := startE2E(t, e2eOpts{hosts: []labsim.HostOptions{{Name: "lab-ws-01"}},
		env: map[string]string{"OPS_WEBHOOK_URL": sink.srv.URL + "/hook", "OPS_ALERT_FAILURE_THRESHOLD": "10"}})
	e.sim.Host("lab-ws-01").SetFaults(labsim.Faults{ExitCodes: map[string]int{"status": 3}})
	for range 2 {
		if r := e.do(t, "POST", "/api/winrm", map[string]any{"host": "lab-ws-01", "command": "status"}); r.code != http.StatusOK {
			t.Fatalf("winrm: %s", r)
		}
	}
	sink.wait(t, 1) // the first is held by the sink, the second queued
	closed := make(chan error, 1)
	go func() { closed <- e.m.Close() }()
	close(sink.release)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return")
	}
	if n := len(sink.requests()); n != 2 {
		t.Errorf("sink got %d, want both", n)
	}
	if rows := e.operations(t, "notification"); len(rows) != 2 {
		t.Errorf("records after shutdown: %+v", rows)
	}
}

package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/ops-worker/ops-worker/internal/metrics"
	"github.com/ops-worker/ops-worker/internal/metrics/metricstest"
	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/telemetry"
	"github.com/ops-worker/ops-worker/internal/wake"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// scrape serves m.Handler() once and parses the text format.
func scrape(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("scrape: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	return metricstest.Parse(t, rec.Body)
}

func want(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string, v float64) {
	t.Helper()
	got, ok := metricstest.Value(fams, name, labels)
	if !ok {
		t.Errorf("%s%v: missing", name, labels)
		return
	}
	if got != v {
		t.Errorf("%s%v = %v, want %v", name, labels, got, v)
	}
}

func absent(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) {
	t.Helper()
	if v, ok := metricstest.Value(fams, name, labels); ok {
		t.Errorf("%s%v = %v, want no such series", name, labels, v)
	}
}

type L = map[string]string

func TestHTTP_RoutePatternNotPath(t *testing.T) {
	m := metrics.New(metrics.Options{NoRuntime: true})
	m.ObserveRequest("POST /api/wol", 200, 10*time.Millisecond)
	m.ObserveRequest("POST /api/wol", 200, 20*time.Millisecond)
	m.ObserveRequest("POST /api/wol", 404, time.Millisecond)
	m.ObserveRequest("", 404, time.Millisecond)
	m.ObserveRequest("", 405, time.Millisecond)
	m.ObserveRequest("GET /metrics", 0, time.Millisecond)
	f := scrape(t, m)
	want(t, f, "ops_http_requests_total", L{"method": "POST", "route": "/api/wol", "status": "200"}, 2)
	want(t, f, "ops_http_requests_total", L{"method": "POST", "route": "/api/wol", "status": "404"}, 1)
	want(t, f, "ops_http_requests_total", L{"method": "other", "route": "unmatched", "status": "404"}, 1)
	want(t, f, "ops_http_requests_total", L{"method": "other", "route": "unmatched", "status": "405"}, 1)
	want(t, f, "ops_http_requests_total", L{"method": "GET", "route": "/metrics", "status": "other"}, 1)
	want(t, f, "ops_http_request_duration_seconds", L{"method": "POST", "route": "/api/wol"}, 3)
	if _, ok := f["go_goroutines"]; ok {
		t.Error("NoRuntime: the Go collector is registered")
	}
	if _, ok := scrape(t, metrics.New(metrics.Options{}))["go_goroutines"]; !ok {
		t.Error("the Go collector is missing")
	}
}

func TestWinRM_Outcomes(t *testing.T) {
	m := metrics.New(metrics.Options{NoRuntime: true})
	m.ObserveCall("run status", nil, time.Second)
	m.ObserveCall("run status", &winrm.Error{Op: "run status", Kind: winrm.ErrUnreachable, Err: errors.New("refused")}, time.Second)
	m.ObserveCall("heartbeat", fmt.Errorf("wrapped: %w", &winrm.Error{Kind: winrm.ErrTimeout}), time.Second)
	m.ObserveCall("heartbeat", winrm.ErrQuota, time.Second)
	m.ObserveCall("heartbeat", context.Canceled, time.Second)
	for i := range metrics.MaxOps + 5 {
		m.ObserveCall(fmt.Sprintf("run cmd-%d", i), nil, time.Millisecond)
	}
	f := scrape(t, m)
	want(t, f, "ops_winrm_calls_total", L{"op": "run status", "outcome": "ok"}, 1)
	want(t, f, "ops_winrm_calls_total", L{"op": "run status", "outcome": "unreachable"}, 1)
	want(t, f, "ops_winrm_calls_total", L{"op": "heartbeat", "outcome": "timeout"}, 1)
	want(t, f, "ops_winrm_calls_total", L{"op": "heartbeat", "outcome": "quota"}, 1)
	want(t, f, "ops_winrm_calls_total", L{"op": "heartbeat", "outcome": "other"}, 1)
	want(t, f, "ops_winrm_call_duration_seconds", L{"op": "run status", "outcome": "ok"}, 1)
	// Two ops were known before the loop: MaxOps-2 of it keep their name.
	want(t, f, "ops_winrm_calls_total", L{"op": "other", "outcome": "ok"}, 7)
	if n := len(f["ops_winrm_calls_total"].GetMetric()); n > metrics.MaxOps+10 {
		t.Errorf("%d op series: the op label is not bounded", n)
	}
}

func TestWake_Results(t *testing.T) {
	m := metrics.New(metrics.Options{NoRuntime: true})
	m.ObserveWake(wake.Result{Success: true, ReachedBy: "tcp", AttemptsUsed: 2, Duration: time.Second}, nil)
	m.ObserveWake(wake.Result{Success: true, ReachedBy: "icmp", AttemptsUsed: 1}, nil)
	m.ObserveWake(wake.Result{AttemptsUsed: 3}, nil)
	m.ObserveWake(wake.Result{}, errors.New("bad mac"))
	f := scrape(t, m)
	want(t, f, "ops_wake_wakes_total", L{"result": "tcp"}, 1)
	want(t, f, "ops_wake_wakes_total", L{"result": "icmp"}, 1)
	want(t, f, "ops_wake_wakes_total", L{"result": "none"}, 1)
	want(t, f, "ops_wake_wakes_total", L{"result": "error"}, 1)
	want(t, f, "ops_wake_magic_packets_total", L{}, 6)
	want(t, f, "ops_wake_duration_seconds", L{}, 4)
}

func TestStations_BoundedToCatalog(t *testing.T) {
	catalog := map[string]bool{"lab-ws-01": true, "lab-ws-02": true}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	m := metrics.New(metrics.Options{NoRuntime: true, KnownHost: func(h string) bool { return catalog[h] }, Now: func() time.Time { return now }})
	m.ObservePoll(ops.PollObservation{Host: "lab-ws-01", At: now.Add(-5 * time.Second), Timestamp: now.Add(-90 * time.Second), Ready: true})
	m.ObservePoll(ops.PollObservation{Host: "lab-ws-02", At: now, Err: errors.New("unreachable")})
	m.ObservePoll(ops.PollObservation{Host: "intruder", At: now, Timestamp: now})
	m.ObserveBackoff("lab-ws-02", true, 4, now.Add(time.Minute))
	m.ObserveBackoff("intruder", true, 4, now)
	f := scrape(t, m)
	want(t, f, "ops_station_heartbeat_age_seconds", L{"host": "lab-ws-01"}, 90)
	want(t, f, "ops_station_heartbeat_timestamp_seconds", L{"host": "lab-ws-01"}, float64(now.Add(-90*time.Second).Unix()))
	want(t, f, "ops_station_ready", L{"host": "lab-ws-01"}, 1)
	want(t, f, "ops_station_heartbeat_stale", L{"host": "lab-ws-01"}, 0)
	want(t, f, "ops_station_poll_up", L{"host": "lab-ws-01"}, 1)
	want(t, f, "ops_station_poll_up", L{"host": "lab-ws-02"}, 0)
	want(t, f, "ops_station_backoff", L{"host": "lab-ws-01"}, 0)
	want(t, f, "ops_station_backoff", L{"host": "lab-ws-02"}, 1)
	want(t, f, "ops_station_consecutive_failures", L{"host": "lab-ws-02"}, 4)
	want(t, f, "ops_station_backoff_until_timestamp_seconds", L{"host": "lab-ws-02"}, float64(now.Add(time.Minute).Unix()))
	absent(t, f, "ops_station_heartbeat_age_seconds", L{"host": "lab-ws-02"}) // never read
	absent(t, f, "ops_station_consecutive_failures", L{"host": "lab-ws-01"})  // no back-off reported
	absent(t, f, "ops_station_poll_up", L{"host": "intruder"})
	absent(t, f, "ops_station_backoff", L{"host": "intruder"})
	want(t, f, "ops_stations", L{"state": "ready"}, 1)
	want(t, f, "ops_stations", L{"state": "stale"}, 0)
	want(t, f, "ops_stations", L{"state": "poll_failed"}, 1)
	want(t, f, "ops_stations", L{"state": "backoff"}, 1)
	want(t, f, "ops_heartbeat_polls_total", L{"outcome": "ok"}, 2)
	want(t, f, "ops_heartbeat_polls_total", L{"outcome": "error"}, 1)

	// Age grows between polls; a seed older than what is known changes nothing.
	now = now.Add(time.Minute)
	m.SeedHeartbeat("lab-ws-01", now.Add(-time.Hour), false)
	m.SeedHeartbeat("lab-ws-02", now.Add(-time.Hour), false)
	m.ObserveBackoff("lab-ws-02", false, 0, time.Time{})
	f = scrape(t, m)
	want(t, f, "ops_station_heartbeat_age_seconds", L{"host": "lab-ws-01"}, 150)
	want(t, f, "ops_station_ready", L{"host": "lab-ws-01"}, 1)
	want(t, f, "ops_station_heartbeat_age_seconds", L{"host": "lab-ws-02"}, 3600)
	want(t, f, "ops_station_backoff", L{"host": "lab-ws-02"}, 0)
	want(t, f, "ops_station_backoff_until_timestamp_seconds", L{"host": "lab-ws-02"}, 0)

	// A reload that drops a host drops its series.
	delete(catalog, "lab-ws-02")
	f = scrape(t, m)
	absent(t, f, "ops_station_heartbeat_age_seconds", L{"host": "lab-ws-02"})
	absent(t, f, "ops_station_backoff", L{"host": "lab-ws-02"})
	want(t, f, "ops_station_ready", L{"host": "lab-ws-01"}, 1)
	want(t, f, "ops_stations", L{"state": "poll_failed"}, 0)
}

func TestTicks(t *testing.T) {
	m := metrics.New(metrics.Options{NoRuntime: true})
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	m.ObserveTick(telemetry.Tick{Kind: telemetry.TickReservations, Start: start, Duration: 2 * time.Second,
		Counts:      []telemetry.Count{{Phase: "start", Dispatched: 3, Failed: 1, Skipped: 2}, {Phase: "end", Dispatched: 1}},
		ClaimsTaken: 4, ClaimsExpired: 1})
	m.ObserveTick(telemetry.Tick{Kind: telemetry.TickReservations, Start: start.Add(time.Minute), Err: errors.New("db down")})
	m.ObserveTick(telemetry.Tick{Kind: telemetry.TickHeartbeats, Start: start, Counts: []telemetry.Count{{Phase: "poll", Dispatched: 10, Failed: 2, Skipped: 1}}})
	m.ObserveTick(telemetry.Tick{Kind: "bogus", Counts: []telemetry.Count{{Phase: "weird", Dispatched: 1}}})
	f := scrape(t, m)
	want(t, f, "ops_tick_runs_total", L{"kind": "reservations", "result": "ok"}, 1)
	want(t, f, "ops_tick_runs_total", L{"kind": "reservations", "result": "error"}, 1)
	want(t, f, "ops_tick_runs_total", L{"kind": "heartbeats", "result": "ok"}, 1)
	want(t, f, "ops_tick_runs_total", L{"kind": "other", "result": "ok"}, 1)
	want(t, f, "ops_tick_duration_seconds", L{"kind": "reservations"}, 2)
	want(t, f, "ops_tick_last_run_timestamp_seconds", L{"kind": "reservations"}, float64(start.Add(time.Minute).Unix()))
	want(t, f, "ops_tick_last_success_timestamp_seconds", L{"kind": "reservations"}, float64(start.Unix()))
	want(t, f, "ops_tick_items_total", L{"kind": "reservations", "phase": "start", "outcome": "dispatched"}, 3)
	want(t, f, "ops_tick_items_total", L{"kind": "reservations", "phase": "start", "outcome": "failed"}, 1)
	want(t, f, "ops_tick_items_total", L{"kind": "reservations", "phase": "start", "outcome": "skipped"}, 2)
	want(t, f, "ops_tick_items_total", L{"kind": "reservations", "phase": "end", "outcome": "dispatched"}, 1)
	want(t, f, "ops_tick_items_total", L{"kind": "heartbeats", "phase": "poll", "outcome": "failed"}, 2)
	want(t, f, "ops_tick_items_total", L{"kind": "other", "phase": "other", "outcome": "dispatched"}, 1)
	want(t, f, "ops_tick_claims_total", L{"event": "taken"}, 4)
	want(t, f, "ops_tick_claims_total", L{"event": "expired"}, 1)
}

// The metrics are served over a real listener too (promhttp negotiates).
func TestHandler_OverHTTP(t *testing.T) {
	m := metrics.New(metrics.Options{})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	f := metricstest.Parse(t, res.Body)
	if _, ok := f["process_start_time_seconds"]; !ok {
		t.Errorf("no process collector: %d families", len(f))
	}
}

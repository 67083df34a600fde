package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/logtest"
	"github.com/ops-worker/ops-worker/internal/metrics/metricstest"
	"github.com/ops-worker/ops-worker/internal/telemetry"
)

const metricsToken = "metrics-token"

// metricsSim is two labsim stations on loopback: lab-ws-01 awake,
// lab-ws-02 asleep (refusing connections until a magic packet wakes it).
// It returns the catalog's path.
func metricsSim(t *testing.T) string {
	t.Helper()
	sim, err := labsim.Start(context.Background(), labsim.Options{Hosts: []labsim.HostOptions{
		{}, {Asleep: true, SleepMode: labsim.SleepRefuse}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	doc, err := sim.HostsJSON()
	if err != nil {
		t.Fatal(err)
	}
	path := labsimtest.WriteHostsFile(t, doc)
	return path
}

// startMetricsMain starts the local server on 127.0.0.1:0 with env added to the
// catalog and token.
func startMetricsMain(t *testing.T, catalog string, env map[string]string) (*Main, string) {
	t.Helper()
	full := map[string]string{"OPS_CONFIG": catalog, "LAB_MANAGER_TOKEN": metricsToken}
	for k, v := range env {
		full[k] = v
	}
	logs := &logtest.Buffer{}
	m := &Main{Addr: "127.0.0.1:0", LogFormat: "json", Env: full, LogOutput: logs, ShutdownTimeout: 5 * time.Second}
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		t.Fatalf("Run: %v\n%s", err, logs)
	}
	t.Cleanup(func() { m.Close() })
	return m, "http://" + m.BoundAddr()
}

// send makes one request; hdr are extra headers.
func send(t *testing.T, method, url, body string, hdr map[string]string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(raw), res.Header
}

var tokenHdr = map[string]string{"X-Lab-Manager-Token": metricsToken}

// scrapeMain GETs /metrics with the Bearer token, as Prometheus does, and
// parses the text format.
func scrapeMain(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body, h := send(t, "GET", base+"/metrics", "", map[string]string{"Authorization": "Bearer " + metricsToken})
	if code != http.StatusOK {
		t.Fatalf("GET /metrics with Bearer: %d %s", code, body)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET /metrics Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("GET /metrics is not the Prometheus text format: %v\n%s", err, body)
	}
	return fams
}

type lbl = map[string]string

func atLeast(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels lbl, min float64) float64 {
	t.Helper()
	v, ok := metricstest.Value(fams, name, labels)
	if !ok {
		t.Errorf("%s%v: no such series", name, labels)
		return 0
	}
	if v < min {
		t.Errorf("%s%v = %v, want >= %v", name, labels, v, min)
	}
	return v
}

func TestMetrics_Auth(t *testing.T) {
	_, base := startMetricsMain(t, metricsSim(t), nil)
	for _, c := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"no token", nil, http.StatusUnauthorized},
		{"wrong bearer", map[string]string{"Authorization": "Bearer nope"}, http.StatusUnauthorized},
		{"basic scheme", map[string]string{"Authorization": "Basic " + metricsToken}, http.StatusUnauthorized},
		{"bearer", map[string]string{"Authorization": "Bearer " + metricsToken}, http.StatusOK},
		{"bearer, lower-case scheme", map[string]string{"Authorization": "bearer " + metricsToken}, http.StatusOK},
		{"token header", tokenHdr, http.StatusOK},
	} {
		code, body, _ := send(t, "GET", base+"/metrics", "", c.hdr)
		if code != c.want {
			t.Errorf("GET /metrics, %s: %d, want %d: %.200s", c.name, code, c.want, body)
		}
		if code == http.StatusUnauthorized && !strings.Contains(body, `"error"`) {
			t.Errorf("GET /metrics, %s: 401 not in the error contract: %s", c.name, body)
		}
	}
	// Bearer stays a /metrics thing: /api/* does not take it.
	if code, _, _ := send(t, "GET", base+"/api/hosts", "", map[string]string{"Authorization": "Bearer " + metricsToken}); code != http.StatusUnauthorized {
		t.Errorf("GET /api/hosts with Bearer: %d, want 401", code)
	}
	f := scrapeMain(t, base)
	atLeast(t, f, "ops_http_requests_total", lbl{"method": "GET", "route": "/metrics", "status": "401"}, 3)
	atLeast(t, f, "ops_http_requests_total", lbl{"method": "GET", "route": "/metrics", "status": "200"}, 3)
	atLeast(t, f, "go_goroutines", lbl{}, 1)
	atLeast(t, f, "go_sql_max_open_connections", lbl{"db_name": "embedded-memory"}, 1)
}

// TestMetrics_EndToEnd: a WinRM command, a wake and a heartbeat poll over
// the real server and labsim, then what /metrics says of them.
func TestMetrics_EndToEnd(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { metricsEndToEnd(t, nil) })
	t.Run("mariadb", func(t *testing.T) {
		if testing.Short() {
			t.Skip("-short: no MariaDB")
		}
		dsn := dbtest.NewDatabase(t)
		catalog := metricsEndToEnd(t, map[string]string{"MYSQL_DSN": dsn})
		// A new process on the same database knows the stored heartbeat's
		// age before it polls anything.
		_, base := startMetricsMain(t, catalog, map[string]string{"MYSQL_DSN": dsn})
		f := scrapeMain(t, base)
		age := atLeast(t, f, "ops_station_heartbeat_age_seconds", lbl{"host": "lab-ws-01"}, 0)
		if age > 3600 {
			t.Errorf("seeded heartbeat age %v s", age)
		}
		if _, ok := metricstest.Value(f, "ops_station_poll_up", lbl{"host": "lab-ws-01"}); ok {
			t.Error("poll_up set by a process that never polled")
		}
	})
}

func metricsEndToEnd(t *testing.T, env map[string]string) (catalog string) {
	catalog = metricsSim(t)
	_, base := startMetricsMain(t, catalog, env)

	if code, body, _ := send(t, "POST", base+"/api/winrm", `{"host":"lab-ws-01","command":"status-json"}`, tokenHdr); code != 200 {
		t.Fatalf("POST /api/winrm: %d %s", code, body)
	}
	if code, body, _ := send(t, "POST", base+"/api/wol", `{"host":"lab-ws-02"}`, tokenHdr); code != 200 || !strings.Contains(body, `"reached_by":"tcp"`) {
		t.Fatalf("POST /api/wol: %d %s", code, body)
	}
	if code, body, _ := send(t, "POST", base+"/api/heartbeat/poll", `{"host":"lab-ws-01"}`, tokenHdr); code != 200 {
		t.Fatalf("POST /api/heartbeat/poll: %d %s", code, body)
	}
	if code, _, _ := send(t, "POST", base+"/api/heartbeat/poll", `{"host":"no-such-host"}`, tokenHdr); code != 404 {
		t.Errorf("poll of an unknown host: %d", code)
	}
	send(t, "GET", base+"/api/no/such/route-abc123", "", tokenHdr)

	f := scrapeMain(t, base)
	atLeast(t, f, "ops_http_requests_total", lbl{"method": "POST", "route": "/api/winrm", "status": "200"}, 1)
	atLeast(t, f, "ops_http_requests_total", lbl{"method": "POST", "route": "/api/wol", "status": "200"}, 1)
	atLeast(t, f, "ops_http_requests_total", lbl{"method": "POST", "route": "/api/heartbeat/poll", "status": "200"}, 1)
	atLeast(t, f, "ops_http_requests_total", lbl{"method": "POST", "route": "/api/heartbeat/poll", "status": "404"}, 1)
	atLeast(t, f, "ops_http_requests_total", lbl{"method": "other", "route": "unmatched", "status": "404"}, 1)
	atLeast(t, f, "ops_http_request_duration_seconds", lbl{"method": "POST", "route": "/api/winrm"}, 1)
	for _, m := range f["ops_http_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if strings.Contains(l.GetValue(), "abc123") || strings.Contains(l.GetValue(), "no-such-host") {
				t.Errorf("a raw path or caller text became a label: %v", m.GetLabel())
			}
		}
	}

	atLeast(t, f, "ops_winrm_calls_total", lbl{"op": "run status-json", "outcome": "ok"}, 1)
	atLeast(t, f, "ops_winrm_calls_total", lbl{"op": "heartbeat", "outcome": "ok"}, 1)
	atLeast(t, f, "ops_winrm_call_duration_seconds", lbl{"op": "run status-json", "outcome": "ok"}, 1)
	// The successful calls left their connection for the next one.
	atLeast(t, f, "ops_winrm_idle_connections", lbl{}, 1)

	atLeast(t, f, "ops_wake_wakes_total", lbl{"result": "tcp"}, 1)
	atLeast(t, f, "ops_wake_magic_packets_total", lbl{}, 1)
	atLeast(t, f, "ops_wake_duration_seconds", lbl{}, 1)

	atLeast(t, f, "ops_heartbeat_polls_total", lbl{"outcome": "ok"}, 1)
	age := atLeast(t, f, "ops_station_heartbeat_age_seconds", lbl{"host": "lab-ws-01"}, -5)
	if age > 3600 {
		t.Errorf("heartbeat age %v s right after a poll", age)
	}
	atLeast(t, f, "ops_station_heartbeat_timestamp_seconds", lbl{"host": "lab-ws-01"}, float64(time.Now().Add(-time.Hour).Unix()))
	if v, ok := metricstest.Value(f, "ops_station_ready", lbl{"host": "lab-ws-01"}); !ok || (v != 0 && v != 1) {
		t.Errorf("ops_station_ready{lab-ws-01} = %v, %v", v, ok)
	}
	if v, _ := metricstest.Value(f, "ops_station_poll_up", lbl{"host": "lab-ws-01"}); v != 1 {
		t.Errorf("ops_station_poll_up{lab-ws-01} = %v, want 1", v)
	}
	if v, ok := metricstest.Value(f, "ops_station_backoff", lbl{"host": "lab-ws-01"}); !ok || v != 0 {
		t.Errorf("ops_station_backoff{lab-ws-01} = %v, %v, want 0", v, ok)
	}
	for _, name := range []string{"ops_station_heartbeat_age_seconds", "ops_station_poll_up"} {
		for _, m := range f[name].GetMetric() {
			if h := m.GetLabel()[0].GetValue(); h != "lab-ws-01" {
				t.Errorf("%s has a series for %q, which was never polled or is not in the catalog", name, h)
			}
		}
	}
	return catalog
}

// The scheduler takes its observers from app.App.Observers: what it
// reports there reaches /metrics.
func TestMetrics_TicksThroughApp(t *testing.T) {
	m, base := startMetricsMain(t, metricsSim(t), nil)
	obs := m.app.Observers()
	if obs.Ticks == nil || obs.Backoff == nil {
		t.Fatalf("app observers for the scheduler not set: %+v", obs)
	}
	obs.Ticks.ObserveTick(telemetry.Tick{Kind: telemetry.TickReservations, Start: time.Now(), Duration: time.Second,
		Counts: []telemetry.Count{{Phase: telemetry.PhaseStart, Dispatched: 2, Failed: 1}}, ClaimsTaken: 2})
	obs.Backoff.ObserveBackoff("lab-ws-02", true, 5, time.Now().Add(time.Minute))
	obs.Backoff.ObserveBackoff("not-in-catalog", true, 5, time.Now().Add(time.Minute))
	f := scrapeMain(t, base)
	atLeast(t, f, "ops_tick_runs_total", lbl{"kind": "reservations", "result": "ok"}, 1)
	atLeast(t, f, "ops_tick_items_total", lbl{"kind": "reservations", "phase": "start", "outcome": "failed"}, 1)
	atLeast(t, f, "ops_tick_claims_total", lbl{"event": "taken"}, 2)
	atLeast(t, f, "ops_tick_last_run_timestamp_seconds", lbl{"kind": "reservations"}, float64(time.Now().Add(-time.Minute).Unix()))
	atLeast(t, f, "ops_station_backoff", lbl{"host": "lab-ws-02"}, 1)
	if _, ok := metricstest.Value(f, "ops_station_backoff", lbl{"host": "not-in-catalog"}); ok {
		t.Error("a host outside the catalog has a series")
	}
}

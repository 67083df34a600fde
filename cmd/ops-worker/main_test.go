package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/logtest"
)

// startMain runs the local server on 127.0.0.1:0 with the embedded
// database and a labsim host catalog (loopback broadcast), as `make run`
// does.
func startMain(t *testing.T, env map[string]string) (*Main, string, *logtest.Buffer) {
	return startMainWith(t, env, nil, 5*time.Second)
}

func startMainWith(t *testing.T, env map[string]string, wrap func(http.Handler) http.Handler, shutdown time.Duration, opts ...func(*Main)) (*Main, string, *logtest.Buffer) {
	t.Helper()
	ctx := context.Background()
	sim := labsimtest.Start(t, labsim.HostOptions{}, labsim.HostOptions{})
	path := labsimtest.WriteSimHosts(t, sim)
	full := map[string]string{"OPS_CONFIG": path, "LAB_MANAGER_TOKEN": "e2e-token"}
	for k, v := range env {
		full[k] = v
	}
	logs := &logtest.Buffer{}
	m := &Main{Addr: "127.0.0.1:0", LogFormat: "json", Env: full, LogOutput: logs, ShutdownTimeout: shutdown, wrapHandler: wrap}
	for _, o := range opts {
		o(m)
	}
	if err := m.Run(ctx); err != nil {
		m.Close()
		t.Fatalf("Run: %v\n%s", err, logs)
	}
	t.Cleanup(func() { m.Close() })
	return m, "http://" + m.BoundAddr(), logs
}

func call(t *testing.T, method, url, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Lab-Manager-Token", token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("%s %s: %d %q is not a JSON object", method, url, res.StatusCode, raw)
	}
	return res.StatusCode, body
}

func TestMain_EndToEnd(t *testing.T) {
	m, base, logs := startMain(t, nil)

	code, body := call(t, http.MethodGet, base+"/health", "")
	if code != http.StatusOK || body["status"] != "ok" || body["db"] != true ||
		body["db_kind"] != "embedded-memory" || body["hosts_loaded"] != 2.0 {
		t.Errorf("GET /health: %d %v", code, body)
	}

	if code, body := call(t, http.MethodGet, base+"/api/hosts", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /api/hosts without the token: %d %v, want 401", code, body)
	}
	code, body = call(t, http.MethodGet, base+"/api/hosts", "e2e-token")
	if code == http.StatusUnauthorized || code == http.StatusServiceUnavailable || code >= 500 {
		t.Errorf("GET /api/hosts with the token: %d %v", code, body)
	}

	for _, want := range []string{`"msg":"listening"`, `"db_kind":"embedded-memory"`, `"hosts_loaded":2`, "LOST when this process exits", m.BoundAddr()} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("start-up log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs.String(), "e2e-token") || strings.Contains(logs.String(), labsim.DefaultPassword) {
		t.Errorf("a secret reached the log:\n%s", logs)
	}

	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-m.Done():
	default:
		t.Error("server still serving after Close")
	}
	if _, err := http.Get(base + "/health"); err == nil {
		t.Error("GET /health answered after Close")
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestMain_DemoReservation(t *testing.T) {
	m, _, _ := startMainWith(t, nil, nil, 5*time.Second, func(m *Main) { m.DemoReservation = true })
	r, err := m.app.Service().Store.GetReservation(context.Background(), DemoReservationID)
	if err != nil {
		t.Fatalf("GetReservation(%s): %v", DemoReservationID, err)
	}
	if r.LabID != "1" || r.Status != "CONFIRMED" || r.Start == nil || time.Until(*r.Start) < 23*time.Hour {
		t.Errorf("demo reservation: %+v (want lab 1, CONFIRMED, tomorrow: out of the tick's reach)", r)
	}
	auto, err := m.app.Service().Store.GetReservation(context.Background(), DemoAutoReservationID)
	if err != nil {
		t.Fatalf("GetReservation(%s): %v", DemoAutoReservationID, err)
	}
	if auto.LabID != DemoAutoLab || auto.Status != "CONFIRMED" || auto.Start == nil || auto.End == nil ||
		time.Until(*auto.Start) > DemoAutoStartIn || time.Until(*auto.Start) < DemoAutoStartIn-time.Minute ||
		auto.End.Sub(*auto.Start) != DemoAutoLength {
		t.Errorf("automated demo reservation: %+v", auto)
	}
}

func TestMain_DemoReservationOnlyEmbedded(t *testing.T) {
	logs := &logtest.Buffer{}
	dir := t.TempDir()
	path := filepath.Join(dir, "hosts.json")
	if err := os.WriteFile(path, []byte(`{"hosts": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	// No database at all stands for "not the embedded one" without a server.
	m := &Main{Addr: "127.0.0.1:0", Env: map[string]string{"OPS_CONFIG": path}, LogOutput: logs, DemoReservation: true}
	m.noEmbedded = true
	err := m.Run(context.Background())
	m.Close()
	if err == nil || !strings.Contains(err.Error(), "embedded") {
		t.Errorf("Run -demo-reservation without the embedded database: %v", err)
	}
}

func TestMain_FailsOnBadConfig(t *testing.T) {
	m := &Main{Addr: "127.0.0.1:0", Env: map[string]string{"OPS_POLL_INTERVAL": "soon"}, LogOutput: io.Discard}
	err := m.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "OPS_POLL_INTERVAL") {
		t.Errorf("Run with a bad variable: %v, want an error naming it", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close after a failed Run: %v", err)
	}
}

func TestParseFlags(t *testing.T) {
	var m Main
	if err := m.ParseFlags([]string{"-addr", "127.0.0.1:0", "-log-format", "text", "-shutdown-timeout", "3s"}); err != nil {
		t.Fatal(err)
	}
	if m.Addr != "127.0.0.1:0" || m.LogFormat != "text" || m.ShutdownTimeout != 3*time.Second {
		t.Errorf("ParseFlags: %+v", m)
	}
	for _, bad := range [][]string{{"-log-format", "xml"}, {"-shutdown-timeout", "-1s"}, {"extra"}} {
		var m Main
		if err := m.ParseFlags(bad); err == nil {
			t.Errorf("ParseFlags(%q): no error", bad)
		}
	}
}

// slowRoute adds GET /slow, which answers after d unless its request is
// cancelled first; started is closed when a request reaches it.
func slowRoute(d time.Duration, started chan<- struct{}, cancelled chan<- struct{}) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/slow" {
				next.ServeHTTP(w, r)
				return
			}
			close(started)
			select {
			case <-time.After(d):
				w.Write([]byte(`{"slow": "done"}`))
			case <-r.Context().Done():
				close(cancelled)
			}
		})
	}
}

func TestMain_ShutdownLetsRequestsFinish(t *testing.T) {
	started, cancelled := make(chan struct{}), make(chan struct{})
	m, base, _ := startMainWith(t, nil, slowRoute(500*time.Millisecond, started, cancelled), 10*time.Second)
	type result struct {
		code int
		body map[string]any
	}
	got := make(chan result, 1)
	go func() {
		res, err := http.Get(base + "/slow")
		if err != nil {
			got <- result{code: -1}
			return
		}
		defer res.Body.Close()
		var body map[string]any
		json.NewDecoder(res.Body).Decode(&body)
		got <- result{res.StatusCode, body}
	}()
	<-started
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	r := <-got
	if r.code != http.StatusOK || r.body["slow"] != "done" {
		t.Errorf("request in flight during shutdown: %d %v, want 200 done", r.code, r.body)
	}
}

func TestMain_ShutdownIsBounded(t *testing.T) {
	started, cancelled := make(chan struct{}), make(chan struct{})
	m, base, logs := startMainWith(t, nil, slowRoute(time.Hour, started, cancelled), 200*time.Millisecond)
	go func() {
		if res, err := http.Get(base + "/slow"); err == nil {
			res.Body.Close()
		}
	}()
	<-started
	t0 := time.Now()
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("Close took %v with a 200ms shutdown timeout", d)
	}
	select {
	case <-cancelled:
	case <-time.After(time.Second):
		t.Error("the request still running at the timeout was not cancelled")
	}
	if !strings.Contains(logs.String(), "cancelling them") {
		t.Errorf("no log line about cancelled requests:\n%s", logs)
	}
}

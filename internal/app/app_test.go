package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/api"
	"github.com/ops-worker/ops-worker/internal/app"
	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/logtest"
	"github.com/ops-worker/ops-worker/internal/memsql"
	"github.com/ops-worker/ops-worker/internal/ops"
)

// catalog has two hosts claiming lab 1 (a load warning) and one unknown
// field (another).
const catalog = `{"hosts": [
 {"name": "lab-ws-01", "address": "127.0.0.1", "mac": "02:00:00:00:00:01",
  "winrm_user": "u", "winrm_pass": "hunter2", "labs": ["1"], "colour": "blue"},
 {"name": "lab-ws-02", "address": "127.0.0.1", "mac": "02:00:00:00:00:02",
  "winrm_user": "u", "winrm_pass": "hunter2", "labs": ["1"], "quarantined": true}
]}`

// logtest.Buffer is a log sink safe for the handlers' goroutines.

func mustConfig(t *testing.T, env map[string]string) config.Config {
	t.Helper()
	path := labsimtest.WriteHostsFile(t, catalog)
	full := map[string]string{"OPS_CONFIG": path}
	for k, v := range env {
		full[k] = v
	}
	cfg, err := config.LoadMap(context.Background(), full)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func mustNew(t *testing.T, cfg config.Config, o app.Options) (*app.App, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	o.LogOutput = logs
	a, err := app.New(context.Background(), cfg, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return a, logs
}

func embedded(ctx context.Context) (app.EmbeddedDB, error) { return memsql.Start(ctx, "ops") }

func get(t *testing.T, h http.Handler, path string, header http.Header) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.RemoteAddr = "127.0.0.1:40000"
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("GET %s: body %q is not a JSON object: %v", path, w.Body, err)
	}
	return w, body
}

func TestNew_NoDatabase(t *testing.T) {
	a, logs := mustNew(t, mustConfig(t, nil), app.Options{})
	if got, want := a.DBKind(), app.DBNone; got != want {
		t.Errorf("DBKind: got %q, want %q", got, want)
	}
	// A nil interface, not a typed nil *store.Store.
	if a.Service().Store != nil {
		t.Errorf("Service().Store = %#v, want nil", a.Service().Store)
	}
	w, body := get(t, a.Handler(), "/health", nil)
	if w.Code != http.StatusOK || body["db"] != false || body["db_kind"] != "none" || body["hosts_loaded"] != 1.0 {
		t.Errorf("/health: %d %v", w.Code, body)
	}
	if app.WinRMBuilt(a) {
		t.Error("the WinRM client was built although no call needed it")
	}
	if !strings.Contains(logs.String(), "running without a database") {
		t.Errorf("no warning about the missing database in %s", logs)
	}
}

func TestNew_EmbeddedDatabase(t *testing.T) {
	a, logs := mustNew(t, mustConfig(t, map[string]string{"LAB_MANAGER_TOKEN": "t0ken"}),
		app.Options{EmbeddedDB: embedded, LogFormat: app.LogText})
	if got, want := a.DBKind(), app.DBEmbedded; got != want {
		t.Errorf("DBKind: got %q, want %q", got, want)
	}
	if a.Service().Store == nil || a.Store() == nil {
		t.Fatal("no store with the embedded database")
	}
	if err := a.Service().Store.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	// The migrations ran.
	var n int
	if err := a.Store().DB.QueryRow(`SELECT COUNT(*) FROM reservation_operations`).Scan(&n); err != nil {
		t.Fatalf("migrated schema: %v", err)
	}
	w, body := get(t, a.Handler(), "/health", nil)
	if w.Code != http.StatusOK || body["db"] != true || body["db_kind"] != "embedded-memory" {
		t.Errorf("/health: %d %v", w.Code, body)
	}
	if !strings.Contains(logs.String(), "LOST when this process exits") {
		t.Errorf("no loud warning about the in-memory database in %s", logs)
	}
	if strings.Contains(logs.String(), "t0ken") || strings.Contains(logs.String(), "hunter2") {
		t.Errorf("a secret reached the log: %s", logs)
	}
}

func TestNew_CatalogWarningsLoggedOnce(t *testing.T) {
	_, logs := mustNew(t, mustConfig(t, nil), app.Options{})
	out := logs.String()
	if got := strings.Count(out, `lab \"1\" is claimed by`); got != 1 {
		t.Errorf("lab warning logged %d times, want 1:\n%s", got, out)
	}
}

func TestNew_Guard(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		header http.Header
		want   int
	}{
		{"no token configured", nil, nil, http.StatusServiceUnavailable},
		{"missing token", map[string]string{"LAB_MANAGER_TOKEN": "t0ken"}, nil, http.StatusUnauthorized},
		{"wrong token", map[string]string{"LAB_MANAGER_TOKEN": "t0ken"}, http.Header{"X-Lab-Manager-Token": {"nope"}}, http.StatusUnauthorized},
		{"source not allowed", map[string]string{"LAB_MANAGER_TOKEN": "t0ken", "OPS_ALLOWED_CIDRS": "10.0.0.0/8"},
			http.Header{"X-Lab-Manager-Token": {"t0ken"}}, http.StatusForbidden},
		{"internal credential", map[string]string{"OPS_INTERNAL_AUTH_TOKEN": "svc"}, http.Header{"X-Ops-Internal-Token": {"svc"}}, http.StatusOK},
		{"internal credential, own header", map[string]string{"OPS_INTERNAL_AUTH_TOKEN": "svc", "OPS_INTERNAL_AUTH_HEADER": "x-gw"},
			http.Header{"X-Gw": {"svc"}}, http.StatusOK},
		{"wrong internal credential", map[string]string{"OPS_INTERNAL_AUTH_TOKEN": "svc", "LAB_MANAGER_TOKEN": "t0ken"},
			http.Header{"X-Ops-Internal-Token": {"svc2"}}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := mustNew(t, mustConfig(t, tt.env), app.Options{})
			w, body := get(t, a.Handler(), "/api/hosts", tt.header)
			if w.Code != tt.want {
				t.Errorf("GET /api/hosts: got %d, want %d (%v)", w.Code, tt.want, body)
			}
		})
	}
	// The guard's default header is the configuration's (api links no config).
	if api.DefaultInternalHeader != config.DefaultInternalAuthHeader {
		t.Errorf("api.DefaultInternalHeader %q, config.DefaultInternalAuthHeader %q", api.DefaultInternalHeader, config.DefaultInternalAuthHeader)
	}
	t.Run("right token", func(t *testing.T) {
		a, _ := mustNew(t, mustConfig(t, map[string]string{"LAB_MANAGER_TOKEN": "t0ken"}), app.Options{})
		w, body := get(t, a.Handler(), "/api/hosts", http.Header{"X-Lab-Manager-Token": {"t0ken"}})
		if c := w.Code; c == http.StatusUnauthorized || c == http.StatusServiceUnavailable || c == http.StatusForbidden {
			t.Errorf("GET /api/hosts with the token: %d %v", c, body)
		}
	})
}

func TestFromEnv(t *testing.T) {
	cfg := mustConfig(t, nil)
	t.Setenv("OPS_CONFIG", cfg.HostsPath)
	t.Setenv("MYSQL_DSN", "")
	t.Setenv("OPS_LOG_LEVEL", "ERROR")
	a, err := app.FromEnv(context.Background(), app.Options{LogOutput: &logtest.Buffer{}})
	if err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	defer a.Close()
	if got := a.Hosts().Catalog().Len(); got != 2 {
		t.Errorf("hosts: got %d, want 2", got)
	}
	t.Setenv("OPS_POLL_INTERVAL", "soon")
	if _, err := app.FromEnv(context.Background(), app.Options{LogOutput: &logtest.Buffer{}}); err == nil || !strings.Contains(err.Error(), "OPS_POLL_INTERVAL") {
		t.Errorf("FromEnv with a bad variable: %v", err)
	}
}

func TestNew_BadCatalog(t *testing.T) {
	path := labsimtest.WriteHostsFile(t, `{"hosts": [{"name": "x"}]}`)
	cfg, err := config.LoadMap(context.Background(), map[string]string{"OPS_CONFIG": path})
	if err != nil {
		t.Fatal(err)
	}
	_, err = app.New(context.Background(), cfg, app.Options{LogOutput: &logtest.Buffer{}})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("New with an invalid catalog: %v, want an error naming %s", err, path)
	}
}

func TestNew_MissingCatalog(t *testing.T) {
	cfg, err := config.LoadMap(context.Background(), map[string]string{"OPS_CONFIG": filepath.Join(t.TempDir(), "none.json")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.New(context.Background(), cfg, app.Options{LogOutput: &logtest.Buffer{}}); err == nil {
		t.Error("New with a missing catalog: no error")
	}
}

func TestSettings(t *testing.T) {
	cfg := mustConfig(t, map[string]string{"OPS_TIMELINE_DEFAULT_LIMIT": "7", "OPS_ALLOWED_COMMANDS": "status"})
	got := app.Settings(cfg)
	want := ops.Settings{AllowedCommands: []string{"status"}, TimelineDefaultLimit: 7, TimelineMaxOps: 500,
		TimelinePhaseLookback: 500, HeartbeatStaleAfter: cfg.HeartbeatStaleAfter()}
	if strings.Join(got.AllowedCommands, ",") != "status" || got.TimelineDefaultLimit != want.TimelineDefaultLimit ||
		got.TimelineMaxOps != want.TimelineMaxOps || got.TimelinePhaseLookback != want.TimelinePhaseLookback ||
		got.HeartbeatStaleAfter != want.HeartbeatStaleAfter || got.RelayConfigured {
		t.Errorf("Settings: got %+v, want %+v", got, want)
	}
}

func TestWinRMConfig(t *testing.T) {
	cfg := mustConfig(t, map[string]string{"OPS_WINRM_OPERATION_TIMEOUT": "15", "OPS_WINRM_READ_TIMEOUT": "25", "OPS_WINRM_COMMAND_TIMEOUT": "200"})
	c := app.WinRMConfig(cfg, nil)
	if c.OperationTimeout != cfg.WinRMOperationTimeout() || c.ReadTimeout != cfg.WinRMReadTimeout() || c.CommandTimeout != cfg.WinRMCommandTimeout() {
		t.Errorf("WinRMConfig: %+v", c)
	}
}

// TestNoEmbeddedEngine keeps go-mysql-server out of everything a Lambda
// function links through this package.
func TestNoEmbeddedEngine(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		// go test puts its own go tool first on PATH: missing, it is a broken set-up, not a reason to skip.
		t.Fatalf("go tool not found: %v", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", "github.com/ops-worker/ops-worker/internal/app").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/dolthub/") || strings.HasSuffix(dep, "/internal/memsql") {
			t.Errorf("internal/app depends on %s", dep)
		}
	}
}

// The tick's flow timeout is a backstop above the own deadlines of a
// flow's commands one after another (release, a session-guard command
// given its grace + 60 s whatever OPS_WINRM_COMMAND_TIMEOUT says; power;
// then the power-off wait), so a hung command ends at its own deadline and
// a guard waiting its grace is never cut by the flow.
func TestSchedulerConfig_FlowOutlastsItsCommands(t *testing.T) {
	for _, env := range []map[string]string{
		{},
		{"OPS_WINRM_OPERATION_TIMEOUT": "20", "OPS_WINRM_READ_TIMEOUT": "30", "OPS_WINRM_COMMAND_TIMEOUT": "21"},
		{"OPS_WINRM_OPERATION_TIMEOUT": "2", "OPS_WINRM_READ_TIMEOUT": "4", "OPS_WINRM_COMMAND_TIMEOUT": "4"},
		{"OPS_WINRM_COMMAND_TIMEOUT": "900", "OPS_RESERVATION_POWER_OFF_WAIT": "0"},
	} {
		cfg := mustConfig(t, env)
		cmd := cfg.WinRMCommandTimeout()
		release := max(cmd, labstation.MinRunTime(labstation.CmdReleaseSession, nil))
		prepare := max(cmd, labstation.MinRunTime(labstation.CmdPrepareSession, []string{labstation.GuardGraceArg(ops.DefaultGuardGrace)}))
		endFlow := release + cmd + cfg.PowerOffWait()
		startFlow := 30*time.Second + prepare // the default wake: 3 attempts of 10 s
		got := app.SchedulerConfig(cfg).FlowTimeout
		if got <= endFlow || got <= startFlow {
			t.Errorf("%v: flow timeout %v, the end flow's commands may take %v, the start flow's %v", env, got, endFlow, startFlow)
		}
	}
}

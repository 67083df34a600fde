package lambdafn_test

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/events"

	"github.com/ops-worker/ops-worker/internal/app"
	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/logtest"
	"github.com/ops-worker/ops-worker/internal/store"
)

func TestMain(m *testing.M) {
	code := dbtest.Main(m)
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// The function binaries, built once per test binary by `make lambdas`
// for this machine's CPU.
var (
	buildOnce sync.Once
	builtDir  string
	buildErr  error
)

func builtFunctions(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		builtDir, buildErr = os.MkdirTemp("", "ops-worker-lambdas-")
		if buildErr != nil {
			return
		}
		out, err := exec.Command("make", "-C", repoRoot(t), "lambdas", "LAMBDA_DIR="+builtDir, "LAMBDA_GOARCH="+runtime.GOARCH).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("make lambdas: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtDir
}

// rieBinary is the Runtime Interface Emulator, or a skip (a failure with
// OPS_TEST_RIE=required, as in CI).
func rieBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p
	}
	gopath, _ := exec.Command("go", "env", "GOPATH").Output()
	for _, dir := range filepath.SplitList(strings.TrimSpace(string(gopath))) {
		if p := filepath.Join(dir, "bin", "aws-lambda-rie"); fileExists(p) {
			return p
		}
	}
	msg := "aws-lambda-rie not found (go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d)"
	if os.Getenv("OPS_TEST_RIE") == "required" {
		t.Fatal(msg + "; OPS_TEST_RIE=required")
	}
	t.Skip(msg + ": skipped (OPS_TEST_RIE=required, as .ci/run sets, makes it a failure)")
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// emulated is one function binary running under the emulator.
type emulated struct {
	name string
	url  string
	cmd  *exec.Cmd
	logs *logtest.Buffer
}

// startRIE runs functions/<name> under the emulator with exactly env (and
// PATH), on a free loopback port, and waits until it accepts connections.
// The function itself starts (cold start) on the first invocation.
func startRIE(t testing.TB, name string, env map[string]string) *emulated {
	t.Helper()
	rie := rieBinary(t)
	bootstrap := filepath.Join(builtFunctions(t), name, "bootstrap")
	// Two free loopback ports: the invoke API, and the Runtime API the
	// function polls (the emulator's default, 127.0.0.1:9001, would allow
	// only one emulator at a time).
	addr, runtimeAPI := freeAddr(t), freeAddr(t)
	e := &emulated{name: name, url: "http://" + addr + "/2015-03-31/functions/function/invocations", logs: &logtest.Buffer{}}
	e.cmd = exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", runtimeAPI, bootstrap)
	e.cmd.Dir = t.TempDir()
	e.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		e.cmd.Env = append(e.cmd.Env, k+"="+v)
	}
	e.cmd.Stdout, e.cmd.Stderr = e.logs, e.logs
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.cmd.Process.Kill()
		_ = e.cmd.Wait()
		if t.Failed() {
			t.Logf("emulator log of %s:\n%s", name, e.logs)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("emulator for %s never listened on %s:\n%s", name, addr, e.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// invokeRaw posts an event to the emulator and returns the function's
// answer.
func (e *emulated) invokeRaw(t testing.TB, ev any) []byte {
	t.Helper()
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", e.url, bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("invoke %s: %v\n%s", e.name, err, e.logs)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("invoke %s: emulator status %d: %s\n%s", e.name, resp.StatusCode, out, e.logs)
	}
	return out
}

// call is one HTTP request, sent to a function as an HTTP API event and
// to the local server's handler as itself.
type call struct {
	method, path, query, body string
	token                     bool
	// internal sends testInternal in X-Ops-Internal-Token, as the current
	// gateway's proxy does.
	internal bool
	sourceIP string
}

// testInternal is OPS_INTERNAL_AUTH_TOKEN of the comparison's worlds.
const testInternal = "rie-internal-svc-token"

const callRequestID = "rie-compare-1"

func (c call) event() events.APIGatewayV2HTTPRequest {
	src := c.sourceIP
	if src == "" {
		src = "127.0.0.1"
	}
	ev := event(c.method, c.path, src, map[string]string{"x-request-id": callRequestID})
	ev.RawQueryString = c.query
	if c.body != "" {
		ev.Body = c.body
		ev.Headers["content-type"] = "application/json"
	}
	if c.token {
		ev.Headers["x-lab-manager-token"] = testToken
	}
	if c.internal {
		ev.Headers["x-ops-internal-token"] = testInternal
	}
	return ev
}

func (c call) request() *http.Request {
	target := c.path
	if c.query != "" {
		target += "?" + c.query
	}
	r := httptest.NewRequest(c.method, target, strings.NewReader(c.body))
	r.Header.Set("X-Request-ID", callRequestID)
	if c.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if c.token {
		r.Header.Set("X-Lab-Manager-Token", testToken)
	}
	if c.internal {
		r.Header.Set("X-Ops-Internal-Token", testInternal)
	}
	src := c.sourceIP
	if src == "" {
		src = "127.0.0.1"
	}
	r.RemoteAddr = net.JoinHostPort(src, "40000")
	return r
}

// answer is what a caller sees: status and body (as JSON, volatile values
// such as durations and clock times blanked).
type answer struct {
	Status int
	Body   any
}

func (e *emulated) do(t *testing.T, c call) answer {
	t.Helper()
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(e.invokeRaw(t, c.event()), &resp); err != nil {
		t.Fatalf("%s: answer is not an HTTP API response: %v", e.name, err)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			t.Fatal(err)
		}
	}
	return answer{resp.StatusCode, normalize(t, body)}
}

func local(t *testing.T, h http.Handler, c call) answer {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, c.request())
	return answer{rec.Code, normalize(t, rec.Body.Bytes())}
}

// volatile are the keys whose values differ from one run to the next
// (durations, clock times, generated ids, command output with times in
// it); world are those that differ between the twin worlds (each has its
// own simulated station: ports, CA file).
var (
	volatile = regexp.MustCompile(`(?i)^(.*duration.*|.*_ms|.*[a-z]Ms|.*[a-z]At|.*_at|at|.*time.*|.*stamp.*|uptime.*|stdout|id|operationId|.*age_?s(ec(onds)?)?)$`)
	world    = regexp.MustCompile(`(?i)^(port|winrm_port|wol_port|winrm_ca_file)$`)
)

func normalize(t *testing.T, body []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("answer is not JSON: %q", body)
	}
	return blank(v)
}

func blank(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			switch {
			case volatile.MatchString(k):
				x[k] = "<volatile>"
			case world.MatchString(k):
				x[k] = "<world>"
			default:
				x[k] = blank(val)
			}
		}
	case []any:
		for i := range x {
			x[i] = blank(x[i])
		}
	}
	return v
}

// twin is one lab: a simulated station lab-ws-01 (lab "1") and a migrated
// MariaDB database. The functions and the local server each get their own
// world, so both see the same names and the same state.
type twin struct {
	env map[string]string
	sim *labsim.Sim // nil in a relay world
}

func newWorld(t *testing.T, extra map[string]string) twin {
	t.Helper()
	return newWorldOf(t, []labsim.HostOptions{{Name: "lab-ws-01"}}, extra)
}

// newWorldOf is newWorld with the given simulated stations (host i serves
// lab i+1, as labsim's catalog has it).
func newWorldOf(t *testing.T, stations []labsim.HostOptions, extra map[string]string) twin {
	t.Helper()
	sim := labsimtest.Start(t, stations...)
	catalog, err := sim.HostsJSON()
	if err != nil {
		t.Fatal(err)
	}
	path := labsimtest.WriteHostsFile(t, catalog)
	env := map[string]string{
		"OPS_CONFIG": path, "MYSQL_DSN": dbtest.NewDatabase(t), "LAB_MANAGER_TOKEN": testToken,
		"OPS_WINRM_OPERATION_TIMEOUT": "5",
	}
	for k, v := range extra {
		env[k] = v
	}
	return twin{env: env, sim: sim}
}

// localServer is the local server's handler (the same app construction,
// with migrations) in w.
func localServer(t *testing.T, w twin) http.Handler {
	t.Helper()
	cfg, err := config.LoadMap(t.Context(), w.env)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(t.Context(), cfg, app.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a.Handler()
}

// addReservation puts a CONFIRMED reservation of lab 1 into w's
// lab_reservations (the gateway backend's table), as the demo does.
func addReservation(t *testing.T, w twin, id string, start time.Time) {
	t.Helper()
	addBooking(t, w, id, start, start.Add(time.Hour))
}

// addBooking is addReservation from start to end.
func addBooking(t *testing.T, w twin, id string, start, end time.Time) {
	t.Helper()
	cfg, err := config.ParseDSN(w.env["MYSQL_DSN"])
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.DB.ExecContext(t.Context(),
		`INSERT INTO lab_reservations (transaction_hash, user_id, wallet_address, lab_id, start_time, end_time, status)
		 VALUES (?, 1, '0x0000000000000000000000000000000000000001', '1', ?, ?, 'CONFIRMED')`,
		id, start, end); err != nil {
		t.Fatal(err)
	}
}

// migrateUnderRIE runs functions/migrate under the emulator as the Schema
// custom resource would (Create), answering CloudFormation's response URL
// itself, and fails unless it reported SUCCESS.
func migrateUnderRIE(t *testing.T, w twin) {
	t.Helper()
	got := make(chan cfn.Response, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var resp cfn.Response
		_ = json.NewDecoder(r.Body).Decode(&resp)
		got <- resp
	}))
	defer srv.Close()
	m := startRIE(t, "migrate", w.env)
	m.invokeRaw(t, cfn.Event{RequestType: cfn.RequestCreate, RequestID: "cfn-1", ResponseURL: srv.URL,
		ResourceType: "Custom::OpsWorkerSchema", LogicalResourceID: "Schema", StackID: "arn:aws:cloudformation:test"})
	select {
	case resp := <-got:
		if resp.Status != cfn.StatusSuccess || resp.PhysicalResourceID != "ops-worker-schema" {
			t.Fatalf("migrate: %+v\n%s", resp, m.logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("migrate never answered CloudFormation\n%s", m.logs)
	}
}

// TestRIE_SameAnswersAsLocalServer runs the built functions under the
// Runtime Interface Emulator and sends each the same requests as the local
// server's handler, in twin worlds: the answers must be equal.
func TestRIE_SameAnswersAsLocalServer(t *testing.T) {
	rieBinary(t)
	internal := map[string]string{"OPS_INTERNAL_AUTH_TOKEN": testInternal}
	lw, sw := newWorld(t, internal), newWorld(t, internal)
	migrateUnderRIE(t, lw)
	srv := localServer(t, sw)
	start := time.Now().UTC().Add(10 * time.Minute).Truncate(time.Minute)
	addReservation(t, lw, "rie-1", start)
	addReservation(t, sw, "rie-1", start)
	fns := map[string]*emulated{}
	fn := func(name string) *emulated {
		if fns[name] == nil {
			fns[name] = startRIE(t, name, lw.env)
		}
		return fns[name]
	}
	cases := []struct {
		fn   string
		c    call
		want int
	}{
		{"health", call{method: "GET", path: "/health"}, 200},
		{"winrm", call{method: "POST", path: "/api/winrm", body: `{"host":"lab-ws-01","command":"format","args":["c:"]}`, token: true}, 400},
		{"winrm", call{method: "POST", path: "/api/winrm", body: `{"host":"lab-ws-01","command":"status-json"}`}, 401},
		{"winrm", call{method: "POST", path: "/api/winrm", body: `{"host":"lab-ws-01","command":"status-json"}`, token: true}, 200},
		{"winrm", call{method: "POST", path: "/api/winrm", body: `{"host":"lab-ws-01","command":"status-json"}`, internal: true}, 200},
		{"hosts-list", call{method: "GET", path: "/api/hosts", internal: true}, 200},
		{"reservation-start", call{method: "POST", path: "/api/reservations/start", body: `{"reservationId":"rie-1","host":"lab-ws-01","labId":"1"}`, token: true}, 200},
		{"reservation-timeline", call{method: "GET", path: "/api/reservations/timeline", query: "reservationId=rie-1", token: true}, 200},
	}
	for _, tc := range cases {
		name := tc.fn + " " + tc.c.method + " " + tc.c.path
		got := fn(tc.fn).do(t, tc.c)
		want := local(t, srv, tc.c)
		if got.Status != tc.want {
			t.Errorf("%s: function answered %d, want %d: %v", name, got.Status, tc.want, got.Body)
		}
		if gj, wj := mustJSON(got), mustJSON(want); gj != wj {
			t.Errorf("%s: function and local server differ:\nfunction: %s\nlocal:    %s", name, gj, wj)
		}
		if tc.want >= 400 {
			m, _ := got.Body.(map[string]any)
			if m["error"] == "" || m["code"] == "" || m["requestId"] != callRequestID {
				t.Errorf("%s: not the error contract: %v", name, got.Body)
			}
		}
		if tc.fn == "reservation-timeline" && (!strings.Contains(mustJSON(got), `"action":"prepare"`) || !strings.Contains(mustJSON(got), `"action":"wake"`)) {
			t.Errorf("timeline does not show the start's steps from MariaDB: %s", mustJSON(got))
		}
	}
	// Every line a function logged during its invocations is JSON with
	// the Lambda request id.
	for _, e := range fns {
		checkFunctionLogs(t, e)
	}
}

// TestRIE_SourceIPAllowlist: OPS_ALLOWED_CIDRS against API Gateway's
// sourceIp, the same as the local server against the TCP peer.
func TestRIE_SourceIPAllowlist(t *testing.T) {
	rieBinary(t)
	allow := map[string]string{"OPS_ALLOWED_CIDRS": "198.51.100.0/24"}
	lw, sw := newWorld(t, allow), newWorld(t, allow)
	migrateUnderRIE(t, lw)
	srv := localServer(t, sw)
	e := startRIE(t, "hosts-list", lw.env)
	for _, tc := range []struct {
		src  string
		want int
	}{{"203.0.113.9", 403}, {"198.51.100.7", 200}} {
		c := call{method: "GET", path: "/api/hosts", token: true, sourceIP: tc.src}
		got, want := e.do(t, c), local(t, srv, c)
		if got.Status != tc.want {
			t.Errorf("source %s: %d, want %d: %v", tc.src, got.Status, tc.want, got.Body)
		}
		if gj, wj := mustJSON(got), mustJSON(want); gj != wj {
			t.Errorf("source %s: function and local server differ:\nfunction: %s\nlocal:    %s", tc.src, gj, wj)
		}
	}
}

// TestRIE_StaticBinaries: what `make lambdas` built is static linux code.
func TestRIE_StaticBinaries(t *testing.T) {
	dir := builtFunctions(t)
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[runtime.GOARCH]
	for _, d := range functionDirs(t) {
		checkStaticELF(t, filepath.Join(dir, d, "bootstrap"), machine)
	}
}

// checkFunctionLogs: the function's own lines (JSON objects; the
// emulator's are plain text) after the cold start carry aws_request_id.
func checkFunctionLogs(t *testing.T, e *emulated) {
	t.Helper()
	var n int
	for line := range strings.Lines(e.logs.String()) {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("%s: log line not JSON: %q", e.name, line)
			continue
		}
		if _, ok := rec["request_id"]; ok {
			n++
			if id, _ := rec["aws_request_id"].(string); id == "" {
				t.Errorf("%s: request log line without aws_request_id: %q", e.name, line)
			}
		}
	}
	if n == 0 {
		t.Errorf("%s: no request log line:\n%s", e.name, e.logs)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

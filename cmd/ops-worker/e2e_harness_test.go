package main

// The end-to-end harness: the local server (Main, as `ops-worker` runs it)
// on 127.0.0.1:0 over a fresh MariaDB database (internal/dbtest) and a
// labsim catalog, driven over real HTTP. Every response (status, headers,
// body) and every log line of the server is captured, and each test ends
// by checking that no station password and no API token is in any of
// them.
//
// The suite lives in package main (not a package of its own) because Main
// is package main's: a second package could only run the binary, not
// Main with its Env and LogOutput, nor the no-database variant
// (noEmbedded).

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/ops-worker/ops-worker/internal/api"
	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/discovery"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/logtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// e2eToken is the API token of the suite's servers.
const e2eToken = "e2e-Tok3n-4f9c2a71d0"

// e2eEnv is one running server and what it talks to.
type e2eEnv struct {
	m       *Main
	base    string
	sim     *labsim.Sim
	db      *sql.DB // nil without a database
	dsn     string
	path    string // hosts.json
	logs    *logtest.Buffer
	capture *logtest.Buffer // every response: status line, headers, body
	client  *http.Client
	secrets []string
}

type e2eOpts struct {
	hosts   []labsim.HostOptions
	noDB    bool                   // no MYSQL_DSN and no embedded database
	env     map[string]string      // extra environment
	catalog func([]map[string]any) // edits the catalog entries before they are written
	// dsn and catalogPath, when set, are used instead of a new database
	// and a new catalog (a second instance of the same deployment).
	dsn, catalogPath string
	// drop leaves these simulated stations out of the catalog (candidates
	// for provisioning).
	drop []string
	// resolver resolves discovery's hostnames (nil: the system's).
	resolver discovery.Resolver
	// sim, when set, is used instead of a new one (hosts is then ignored).
	sim *labsim.Sim
}

// e2ePassword is a per-host password, distinct from labsim's default, so a
// leak of any of them is seen.
func e2ePassword(i int) string { return fmt.Sprintf("Pw-e2e-%02d-%s", i+1, "x7Q!k2") }

func startE2E(t *testing.T, o e2eOpts) *e2eEnv {
	t.Helper()
	ctx := context.Background()
	if len(o.hosts) == 0 {
		o.hosts = []labsim.HostOptions{{}}
	}
	for i := range o.hosts {
		if o.hosts[i].Password == "" {
			o.hosts[i].Password = e2ePassword(i)
		}
		if o.hosts[i].BootDelay == 0 {
			o.hosts[i].BootDelay = 50 * time.Millisecond
		}
		if o.hosts[i].TimeScale == 0 {
			o.hosts[i].TimeScale = 0.001
		}
	}
	sim := o.sim
	if sim == nil {
		sim = labsimtest.Start(t, o.hosts...)
	}
	e := &e2eEnv{sim: sim, logs: &logtest.Buffer{}, capture: &logtest.Buffer{}, secrets: []string{e2eToken}}
	for _, h := range sim.Hosts() {
		e.secrets = append(e.secrets, h.Password())
	}
	// A second instance reads another sim's catalog: every password the
	// suite hands out is a secret here too.
	e.secrets = append(e.secrets, labsim.DefaultPassword)
	for i := range 10 {
		e.secrets = append(e.secrets, e2ePassword(i))
	}

	doc, err := sim.HostsJSON()
	if err != nil {
		t.Fatal(err)
	}
	if o.catalog != nil || len(o.drop) > 0 {
		var cat struct {
			Hosts []map[string]any `json:"hosts"`
		}
		if err := json.Unmarshal(doc, &cat); err != nil {
			t.Fatal(err)
		}
		cat.Hosts = slices.DeleteFunc(cat.Hosts, func(h map[string]any) bool { return slices.Contains(o.drop, h["name"].(string)) })
		if o.catalog != nil {
			o.catalog(cat.Hosts)
		}
		if doc, err = json.Marshal(cat); err != nil {
			t.Fatal(err)
		}
	}
	e.path = o.catalogPath
	if e.path == "" {
		e.path = labsimtest.WriteHostsFile(t, doc)
	}

	env := map[string]string{"OPS_CONFIG": e.path, "LAB_MANAGER_TOKEN": e2eToken}
	if !o.noDB {
		e.dsn = o.dsn
		if e.dsn == "" {
			e.dsn = dbtest.NewDatabase(t)
		}
		env["MYSQL_DSN"] = e.dsn
		if e.db, err = sql.Open("mysql", e.dsn); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.db.Close() })
	}
	for k, v := range o.env {
		env[k] = v
	}
	// Registered before the server's Close, so it runs after it: the
	// shutdown lines are checked too.
	t.Cleanup(func() { e.checkNoSecrets(t) })

	e.m = &Main{Addr: "127.0.0.1:0", LogFormat: "json", Env: env, LogOutput: e.logs, ShutdownTimeout: 5 * time.Second}
	e.m.noEmbedded = o.noDB
	e.m.discoveryResolver = o.resolver
	if err := e.m.Run(ctx); err != nil {
		e.m.Close()
		t.Fatalf("Run: %v\n%s", err, e.logs)
	}
	t.Cleanup(func() {
		if err := e.m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	e.base = "http://" + e.m.BoundAddr()
	e.client = &http.Client{Timeout: 60 * time.Second, Transport: &captureTransport{next: http.DefaultTransport, out: e.capture}}
	return e
}

// checkRequestIDs fails the test when a log line written while serving a
// request lacks its request id (API.md: "in every log line of that
// request"): every line after start-up ("listening") but the server's own
// stop lines.
func (e *e2eEnv) checkRequestIDs(t *testing.T) {
	t.Helper()
	own := map[string]bool{"stopped": true, "shutting down: waiting for requests in flight": true}
	started := false
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		if !started {
			started = m["msg"] == "listening"
			continue
		}
		if id, _ := m["request_id"].(string); id == "" && !own[fmt.Sprint(m["msg"])] {
			t.Errorf("log line without request_id: %s", line)
		}
	}
}

// checkNoSecrets fails the test when a password or the token is in a
// response or a log line.
func (e *e2eEnv) checkNoSecrets(t *testing.T) {
	t.Helper()
	logs, resp := e.logs.String(), e.capture.String()
	if resp == "" {
		t.Error("no response was captured")
	}
	for _, s := range e.secrets {
		if i := strings.Index(logs, s); i >= 0 {
			t.Errorf("secret %q in the server log: %s", s, around(logs, i))
		}
		if i := strings.Index(resp, s); i >= 0 {
			t.Errorf("secret %q in a response: %s", s, around(resp, i))
		}
	}
}

func around(s string, i int) string {
	lo, hi := max(0, i-200), min(len(s), i+200)
	return s[lo:hi]
}

// captureTransport writes every response (status, headers, body) to out.
type captureTransport struct {
	next http.RoundTripper
	out  io.Writer
}

func (c *captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := c.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s -> %s\n", r.Method, r.URL, res.Status)
	res.Header.Write(&b)
	b.Write(body)
	b.WriteString("\n\n")
	c.out.Write(b.Bytes())
	return res, nil
}

// e2eResp is one answer.
type e2eResp struct {
	code int
	hdr  http.Header
	raw  []byte
	body map[string]any // nil when not a JSON object
}

func (r e2eResp) String() string { return fmt.Sprintf("%d %s", r.code, r.raw) }

// reqOpt changes a request before it is sent.
type reqOpt func(*http.Request)

// noToken sends no token.
func noToken(r *http.Request) { r.Header.Del("X-Lab-Manager-Token") }

func withHeader(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

// do sends method path with body: nil (none), a string or []byte (sent as
// is) or anything else (JSON), with the token unless an option removes it.
func (e *e2eEnv) do(t testing.TB, method, path string, body any, opts ...reqOpt) e2eResp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-Lab-Manager-Token", e2eToken)
	for _, o := range opts {
		o(req)
	}
	res, err := e.client.Do(req)
	if err != nil {
		// Errorf, not Fatalf: do also runs on goroutines of its own.
		t.Errorf("%s %s: %v", method, path, err)
		return e2eResp{code: -1}
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := e2eResp{code: res.StatusCode, hdr: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	if id := res.Header.Get("X-Request-ID"); !requestIDPattern.MatchString(id) {
		t.Errorf("%s %.80s: %d answer with X-Request-ID %q", method, path, r.code, id)
	}
	checkOpenAPI(t, req, r)
	return r
}

var openAPI struct {
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	err    error
}

// checkOpenAPI checks an answer against the OpenAPI document the server
// serves (api.OpenAPI): the documented status and body of its route, or
// the Error schema for a path or method the document does not have.
func checkOpenAPI(t testing.TB, req *http.Request, r e2eResp) {
	t.Helper()
	openAPI.once.Do(func() {
		if openAPI.doc, openAPI.err = openapi3.NewLoader().LoadFromData(api.OpenAPI); openAPI.err == nil {
			if openAPI.err = openAPI.doc.Validate(context.Background()); openAPI.err == nil {
				openAPI.router, openAPI.err = legacy.NewRouter(openAPI.doc)
			}
		}
	})
	if openAPI.err != nil {
		t.Fatalf("openapi.json: %v", openAPI.err)
	}
	probe := req.Clone(context.Background())
	probe.Body = http.NoBody
	route, params, err := openAPI.router.FindRoute(probe)
	if err != nil {
		var v any
		_ = json.Unmarshal(r.raw, &v)
		if err := openAPI.doc.Components.Schemas["Error"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
			t.Errorf("%s %.80s: %d body is not an Error: %v", req.Method, req.URL, r.code, err)
		}
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route},
		Status:                 r.code,
		Header:                 r.hdr,
		Body:                   io.NopCloser(bytes.NewReader(r.raw)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %.80s: %d answer does not match openapi.json: %.1000v\n%.500s", req.Method, req.URL, r.code, err, r.raw)
	}
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// wantErr checks an error answer: the status, the exact message (when
// msg is not ""), the code (when not ""), and the error contract: exactly
// error, code and requestId, the id also in X-Request-ID.
func wantErr(t testing.TB, r e2eResp, status int, code, msg string) {
	t.Helper()
	if r.code != status {
		t.Errorf("status %d, want %d: %s", r.code, status, r.raw)
		return
	}
	checkErrorContract(t, r)
	if msg != "" && r.body["error"] != msg {
		t.Errorf("error %q, want %q", r.body["error"], msg)
	}
	if code != "" && r.body["code"] != code {
		t.Errorf("code %q, want %q (%s)", r.body["code"], code, r.raw)
	}
}

// checkErrorContract checks {"error", "code", "requestId"} and the header.
func checkErrorContract(t testing.TB, r e2eResp) {
	t.Helper()
	if r.body == nil {
		t.Errorf("%d answer is not a JSON object: %q", r.code, r.raw)
		return
	}
	msg, _ := r.body["error"].(string)
	code, _ := r.body["code"].(string)
	id, _ := r.body["requestId"].(string)
	if msg == "" || code == "" || id == "" || len(r.body) != 3 {
		t.Errorf("%d answer is not the error contract: %s", r.code, r.raw)
	}
	if h := r.hdr.Get("X-Request-ID"); h != id || !requestIDPattern.MatchString(id) {
		t.Errorf("requestId %q, X-Request-ID %q: want the same valid id", id, h)
	}
	if ct := r.hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want JSON", ct)
	}
	if r.code == 500 && (msg != "Internal server error" || code != "INTERNAL_ERROR") && msg != "Database not configured" {
		t.Errorf("500 other than the internal error: %s", r.raw)
	}
}

// wantOK checks a 200 JSON object answer that has every key.
func wantOK(t testing.TB, r e2eResp, keys ...string) {
	t.Helper()
	if r.code != http.StatusOK || r.body == nil {
		t.Fatalf("want 200 JSON object, got %s", r)
	}
	for _, k := range keys {
		if _, ok := r.body[k]; !ok {
			t.Errorf("answer lacks %q: %s", k, r.raw)
		}
	}
}

// queryInt runs a COUNT-like query.
func (e *e2eEnv) queryInt(t testing.TB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// insertReservation adds a lab_reservations row (the gateway's table).
func (e *e2eEnv) insertReservation(t testing.TB, id, lab, status string, start time.Time) {
	t.Helper()
	_, err := e.db.ExecContext(context.Background(), `INSERT INTO lab_reservations
  (transaction_hash, user_id, wallet_address, lab_id, start_time, end_time, block_number, contract_address, status)
  VALUES (?, 1, '0xabc', ?, ?, ?, 1, '0xdef', ?)`, id, lab, start.UTC(), start.UTC().Add(time.Hour), status)
	if err != nil {
		t.Fatalf("insert reservation %s: %v", id, err)
	}
}

// obj returns v as an object (fails when it is not one).
func obj(t testing.TB, v any, what string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is not an object: %#v", what, v)
	}
	return m
}

func arr(t testing.TB, v any, what string) []any {
	t.Helper()
	a, ok := v.([]any)
	if !ok {
		t.Fatalf("%s is not an array: %#v", what, v)
	}
	return a
}

// hasKeys checks that m has at least these keys.
func hasKeys(t testing.TB, m map[string]any, what string, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s lacks %q: %v", what, k, m)
		}
	}
}

package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/logtest"
	"github.com/ops-worker/ops-worker/internal/ops"
)

func ptr[T any](v T) *T { return &v }

func TestOpenAPI_PathsAreRoutes(t *testing.T) {
	doc, _ := openAPIDoc(t)
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi %q, want 3.1", doc.OpenAPI)
	}
	var got, want []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			got = append(got, method+" "+path)
			open := op.Security != nil && len(*op.Security) == 0
			i := slices.IndexFunc(Routes, func(r Route) bool { return r.Method == method && r.Path == path })
			if i >= 0 && Routes[i].Auth == open {
				t.Errorf("%s %s: auth %v in Routes, security open=%v in openapi.json", method, path, Routes[i].Auth, open)
			}
		}
	}
	for _, r := range Routes {
		want = append(want, r.Method+" "+r.Path)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("openapi.json paths %v\nRoutes %v", got, want)
	}
}

func TestRoutes_Table(t *testing.T) {
	names := map[string]bool{}
	for _, r := range Routes {
		if names[r.Name] {
			t.Errorf("name %s twice", r.Name)
		}
		names[r.Name] = true
		if want := strings.HasPrefix(r.Path, "/api/"); r.Auth != want {
			t.Errorf("%s %s: Auth %v", r.Method, r.Path, r.Auth)
		}
	}
	// New panics on a route without a handler: building it is the test.
	New(Options{Service: &fakeService{}})
}

func TestOpenAPI_Served(t *testing.T) {
	hs := newHarness(t)
	w := hs.do(t, "GET", "/api/openapi.json", "")
	if w.Code != 200 || !json.Valid(w.Body.Bytes()) || w.Body.Len() != len(OpenAPI) {
		t.Fatalf("got %d, %d bytes", w.Code, w.Body.Len())
	}
}

// TestHandlers_HappyPaths calls every route once with a good request and
// checks what reached the use case and the answer.
func TestHandlers_HappyPaths(t *testing.T) {
	hs := newHarness(t)
	cases := []struct {
		method, target, body string
		want                 int
		svc                  string
		wantReq              any
	}{
		{"GET", "/health", "", 200, "Health", struct{}{}},
		{"POST", "/api/wol", `{"host":"lab-ws-01","mac":"00:11:22:33:44:55","broadcast":"10.1.2.255","port":7,"ping_target":"10.0.0.5","ping_timeout":5,"attempts":2}`, 200, "Wake",
			ops.WakeRequest{Host: knownHost, MAC: "00:11:22:33:44:55", Broadcast: "10.1.2.255", Port: ptr(7), PingTarget: "10.0.0.5", PingTimeout: ptr(5), Attempts: ptr(2)}},
		{"POST", "/api/wol", `{"mac":"00:11:22:33:44:55"}`, 200, "Wake", ops.WakeRequest{MAC: "00:11:22:33:44:55"}},
		{"POST", "/api/winrm", `{"host":"lab-ws-01","command":"status-json","args":["--a","b c"],"transport":"ntlm","use_ssl":true,"port":5986}`, 200, "RunCommand",
			ops.CommandRequest{Host: knownHost, Command: "status-json", Args: []string{"--a", "b c"}, Transport: "ntlm", UseSSL: ptr(true), Port: ptr(5986)}},
		{"POST", "/api/heartbeat/poll", `{"host":"lab-ws-01","include_events":false}`, 200, "PollHeartbeat",
			ops.PollRequest{Host: knownHost, IncludeEvents: ptr(false)}},
		{"POST", "/api/reservations/start", `{"reservationId":"0xabc123","host":"lab-ws-01","labId":"1","wake":true,"wakeOptions":{"mac":"00:11:22:33:44:55","ping_target":"10.0.0.5","attempts":4,"ping_timeout":6,"broadcast":"10.1.2.255","port":9},"prepare":true,"prepareArgs":[],"guardGrace":120}`, 200, "StartReservation",
			ops.StartRequest{ReservationID: knownResvID, Host: knownHost, LabID: "1", Wake: ptr(true), Prepare: ptr(true), PrepareArgs: []string{}, GuardGrace: ptr(120),
				WakeOptions: ops.WakeOptions{MAC: "00:11:22:33:44:55", PingTarget: "10.0.0.5", Attempts: ptr(4), PingTimeout: ptr(6), Broadcast: "10.1.2.255", Port: ptr(9)}}},
		{"POST", "/api/reservations/end", `{"reservationId":"0xabc123","host":"lab-ws-01","labId":"1","release":true,"releaseArgs":["--reboot"],"powerAction":{"mode":"hibernate","args":["--force"]}}`, 200, "EndReservation",
			ops.EndRequest{ReservationID: knownResvID, Host: knownHost, LabID: "1", Release: ptr(true), ReleaseArgs: []string{"--reboot"}, PowerAction: &ops.PowerAction{Mode: "hibernate", Args: []string{"--force"}}}},
		{"POST", "/api/reservations/end", `{"reservationId":"0xabc123","host":"lab-ws-01"}`, 200, "EndReservation",
			ops.EndRequest{ReservationID: knownResvID, Host: knownHost}},
		{"GET", "/api/reservations/timeline?reservationId=0xabc123&limit=10&offset=20", "", 200, "Timeline",
			ops.TimelineRequest{ReservationID: knownResvID, Limit: ptr(10), Offset: ptr(20)}},
		{"POST", "/api/hosts/reload", "", 200, "ReloadHosts", struct{}{}},
		{"POST", "/api/hosts/reload", `{}`, 200, "ReloadHosts", struct{}{}},
		{"POST", "/api/hosts/quarantine", `{"host":"lab-ws-01","quarantined":false}`, 200, "SetQuarantine",
			ops.QuarantineRequest{Host: knownHost, Quarantined: ptr(false)}},
		{"GET", "/api/hosts", "", 200, "Hosts", struct{}{}},
		{"GET", "/api/operations/recent?limit=5", "", 200, "RecentOperations", ops.RecentRequest{Limit: ptr(5)}},
		{"GET", "/api/operations/recent?reservationId=0xabc123&offset=3", "", 200, "RecentOperations", ops.RecentRequest{ReservationID: knownResvID, Offset: ptr(3)}},
	}
	for _, c := range cases {
		hs.svc.last = nil
		w := hs.do(t, c.method, c.target, c.body)
		if w.Code != c.want {
			t.Errorf("%s %s: got %d, want %d: %s", c.method, c.target, w.Code, c.want, w.Body)
			continue
		}
		if got := hs.svc.lastReq(c.svc); !reflect.DeepEqual(got, c.wantReq) {
			t.Errorf("%s %s: %s got\n%#v, want\n%#v", c.method, c.target, c.svc, got, c.wantReq)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", c.method, c.target, ct)
		}
		checkRequest(t, c.method, c.target, c.body)
	}
}

func TestHandlers_ResponsesCarryAPINames(t *testing.T) {
	hs := newHarness(t)
	w := hs.do(t, "GET", "/health", "")
	for _, k := range []string{`"status":"ok"`, `"hosts_loaded":1`, `"db":true`} {
		if !strings.Contains(w.Body.String(), k) {
			t.Errorf("health lacks %s: %s", k, w.Body)
		}
	}
	w = hs.do(t, "GET", "/api/reservations/timeline?reservationId=0xabc123", "")
	for _, k := range []string{`"reservation":`, `"phases":`, `"pagination":`, `"hasMore":`, `"config":{"name":"lab-ws-01"`} {
		if !strings.Contains(w.Body.String(), k) {
			t.Errorf("timeline lacks %s: %s", k, w.Body)
		}
	}
}

func TestHandlers_Flow502(t *testing.T) {
	hs := newHarness(t)
	hs.svc.flowFails = true
	for _, path := range []string{"/api/reservations/start", "/api/reservations/end"} {
		w := hs.do(t, "POST", path, `{"reservationId":"0xabc123","host":"lab-ws-01"}`)
		var f ops.FlowResponse
		if w.Code != 502 || json.Unmarshal(w.Body.Bytes(), &f) != nil || f.Success || len(f.Steps) != 1 || f.ReservationID != knownResvID {
			t.Errorf("%s: got %d %s", path, w.Code, w.Body)
		}
	}
}

func TestHandlers_ServiceErrors(t *testing.T) {
	hs := newHarness(t)
	cases := []struct {
		method, target, body string
		want                 int
		code                 ops.Code
		msg                  string
	}{
		{"POST", "/api/wol", `{}`, 400, ops.CodeBadRequest, "mac is required"},
		{"POST", "/api/wol", `{"host":"lab-ws-09"}`, 404, ops.CodeHostNotFound, "host 'lab-ws-09' not found in config"},
		{"POST", "/api/winrm", `{"host":"lab-ws-01"}`, 400, ops.CodeBadRequest, "host and command are required"},
		{"POST", "/api/winrm", `{"host":"lab-ws-01","command":"format-c"}`, 400, ops.CodeCommandNotAllowed, "command 'format-c' not allowed"},
		{"POST", "/api/heartbeat/poll", `{}`, 400, ops.CodeBadRequest, "host is required"},
		{"POST", "/api/reservations/start", `{"host":"lab-ws-01"}`, 400, ops.CodeBadRequest, "reservationId and host are required"},
		{"GET", "/api/reservations/timeline", "", 400, ops.CodeBadRequest, "reservationId is required"},
		{"GET", "/api/reservations/timeline?reservationId=nope", "", 404, ops.CodeReservationNotFound, "Reservation not found"},
		{"POST", "/api/hosts/quarantine", `{}`, 400, ops.CodeBadRequest, "host is required"},
	}
	for _, c := range cases {
		w := hs.do(t, c.method, c.target, c.body)
		if eb := errorOf(t, w); w.Code != c.want || eb.Code != c.code || eb.Error != c.msg {
			t.Errorf("%s %s %s: got %d %+v", c.method, c.target, c.body, w.Code, eb)
		}
	}
	// An unexpected failure: 500, the fixed body, the cause in the log only.
	hs.svc.err = errInternal
	w := hs.do(t, "GET", "/api/hosts", "")
	if eb := errorOf(t, w); w.Code != 500 || eb.Error != internalMessage || strings.Contains(w.Body.String(), "3306") {
		t.Errorf("internal: %d %s", w.Code, w.Body)
	}
	if !strings.Contains(hs.logs.String(), "connection refused") {
		t.Error("internal cause not logged")
	}
	hs.svc.err = ops.Errorf(ops.CodeDBNotConfigured, "Database not configured")
	w = hs.do(t, "GET", "/api/reservations/timeline?reservationId=x", "")
	if eb := errorOf(t, w); w.Code != 500 || eb.Error != "Database not configured" {
		t.Errorf("no db: %d %s", w.Code, w.Body)
	}
}

func TestHandlers_Auth(t *testing.T) {
	hs := newHarness(t)
	closed := newHarness(t, func(o *Options) { o.Guard = &Guard{} })
	nilGuard := newHarness(t, func(o *Options) { o.Guard = nil })
	cidr := newHarness(t, func(o *Options) {
		o.Guard = &Guard{Token: testToken, Allowed: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}}
	})
	for _, rt := range Routes {
		body := ""
		if rt.Method == "POST" {
			body = "{}"
		}
		if !rt.Auth {
			if w := hs.do(t, rt.Method, rt.Path, body, noEdit); w.Code != 200 {
				t.Errorf("%s %s open route: %d", rt.Method, rt.Path, w.Code)
			}
			continue
		}
		hs.svc.last = nil
		for name, edit := range map[string]func(*http.Request){
			"none":   noEdit,
			"empty":  func(r *http.Request) { r.Header.Set(TokenHeader, "") },
			"wrong":  func(r *http.Request) { r.Header.Set(TokenHeader, testToken+"x") },
			"bearer": func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testToken) },
		} {
			w := hs.do(t, rt.Method, rt.Path, body, edit)
			if eb := errorOf(t, w); w.Code != 401 || eb.Code != ops.CodeUnauthorized {
				t.Errorf("%s %s %s: got %d", rt.Method, rt.Path, name, w.Code)
			}
		}
		if len(hs.svc.last) != 0 {
			t.Errorf("%s %s: the use case ran without auth: %v", rt.Method, rt.Path, hs.svc.last)
		}
		cookie := func(r *http.Request) { r.AddCookie(&http.Cookie{Name: TokenCookie, Value: testToken}) }
		if w := hs.do(t, rt.Method, rt.Path, body, cookie); w.Code == 401 || w.Code == 403 || w.Code >= 500 {
			t.Errorf("%s %s cookie: got %d", rt.Method, rt.Path, w.Code)
		}
		for _, h := range []*harness{closed, nilGuard} {
			if w := h.do(t, rt.Method, rt.Path, body); w.Code != 503 || errorOf(t, w).Code != ops.CodeAuthNotConfigured {
				t.Errorf("%s %s no token configured: got %d", rt.Method, rt.Path, w.Code)
			}
		}
		if w := cidr.do(t, rt.Method, rt.Path, body); w.Code != 403 || errorOf(t, w).Code != ops.CodeForbidden {
			t.Errorf("%s %s outside CIDRs: got %d", rt.Method, rt.Path, w.Code)
		}
	}
	// /health stays open even with no token configured.
	if w := closed.do(t, "GET", "/health", "", noEdit); w.Code != 200 {
		t.Errorf("health, no token configured: %d", w.Code)
	}
	// Auth switched off for development.
	dev := newHarness(t, func(o *Options) { o.Guard = &Guard{AuthDisabled: true} })
	if w := dev.do(t, "GET", "/api/hosts", "", noEdit); w.Code != 200 {
		t.Errorf("auth disabled: %d", w.Code)
	}
}

func TestHandlers_NotFoundAndMethod(t *testing.T) {
	hs := newHarness(t)
	cases := []struct {
		method, target string
		edit           func(*http.Request)
		want           int
		allow          string
	}{
		{"GET", "/nope", withToken, 404, ""},
		{"GET", "/", withToken, 404, ""},
		{"GET", "/api/nope", withToken, 404, ""},
		{"GET", "/api/nope", noEdit, 401, ""}, // the guard first under /api/
		{"GET", "/api/wol", noEdit, 401, ""},
		{"GET", "/api/wol", withToken, 405, "POST"},
		{"DELETE", "/api/hosts", withToken, 405, "GET, HEAD"},
		{"POST", "/health", noEdit, 405, "GET, HEAD"},
		{"OPTIONS", "/api/winrm", withToken, 405, "POST"},
		{"GET", "/api/wol/", withToken, 404, ""},
		{"POST", "/api//wol", withToken, 404, ""},
		{"POST", "/api/x/../wol", withToken, 404, ""},
		{"POST", "/API/WOL", withToken, 404, ""},
		{"GET", "/metrics", withToken, 404, ""},
		{"GET", "/api/ticks/heartbeats", withToken, 405, "POST"},
		{"GET", "/api/ticks/nope", withToken, 404, ""},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, "/", strings.NewReader("{}"))
		r.URL.Path, r.URL.RawPath = c.target, ""
		c.edit(r)
		w := httptest.NewRecorder()
		hs.h.ServeHTTP(w, r)
		checkAnswer(t, r, w)
		eb := errorOf(t, w)
		if w.Code != c.want || w.Header().Get("Allow") != c.allow {
			t.Errorf("%s %s: got %d Allow %q, want %d %q", c.method, c.target, w.Code, w.Header().Get("Allow"), c.want, c.allow)
		}
		if w.Code == 404 && eb.Code != ops.CodeNotFound || w.Code == 405 && eb.Code != ops.CodeMethodNotAllowed {
			t.Errorf("%s %s: code %s", c.method, c.target, eb.Code)
		}
		if loc := w.Header().Get("Location"); loc != "" {
			t.Errorf("%s %s: redirected to %s", c.method, c.target, loc)
		}
	}
	if w := hs.do(t, "HEAD", "/health", "", noEdit); w.Code != 200 {
		t.Errorf("HEAD /health: %d", w.Code)
	}
}

func TestHandlers_Metrics(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("up 1\n")) })
	hs := newHarness(t, func(o *Options) { o.MetricsHandler = metrics })
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testToken) }
	for _, c := range []struct {
		name string
		edit func(*http.Request)
		want int
	}{{"bearer", bearer, 200}, {"header", withToken, 200}, {"none", noEdit, 401}} {
		r := httptest.NewRequest("GET", "/metrics", nil)
		c.edit(r)
		w := httptest.NewRecorder()
		hs.h.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("%s: %d", c.name, w.Code)
		}
	}
	// Bearer is for /metrics only.
	if w := hs.do(t, "GET", "/api/hosts", "", bearer); w.Code != 401 {
		t.Errorf("bearer on /api/hosts: %d", w.Code)
	}
	if w := hs.do(t, "POST", "/metrics", "", withToken); w.Code != 405 {
		t.Errorf("POST /metrics: %d", w.Code)
	}
}

func TestHandlers_RequestID(t *testing.T) {
	hs := newHarness(t, func(o *Options) {
		o.RequestIDFallback = func(*http.Request) string { return "apigw-1" }
	})
	set := func(id string) func(*http.Request) {
		return func(r *http.Request) { withToken(r); r.Header.Set("X-Request-ID", id) }
	}
	if w := hs.do(t, "POST", "/api/wol", `{}`, set("client-7")); errorOf(t, w).RequestID != "client-7" {
		t.Errorf("caller id not used: %s", w.Body)
	}
	if w := hs.do(t, "POST", "/api/wol", `{}`, set("bad id\r\n")); errorOf(t, w).RequestID != "apigw-1" {
		t.Errorf("fallback not used: %s", w.Body)
	}
	if !strings.Contains(hs.logs.String(), `"request_id":"client-7"`) {
		t.Error("request id not in the log")
	}
}

// TestLogHandler: a use case logging with the request's context gets the
// request id, once, through LogHandler; New's own lines keep theirs once.
func TestLogHandler(t *testing.T) {
	buf := &logtest.Buffer{}
	log := slog.New(LogHandler(slog.NewJSONHandler(buf, nil)))
	hs := newHarness(t, func(o *Options) { o.Logger = log })
	hs.svc.log = log.With("component", "ops")
	hs.do(t, "POST", "/api/wol", `{"mac":"00:11:22:33:44:55"}`, withToken, func(r *http.Request) { r.Header.Set("X-Request-ID", "rid-42") })
	lines := 0
	for line := range strings.Lines(buf.String()) {
		lines++
		if n := strings.Count(line, `"request_id":"rid-42"`); n != 1 {
			t.Errorf("request_id %d times: %s", n, line)
		}
	}
	if lines < 2 || !strings.Contains(buf.String(), `"msg":"waking"`) {
		t.Errorf("lines: %s", buf)
	}
	checkLogs(t, buf.String())
	// Outside a request, nothing is added.
	buf2 := &logtest.Buffer{}
	slog.New(LogHandler(slog.NewJSONHandler(buf2, nil))).InfoContext(context.Background(), "tick")
	if strings.Contains(buf2.String(), "request_id") {
		t.Errorf("request_id outside a request: %s", buf2)
	}
}

func TestHandlers_Aliases(t *testing.T) {
	hs := newHarness(t)
	good := []struct {
		path, body string
		svc        string
		want       any
	}{
		{"/api/reservations/start", `{"reservation_id":"0xabc123","hostName":"lab-ws-01","lab_id":"1"}`, "StartReservation",
			ops.StartRequest{ReservationID: knownResvID, Host: knownHost, LabID: "1"}},
		{"/api/reservations/start", `{"reservationId":"0xabc123","reservation_id":"0xabc123","host":"lab-ws-01","hostName":"lab-ws-01"}`, "StartReservation",
			ops.StartRequest{ReservationID: knownResvID, Host: knownHost}},
		{"/api/reservations/end", `{"reservation_id":"0xabc123","hostName":"lab-ws-01","lab_id":"2"}`, "EndReservation",
			ops.EndRequest{ReservationID: knownResvID, Host: knownHost, LabID: "2"}},
		{"/api/hosts/quarantine", `{"name":"lab-ws-01"}`, "SetQuarantine", ops.QuarantineRequest{Host: knownHost}},
		{"/api/hosts/quarantine", `{"name":"lab-ws-01","host":"lab-ws-01","quarantined":true}`, "SetQuarantine",
			ops.QuarantineRequest{Host: knownHost, Quarantined: ptr(true)}},
	}
	for _, c := range good {
		if w := hs.do(t, "POST", c.path, c.body); w.Code != 200 {
			t.Errorf("%s %s: %d %s", c.path, c.body, w.Code, w.Body)
		}
		if got := hs.svc.lastReq(c.svc); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %s: got %#v", c.path, c.body, got)
		}
	}
	bad := []struct{ path, body, a, b string }{
		{"/api/reservations/start", `{"reservationId":"a","reservation_id":"b","host":"lab-ws-01"}`, "reservationId", "reservation_id"},
		{"/api/reservations/start", `{"reservationId":"a","host":"lab-ws-01","hostName":"lab-ws-02"}`, "host", "hostName"},
		{"/api/reservations/end", `{"reservationId":"a","host":"lab-ws-01","labId":"1","lab_id":"2"}`, "labId", "lab_id"},
		{"/api/reservations/end", `{"reservationId":"","reservation_id":"a","host":"lab-ws-01"}`, "reservationId", "reservation_id"},
		{"/api/hosts/quarantine", `{"host":"lab-ws-01","name":"lab-ws-02"}`, "host", "name"},
	}
	for _, c := range bad {
		w := hs.do(t, "POST", c.path, c.body)
		eb := errorOf(t, w)
		if w.Code != 400 || !strings.Contains(eb.Error, "'"+c.a+"'") || !strings.Contains(eb.Error, "'"+c.b+"'") {
			t.Errorf("%s %s: got %d %q", c.path, c.body, w.Code, eb.Error)
		}
	}
	w := hs.do(t, "GET", "/api/reservations/timeline?reservation_id=0xabc123", "")
	if w.Code != 200 {
		t.Errorf("timeline reservation_id: %d %s", w.Code, w.Body)
	}
	w = hs.do(t, "GET", "/api/reservations/timeline?reservation_id=a&reservationId=b", "")
	if w.Code != 400 {
		t.Errorf("timeline both ids: %d", w.Code)
	}
}

// TestHandlers_WrongTypes gives every known field of every POST body a
// value of each wrong JSON type: always a 400 naming the field.
func TestHandlers_WrongTypes(t *testing.T) {
	hs := newHarness(t)
	samples := map[string]string{"string": `"x"`, "integer": `1`, "float": `1.5`, "bool": `true`, "array": `["x"]`, "object": `{"a":1}`}
	accepts := func(kind reflect.Kind, sample string) bool {
		switch kind {
		case reflect.String:
			return sample == "string"
		case reflect.Int:
			return sample == "integer"
		case reflect.Bool:
			return sample == "bool"
		case reflect.Slice:
			return sample == "array"
		case reflect.Struct:
			return sample == "object"
		}
		return false
	}
	n := 0
	for path, w := range postWires() {
		known := map[string]reflect.Type{}
		jsonFields(reflect.TypeOf(w).Elem(), known)
		for field, ft := range known {
			kind := ft.Kind()
			if kind == reflect.Pointer {
				kind = ft.Elem().Kind()
			}
			for sample, raw := range samples {
				if accepts(kind, sample) {
					continue
				}
				resp := hs.do(t, "POST", path, `{"`+field+`":`+raw+`}`)
				n++
				if eb := errorOf(t, resp); resp.Code != 400 || eb.Code != ops.CodeInvalidField || !strings.Contains(eb.Error, "'"+field+"'") {
					t.Errorf("%s {%s: %s}: got %d %q", path, field, raw, resp.Code, eb.Error)
				}
			}
		}
	}
	more := []struct{ path, body, field string }{
		{"/api/winrm", `{"args":[1]}`, "args"},
		{"/api/winrm", `{"args":[null]}`, "args"},
		{"/api/winrm", `{"args":["a",["b"]]}`, "args"},
		{"/api/reservations/start", `{"wakeOptions":{"attempts":1.5}}`, "wakeOptions.attempts"},
		{"/api/reservations/start", `{"wakeOptions":{"port":"9"}}`, "wakeOptions.port"},
		{"/api/reservations/start", `{"wakeOptions":{"PORT":9}}`, "wakeOptions.PORT"},
		{"/api/reservations/start", `{"prepareArgs":["a",null]}`, "prepareArgs"},
		{"/api/reservations/start", `{"guardGrace":1e3}`, "guardGrace"},
		{"/api/reservations/start", `{"guardGrace":99999999999999999999}`, "guardGrace"},
		{"/api/reservations/start", `{"guardGrace":-0.0}`, "guardGrace"},
		{"/api/reservations/end", `{"powerAction":{"mode":1}}`, "powerAction.mode"},
		{"/api/reservations/end", `{"powerAction":{"args":"--x"}}`, "powerAction.args"},
		{"/api/wol", `{"HOST":"lab-ws-01"}`, "HOST"},
		{"/api/wol", `{"Ping_Target":"x"}`, "Ping_Target"},
		{"/api/reservations/start", `{"hostname":"lab-ws-01"}`, "hostname"},
		{"/api/reservations/start", `{"reservationid":"x"}`, "reservationid"},
		{"/api/wol", "{\"ho\u017ft\":\"lab-ws-01\"}", "ho\u017ft"}, // ſ folds to s
	}
	for _, c := range more {
		resp := hs.do(t, "POST", c.path, c.body)
		n++
		if eb := errorOf(t, resp); resp.Code != 400 || !strings.Contains(eb.Error, "'"+c.field+"'") {
			t.Errorf("%s %s: got %d %q", c.path, c.body, resp.Code, eb.Error)
		}
	}
	t.Logf("%d wrong-typed bodies", n)
}

// postWires is the wire type of each POST route.
func postWires() map[string]any {
	return map[string]any{
		"/api/wol":                &wolWire{},
		"/api/winrm":              &winrmWire{},
		"/api/heartbeat/poll":     &pollWire{},
		"/api/reservations/start": &startWire{},
		"/api/reservations/end":   &endWire{},
		"/api/hosts/quarantine":   &quarantineWire{},
		"/api/hosts/reload":       &reloadWire{},
	}
}

func TestHandlers_UnknownFieldsTolerated(t *testing.T) {
	hs := newHarness(t)
	w := hs.do(t, "POST", "/api/heartbeat/poll", `{"host":"lab-ws-01","clientVersion":"2.1","extra":{"nested":[1,2]}}`)
	if w.Code != 200 {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	if !strings.Contains(hs.logs.String(), `"fields":["clientVersion","extra"]`) {
		t.Errorf("unknown fields not logged: %s", hs.logs)
	}
	w = hs.do(t, "POST", "/api/reservations/start", `{"reservationId":"0xabc123","host":"lab-ws-01","wakeOptions":{"future":true}}`)
	if w.Code != 200 || !strings.Contains(hs.logs.String(), `"wakeOptions.future"`) {
		t.Errorf("nested unknown: %d %s", w.Code, hs.logs)
	}
}

func TestHandlers_BodyLimit(t *testing.T) {
	hs := newHarness(t)
	big := `{"host":"` + strings.Repeat("a", 10<<20) + `"}`
	for path := range postWires() {
		w := hs.do(t, "POST", path, big)
		if eb := errorOf(t, w); w.Code != 413 || eb.Code != ops.CodeBodyTooLarge {
			t.Errorf("%s: got %d", path, w.Code)
		}
	}
	// Just under the limit is read (and refused or accepted on its merits).
	under := `{"host":"` + strings.Repeat("a", MaxBody-20) + `"}`
	if w := hs.do(t, "POST", "/api/wol", under); w.Code != 404 {
		t.Errorf("under the limit: %d", w.Code)
	}
}

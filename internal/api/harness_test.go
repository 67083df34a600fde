package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/ops-worker/ops-worker/internal/heartbeatstream"
	"github.com/ops-worker/ops-worker/internal/logtest"
	"github.com/ops-worker/ops-worker/internal/scheduler"
)

var (
	docOnce   sync.Once
	docLoaded *openapi3.T
	docRouter routers.Router
	docErr    error
)

// openAPIDoc loads and validates the embedded document once.
func openAPIDoc(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	docOnce.Do(func() {
		loader := openapi3.NewLoader()
		docLoaded, docErr = loader.LoadFromData(OpenAPI)
		if docErr != nil {
			return
		}
		if docErr = docLoaded.Validate(context.Background()); docErr != nil {
			return
		}
		docRouter, docErr = legacy.NewRouter(docLoaded)
	})
	if docErr != nil {
		t.Fatalf("openapi.json: %v", docErr)
	}
	return docLoaded, docRouter
}

// harness is New over a fakeService, with the log captured. Every answer
// it sees is checked (request id, error contract, OpenAPI, no secret), and
// at the end every log line (request id, no secret).
type harness struct {
	h    http.Handler
	svc  *fakeService
	logs *logtest.Buffer
}

func newHarness(t testing.TB, edit ...func(*Options)) *harness {
	t.Helper()
	hs := &harness{svc: &fakeService{}, logs: &logtest.Buffer{}}
	opts := Options{
		Service: hs.svc,
		Ticks:   fakeTicks{},
		Guard:   &Guard{Token: testToken},
		Logger:  slog.New(slog.NewJSONHandler(hs.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Streams: StreamOptions{Hub: heartbeatstream.New(beatSource{}, heartbeatstream.Options{})},
		Power:   &fakePower{},
	}
	for _, e := range edit {
		e(&opts)
	}
	hs.h = New(opts)
	t.Cleanup(func() { checkLogs(t, hs.logs.String()) })
	return hs
}

func checkLogs(t testing.TB, logs string) {
	t.Helper()
	for _, secret := range []string{testToken, testPasswd, testInternal} {
		if strings.Contains(logs, secret) {
			t.Errorf("a secret is in the log: %s", logs)
		}
	}
	for line := range strings.Lines(logs) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("log line is not one JSON object: %q", line)
			continue
		}
		if id, _ := m["request_id"].(string); !requestIDPattern.MatchString(id) {
			t.Errorf("log line without request_id: %q", line)
		}
	}
}

// withToken sends the token header.
func withToken(r *http.Request) { r.Header.Set(TokenHeader, testToken) }

// do sends a request (with the token unless edits say otherwise: pass
// noEdit to send none) and checks the answer.
func (hs *harness) do(t testing.TB, method, target, body string, edits ...func(*http.Request)) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if len(edits) == 0 {
		edits = []func(*http.Request){withToken}
	}
	for _, e := range edits {
		e(r)
	}
	w := httptest.NewRecorder()
	hs.h.ServeHTTP(w, r)
	checkAnswer(t, r, w)
	return w
}

func noEdit(*http.Request) {}

// checkAnswer holds for every answer: a request id in the header (and in
// an error body), the error contract on every 4xx/5xx, no secret, and
// agreement with the OpenAPI document.
func checkAnswer(t testing.TB, r *http.Request, w *httptest.ResponseRecorder) {
	t.Helper()
	id := w.Header().Get("X-Request-ID")
	if !requestIDPattern.MatchString(id) {
		t.Errorf("%s %.80s: X-Request-ID %q", r.Method, r.URL, id)
	}
	body := w.Body.Bytes()
	for _, secret := range []string{testToken, testPasswd, testInternal} {
		if bytes.Contains(body, []byte(secret)) || strings.Contains(strings.Join(headerValues(w.Header()), "\n"), secret) {
			t.Errorf("%s %.80s: a secret in the answer: %s", r.Method, r.URL, body)
		}
	}
	flow502 := w.Code == http.StatusBadGateway && strings.HasPrefix(r.URL.Path, "/api/reservations/") && !bytes.Contains(body, []byte(`"code"`))
	if w.Code >= 400 && !flow502 {
		var eb errorBody
		dec := json.NewDecoder(bytes.NewReader(body))
		// A degraded /health is the probe's fields plus the contract's.
		if w.Code != http.StatusServiceUnavailable || r.URL.Path != "/health" {
			dec.DisallowUnknownFields()
		}
		if err := dec.Decode(&eb); err != nil || eb.Error == "" || eb.Code == "" || eb.RequestID != id {
			t.Errorf("%s %.80s: %d is not the error contract (id %q): %s", r.Method, r.URL, w.Code, id, body)
		}
		if w.Code == 500 && (eb.Error != internalMessage || eb.Code != "INTERNAL_ERROR") && eb.Code != "DB_NOT_CONFIGURED" {
			t.Errorf("500 with %+v", eb)
		}
	}
	if r.Method == http.MethodHead {
		return
	}
	doc, router := openAPIDoc(t)
	probe := r.Clone(context.Background())
	probe.Body = http.NoBody
	route, params, err := router.FindRoute(probe)
	if err != nil {
		// No route in the document (404/405): still the Error schema.
		var v any
		_ = json.Unmarshal(body, &v)
		if err := doc.Components.Schemas["Error"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
			t.Errorf("%s %.80s: %d body is not an Error: %v", r.Method, r.URL, w.Code, err)
		}
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route},
		Status:                 w.Code,
		Header:                 w.Header(),
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %.80s: %d answer does not match openapi.json: %v\n%s", r.Method, r.URL, w.Code, err, body)
	}
}

func headerValues(h http.Header) []string {
	var out []string
	for _, v := range h {
		out = append(out, v...)
	}
	return out
}

// checkRequest validates a (good) request against the document.
func checkRequest(t testing.TB, method, target, body string) {
	t.Helper()
	_, router := openAPIDoc(t)
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	withToken(r)
	route, params, err := router.FindRoute(r)
	if err != nil {
		t.Fatalf("%s %s: no route in openapi.json: %v", method, target, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		t.Errorf("%s %s %s: request does not match openapi.json: %v", method, target, body, err)
	}
}

// errorOf decodes an error answer.
func errorOf(t testing.TB, w *httptest.ResponseRecorder) errorBody {
	t.Helper()
	var eb errorBody
	_ = json.Unmarshal(w.Body.Bytes(), &eb)
	return eb
}

// fakeTicks answers the tick routes with empty summaries.
type fakeTicks struct{}

func (fakeTicks) HeartbeatTick(_ context.Context, ev scheduler.Event) (scheduler.HeartbeatSummary, error) {
	return scheduler.HeartbeatSummary{TickRun: scheduler.TickRun{Tick: "heartbeats", Source: ev.Source, StartedAt: time.Unix(0, 0).UTC()}, Failures: []scheduler.PollFailure{}}, nil
}

func (fakeTicks) ReservationTick(_ context.Context, ev scheduler.Event) (scheduler.ReservationSummary, error) {
	return scheduler.ReservationSummary{TickRun: scheduler.TickRun{Tick: "reservations", Source: ev.Source, StartedAt: time.Unix(0, 0).UTC()}}, nil
}

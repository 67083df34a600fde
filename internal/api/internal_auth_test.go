package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/ops"
)

const testInternal = "svc-Int3rnal-t0ken"

// The current gateway's proxy strips the operator's token and cookies and
// sends its own credential (GATEWAY.md section 1): either credential
// admits; the internal one is a header, so the cookie checks do not apply.
func TestGuard_InternalCredential(t *testing.T) {
	both := newHarness(t, func(o *Options) { o.Guard = &Guard{Token: testToken, InternalToken: testInternal} })
	onlyInternal := newHarness(t, func(o *Options) {
		o.Guard = &Guard{InternalToken: testInternal, InternalHeader: "X-Gw-Service"}
	})
	internal := func(name string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set(name, testInternal) }
	}
	crossSite := func(r *http.Request) {
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		r.Header.Set("Origin", "https://evil.example")
		r.Header.Del("Content-Type")
	}
	cases := []struct {
		name  string
		hs    *harness
		edits []func(*http.Request)
		want  int
		code  ops.Code
	}{
		{"internal header", both, []func(*http.Request){internal(DefaultInternalHeader)}, 200, ""},
		{"internal header, lower case", both, []func(*http.Request){internal("x-ops-internal-token")}, 200, ""},
		{"internal header, no cookie checks", both, []func(*http.Request){internal(DefaultInternalHeader), crossSite}, 200, ""},
		{"operator token still", both, []func(*http.Request){withToken}, 200, ""},
		{"wrong internal", both, []func(*http.Request){func(r *http.Request) { r.Header.Set(DefaultInternalHeader, testInternal+"x") }}, 401, ops.CodeUnauthorized},
		{"wrong internal, right operator", both, []func(*http.Request){withToken, func(r *http.Request) { r.Header.Set(DefaultInternalHeader, "nope") }}, 200, ""},
		{"internal in the operator header", both, []func(*http.Request){internal(TokenHeader)}, 401, ops.CodeUnauthorized},
		{"operator token in the internal header", both, []func(*http.Request){func(r *http.Request) { r.Header.Set(DefaultInternalHeader, testToken) }}, 401, ops.CodeUnauthorized},
		{"internal as a cookie", both, []func(*http.Request){func(r *http.Request) { r.AddCookie(&http.Cookie{Name: TokenCookie, Value: testInternal}) }}, 401, ops.CodeUnauthorized},
		{"internal as bearer", both, []func(*http.Request){func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testInternal) }}, 401, ops.CodeUnauthorized},
		{"own header name", onlyInternal, []func(*http.Request){internal("X-Gw-Service")}, 200, ""},
		{"default name not configured", onlyInternal, []func(*http.Request){internal(DefaultInternalHeader)}, 401, ops.CodeUnauthorized},
		{"no operator token configured", onlyInternal, []func(*http.Request){withToken}, 401, ops.CodeUnauthorized},
		{"empty internal header", onlyInternal, []func(*http.Request){func(r *http.Request) { r.Header.Set("X-Gw-Service", "") }}, 401, ops.CodeUnauthorized},
	}
	for _, c := range cases {
		c.hs.svc.last = nil
		w := c.hs.do(t, "POST", "/api/winrm", `{"host":"lab-ws-01","command":"status"}`, c.edits...)
		if w.Code != c.want {
			t.Errorf("%s: got %d, want %d: %s", c.name, w.Code, c.want, w.Body)
			continue
		}
		if c.want != 200 {
			if eb := errorOf(t, w); eb.Code != c.code {
				t.Errorf("%s: code %s, want %s", c.name, eb.Code, c.code)
			}
			if len(c.hs.svc.last) != 0 {
				t.Errorf("%s: the use case ran: %v", c.name, c.hs.svc.last)
			}
		}
	}
	// Every guarded route, the unknown ones included, takes the internal
	// credential; with neither credential configured they stay closed.
	closed := newHarness(t, func(o *Options) { o.Guard = &Guard{InternalHeader: "X-Gw-Service"} })
	for _, rt := range Routes {
		if !rt.Auth {
			continue
		}
		body := ""
		if rt.Method == "POST" {
			body = "{}"
		}
		if w := onlyInternal.do(t, rt.Method, rt.Path, body, internal("X-Gw-Service")); w.Code == 401 || w.Code == 403 || w.Code == 503 {
			t.Errorf("%s %s internal credential: got %d", rt.Method, rt.Path, w.Code)
		}
		if w := closed.do(t, rt.Method, rt.Path, body, internal("X-Gw-Service")); w.Code != 503 || errorOf(t, w).Code != ops.CodeAuthNotConfigured {
			t.Errorf("%s %s nothing configured: got %d", rt.Method, rt.Path, w.Code)
		}
	}
	if w := onlyInternal.do(t, "GET", "/api/nope", "", internal("X-Gw-Service")); w.Code != 404 {
		t.Errorf("unknown route with the internal credential: %d", w.Code)
	}
}

// A degraded probe is a 503 in the error contract (the harness checks it
// and the OpenAPI document), with the probe's fields; a healthy one 200.
func TestHealth_DegradedIs503(t *testing.T) {
	hs := newHarness(t)
	hs.svc.dbDown = true
	w := hs.do(t, "GET", "/health", "", noEdit)
	eb := errorOf(t, w)
	if w.Code != 503 || eb.Code != ops.CodeDegraded || !strings.Contains(w.Body.String(), `"failing":["db"]`) ||
		!strings.Contains(w.Body.String(), `"status":"degraded"`) || !strings.Contains(w.Body.String(), `"db":false`) {
		t.Errorf("degraded: %d %s", w.Code, w.Body)
	}
	ok := newHarness(t)
	if w := ok.do(t, "GET", "/health", "", noEdit); w.Code != 200 || !strings.Contains(w.Body.String(), `"failing":[]`) {
		t.Errorf("healthy: %d %s", w.Code, w.Body)
	}
}

// BenchmarkGuard_Check: the guard's cost per request by credential (two
// SHA-256 digests each; the internal one is tried first).
func BenchmarkGuard_Check(b *testing.B) {
	g := &Guard{Token: testToken, InternalToken: testInternal}
	for _, c := range []struct {
		name, header, value string
	}{{"operator", TokenHeader, testToken}, {"internal", DefaultInternalHeader, testInternal}, {"wrong", TokenHeader, "nope"}} {
		b.Run(c.name, func(b *testing.B) {
			r, _ := http.NewRequest(http.MethodGet, "/api/hosts", nil)
			r.Header.Set(c.header, c.value)
			for b.Loop() {
				_ = g.check(r)
			}
		})
	}
}

package api

import (
	"net/http"
	"testing"

	"github.com/ops-worker/ops-worker/internal/ops"
)

// A cross-site page can make a browser POST /api/winrm with the token
// cookie and a body of no (or a form's) Content-Type, with no preflight:
// such requests are refused before the use case runs; the same requests
// with the header token, and the same-origin page's own, go through.
func TestGuard_CookieCSRF(t *testing.T) {
	hs := newHarness(t)
	const body = `{"host":"lab-ws-01","command":"status"}`
	cookie := func(r *http.Request) { r.AddCookie(&http.Cookie{Name: TokenCookie, Value: testToken}) }
	header := func(name, v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set(name, v) } }
	noType := func(r *http.Request) { r.Header.Del("Content-Type") }
	cases := []struct {
		name  string
		edits []func(*http.Request)
		want  int
		code  ops.Code
	}{
		{"beacon: no Content-Type", []func(*http.Request){cookie, noType}, 415, ops.CodeUnsupportedMedia},
		{"form Content-Type", []func(*http.Request){cookie, header("Content-Type", "text/plain;charset=UTF-8")}, 415, ops.CodeUnsupportedMedia},
		{"cross-site", []func(*http.Request){cookie, header("Sec-Fetch-Site", "cross-site")}, 403, ops.CodeForbidden},
		{"same-site", []func(*http.Request){cookie, header("Sec-Fetch-Site", "same-site")}, 403, ops.CodeForbidden},
		{"foreign Origin", []func(*http.Request){cookie, header("Origin", "https://evil.example")}, 403, ops.CodeForbidden},
		{"null Origin", []func(*http.Request){cookie, header("Origin", "null")}, 403, ops.CodeForbidden},
		{"same-origin page", []func(*http.Request){cookie, header("Sec-Fetch-Site", "same-origin"), header("Origin", "http://example.com")}, 200, ""},
		{"through the proxy", []func(*http.Request){cookie, header("Origin", "https://gateway.example"), header("X-Forwarded-Host", "gateway.example")}, 200, ""},
		{"cookie, JSON, no fetch metadata", []func(*http.Request){cookie}, 200, ""},
		{"header token, no Content-Type, cross-site", []func(*http.Request){withToken, noType, header("Sec-Fetch-Site", "cross-site"), header("Origin", "https://evil.example")}, 200, ""},
	}
	for _, c := range cases {
		hs.svc.last = nil
		w := hs.do(t, "POST", "/api/winrm", body, c.edits...)
		if w.Code != c.want {
			t.Errorf("%s: %d, want %d: %s", c.name, w.Code, c.want, w.Body)
			continue
		}
		ran := hs.svc.lastReq("RunCommand") != nil
		if c.want != 200 {
			if eb := errorOf(t, w); eb.Code != c.code || ran {
				t.Errorf("%s: code %s, use case ran %v", c.name, eb.Code, ran)
			}
		} else if !ran {
			t.Errorf("%s: the use case did not run", c.name)
		}
	}
	// A GET with the cookie needs no Content-Type, but not from another site.
	if w := hs.do(t, "GET", "/api/hosts", "", cookie); w.Code != 200 {
		t.Errorf("GET with the cookie: %d", w.Code)
	}
	if w := hs.do(t, "GET", "/api/hosts", "", cookie, header("Sec-Fetch-Site", "cross-site")); w.Code != 403 {
		t.Errorf("cross-site GET with the cookie: %d", w.Code)
	}
}

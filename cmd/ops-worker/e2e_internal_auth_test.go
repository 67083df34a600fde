package main

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/api"
	"github.com/ops-worker/ops-worker/internal/labsim"
)

// e2eInternal is the service credential of the suite's current-proxy tests.
const e2eInternal = "e2e-Int3rnal-svc-8b1d5e"

// currentProxy is a reverse proxy on loopback that behaves like the
// current gateway's for /ops/ requests (GATEWAY.md section 1): it removes
// Authorization, Cookie and X-Lab-Manager-Token and sets its own service
// credential. The worker sees the same paths (the gateway strips /ops).
func currentProxy(t *testing.T, backend, header, credential string) string {
	t.Helper()
	target, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	p := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host
		for _, h := range []string{"Authorization", "Cookie", api.TokenHeader} {
			r.Out.Header.Del(h)
		}
		r.Out.Header.Set(header, credential)
	}}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL
}

// asBrowser is what the Lab Manager page sends the proxy: the operator's
// token as header and cookie (the proxy checks it, then strips both).
func asBrowser(r *http.Request) {
	r.Header.Set(api.TokenHeader, e2eToken)
	r.AddCookie(&http.Cookie{Name: api.TokenCookie, Value: e2eToken})
	r.Header.Set("Authorization", "Bearer "+e2eToken)
}

// internalRouteCall is a request that succeeds on TestE2E_InternalCredential's
// server, by route name. A route not listed (added later) is still called,
// with an empty body, and must get past the guard.
var internalRouteCall = map[string]struct {
	target string // path and query
	body   any
}{
	"wol":                  {"/api/wol", map[string]any{"host": "lab-ws-01"}},
	"winrm":                {"/api/winrm", map[string]any{"host": "lab-ws-01", "command": "status"}},
	"heartbeat-poll":       {"/api/heartbeat/poll", map[string]any{"host": "lab-ws-01"}},
	"reservation-start":    {"/api/reservations/start", map[string]any{"reservationId": "0xint", "host": "lab-ws-01", "labId": "1"}},
	"reservation-end":      {"/api/reservations/end", map[string]any{"reservationId": "0xint", "host": "lab-ws-01", "labId": "1", "releaseArgs": []string{}}},
	"reservation-timeline": {"/api/reservations/timeline?reservationId=0xint", nil},
	"hosts-reload":         {"/api/hosts/reload", map[string]any{}},
	"hosts-quarantine":     {"/api/hosts/quarantine", map[string]any{"host": "lab-ws-02", "quarantined": false}},
	"hosts-list":           {"/api/hosts", nil},
	"operations-recent":    {"/api/operations/recent?host=lab-ws-01&limit=50", nil},
	"openapi":              {"/api/openapi.json", nil},
	"hosts-local-mode":     {"/api/hosts/local-mode", map[string]any{"host": "lab-ws-02", "enabled": false}},
	"ticks-heartbeats":     {"/api/ticks/heartbeats", map[string]any{}},
	"ticks-reservations":   {"/api/ticks/reservations", map[string]any{}},
}

// TestE2E_InternalCredential: behind a proxy like the current gateway's,
// which strips the operator's token and cookies and sends
// OPS_INTERNAL_AUTH_TOKEN, every route of api.Routes answers; the operator
// token still admits a direct caller; a wrong internal token is 401.
func TestE2E_InternalCredential(t *testing.T) {
	e := startE2E(t, e2eOpts{hosts: make([]labsim.HostOptions, 2), env: map[string]string{"OPS_INTERNAL_AUTH_TOKEN": e2eInternal}})
	e.secrets = append(e.secrets, e2eInternal)
	e.insertReservation(t, "0xint", "1", "CONFIRMED", time.Now().Add(time.Hour))

	viaProxy := *e
	viaProxy.base = currentProxy(t, e.base, api.DefaultInternalHeader, e2eInternal)
	for _, rt := range api.Routes {
		if !rt.Auth {
			continue
		}
		if rt.Stream {
			streamStarts(t, viaProxy.base+rt.Path+"?host=lab-ws-01")
			continue
		}
		call, known := internalRouteCall[rt.Name]
		if !known {
			call.target, call.body = rt.Path, nil
			if rt.Method == http.MethodPost {
				call.body = map[string]any{}
			}
		}
		r := viaProxy.do(t, rt.Method, call.target, call.body, asBrowser)
		switch {
		case r.code == 401 || r.code == 403 || r.code == 503:
			t.Errorf("%s %s through the current proxy: refused: %s", rt.Method, call.target, r)
		case known && r.code != http.StatusOK:
			t.Errorf("%s %s through the current proxy: %s", rt.Method, call.target, r)
		case !known:
			t.Logf("%s %s (no request of its own here) got past the guard: %d", rt.Method, rt.Path, r.code)
		}
		if rt.Name == "operations-recent" && r.code == http.StatusOK {
			ops := arr(t, r.body["operations"], "operations")
			if len(ops) == 0 {
				t.Errorf("recent operations of lab-ws-01: none: %s", r)
			}
			for _, op := range ops {
				if h := obj(t, op, "operation")["host"]; h != "lab-ws-01" {
					t.Errorf("recent operations of lab-ws-01 hold one of %v", h)
				}
			}
		}
	}
	wantErr(t, viaProxy.do(t, "GET", "/api/operations/recent?host=lab-ws-99", nil, asBrowser), 404, "HOST_NOT_FOUND", "host 'lab-ws-99' not found")

	// The operator token, straight to the worker (older proxy, scripts).
	wantOK(t, e.do(t, "GET", "/api/hosts", nil), "hosts")
	wantOK(t, e.do(t, "GET", "/api/hosts", nil, noToken, func(r *http.Request) { r.Header.Set(api.DefaultInternalHeader, e2eInternal) }), "hosts")

	// A proxy with a stale credential: 401 on every route, nothing run.
	before := e.queryInt(t, "SELECT COUNT(*) FROM reservation_operations")
	stale := *e
	stale.base = currentProxy(t, e.base, api.DefaultInternalHeader, e2eInternal+"-old")
	for _, rt := range api.Routes {
		if rt.Auth {
			wantErr(t, stale.do(t, rt.Method, rt.Path, "{}", asBrowser), 401, "UNAUTHORIZED", "")
		}
	}
	if after := e.queryInt(t, "SELECT COUNT(*) FROM reservation_operations"); after != before {
		t.Errorf("refused calls recorded %d operations", after-before)
	}
}

// streamStarts opens a heartbeat stream as the page does (through the
// current proxy) and wants its first event, then leaves.
func streamStarts(t *testing.T, target string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	asBrowser(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s through the current proxy: %v", target, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET %s through the current proxy: %d %s", target, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "event: ") {
			return
		}
	}
	t.Errorf("GET %s through the current proxy: no event before the stream ended (%v)", target, sc.Err())
}

// TestE2E_NoCredentialConfigured: neither LAB_MANAGER_TOKEN nor
// OPS_INTERNAL_AUTH_TOKEN: every /api/* route is 503, whatever is sent;
// /health stays open.
func TestE2E_NoCredentialConfigured(t *testing.T) {
	e := startE2E(t, e2eOpts{noDB: true, env: map[string]string{"LAB_MANAGER_TOKEN": ""}})
	viaProxy := *e
	viaProxy.base = currentProxy(t, e.base, api.DefaultInternalHeader, e2eInternal)
	for _, rt := range api.Routes {
		if !rt.Auth {
			continue
		}
		wantErr(t, viaProxy.do(t, rt.Method, rt.Path, "{}", asBrowser), 503, "AUTH_NOT_CONFIGURED", "")
		wantErr(t, e.do(t, rt.Method, rt.Path, "{}"), 503, "AUTH_NOT_CONFIGURED", "")
	}
	if r := e.do(t, "GET", "/health", nil, noToken); r.code != http.StatusOK || !strings.Contains(string(r.raw), `"status":"ok"`) {
		t.Errorf("/health with no credential configured: %s", r)
	}
}

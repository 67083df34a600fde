package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/config"
)

func TestHealthcheckURL(t *testing.T) {
	for _, tc := range []struct {
		addr, bind, port string
		want             string
	}{
		{"", "", "", "http://127.0.0.1:8081/health"},
		{"", "0.0.0.0", "9000", "http://127.0.0.1:9000/health"},
		{"", "::", "9000", "http://[::1]:9000/health"},
		{"", "10.1.2.5", "9000", "http://10.1.2.5:9000/health"},
		{"", "::1", "9000", "http://[::1]:9000/health"},
		{"127.0.0.2:7000", "10.1.2.5", "9000", "http://127.0.0.2:7000/health"},
		{":7000", "", "", "http://127.0.0.1:7000/health"},
	} {
		env := map[string]string{}
		if tc.bind != "" {
			env["OPS_BIND"] = tc.bind
		}
		if tc.port != "" {
			env["OPS_PORT"] = tc.port
		}
		cfg, err := config.LoadMap(context.Background(), env)
		if err != nil {
			t.Fatal(err)
		}
		got, err := healthcheckURL(tc.addr, cfg)
		if err != nil || got != tc.want {
			t.Errorf("healthcheckURL(%q, bind %q, port %q) = %q, %v; want %q", tc.addr, tc.bind, tc.port, got, err, tc.want)
		}
	}
	cfg, _ := config.LoadMap(context.Background(), nil)
	if _, err := healthcheckURL("127.0.0.1:0", cfg); err == nil {
		t.Error("healthcheckURL accepted port 0")
	}
}

// probe runs `ops-worker -healthcheck` in-process with env as the whole
// environment and returns its status and output.
func probe(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	m := &Main{Env: env}
	if err := m.ParseFlags(append([]string{"-healthcheck"}, args...)); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := m.healthcheck(context.Background(), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHealthcheck_AgainstTheServer(t *testing.T) {
	m, _, _ := startMain(t, nil)
	_, port, _ := net.SplitHostPort(m.BoundAddr())

	// As in the image: OPS_BIND 0.0.0.0 is probed over loopback.
	code, out, errOut := probe(t, map[string]string{"OPS_BIND": "0.0.0.0", "OPS_PORT": port})
	if code != 0 || !strings.Contains(out, `"status":"ok"`) || errOut != "" {
		t.Errorf("-healthcheck on a running server: %d, out %q, err %q", code, out, errOut)
	}
	if code, _, _ := probe(t, nil, "-addr", m.BoundAddr()); code != 0 {
		t.Errorf("-healthcheck -addr %s: %d, want 0", m.BoundAddr(), code)
	}

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = probe(t, map[string]string{"OPS_BIND": "127.0.0.1", "OPS_PORT": port})
	if code != 1 || out != "" || !strings.Contains(errOut, "connection refused") {
		t.Errorf("-healthcheck on a stopped server: %d, out %q, err %q", code, out, errOut)
	}
}

func TestHealthcheck_NotOK(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			t.Errorf("probe asked for %s", r.URL.Path)
		}
		http.Error(w, `{"error":"starting"}`, http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	code, out, errOut := probe(t, nil, "-addr", srv.Listener.Addr().String())
	if code != 1 || out != "" || !strings.Contains(errOut, "503") {
		t.Errorf("-healthcheck on a 503: %d, out %q, err %q", code, out, errOut)
	}
}

func TestHealthcheck_BadConfig(t *testing.T) {
	code, _, errOut := probe(t, map[string]string{"OPS_PORT": "http"})
	if code != 1 || !strings.Contains(errOut, "OPS_PORT") {
		t.Errorf("-healthcheck with OPS_PORT=http: %d, err %q", code, errOut)
	}
}

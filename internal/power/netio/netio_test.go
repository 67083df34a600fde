package netio

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/power"
)

const (
	testUser = "admin"
	testPass = "netio-Secret-Pass-7"
)

// fakeNetio serves /netio.json as a NETIO 4 does: GET the state, POST
// actions, Basic auth; stuck ignores actions.
type fakeNetio struct {
	mu    sync.Mutex
	on    map[int]bool
	posts []string
	stuck bool
}

func (f *fakeNetio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/netio.json" {
		http.NotFound(w, r)
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != testUser || p != testPass {
		w.Header().Set("WWW-Authenticate", `Basic realm="netio"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method == http.MethodPost {
		var req struct {
			Outputs []struct{ ID, Action int }
		}
		b, _ := io.ReadAll(r.Body)
		f.posts = append(f.posts, string(b))
		if err := json.Unmarshal(b, &req); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		for _, o := range req.Outputs {
			if _, ok := f.on[o.ID]; !ok || f.stuck {
				continue
			}
			switch o.Action {
			case ActionOff:
				f.on[o.ID] = false
			case ActionOn:
				f.on[o.ID] = true
			case ActionToggle:
				f.on[o.ID] = !f.on[o.ID]
			}
		}
	}
	var outs []map[string]any
	for id := 1; id <= len(f.on); id++ {
		st := 0
		if f.on[id] {
			st = 1
		}
		outs = append(outs, map[string]any{"ID": id, "Name": "output_" + strconv.Itoa(id), "State": st, "Action": 6, "Load": 0})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"Agent":   map[string]any{"Model": "NETIO 4", "Version": "3.2.0", "NumOutputs": len(outs)},
		"Outputs": outs,
	})
}

func newFake() *fakeNetio { return &fakeNetio{on: map[int]bool{1: true, 2: false, 3: true, 4: false}} }

func hostPort(t *testing.T, u string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

func basic(user, pass string) Credentials {
	return Credentials{Type: "netio-http-basic", Fields: map[string]string{"username": user, "password": pass}}
}

func exercise(t *testing.T, d *Driver, f *fakeNetio) {
	t.Helper()
	ctx := context.Background()
	desc, err := d.Describe(ctx)
	if err != nil || desc != (power.Description{Driver: DriverName, Model: "NETIO 4", Firmware: "3.2.0", Outlets: 4}) {
		t.Fatalf("Describe = %+v, %v", desc, err)
	}
	outs, err := d.Outlets(ctx)
	if err != nil || len(outs) != 4 || outs[0] != (power.OutletState{Outlet: "1", Name: "output_1", State: power.StateOn}) || outs[1].State != power.StateOff {
		t.Fatalf("Outlets = %+v, %v", outs, err)
	}
	st, err := d.Set(ctx, "2", power.StateOn)
	if err != nil || st.State != power.StateOn {
		t.Fatalf("Set 2 on = %+v, %v", st, err)
	}
	st, err = d.Cycle(ctx, "1", 50*time.Millisecond)
	if err != nil || st.State != power.StateOn {
		t.Fatalf("Cycle 1 = %+v, %v", st, err)
	}
	f.mu.Lock()
	posts := strings.Join(f.posts, "|")
	f.mu.Unlock()
	if want := `{"Outputs":[{"ID":2,"Action":1}]}|{"Outputs":[{"ID":1,"Action":0}]}|{"Outputs":[{"ID":1,"Action":1}]}`; posts != want {
		t.Fatalf("posts = %s, want %s", posts, want)
	}
	if _, err := d.Set(ctx, "9", power.StateOn); power.CodeOf(err) != power.CodeOutletUnknown {
		t.Fatalf("Set 9: %v", err)
	}
}

func TestHTTP(t *testing.T) {
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	h, p := hostPort(t, srv.URL)
	var logs bytes.Buffer
	d, err := New(Config{Host: h, Port: p, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}, basic(testUser, testPass))
	if err != nil {
		t.Fatal(err)
	}
	exercise(t, d, f)
	if s := fmt.Sprintf("%v %+v %#v %v %+v", d, d, d, basic(testUser, testPass), []any{d, basic(testUser, testPass)}) + logs.String(); strings.Contains(s, testPass) {
		t.Fatalf("a print shows the password: %s", s)
	}

	// Wrong password, no credentials: auth.
	for _, c := range []Credentials{basic(testUser, "wrong"), {}} {
		d, err := New(Config{Host: h, Port: p}, c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Outlets(context.Background()); power.CodeOf(err) != power.CodeAuth || strings.Contains(err.Error(), "wrong") {
			t.Fatalf("Outlets with %v: %v, want %s", c, err, power.CodeAuth)
		}
	}
	// A stuck output: read-back mismatch.
	f.mu.Lock()
	f.stuck = true
	f.mu.Unlock()
	d, _ = New(Config{Host: h, Port: p, ReadBackWait: 300 * time.Millisecond}, basic(testUser, testPass))
	if st, err := d.Set(context.Background(), "4", power.StateOn); power.CodeOf(err) != power.CodeReadBackMismatch || st.State != power.StateOff {
		t.Fatalf("Set on a stuck output: %+v, %v", st, err)
	}
}

func TestTLS(t *testing.T) {
	f := newFake()
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	h, p := hostPort(t, srv.URL)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Host: h, Port: p, HTTPS: true, CAFile: ca}, basic(testUser, testPass))
	if err != nil {
		t.Fatal(err)
	}
	exercise(t, d, f)

	// Verified by default: the test CA is not a system root.
	d, _ = New(Config{Host: h, Port: p, HTTPS: true}, basic(testUser, testPass))
	if _, err := d.Outlets(context.Background()); power.CodeOf(err) != power.CodeConfig || !strings.Contains(err.Error(), "not trusted") {
		t.Fatalf("unverified certificate: %v, want %s", err, power.CodeConfig)
	}
	d, _ = New(Config{Host: h, Port: p, HTTPS: true, InsecureSkipVerify: true}, basic(testUser, testPass))
	if _, err := d.Outlets(context.Background()); err != nil {
		t.Fatalf("verifyTls=false: %v", err)
	}
	if _, err := New(Config{Host: h, HTTPS: true, CAFile: filepath.Join(t.TempDir(), "none.pem")}, Credentials{}); power.CodeOf(err) != power.CodeConfig {
		t.Fatalf("missing CA file: %v", err)
	}
}

func TestHostileServer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		code    string
	}{
		{"huge body", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, `{"Outputs":[`+strings.Repeat(" ", MaxBody)+`]}`)
		}, power.CodeBadResponse},
		{"missing Outputs", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"Agent":{}}`) }, power.CodeBadResponse},
		{"Outputs not an array", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"Outputs":{"ID":1}}`) }, power.CodeBadResponse},
		{"wrong ID type", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, `{"Outputs":[{"ID":true,"State":1}]}`)
		}, power.CodeBadResponse},
		{"wrong State", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, `{"Outputs":[{"ID":1,"State":"on"}]}`)
		}, power.CodeBadResponse},
		{"not JSON", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `<html>`) }, power.CodeBadResponse},
		{"array", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `[]`) }, power.CodeBadResponse},
		{"forbidden", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusForbidden) }, power.CodeAuth},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/steal", http.StatusFound)
		}, power.CodeBadResponse},
		{"server error", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }, power.CodeBadResponse},
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}, power.CodeUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			h, p := hostPort(t, srv.URL)
			d, err := New(Config{Host: h, Port: p, Timeout: 300 * time.Millisecond, Retries: -1}, basic(testUser, testPass))
			if err != nil {
				t.Fatal(err)
			}
			_, err = d.Outlets(context.Background())
			if power.CodeOf(err) != tc.code {
				t.Fatalf("Outlets: %v, want %s", err, tc.code)
			}
			if strings.Contains(err.Error(), testPass) {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
	t.Run("nothing listening", func(t *testing.T) {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		_, p := hostPort(t, "http://"+l.Addr().String())
		l.Close()
		d, _ := New(Config{Host: "127.0.0.1", Port: p, Retries: -1}, Credentials{})
		if _, err := d.Describe(context.Background()); power.CodeOf(err) != power.CodeUnreachable {
			t.Fatalf("Describe: %v", err)
		}
	})
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg   Config
		creds Credentials
	}{
		{Config{}, Credentials{}},
		{Config{Host: "a/b"}, Credentials{}},
		{Config{Host: "h", Port: 99999}, Credentials{}},
		{Config{Host: "h", Path: "netio.json"}, Credentials{}},
		{Config{Host: "h", Path: "/x\r\nHost: evil"}, Credentials{}},
		{Config{Host: "h"}, Credentials{Type: "snmpv2c", Fields: map[string]string{"community": "c"}}},
		{Config{Host: "h"}, basic("", "p")},
	} {
		if _, err := New(tc.cfg, tc.creds); power.CodeOf(err) != power.CodeConfig {
			t.Errorf("New(%+v): %v, want config error", tc.cfg, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"Agent":{"Model":"NETIO 4","Version":"3"},"Outputs":[{"ID":1,"Name":"a","State":1},{"ID":"2","State":false}]}`))
	f.Add([]byte(`{"Outputs":[{"ID":1e3,"State":1.5}]}`))
	f.Add([]byte(`{"Outputs":null}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		st, err := decode(raw)
		if err != nil {
			if power.CodeOf(err) != power.CodeBadResponse {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if len(st.Outputs) > MaxOutputs {
			t.Fatalf("%d outputs", len(st.Outputs))
		}
		for _, o := range st.Outputs {
			if o.State != power.StateOn && o.State != power.StateOff {
				t.Fatalf("state %q", o.State)
			}
			if n, err := strconv.Atoi(o.Outlet); err != nil || n <= 0 {
				t.Fatalf("outlet %q", o.Outlet)
			}
		}
	})
}

package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/api"
	"github.com/ops-worker/ops-worker/internal/app"
	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/relaytest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// pingCounter counts the database pings of the real store it wraps.
type pingCounter struct {
	ops.Store
	pings *atomic.Int64
}

func (p pingCounter) Ping(ctx context.Context) error {
	p.pings.Add(1)
	return p.Store.Ping(ctx)
}

// A flood of anonymous /health calls costs at most one probe (one relay
// request, one database ping) per cache period; the answer is the probe's,
// field for field; an older result is refreshed.
func TestHealth_FloodProbesOncePerPeriod(t *testing.T) {
	sim := labsimtest.Start(t, labsim.HostOptions{Name: "lab-ws-01"}, labsim.HostOptions{Name: "lab-ws-02"})
	path := labsimtest.WriteSimHosts(t, sim)
	doc, err := sim.HostsJSON()
	if err != nil {
		t.Fatal(err)
	}
	const secret = "health-flood-S3cret-0123456789abcdef"
	relay := relaytest.Start(t, doc, secret)
	var relayHits atomic.Int64
	target, err := url.Parse(relay.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		relayHits.Add(1)
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()

	cfg, err := config.LoadMap(context.Background(), map[string]string{"OPS_CONFIG": path, "MYSQL_DSN": dbtest.NewDatabase(t),
		"LAB_MANAGER_TOKEN": "health-token", "OPS_RELAY_URL": front.URL, "OPS_RELAY_SECRET": secret})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	svc := a.Service()
	var pings atomic.Int64
	svc.Store = pingCounter{Store: svc.Store, pings: &pings}
	want, err := json.Marshal(svc.Health(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	relayHits.Store(0)
	pings.Store(0)

	const ttl = 2 * time.Second
	srv := httptest.NewServer(api.New(api.Options{Service: svc, HealthCacheTTL: ttl, Guard: &api.Guard{Token: "health-token"}, Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 50}, Timeout: 10 * time.Second}
	get := func() (int, string, error) {
		res, err := client.Get(srv.URL + "/health")
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res.StatusCode, string(b), err
	}

	began := time.Now()
	var wg sync.WaitGroup
	var bad atomic.Int64
	var firstBad atomic.Value
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 40 {
				code, body, err := get()
				if err != nil || code != http.StatusOK || body != string(want)+"\n" && body != string(want) {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, []any{code, body, err})
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(began)
	if n := bad.Load(); n > 0 {
		t.Errorf("%d of 2000 answers differ from the probe's %s: first %v", n, want, firstBad.Load())
	}
	periods := 1 + int64(elapsed/ttl)
	if r, p := relayHits.Load(), pings.Load(); r < 1 || r > periods || p < 1 || p > periods {
		t.Errorf("2000 calls in %v (%d periods of %v): %d relay requests, %d database pings; want 1 to %d each",
			elapsed, periods, ttl, r, p, periods)
	}
	t.Logf("2000 calls in %v: %d relay requests, %d database pings", elapsed, relayHits.Load(), pings.Load())

	// Past the period: the next call probes again.
	time.Sleep(ttl + 100*time.Millisecond)
	r0, p0 := relayHits.Load(), pings.Load()
	if code, body, err := get(); err != nil || code != http.StatusOK {
		t.Fatalf("after the period: %d %s %v", code, body, err)
	}
	if r, p := relayHits.Load()-r0, pings.Load()-p0; r != 1 || p != 1 {
		t.Errorf("a result older than %v not refreshed: %d relay requests, %d pings", ttl, r, p)
	}

	// A quarantine through this instance shows at once, not a period later.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/hosts/quarantine", strings.NewReader(`{"host":"lab-ws-02"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(api.TokenHeader, "health-token")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	code, body, err := get()
	var h ops.HealthResponse
	if err != nil || code != http.StatusOK || json.Unmarshal([]byte(body), &h) != nil || h.HostsLoaded != 1 || res.StatusCode != http.StatusOK {
		t.Errorf("after a quarantine (%d): %d %s %v; want hosts_loaded 1", res.StatusCode, code, body, err)
	}
}

// A configured database that stops answering makes /health a 503 that
// names it (status degraded, failing ["db"], the error contract's fields
// too); once it answers again, 200. A real mariadbd of the test's own is
// stopped and started.
func TestHealth_DegradedWhileDatabaseDown(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test starts a private mariadbd")
	}
	srv := dbtest.NewPrivate(t)
	path := labsimtest.WriteSimHosts(t, labsimtest.Start(t, labsim.HostOptions{Name: "lab-ws-01"}))
	dsn := srv.NewDatabase(t)
	cfg, err := config.LoadMap(context.Background(), map[string]string{"OPS_CONFIG": path, "MYSQL_DSN": dsn, "LAB_MANAGER_TOKEN": "health-token"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	const ttl = 50 * time.Millisecond
	hs := httptest.NewServer(api.New(api.Options{Service: a.Service(), HealthCacheTTL: ttl, Guard: &api.Guard{Token: "health-token"}, Logger: slog.New(slog.DiscardHandler)}))
	defer hs.Close()
	type answer struct {
		ops.HealthResponse
		Error     string `json:"error"`
		Code      string `json:"code"`
		RequestID string `json:"requestId"`
	}
	get := func() (int, answer, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, hs.URL+"/health", nil)
		req.Header.Set("X-Request-ID", "health-probe-1")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var v answer
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("/health: %d %s: %v", res.StatusCode, b, err)
		}
		return res.StatusCode, v, string(b)
	}
	// until polls /health until it answers want (bounded: the cache period
	// and a connect timeout, many times over).
	until := func(want int) (answer, string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			code, v, body := get()
			if code == want {
				return v, body
			}
			if time.Now().After(deadline) {
				t.Fatalf("/health never answered %d: last %d %s", want, code, body)
			}
			time.Sleep(ttl)
		}
	}
	v, body := until(http.StatusOK)
	if v.Status != ops.HealthOK || !v.DB || v.Failing == nil || len(v.Failing) != 0 || v.Code != "" || v.Error != "" {
		t.Errorf("healthy: %s", body)
	}

	srv.Stop()
	v, body = until(http.StatusServiceUnavailable)
	if v.Status != ops.HealthDegraded || v.DB || strings.Join(v.Failing, ",") != "db" || v.DBKind != "mysql" || v.HostsLoaded != 1 ||
		v.Code != string(ops.CodeDegraded) || v.RequestID != "health-probe-1" || !strings.Contains(v.Error, "db") {
		t.Errorf("database down: %s", body)
	}

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	v, body = until(http.StatusOK)
	if v.Status != ops.HealthOK || !v.DB || len(v.Failing) != 0 {
		t.Errorf("database back: %s", body)
	}
}

package lambdafn_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/app"
	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/store"
)

// TestRIE_DatabaseCatalog: the hosts-list function without a packaged
// catalog (OPS_CONFIG=none) lists a host added to ops_catalog_hosts after
// its cold start, once its RefreshEvery (1 s) has passed, with no second
// cold start.
func TestRIE_DatabaseCatalog(t *testing.T) {
	rieBinary(t)
	dsn := dbtest.NewDatabase(t)
	cfg, err := config.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	e := startRIE(t, "hosts-list", map[string]string{"OPS_CONFIG": "none", "MYSQL_DSN": dsn,
		"LAB_MANAGER_TOKEN": testToken, "OPS_CATALOG_REFRESH_SECONDS": "1"})
	list := func() []any {
		a := e.do(t, call{method: "GET", path: "/api/hosts", token: true})
		if a.Status != 200 {
			t.Fatalf("GET /api/hosts: %d %v", a.Status, a.Body)
		}
		hs, _ := a.Body.(map[string]any)["hosts"].([]any)
		return hs
	}
	if hs := list(); len(hs) != 0 {
		t.Fatalf("empty table: %v", hs)
	}
	reg, _, err := hosts.NewRegistryWith(t.Context(), hosts.NoFile, hosts.Options{Dynamic: app.CatalogStore(s)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Add(t.Context(), json.RawMessage(`{"name":"lab-ws-77","address":"127.0.0.1","labs":["7"]}`), "rie-test"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	hs := list()
	if len(hs) != 1 {
		t.Fatalf("after the refresh: %v, want lab-ws-77", hs)
	}
	h := hs[0].(map[string]any)
	if h["name"] != "lab-ws-77" || h["source"] != "database" {
		t.Errorf("listed %v, want lab-ws-77 from the database", h)
	}
	if n := strings.Count(e.logs.String(), "worker ready"); n != 1 {
		t.Errorf("%d cold starts (\"worker ready\"), want 1:\n%s", n, e.logs)
	}
}

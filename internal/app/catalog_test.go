package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/app"
	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/logtest"
	"github.com/ops-worker/ops-worker/internal/store"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// fileCatalog is the file part of the merged-catalog tests.
const fileCatalog = `{"hosts": [
 {"name": "lab-ws-01", "address": "10.1.0.1", "winrm_user": "u", "winrm_pass": "env:CAT_TEST_PASS", "labs": ["1"]},
 {"name": "lab-ws-02", "address": "10.1.0.2", "labs": ["2"]}
]}`

// mariaStore is a migrated store on a new MariaDB database, and its DSN.
func mariaStore(t testing.TB) (*store.Store, string) {
	t.Helper()
	dsn := dbtest.NewDatabase(t)
	return openStore(t, dsn), dsn
}

func openStore(t testing.TB, dsn string) *store.Store {
	t.Helper()
	cfg, err := config.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func catalogOpts(s *store.Store, logs *logtest.Buffer) hosts.Options {
	o := hosts.Options{
		Env:          func(k string) (string, bool) { return "pw", k == "CAT_TEST_PASS" },
		Dynamic:      app.CatalogStore(s),
		RefreshEvery: 150 * time.Millisecond,
	}
	if logs != nil {
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	return o
}

func newMerged(t *testing.T, path string, opts hosts.Options) *hosts.Registry {
	t.Helper()
	r, warns, err := hosts.NewRegistryWith(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("NewRegistryWith: %v (warnings %v)", err, warns)
	}
	return r
}

func names(c *hosts.Catalog) string {
	var out []string
	for _, h := range c.Hosts() {
		out = append(out, h.Name+"/"+h.Source)
	}
	return strings.Join(out, " ")
}

func insertRow(t testing.TB, s *store.Store, name, entry string) {
	t.Helper()
	if err := s.AddCatalogHost(context.Background(), store.CatalogHost{Name: name, Entry: json.RawMessage(entry), CreatedBy: "test"}); err != nil {
		t.Fatal(err)
	}
}

// The file's hosts, then the database's, each with its source; Add serves
// the new host at once, and a second name in any case is refused.
func TestCatalog_MergeAndAdd(t *testing.T) {
	ctx := context.Background()
	s, _ := mariaStore(t)
	insertRow(t, s, "lab-ws-10", `{"name":"lab-ws-10","address":"10.1.0.10","labs":["2"]}`)
	logs := &logtest.Buffer{}
	r := newMerged(t, labsimtest.WriteHostsFile(t, fileCatalog), catalogOpts(s, logs))
	if got, want := names(r.Current(ctx)), "lab-ws-01/file lab-ws-02/file lab-ws-10/database"; got != want {
		t.Errorf("merged = %s, want %s", got, want)
	}
	// Lab 2: the file's host wins over the database's.
	if hs := r.Catalog().ForLab("2"); len(hs) != 2 || hs[0].Name != "lab-ws-02" {
		t.Errorf("ForLab(2) = %v", hs)
	}
	h, err := r.Add(ctx, json.RawMessage(`{"name": "Lab-WS-11", "address": "10.1.0.11", "mac": "02-00-00-00-00-11"}`), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if h.Source != hosts.SourceDatabase || h.MAC != "02:00:00:00:00:11" || h.WinRMPort != 5986 {
		t.Errorf("Add = %+v: want the loader's normalised host from the database", h)
	}
	if _, ok := r.Catalog().Get("lab-ws-11"); !ok {
		t.Error("added host not served at once")
	}
	for _, name := range []string{"LAB-WS-01", "lab-ws-11"} {
		_, err := r.Add(ctx, json.RawMessage(fmt.Sprintf(`{"name": %q, "address": "10.1.0.99"}`, name)), "bob")
		if !errors.Is(err, hosts.ErrHostExists) || !strings.Contains(err.Error(), name) {
			t.Errorf("Add(%s) = %v, want ErrHostExists naming it", name, err)
		}
	}
	rows, err := s.CatalogHosts(ctx)
	if err != nil || len(rows) != 2 || rows[1].CreatedBy != "alice" || string(rows[1].Entry) != `{"name":"Lab-WS-11","address":"10.1.0.11","mac":"02-00-00-00-00-11"}` {
		t.Errorf("rows = %+v %v", rows, err)
	}
}

// A name in both parts fails the load, naming the host and both sources.
func TestCatalog_ClashNamed(t *testing.T) {
	s, _ := mariaStore(t)
	insertRow(t, s, "LAB-WS-02", `{"name":"LAB-WS-02","address":"10.1.0.20"}`)
	_, _, err := hosts.NewRegistryWith(context.Background(), labsimtest.WriteHostsFile(t, fileCatalog), catalogOpts(s, nil))
	if err == nil {
		t.Fatal("clash accepted")
	}
	for _, want := range []string{`"LAB-WS-02"`, "file catalog (hosts.json)", "database catalog (ops_catalog_hosts)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// A database entry holds no secret: credentials and env: references are
// refused, and nothing is stored.
func TestCatalog_SecretRefused(t *testing.T) {
	ctx := context.Background()
	s, _ := mariaStore(t)
	r := newMerged(t, labsimtest.WriteHostsFile(t, fileCatalog), catalogOpts(s, nil))
	for _, entry := range []string{
		`{"name":"x1","address":"10.1.0.30","winrm_user":"admin"}`,
		`{"name":"x2","address":"10.1.0.31","winrm_pass":"hunter2"}`,
		`{"name":"x3","address":"env:CAT_TEST_PASS"}`,
		`{"name":"x4","address":"10.1.0.32","labs":["env:CAT_TEST_PASS"]}`,
	} {
		_, err := r.Add(ctx, json.RawMessage(entry), "eve")
		if err == nil || !strings.Contains(err.Error(), "credential store") {
			t.Errorf("Add(%s) = %v, want a refusal naming the credential store", entry, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error shows the secret: %v", err)
		}
	}
	// A row put in by hand with a secret fails the load, naming its row.
	insertRow(t, s, "x5", `{"name":"x5","address":"10.1.0.33","winrm_pass":"hunter2"}`)
	if _, _, err := r.Reload(ctx); err == nil || !strings.Contains(err.Error(), `database row "x5"`) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Reload with a secret row = %v", err)
	}
	if rows, _ := s.CatalogHosts(ctx); len(rows) != 1 {
		t.Errorf("%d rows stored, want only the hand-made one", len(rows))
	}
}

// OPS_STATION_CIDRS applies to a database entry as to a file entry.
func TestCatalog_StationCIDRs(t *testing.T) {
	ctx := context.Background()
	s, _ := mariaStore(t)
	opts := catalogOpts(s, nil)
	opts.StationPrefixes = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
	r := newMerged(t, labsimtest.WriteHostsFile(t, fileCatalog), opts)
	for _, addr := range []string{"10.9.9.9", "ws-20.lab.example"} {
		_, err := r.Add(ctx, json.RawMessage(fmt.Sprintf(`{"name":"ws-20","address":%q}`, addr)), "a")
		if err == nil || !strings.Contains(err.Error(), "OPS_STATION_CIDRS") {
			t.Errorf("Add at %s = %v, want refused by OPS_STATION_CIDRS", addr, err)
		}
	}
	if _, err := r.Add(ctx, json.RawMessage(`{"name":"ws-20","address":"10.1.3.4"}`), "a"); err != nil {
		t.Errorf("inside: %v", err)
	}
	insertRow(t, s, "ws-21", `{"name":"ws-21","address":"192.168.7.7"}`)
	if _, _, err := hosts.NewRegistryWith(ctx, labsimtest.WriteHostsFile(t, fileCatalog), opts); err == nil ||
		!strings.Contains(err.Error(), `database row "ws-21"`) || !strings.Contains(err.Error(), "OPS_STATION_CIDRS") {
		t.Errorf("load with a row outside = %v", err)
	}
}

// Another instance on the same database serves a host added here within
// its RefreshEvery, without a reload.
func TestCatalog_SecondInstanceSeesAdd(t *testing.T) {
	ctx := context.Background()
	s, dsn := mariaStore(t)
	path := labsimtest.WriteHostsFile(t, fileCatalog)
	r1 := newMerged(t, path, catalogOpts(s, nil))
	r2 := newMerged(t, path, catalogOpts(openStore(t, dsn), nil))
	r2.Current(ctx)
	if _, err := r1.Add(ctx, json.RawMessage(`{"name":"ws-30","address":"10.1.0.30"}`), "a"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(150*time.Millisecond + time.Second)
	for {
		if _, ok := r2.Current(ctx).Get("ws-30"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other instance never served the added host")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// And it refuses the same name, whichever instance asks.
	if _, err := r2.Add(ctx, json.RawMessage(`{"name":"WS-30","address":"10.1.0.31"}`), "b"); !errors.Is(err, hosts.ErrHostExists) {
		t.Errorf("second Add of the name on the other instance = %v", err)
	}
}

// A refresh that fails (a bad row, then the database gone) keeps the
// catalog in force and says so at warn, once.
func TestCatalog_RefreshFailureKeepsPrevious(t *testing.T) {
	ctx := context.Background()
	s, dsn := mariaStore(t)
	insertRow(t, s, "ws-40", `{"name":"ws-40","address":"10.1.0.40"}`)
	logs := &logtest.Buffer{}
	own := openStore(t, dsn)
	r := newMerged(t, labsimtest.WriteHostsFile(t, fileCatalog), catalogOpts(own, logs))
	insertRow(t, s, "ws-41", `{"name":"ws-41","address":"10.1.0.41","mac":"not-a-mac"}`)
	time.Sleep(200 * time.Millisecond)
	if got := names(r.Current(ctx)); got != "lab-ws-01/file lab-ws-02/file ws-40/database" {
		t.Errorf("after a bad row: %s, want the previous catalog", got)
	}
	if !strings.Contains(logs.String(), "host catalog refresh failed; previous catalog kept") || !strings.Contains(logs.String(), `database row \"ws-41\"`) {
		t.Errorf("no warning naming the row: %s", logs)
	}
	own.Close() // the database gone
	time.Sleep(200 * time.Millisecond)
	if got := r.Current(ctx).Len(); got != 3 {
		t.Errorf("database gone: %d hosts, want the previous 3", got)
	}
	if n := strings.Count(logs.String(), "refresh failed"); n != 1 {
		t.Errorf("%d refresh warnings within a minute, want 1 (rate-limited)", n)
	}
}

// POST /api/hosts/reload (ops.Service.ReloadHosts) re-reads the file and
// the database; GET /api/hosts names each host's source.
func TestCatalog_ReloadReadsBoth(t *testing.T) {
	ctx := context.Background()
	s, dsn := mariaStore(t)
	path := labsimtest.WriteHostsFile(t, fileCatalog)
	cfg, err := config.LoadMap(ctx, map[string]string{"OPS_CONFIG": path, "MYSQL_DSN": dsn, "CAT_TEST_PASS": "x",
		"OPS_CATALOG_REFRESH_SECONDS": "300", "LAB_MANAGER_TOKEN": "t0ken"})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CAT_TEST_PASS", "pw")
	a, _ := mustNew(t, cfg, app.Options{})
	if err := os.WriteFile(path, []byte(`{"hosts":[{"name":"lab-ws-05","address":"10.1.0.5"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	insertRow(t, s, "ws-50", `{"name":"ws-50","address":"10.1.0.50"}`)
	if got := a.Service().Catalog(ctx).Len(); got != 2 {
		t.Errorf("before the reload (refresh 300 s): %d hosts, want the 2 loaded", got)
	}
	res, err := a.Service().ReloadHosts(ctx)
	if err != nil || res.Hosts != 2 {
		t.Fatalf("reload = %+v %v", res, err)
	}
	if got := names(a.Service().Catalog(ctx)); got != "lab-ws-05/file ws-50/database" {
		t.Errorf("after the reload: %s", got)
	}
	list, err := a.Service().Hosts(ctx)
	if err != nil || len(list.Hosts) != 2 || list.Hosts[0].Source != "file" || list.Hosts[1].Source != "database" {
		t.Errorf("GET /api/hosts sources: %+v %v", list.Hosts, err)
	}
}

// OPS_CONFIG=none: every host from the database; without one, no start.
func TestCatalog_NoFile(t *testing.T) {
	ctx := context.Background()
	cfg, err := config.LoadMap(ctx, map[string]string{"OPS_CONFIG": "none"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.New(ctx, cfg, app.Options{LogOutput: &logtest.Buffer{}}); err == nil || err.Error() != "OPS_CONFIG=none needs a database (MYSQL_DSN)" {
		t.Errorf("none without a database: %v", err)
	}
	s, dsn := mariaStore(t)
	insertRow(t, s, "ws-60", `{"name":"ws-60","address":"10.1.0.60"}`)
	cfg.MySQLDSN = dsn
	a, _ := mustNew(t, cfg, app.Options{})
	if got := names(a.Hosts().Current(ctx)); got != "ws-60/database" {
		t.Errorf("none with a database: %s", got)
	}
	// A missing file is still an error.
	cfg.HostsPath = t.TempDir() + "/missing.json"
	if _, err := app.New(ctx, cfg, app.Options{LogOutput: &logtest.Buffer{}}); err == nil {
		t.Error("missing hosts file accepted")
	}
}

// BenchmarkCurrent_Hot is Current when no refresh is due: the hot path of
// every request.
func BenchmarkCurrent_Hot(b *testing.B) {
	s, _ := mariaStore(b)
	r, _, err := hosts.NewRegistryWith(context.Background(), hosts.NoFile, hosts.Options{Dynamic: app.CatalogStore(s), RefreshEvery: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r.Current(ctx) == nil {
				b.Fatal("nil catalog")
			}
		}
	})
}

// BenchmarkRefresh_1000 is one refresh of 1,000 database hosts on MariaDB
// (read, parse, merge).
func BenchmarkRefresh_1000(b *testing.B) {
	s, _ := mariaStore(b)
	for i := range 1000 {
		name := fmt.Sprintf("ws-%04d", i)
		insertRow(b, s, name, fmt.Sprintf(`{"name":%q,"address":"10.2.%d.%d","mac":"02:00:00:00:%02x:%02x","labs":["%d"]}`, name, i/250, i%250+1, i/256, i%256, i))
	}
	r, _, err := hosts.NewRegistryWith(context.Background(), hosts.NoFile, hosts.Options{Dynamic: app.CatalogStore(s), RefreshEvery: time.Nanosecond})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if c := r.Current(ctx); c.Len() != 1000 {
			b.Fatalf("%d hosts", c.Len())
		}
	}
}

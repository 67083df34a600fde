package ops_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab/direct"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/store"
	"github.com/ops-worker/ops-worker/internal/wake"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// catalogEntry is the hosts.json entry of a simulated station, its password
// an env: reference resolved by the returned environment.
func catalogEntry(sim *labsim.Sim, h *labsim.Host, labs ...string) (map[string]any, map[string]string) {
	if len(labs) == 0 {
		labs = []string{"1"}
	}
	ref := "PASS_" + fmt.Sprint(h.WakePort())
	return map[string]any{
		"name": h.Name(), "address": "127.0.0.1", "mac": h.MAC(),
		"winrm_user": h.User(), "winrm_pass": "env:" + ref, "winrm_transport": "ntlm",
		"winrm_port": h.HTTPSPort(), "winrm_use_ssl": true, "winrm_ca_file": sim.CAFile(),
		"heartbeat_path": labsim.HeartbeatPath, "events_path": labsim.EventsPath,
		"broadcast": "127.0.0.1", "wol_port": h.WakePort(), "wake_check": "tcp", "labs": labs,
	}, map[string]string{ref: h.Password()}
}

// fixture is a Service on a labsim, a catalog file and (optionally) a
// MariaDB store.
type fixture struct {
	sim   *labsim.Sim
	svc   *ops.Service
	store *store.Store
	path  string
	env   map[string]string
}

type fixtureOpts struct {
	db      bool
	labs    map[string][]string // host name -> labs
	entries func([]map[string]any)
}

func newFixture(t *testing.T, fo fixtureOpts, hostOpts ...labsim.HostOptions) *fixture {
	t.Helper()
	f := &fixture{sim: labsimtest.Start(t, hostOpts...), env: map[string]string{}}
	var entries []map[string]any
	for _, o := range hostOpts {
		sh := f.sim.Host(o.Name)
		e, env := catalogEntry(f.sim, sh, fo.labs[o.Name]...)
		entries = append(entries, e)
		for k, v := range env {
			f.env[k] = v
		}
	}
	if fo.entries != nil {
		fo.entries(entries)
	}
	f.path = labsimtest.WriteHostsFile(t, entries)
	reg, _, err := hosts.NewRegistry(f.path, f.lookup)
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	f.svc = &ops.Service{
		Registry: reg,
		Lab: &direct.Direct{
			WinRM:           winrm.New(winrm.Config{OperationTimeout: 5 * time.Second, DialTimeout: 500 * time.Millisecond}),
			Waker:           &wake.Waker{ICMP: "off"},
			Policy:          direct.Policy{AllowedTransports: []string{"ntlm"}},
			AllowedCommands: labstation.DefaultAllowList(),
		},
		Settings: ops.Settings{AllowedCommands: labstation.DefaultAllowList(), TimelineDefaultLimit: 100,
			TimelineMaxOps: 500, TimelinePhaseLookback: 500, HeartbeatStaleAfter: 5 * time.Minute},
		Version: "test", DBKind: "none",
	}
	if fo.db {
		f.store = openStore(t)
		f.svc.Store = f.store
		f.svc.DBKind = "mysql"
	}
	return f
}

func (f *fixture) lookup(name string) (string, bool) { v, ok := f.env[name]; return v, ok }

func openStore(t *testing.T) *store.Store {
	t.Helper()
	cfg, err := config.ParseDSN(dbtest.NewDatabase(t))
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

func ptr[T any](v T) *T { return &v }

// wantCode checks that err is an *ops.Error with code and message.
func wantCode(t *testing.T, err error, code ops.Code, msg string) {
	t.Helper()
	e, ok := ops.AsError(err)
	if !ok {
		t.Fatalf("err = %v, want *ops.Error %s %q", err, code, msg)
	}
	if e.Code != code || (msg != "" && e.Message != msg) {
		t.Errorf("err = %s %q, want %s %q", e.Code, e.Message, code, msg)
	}
}

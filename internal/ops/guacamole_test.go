package ops_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/ops"
)

// guacDir is a Guacamole directory for this package's unit tests: fixed
// connections or a fixed error.
type guacDir struct {
	conns []domain.GuacConnection
	err   error
}

func (d guacDir) Connections(context.Context) ([]domain.GuacConnection, error) { return d.conns, d.err }

// storedCreds answers for the credential references it holds, as the
// encrypted credential store will.
type storedCreds map[string]bool

func (s storedCreds) WinRMConfigured(_ context.Context, h hosts.Host) bool { return s[h.CredentialRef] }

const guacTestPass = "Pw-guac-unit-7c1"

// guacService is a Service over a catalog of four hosts: lab-ws-01 at
// 10.0.0.1 and lab-ws-02 at 10.0.0.2 with credentials (lab-ws-02's password
// an env: reference), lab-ws-03 (a name as address, credential_ref given,
// no password), lab-ws-04 (the password's variable set to "").
func guacService(t *testing.T, dir ops.GuacamoleDirectory) *ops.Service {
	t.Helper()
	doc := `{"hosts": [
		{"name": "lab-ws-01", "address": "10.0.0.1", "mac": "AA-BB-CC-00-00-01", "labs": [1], "winrm_user": "lab", "winrm_pass": "` + guacTestPass + `"},
		{"name": "lab-ws-02", "address": "10.0.0.2", "labs": ["2"], "winrm_user": "lab", "winrm_pass": "env:GUAC_TEST_PASS"},
		{"name": "lab-ws-03", "address": "PC-03.lab.example", "credential_ref": " Bench-03.Creds ", "winrm_user": "lab"},
		{"name": "lab-ws-04", "address": "10.0.0.4", "winrm_user": "lab", "winrm_pass": "env:GUAC_TEST_EMPTY"}
	]}`
	env := map[string]string{"GUAC_TEST_PASS": guacTestPass, "GUAC_TEST_EMPTY": ""}
	c, _, err := hosts.Parse([]byte(doc), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return &ops.Service{Registry: hosts.NewStaticRegistry(c), Guacamole: dir}
}

func TestHosts_GuacamoleLinks(t *testing.T) {
	t.Parallel()
	dir := guacDir{conns: []domain.GuacConnection{
		{ID: 1, Name: "RDP 01", Protocol: "rdp", Hostname: " LAB-WS-01 ", Port: "3389"},   // by name, any case
		{ID: 2, Name: "RDP 02", Protocol: "rdp", Hostname: "10.0.0.2", Port: "3389"},      // by address
		{ID: 3, Name: "VNC 02", Protocol: "vnc", Hostname: "lab-ws-02"},                   // by name: 02 is ambiguous
		{ID: 4, Name: "Bench PC", Protocol: "rdp", Hostname: "bench-pc-07", Port: "3389"}, // no host
		{ID: 5, Name: "no hostname", Protocol: "ssh"},                                     // no host
		{ID: 6, Name: "PC 03", Protocol: "rdp", Hostname: "pc-03.LAB.example"},            // by address, any case
	}}
	got, err := guacService(t, dir).Hosts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !got.GuacamoleAvailable || got.GuacamoleError != "" {
		t.Errorf("available %v, error %q", got.GuacamoleAvailable, got.GuacamoleError)
	}
	for i, want := range []struct {
		status string
		ids    []int64
	}{{ops.GuacLinked, []int64{1}}, {ops.GuacAmbiguous, []int64{2, 3}}, {ops.GuacLinked, []int64{6}}, {ops.GuacMissing, nil}} {
		g := got.Hosts[i].Guacamole
		if g == nil || g.Status != want.status || len(g.Connections) != len(want.ids) {
			t.Errorf("%s: guacamole %+v, want %s %v", got.Hosts[i].Name, g, want.status, want.ids)
			continue
		}
		for j, id := range want.ids {
			if g.Connections[j].ID != id {
				t.Errorf("%s: connection %d is %d, want %d", got.Hosts[i].Name, j, g.Connections[j].ID, id)
			}
		}
	}
	if u := got.GuacamoleUnmatched; len(u) != 2 || u[0].ID != 4 || u[1].ID != 5 || u[1].Hostname != nil || u[1].Port != nil {
		t.Errorf("unmatched = %+v", u)
	}
	c := got.Hosts[0].Guacamole.Connections[0]
	if *c.Hostname != " LAB-WS-01 " || *c.Port != "3389" || c.Name != "RDP 01" || c.Protocol != "rdp" {
		t.Errorf("connection shown as %+v, want it as Guacamole holds it", c)
	}
}

func TestHosts_CredentialFields(t *testing.T) {
	t.Parallel()
	s := guacService(t, nil)
	got, err := s.Hosts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		ref        string
		configured bool
		mac        string
	}{{"10.0.0.1", true, "aa:bb:cc:00:00:01"}, {"10.0.0.2", true, ""}, {"bench-03.creds", false, ""}, {"10.0.0.4", false, ""}} {
		h := got.Hosts[i]
		if h.CredentialRef != want.ref || h.WinRMConfigured != want.configured {
			t.Errorf("%s: credentialRef %q, winrmConfigured %v; want %q, %v", h.Name, h.CredentialRef, h.WinRMConfigured, want.ref, want.configured)
		}
		if (want.mac == "") != (h.MAC == nil) || h.MAC != nil && *h.MAC != want.mac {
			t.Errorf("%s: mac %v, want %q", h.Name, h.MAC, want.mac)
		}
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), guacTestPass) {
		t.Errorf("the answer holds a password: %s", b)
	}
	for _, key := range []string{`"credentialRef":"10.0.0.1"`, `"winrmConfigured":false`, `"mac":null`, `"labs":["1"]`, `"guacamole":null`,
		`"guacamoleAvailable":false`, `"guacamoleUnmatched":[]`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("the answer lacks %s: %s", key, b)
		}
	}

	// A credential store answers for the references it holds; the
	// catalog's credentials still count.
	s.Credentials = ops.CredentialResolvers{ops.CatalogCredentials{}, storedCreds{"bench-03.creds": true}}
	if got, err = s.Hosts(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, true, true, false} {
		if got.Hosts[i].WinRMConfigured != want {
			t.Errorf("with a store: %s winrmConfigured %v, want %v", got.Hosts[i].Name, got.Hosts[i].WinRMConfigured, want)
		}
	}
}

// Without a Guacamole database, or with one that fails, the hosts are
// still listed, each link null, and the answer says why.
func TestHosts_GuacamoleUnavailable(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		dir  ops.GuacamoleDirectory
		want string
	}{
		{nil, "Guacamole database not configured"},
		{guacDir{err: errors.New("dial tcp 127.0.0.1:3306: connect: connection refused")}, "Guacamole query failed: dial tcp 127.0.0.1:3306: connect: connection refused"},
	} {
		got, err := guacService(t, tt.dir).Hosts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got.GuacamoleAvailable || got.GuacamoleError != tt.want || got.GuacamoleUnmatched == nil || len(got.GuacamoleUnmatched) != 0 {
			t.Errorf("available %v, error %q, unmatched %v; want false, %q, []", got.GuacamoleAvailable, got.GuacamoleError, got.GuacamoleUnmatched, tt.want)
		}
		if len(got.Hosts) != 4 {
			t.Fatalf("hosts = %+v", got.Hosts)
		}
		for _, h := range got.Hosts {
			if h.Guacamole != nil {
				t.Errorf("%s: guacamole %+v, want null", h.Name, h.Guacamole)
			}
		}
	}
}

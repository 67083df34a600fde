package legacyimport_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ops-worker/ops-worker/internal/fernet"
	"github.com/ops-worker/ops-worker/internal/legacyimport"
	"github.com/ops-worker/ops-worker/internal/power"
)

// FuzzRead: no file content panics a reader, and a reader returns either
// records or an error, never both.
func FuzzRead(f *testing.F) {
	key := bytes.Repeat([]byte{3}, fernet.KeySize)
	tok, err := fernet.Encrypt(key, []byte(`{"user":"u","password":"p","version":"v2c","community":"c"}`), fakeNow, make([]byte, 16))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		`{"credentials": {"a": {"token": "` + tok + `", "type": "snmpv2c"}}}`,
		`{"credentials": {"A": {"token": "` + tok + `"}, "a ": {"token": "x"}}}`,
		`{"hosts": [{"name": "ws-1"}, {"name": "WS-1"}]}`, `{"hosts": [1, {}]}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	p := filepath.Join(f.TempDir(), "f.json") // one file, rewritten: a directory per input is slow
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if w, err := legacyimport.ReadWinRMCredentials(p, key); err != nil && w != nil {
			t.Fatalf("WinRM: %d records and error %v", len(w), err)
		}
		if pc, err := legacyimport.ReadPowerCredentials(p, key); err != nil && pc != nil {
			t.Fatalf("power: %d records and error %v", len(pc), err)
		}
		if h, err := legacyimport.ReadDynamicHosts(p); err != nil && h != nil {
			t.Fatalf("hosts: %d entries and error %v", len(h), err)
		}
	})
}

// FuzzReadPowerCatalog: no file content panics ReadPowerCatalog; it returns
// entries or an error, never both; and every entry's body is what the
// catalog's own parsing reads back as the entry (the routes would store
// exactly what was checked).
func FuzzReadPowerCatalog(f *testing.F) {
	sample, err := os.ReadFile(samplePath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	for _, s := range []string{
		`{"controllers": [{"id": 1, "driver": "MOCK", "enabled": "off", "config": {"outlets": [1, {"id": "2", "protected": "yes"}]}}],
		  "outlets": [{"controller_id": "1", "outletKey": 2, "defaultState": "ON"}],
		  "policies": [{"lab_id": 3, "name": "n", "steps": [{"phase": "manual", "controller_id": "1", "outlet_key": 2, "action": "cycle", "off_seconds": "4", "conditions": {}}]}]}`,
		`{"controllers": [{"id": "a", "driver": "netio-json", "host": "h", "port": "80", "config": {"useHttps": "no", "community": "c", "outlets": ["1", "1"]}}]}`,
		`{"controllers": [{"id": "a", "driver": "mock", "config": {"outlets": ["x"]}}], "outlets": [{"controllerId": "b", "outlet": "1"}], "policies": [{"labId": "A"}, {"labId": "a"}]}`,
		`{"policies": [{"labId": "1", "policyName": "p", "steps": [{"phase": "start", "controllerId": "elsewhere", "outlet": "1", "action": "on"}]}]}`,
		`{"controllers": null}`, `{"outlets": [[]]}`, `{}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	p := filepath.Join(f.TempDir(), "power.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cat, err := legacyimport.ReadPowerCatalog(p)
		if err != nil {
			if len(cat.Controllers)+len(cat.Policies) != 0 {
				t.Fatalf("%d controllers, %d policies and error %v", len(cat.Controllers), len(cat.Policies), err)
			}
			return
		}
		for _, pc := range cat.Controllers {
			c, err := power.ParseController(pc.Body)
			if err != nil || !reflect.DeepEqual(c, pc.Controller) {
				t.Fatalf("controller body %s reads back as %+v, %v; want %+v", pc.Body, c, err, pc.Controller)
			}
		}
		for _, pp := range cat.Policies {
			pol, err := power.DecodePolicy(pp.Body)
			if err != nil || !reflect.DeepEqual(pol, pp.Policy) {
				t.Fatalf("policy body %s reads back as %+v, %v; want %+v", pp.Body, pol, err, pp.Policy)
			}
		}
	})
}

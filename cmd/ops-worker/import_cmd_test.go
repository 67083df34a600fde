package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/credentials"
	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/fernet/fernettest"
	"github.com/ops-worker/ops-worker/internal/power"
	"github.com/ops-worker/ops-worker/internal/powerops"
	"github.com/ops-worker/ops-worker/internal/store"
)

// olderWorkerFiles is the older worker's way of writing its files
// (save_winrm_credentials, PowerCredentialStore.put, write_dynamic_config),
// run by Python's cryptography: the files an operator brings along.
const olderWorkerFiles = `
import json, os, sys
from cryptography.fernet import Fernet
d = sys.argv[1]
key = Fernet.generate_key(); f = Fernet(key)
other = Fernet.generate_key()
def write(name, data):
    with open(os.path.join(d, name), "w", encoding="utf-8") as h:
        json.dump(data, h, indent=2)
write("credentials.json", {"credentials": {
    "lab-ws-09.lab": {"token": f.encrypt(json.dumps({"user": "LAB\\admin", "password": "S3cret-imp-09"}).encode()).decode()},
}})
write("power-credentials.json", {"credentials": {
    "pdu-1": {"type": "snmpv2c", "token": f.encrypt(json.dumps({"version": "v2c", "community": "S3cret-imp-comm"}, separators=(",", ":")).encode()).decode()},
}})
write("dynamic-hosts.json", {"hosts": [
    {"name": "lab-ws-09", "address": "10.0.0.9", "credential_ref": "lab-ws-09.lab", "winrm_transport": "ntlm",
     "winrm_use_ssl": True, "winrm_port": 5986, "labs": ["9"], "mac": "00:11:22:33:44:59"},
]})
print(json.dumps({"key": key.decode(), "other": other.decode()}))
`

// TestImportCredentials: `ops-worker import-credentials` on MariaDB with
// files Python's Fernet wrote: everything is stored (the credential opens
// with the right user and password, the host is in the database catalog),
// a second run stores nothing new, and a wrong key, a tampered token and a
// truncated file each give a clear error and store nothing. The output
// names references, never a secret.
func TestImportCredentials(t *testing.T) {
	dir := t.TempDir()
	var keys struct{ Key, Other string }
	if err := json.Unmarshal(fernettest.Run(t, olderWorkerFiles, dir), &keys); err != nil {
		t.Fatal(err)
	}
	secretsOf := []string{"S3cret-imp-09", "S3cret-imp-comm", keys.Key, keys.Other}
	noSecret := func(what, s string) {
		t.Helper()
		for _, sec := range secretsOf {
			if strings.Contains(s, sec) {
				t.Errorf("%s holds a secret: %s", what, s)
			}
		}
	}
	env := func(dsn, key string, files ...string) map[string]string {
		e := map[string]string{"MYSQL_DSN": dsn, "OPS_SECRETS_KEY": key, "OPS_CONFIG": "none"}
		for _, f := range files {
			switch f {
			case "credentials.json", "bad-token.json", "truncated.json":
				e["OPS_CREDENTIALS_PATH"] = filepath.Join(dir, f)
			case "power-credentials.json":
				e["OPS_POWER_CREDENTIALS_PATH"] = filepath.Join(dir, f)
			case "dynamic-hosts.json":
				e["OPS_DYNAMIC_CONFIG"] = filepath.Join(dir, f)
			case "power-controllers.json":
				e["OPS_POWER_CONFIG"] = filepath.Join(dir, f)
			}
		}
		return e
	}
	count := func(dsn, table string) int {
		t.Helper()
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	run := func(e map[string]string) (string, error) {
		var out bytes.Buffer
		err := runImport(context.Background(), e, &out)
		noSecret("output", out.String())
		if err != nil {
			noSecret("error", err.Error())
		}
		return out.String(), err
	}
	// The power catalog's APC strip names the power credential imported
	// in the same run.
	if err := os.WriteFile(filepath.Join(dir, "power-controllers.json"), []byte(`{"controllers": [{"id": "pdu-1", "name": "Bench PDU",
	  "driver": "apc-powernet-snmp", "host": "10.0.0.50", "credentialRef": "pdu-1", "config": {"snmpVersion": "v2c", "outlets": ["1"]}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	all := []string{"credentials.json", "power-credentials.json", "dynamic-hosts.json", "power-controllers.json"}

	dsn := dbtest.NewDatabase(t)
	out, err := run(env(dsn, keys.Key, all...))
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	for _, want := range []string{"winrm credential lab-ws-09.lab: stored", "power credential pdu-1: stored", "host lab-ws-09: added", "power controller pdu-1: added"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The credential opens with the store's key (OPS_SECRETS_KEY, the same
	// text the older worker used as its Fernet key).
	cfg, err := config.LoadMap(context.Background(), map[string]string{"OPS_SECRETS_KEY": keys.Key})
	if err != nil {
		t.Fatal(err)
	}
	ring, err := cfg.Keyring()
	if err != nil {
		t.Fatal(err)
	}
	dcfg, err := config.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), dcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := credentials.New(st, ring, credentials.Options{})
	user, pass, found, err := svc.WinRM(context.Background(), "lab-ws-09.lab")
	if err != nil || !found || user != `LAB\admin` || pass.Reveal() != "S3cret-imp-09" {
		t.Errorf("stored WinRM credential: %q %v %v", user, found, err)
	}
	if typ, creds, err := svc.Power(context.Background(), "pdu-1"); err != nil || typ != "snmpv2c" || creds["community"] != "S3cret-imp-comm" {
		t.Errorf("stored power credential: %q %v", typ, err)
	}
	var entry string
	db, _ := sql.Open("mysql", dsn)
	defer db.Close()
	if err := db.QueryRow("SELECT entry FROM ops_catalog_hosts WHERE name = 'lab-ws-09'").Scan(&entry); err != nil || !strings.Contains(entry, "10.0.0.9") {
		t.Errorf("catalog row: %q %v", entry, err)
	}
	noSecret("catalog row", entry)
	var sealed []byte
	if err := db.QueryRow("SELECT sealed FROM ops_credentials WHERE credential_ref = 'lab-ws-09.lab'").Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	noSecret("sealed row", string(sealed))

	// Idempotent: the same files again store nothing new.
	out, err = run(env(dsn, keys.Key, all...))
	if err != nil {
		t.Fatalf("second import: %v", err)
	}
	if !strings.Contains(out, "host lab-ws-09: exists") || !strings.Contains(out, "winrm credential lab-ws-09.lab: updated") ||
		!strings.Contains(out, "power controller pdu-1: exists") {
		t.Errorf("second run:\n%s", out)
	}
	if n, h := count(dsn, "ops_credentials"), count(dsn, "ops_catalog_hosts"); n != 2 || h != 1 {
		t.Errorf("after two runs: %d credentials, %d hosts; want 2 and 1", n, h)
	}

	// Each bad input: a clear error, nothing stored.
	raw, err := os.ReadFile(filepath.Join(dir, "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(raw, []byte(`"token": "`)) + len(`"token": "`) + 40
	tampered := bytes.Clone(raw)
	tampered[i] = 'A'
	if raw[i] == 'A' {
		tampered[i] = 'B'
	}
	if err := os.WriteFile(filepath.Join(dir, "bad-token.json"), tampered, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "truncated.json"), raw[:len(raw)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, key string
		files     []string
		want      string
	}{
		{"wrong key", keys.Other, all, "wrong OPS_SECRETS_KEY"},
		{"tampered token", keys.Key, []string{"bad-token.json", "power-credentials.json", "dynamic-hosts.json", "power-controllers.json"}, "bad-token.json"},
		{"truncated file", keys.Key, []string{"truncated.json", "dynamic-hosts.json"}, "truncated.json"},
	} {
		fresh := dbtest.NewDatabase(t)
		_, err := run(env(fresh, tc.key, tc.files...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one naming %q", tc.name, err, tc.want)
		}
		if n, h, c := count(fresh, "ops_credentials"), count(fresh, "ops_catalog_hosts"), count(fresh, "power_controllers"); n != 0 || h != 0 || c != 0 {
			t.Errorf("%s: %d credentials, %d hosts and %d power controllers stored, want none", tc.name, n, h, c)
		}
		t.Logf("%s: %v", tc.name, err)
	}
	// The leak check can fail: a planted secret is seen.
	caught := false
	for _, sec := range secretsOf {
		caught = caught || strings.Contains("x "+secretsOf[0], sec)
	}
	if !caught {
		t.Fatal("the secret check misses a planted secret")
	}
}

// samplePowerConfig is upstream's ops-worker/power-controllers.sample.json
// (the older worker's OPS_POWER_CONFIG), verbatim.
var samplePowerConfig = filepath.Join("..", "..", "internal", "legacyimport", "testdata", "power-controllers.sample.json")

// TestImportPowerCatalog: `ops-worker import-credentials` with only
// OPS_POWER_CONFIG (no OPS_SECRETS_KEY) on MariaDB: the upstream sample's
// controller, with its two outlets, and lab 1's four-step policy are in the
// power catalog as the routes answer them; a second run adds nothing; a
// file with a secret in a controller's config, or a bad file beside a good
// catalog, stores nothing and never echoes the secret.
func TestImportPowerCatalog(t *testing.T) {
	ctx := context.Background()
	dsn := dbtest.NewDatabase(t)
	env := func(dsn string, vars ...string) map[string]string {
		e := map[string]string{"MYSQL_DSN": dsn, "OPS_CONFIG": "none"}
		for i := 0; i+1 < len(vars); i += 2 {
			e[vars[i]] = vars[i+1]
		}
		return e
	}
	run := func(e map[string]string) (string, error) {
		var out bytes.Buffer
		err := runImport(ctx, e, &out)
		return out.String(), err
	}
	out, err := run(env(dsn, "OPS_POWER_CONFIG", samplePowerConfig))
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	want := "power controller mock-lab-01: added\npower policy for lab 1: added\n" +
		"imported: 0 winrm credentials (0 new), 0 power credentials (0 new), 0 hosts added (0 already present), " +
		"1 power controllers added (0 already present), 1 power policies added (0 already present)\n"
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}

	// What GET /api/power/controllers and /api/power/policies answer.
	dcfg, err := config.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := powerops.New(powerops.Options{Store: st})
	list, err := svc.Controllers(ctx)
	if err != nil || len(list.Controllers) != 1 {
		t.Fatalf("controllers: %+v, %v", list, err)
	}
	c := list.Controllers[0]
	if c.ID != "mock-lab-01" || c.Name != "Mock lab controller" || c.Driver != power.DriverMock || !c.Enabled || !c.Discovery.Reachable || len(c.Outlets) != 2 ||
		c.Outlets[0].Outlet.Outlet != "1" || c.Outlets[0].LogicalName != "plc" || !c.Outlets[0].Critical || c.Outlets[0].DefaultState != power.StateOff ||
		c.Outlets[1].Outlet.Outlet != "2" || c.Outlets[1].LogicalName != "hmi" || c.Outlets[1].Critical {
		t.Errorf("controller %+v", c)
	}
	pols, err := svc.Policies(ctx)
	if err != nil || len(pols.Policies) != 1 {
		t.Fatalf("policies: %+v, %v", pols, err)
	}
	p := pols.Policies[0]
	if p.LabID != "1" || p.PolicyName != "PLC bench default" || len(p.Steps) != 4 || len(p.StepsFor(power.PhasePreStart)) != 2 || len(p.StepsFor(power.PhasePostEnd)) != 2 ||
		p.StepsFor(power.PhasePostEnd)[0].Outlet != "2" || p.StepsFor(power.PhasePostEnd)[0].Required || p.StartFailureMode != power.FailReservationStart {
		t.Errorf("policy %+v", p)
	}
	var by string
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow("SELECT created_by FROM power_controllers WHERE id = 'mock-lab-01'").Scan(&by); err != nil || by != "import-credentials" {
		t.Errorf("created_by %q, %v", by, err)
	}
	rows := func(db *sql.DB) (n int) {
		t.Helper()
		var c, p int
		if err := db.QueryRow("SELECT (SELECT COUNT(*) FROM power_controllers), (SELECT COUNT(*) FROM power_policies)").Scan(&c, &p); err != nil {
			t.Fatal(err)
		}
		return c*10 + p
	}

	// Idempotent: the same file again adds nothing.
	out, err = run(env(dsn, "OPS_POWER_CONFIG", samplePowerConfig))
	if err != nil {
		t.Fatalf("second import: %v", err)
	}
	if !strings.HasPrefix(out, "power controller mock-lab-01: exists\npower policy for lab 1: exists\n") ||
		!strings.Contains(out, "0 power controllers added (1 already present), 0 power policies added (1 already present)") {
		t.Errorf("second run:\n%s", out)
	}
	if n := rows(db); n != 11 {
		t.Errorf("after two runs: %d controllers and %d policies, want 1 and 1", n/10, n%10)
	}

	// Bad inputs: a clear error, nothing stored, no secret shown.
	dir := t.TempDir()
	const secret = "S3cret-pdu-community"
	shows := func(s string) bool { return strings.Contains(s, secret) }
	secretFile := filepath.Join(dir, "power-secret.json")
	if err := os.WriteFile(secretFile, []byte(`{"controllers": [{"id": "pdu-9", "driver": "apc-powernet-snmp", "host": "10.0.0.9",
	  "credentialRef": "pdu-9", "config": {"community": "`+secret+`", "outlets": ["1"]}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "hosts-truncated.json")
	if err := os.WriteFile(truncated, []byte(`{"hosts": [{"name": "lab-ws-`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		vars []string
		want string
	}{
		{"secret in config", []string{"OPS_POWER_CONFIG", secretFile}, "controller pdu-9: Power controller configuration is invalid: config holds a secret-looking field"},
		{"a bad file beside the catalog", []string{"OPS_POWER_CONFIG", samplePowerConfig, "OPS_DYNAMIC_CONFIG", truncated}, "hosts-truncated.json"},
	} {
		fresh := dbtest.NewDatabase(t)
		out, err := run(env(fresh, tc.vars...))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing stored") {
			t.Errorf("%s: err = %v, want one naming %q", tc.name, err, tc.want)
		}
		fdb, err2 := sql.Open("mysql", fresh)
		if err2 != nil {
			t.Fatal(err2)
		}
		if n := rows(fdb); n != 0 {
			t.Errorf("%s: %d controllers and %d policies stored, want none", tc.name, n/10, n%10)
		}
		fdb.Close()
		if err != nil && shows(err.Error()+out) {
			t.Errorf("%s: the secret is shown:\n%v\n%s", tc.name, err, out)
		}
		t.Logf("%s: %v", tc.name, err)
	}
	// The leak check can fail: an error quoting the config is seen.
	if !shows(fmt.Sprintf("controller pdu-9: config %v", map[string]string{"community": secret})) {
		t.Fatal("the secret check misses a planted secret")
	}
}

package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/credentials"
	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/fernet/fernettest"
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
	all := []string{"credentials.json", "power-credentials.json", "dynamic-hosts.json"}

	dsn := dbtest.NewDatabase(t)
	out, err := run(env(dsn, keys.Key, all...))
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	for _, want := range []string{"winrm credential lab-ws-09.lab: stored", "power credential pdu-1: stored", "host lab-ws-09: added"} {
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
	if !strings.Contains(out, "host lab-ws-09: exists") || !strings.Contains(out, "winrm credential lab-ws-09.lab: updated") {
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
		{"tampered token", keys.Key, []string{"bad-token.json", "power-credentials.json", "dynamic-hosts.json"}, "bad-token.json"},
		{"truncated file", keys.Key, []string{"truncated.json", "dynamic-hosts.json"}, "truncated.json"},
	} {
		fresh := dbtest.NewDatabase(t)
		_, err := run(env(fresh, tc.key, tc.files...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one naming %q", tc.name, err, tc.want)
		}
		if n, h := count(fresh, "ops_credentials"), count(fresh, "ops_catalog_hosts"); n != 0 || h != 0 {
			t.Errorf("%s: %d credentials and %d hosts stored, want none", tc.name, n, h)
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

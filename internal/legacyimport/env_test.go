package legacyimport_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/legacyimport"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestKeyFromEnv(t *testing.T) {
	raw := bytes.Repeat([]byte{0xFE}, 32)
	text := base64.URLEncoding.EncodeToString(raw)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "ops-secrets.key")
	if err := os.WriteFile(keyFile, []byte(text+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badFile := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(badFile, []byte("S3cret-not-a-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bigFile := filepath.Join(dir, "big.key")
	if err := os.WriteFile(bigFile, bytes.Repeat([]byte("a"), 5000), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, env := range []map[string]string{
		{"OPS_SECRETS_KEY": text},
		{"OPS_SECRETS_KEY": " " + text + "\n", "OPS_SECRETS_KEY_FILE": badFile}, // the variable first, as the older worker
		{"OPS_SECRETS_KEY_FILE": keyFile},
	} {
		if got, err := legacyimport.KeyFromEnv(envOf(env)); err != nil || !bytes.Equal(got, raw) {
			t.Errorf("%v: %x, %v", env, got, err)
		}
	}
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "OPS_SECRETS_KEY (or OPS_SECRETS_KEY_FILE) is required"},
		{map[string]string{"OPS_SECRETS_KEY": "S3cret-not-a-key"}, "OPS_SECRETS_KEY is not a Fernet key"},
		{map[string]string{"OPS_SECRETS_KEY_FILE": badFile}, "the file OPS_SECRETS_KEY_FILE names is not a Fernet key"},
		{map[string]string{"OPS_SECRETS_KEY_FILE": bigFile}, "larger than 4096 bytes"},
		{map[string]string{"OPS_SECRETS_KEY_FILE": filepath.Join(dir, "absent")}, "OPS_SECRETS_KEY_FILE: open"},
	} {
		_, err := legacyimport.KeyFromEnv(envOf(tt.env))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.env, err, tt.want)
			continue
		}
		noSecret(t, "key error", err.Error())
	}
	if _, err := legacyimport.KeyFromEnv(envOf(map[string]string{"OPS_SECRETS_KEY_FILE": filepath.Join(dir, "absent")})); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("absent key file: %v, want fs.ErrNotExist", err)
	}
}

func TestSourcesFromEnv(t *testing.T) {
	text := base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	src, err := legacyimport.SourcesFromEnv(envOf(map[string]string{
		"OPS_CREDENTIALS_PATH": "/d/winrm.json", "OPS_POWER_CREDENTIALS_PATH": " /d/power.json ",
		"OPS_DYNAMIC_CONFIG": "/d/hosts.json", "OPS_SECRETS_KEY": text,
	}))
	if err != nil || src.WinRMPath != "/d/winrm.json" || src.PowerPath != "/d/power.json" || src.DynamicHostsPath != "/d/hosts.json" || len(src.Key) != 32 {
		t.Errorf("%+v, %v", src, err)
	}
	// Hosts only: no key needed.
	if src, err := legacyimport.SourcesFromEnv(envOf(map[string]string{"OPS_DYNAMIC_CONFIG": "/d/hosts.json"})); err != nil || src.Key != nil {
		t.Errorf("hosts only: %+v, %v", src, err)
	}
	// The power catalog only: no key needed either.
	if src, err := legacyimport.SourcesFromEnv(envOf(map[string]string{"OPS_POWER_CONFIG": " /d/power-controllers.json\n"})); err != nil ||
		src.Key != nil || src.PowerCatalogPath != "/d/power-controllers.json" || src.WinRMPath != "" {
		t.Errorf("power catalog only: %+v, %v", src, err)
	}
	// A credential file without a key: refused up front.
	if _, err := legacyimport.SourcesFromEnv(envOf(map[string]string{"OPS_CREDENTIALS_PATH": "/d/winrm.json"})); err == nil || !strings.Contains(err.Error(), "OPS_SECRETS_KEY") {
		t.Errorf("no key: %v", err)
	}
}

package config_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/secrets"
)

func testKey(b byte) string { return base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

func TestKeyring_Config(t *testing.T) {
	ctx := context.Background()
	k1, k2, k3 := testKey(1), testKey(2), testKey(3)
	ring := func(k string) *secrets.Keyring {
		raw, err := secrets.ParseKey(k)
		if err != nil {
			t.Fatal(err)
		}
		r, err := secrets.NewKeyring(raw)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// No key: nil, nil, and the default cache.
	c, err := config.LoadMap(ctx, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := c.Keyring(); r != nil || err != nil {
		t.Fatalf("no key: %v %v", r, err)
	}
	if c.CredentialCacheTTL() != 5*time.Second {
		t.Fatalf("default cache %v", c.CredentialCacheTTL())
	}
	// Key and previous keys as text.
	c, err = config.LoadMap(ctx, map[string]string{"OPS_SECRETS_KEY": k2, "OPS_SECRETS_PREVIOUS_KEYS": k1 + ", " + k3 + ",", "OPS_CREDENTIAL_CACHE_SECONDS": "0"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Keyring()
	if err != nil || r.CurrentID() != ring(k2).CurrentID() || !r.Has(ring(k1).CurrentID()) || !r.Has(ring(k3).CurrentID()) || c.CredentialCacheTTL() != 0 {
		t.Fatalf("text keys: %v", err)
	}
	// As files, the previous keys one a line.
	dir := t.TempDir()
	kf, pf := filepath.Join(dir, "key"), filepath.Join(dir, "prev")
	os.WriteFile(kf, []byte(k3+"\n"), 0o600)
	os.WriteFile(pf, []byte(k1+"\n\n"+k2+"\n"), 0o600)
	c, err = config.LoadMap(ctx, map[string]string{"OPS_SECRETS_KEY_FILE": kf, "OPS_SECRETS_PREVIOUS_KEYS_FILE": pf})
	if err != nil {
		t.Fatal(err)
	}
	r, err = c.Keyring()
	if err != nil || r.CurrentID() != ring(k3).CurrentID() || !r.Has(ring(k1).CurrentID()) || !r.Has(ring(k2).CurrentID()) {
		t.Fatalf("file keys: %v", err)
	}

	const badKey = "c2VjcmV0LWJ1dC1zaG9ydA" // base64 of 16 bytes
	for name, tt := range map[string]struct {
		env  map[string]string
		want string
	}{
		"both key vars":      {map[string]string{"OPS_SECRETS_KEY": k1, "OPS_SECRETS_KEY_FILE": kf}, "OPS_SECRETS_KEY and OPS_SECRETS_KEY_FILE are both set"},
		"both previous vars": {map[string]string{"OPS_SECRETS_KEY": k1, "OPS_SECRETS_PREVIOUS_KEYS": k2, "OPS_SECRETS_PREVIOUS_KEYS_FILE": pf}, "both set"},
		"bad key":            {map[string]string{"OPS_SECRETS_KEY": badKey}, "OPS_SECRETS_KEY: key decodes to 16 bytes"},
		"not base64":         {map[string]string{"OPS_SECRETS_KEY": "!!" + badKey}, "OPS_SECRETS_KEY: key is not base64"},
		"bad previous":       {map[string]string{"OPS_SECRETS_KEY": k1, "OPS_SECRETS_PREVIOUS_KEYS": k2 + "," + badKey}, "OPS_SECRETS_PREVIOUS_KEYS: key 2"},
		"previous without":   {map[string]string{"OPS_SECRETS_PREVIOUS_KEYS": k2}, "set without OPS_SECRETS_KEY"},
		"missing file":       {map[string]string{"OPS_SECRETS_KEY_FILE": filepath.Join(dir, "none")}, "OPS_SECRETS_KEY_FILE:"},
		"empty file":         {map[string]string{"OPS_SECRETS_KEY_FILE": writeFile(t, dir, "empty", "\n")}, "is empty"},
		"bad key file":       {map[string]string{"OPS_SECRETS_KEY_FILE": writeFile(t, dir, "bad", badKey)}, "OPS_SECRETS_KEY_FILE: key decodes"},
		"cache above max":    {map[string]string{"OPS_CREDENTIAL_CACHE_SECONDS": "301"}, "OPS_CREDENTIAL_CACHE_SECONDS: must be 0 (no cache) to 300"},
		"cache negative":     {map[string]string{"OPS_CREDENTIAL_CACHE_SECONDS": "-1"}, "OPS_CREDENTIAL_CACHE_SECONDS"},
	} {
		_, err := config.LoadMap(ctx, tt.env)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", name, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), badKey) || strings.Contains(err.Error(), k1) || strings.Contains(err.Error(), k2) {
			t.Errorf("%s: error holds a key: %v", name, err)
		}
	}
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The keys are secrets of the Config's redacted views.
func TestConfig_SecretsKeyNotPrinted(t *testing.T) {
	k1, k2 := testKey(4), testKey(5)
	c, err := config.LoadMap(context.Background(), map[string]string{"OPS_SECRETS_KEY": k1, "OPS_SECRETS_PREVIOUS_KEYS": k2})
	if err != nil {
		t.Fatal(err)
	}
	outs := secretOutputs(t, c)
	for name, out := range outs {
		if strings.Contains(out, k1) || strings.Contains(out, k2) {
			t.Errorf("%s holds a key: %s", name, out)
		}
	}
	if !strings.Contains(outs["%+v"], "SecretsKey:[REDACTED]") {
		t.Errorf("%%+v does not mark the key: %s", outs["%+v"])
	}
	// The check can fail: the raw field is the key.
	outs["planted"] = c.SecretsKey
	if !strings.Contains(outs["planted"], k1) {
		t.Fatal("test is broken: the key is not where it was put")
	}
}

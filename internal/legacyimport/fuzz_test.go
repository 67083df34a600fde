package legacyimport_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/ops-worker/ops-worker/internal/fernet"
	"github.com/ops-worker/ops-worker/internal/legacyimport"
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

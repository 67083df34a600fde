package winrm

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A CA file is read once while it is unchanged, and again once rotated.
func TestCAFiles_ReadAgainWhenChanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	var c caFiles
	b1, err := c.read(path)
	if err != nil || string(b1) != "first" {
		t.Fatalf("read = %q, %v", b1, err)
	}
	b2, _ := c.read(path)
	if &b1[0] != &b2[0] {
		t.Error("an unchanged file was read again")
	}
	if err := os.WriteFile(path, []byte("second!"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if b, err := c.read(path); err != nil || string(b) != "second!" {
		t.Errorf("after rotation read = %q, %v, want the new bundle", b, err)
	}
	if _, err := c.read(filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Error("a missing CA file gave no error")
	}
}

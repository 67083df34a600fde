package winrm

import (
	"os"
	"path/filepath"
	"runtime"
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

// A same-size bundle put in place with the old mtime kept is read again:
// renamed over the old one (another inode) or rewritten in place (the
// ctime moves). Linux only: elsewhere size and mtime are all the cache
// keys on.
func TestCAFiles_SameSizeSameMtimeReplacement(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("GOOS=%s: the cache reads inode and ctime on linux only", runtime.GOOS)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(path, []byte("bundle-1"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	mtime := st.ModTime()
	var c caFiles
	if b, err := c.read(path); err != nil || string(b) != "bundle-1" {
		t.Fatalf("read = %q, %v", b, err)
	}
	// Renamed into place, as a rotation tool does.
	tmp := filepath.Join(dir, "ca.pem.new")
	if err := os.WriteFile(tmp, []byte("bundle-2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if b, err := c.read(path); err != nil || string(b) != "bundle-2" {
		t.Errorf("after a same-size rename with the mtime kept: read = %q, %v, want bundle-2", b, err)
	}
	// Rewritten in place: the same inode, the ctime one clock tick on
	// (the kernel's file clock ticks every few ms).
	time.Sleep(50 * time.Millisecond)
	if err := os.WriteFile(path, []byte("bundle-3"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if b, err := c.read(path); err != nil || string(b) != "bundle-3" {
		t.Errorf("after a same-size rewrite with the mtime kept: read = %q, %v, want bundle-3", b, err)
	}
}

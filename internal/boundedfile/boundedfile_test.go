package boundedfile_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/ops-worker/ops-worker/internal/boundedfile"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := boundedfile.Read(p, 5); err != nil || string(b) != "12345" {
		t.Errorf("at the limit: %q %v", b, err)
	}
	var tl *boundedfile.TooLargeError
	if _, err := boundedfile.Read(p, 4); !errors.As(err, &tl) || tl.Limit != 4 || tl.Path != p {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := boundedfile.Read(filepath.Join(dir, "none"), 4); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

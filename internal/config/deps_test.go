package config_test

import (
	"os/exec"
	"strings"
	"testing"
)

// config checks settings against the store's bounds, but through
// internal/domain: it must not link the database adapter for a constant
// (issue 14 item 4).
func TestConfigDoesNotImportStore(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		// go test puts its own go tool first on PATH: missing, it is a broken set-up, not a reason to skip.
		t.Fatalf("go tool not found: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", "github.com/ops-worker/ops-worker/internal/config").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "github.com/ops-worker/ops-worker/internal/store" {
			t.Errorf("internal/config depends on %s", p)
		}
	}
}

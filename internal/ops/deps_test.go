package ops_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/ops-worker/ops-worker/"

// adapters are the packages the use cases must not reach, not even
// through another package: the database, the WinRM client, the magic
// packet sender, the relay client, the notification sender (issue 14: a column or a wire change
// must not ripple into the use cases).
var adapters = []string{"internal/store", "internal/winrm", "internal/wake", "internal/relayclient", "internal/guacamole", "internal/notify"}

// TestUseCasesImportNoAdapter walks the imports of internal/ops,
// internal/scheduler and internal/heartbeatstream (the streams' hub, which
// polls through the use cases) (go list -deps) and fails on any path to an
// adapter.
func TestUseCasesImportNoAdapter(t *testing.T) {
	imports := importGraph(t, "./internal/ops", "./internal/scheduler", "./internal/heartbeatstream")
	for _, root := range []string{"internal/ops", "internal/scheduler", "internal/heartbeatstream"} {
		if _, ok := imports[root]; !ok {
			t.Fatalf("%s not in go list's answer", root)
		}
		for _, path := range adapterPaths(imports, root) {
			t.Errorf("%s reaches an adapter: %s", root, strings.Join(path, " -> "))
		}
	}
}

// TestAdapterPathsFindsOne: the walk finds a path through a package in
// between (a rule that found nothing would pass everything).
func TestAdapterPathsFindsOne(t *testing.T) {
	g := map[string][]string{"internal/ops": {"internal/lab"}, "internal/lab": {"internal/winrm"}, "internal/winrm": nil}
	got := adapterPaths(g, "internal/ops")
	if len(got) != 1 || strings.Join(got[0], " ") != "internal/ops internal/lab internal/winrm" {
		t.Fatalf("paths %v", got)
	}
}

// adapterPaths are the import paths from root to each adapter it reaches.
func adapterPaths(imports map[string][]string, root string) [][]string {
	var out [][]string
	seen := map[string]bool{}
	var walk func(p string, path []string)
	walk = func(p string, path []string) {
		if seen[p] {
			return
		}
		seen[p] = true
		path = append(slices.Clone(path), p)
		if slices.Contains(adapters, p) {
			out = append(out, path)
			return
		}
		for _, q := range imports[p] {
			walk(q, path)
		}
	}
	walk(root, nil)
	return out
}

// importGraph is the module's packages reached from pkgs, each with the
// module packages it imports, by module-relative path.
func importGraph(t *testing.T, pkgs ...string) map[string][]string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", append([]string{"list", "-deps", "-json=ImportPath,Imports"}, pkgs...)...)
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	g := map[string][]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		if !strings.HasPrefix(p.ImportPath, module) {
			continue
		}
		var imps []string
		for _, i := range p.Imports {
			if strings.HasPrefix(i, module) {
				imps = append(imps, strings.TrimPrefix(i, module))
			}
		}
		g[strings.TrimPrefix(p.ImportPath, module)] = imps
	}
	if len(g) < 5 {
		t.Fatalf("go list -deps: only %d module packages", len(g))
	}
	return g
}

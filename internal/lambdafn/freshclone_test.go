package lambdafn_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestTemplate_FreshCloneBuild emulates `sam build` (its makefile builder
// runs `make build-<LogicalId> ARTIFACTS_DIR=...` in a copy of the
// repository) on a fresh clone of the committed HEAD, which has no
// hosts.json: every function resource's target succeeds without one
// (dry-run, `make -n`), one (hosts-list) is really built, and its artifacts
// are a bootstrap and no catalog. A LAMBDA_HOSTS_JSON given and missing
// still fails.
func TestTemplate_FreshCloneBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: clones the repository and builds a function")
	}
	clone := filepath.Join(t.TempDir(), "repo")
	if out, err := exec.Command("git", "clone", "--quiet", "--no-hardlinks", repoRoot(t), clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(clone, "hosts.json")); err == nil {
		t.Fatal("the clone has a hosts.json: the test would prove nothing")
	}
	make := func(args ...string) (string, error) {
		cmd := exec.Command("make", append([]string{"-C", clone}, args...)...)
		// As a fresh shell has it: no catalog named.
		cmd.Env = slicesWithout(os.Environ(), "OPS_CONFIG=", "LAMBDA_HOSTS_JSON=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	tpl := openTemplate(t)
	fns := tpl.GetAllServerlessFunctionResources()
	if len(fns) == 0 {
		t.Fatal("no function resources")
	}
	for id := range fns {
		if out, err := make("-n", "build-"+id, "ARTIFACTS_DIR="+t.TempDir()); err != nil {
			t.Errorf("make -n build-%s: %v\n%s", id, err, out)
		}
	}
	art := t.TempDir()
	if out, err := make("build-HostsListFunction", "ARTIFACTS_DIR="+art, "LAMBDA_GOARCH="+runtime.GOARCH); err != nil {
		t.Fatalf("make build-HostsListFunction: %v\n%s", err, out)
	}
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[runtime.GOARCH]
	checkStaticELF(t, filepath.Join(art, "bootstrap"), machine)
	if _, err := os.Stat(filepath.Join(art, "hosts.json")); err == nil {
		t.Error("a hosts.json was packaged from a clone without one")
	}
	out, err := make("lambda-catalog", "ARTIFACTS_DIR="+t.TempDir(), "LAMBDA_HOSTS_JSON=/nonexistent/hosts.json")
	if err == nil || !strings.Contains(out, "/nonexistent/hosts.json not found") {
		t.Errorf("explicit missing LAMBDA_HOSTS_JSON: %v\n%s", err, out)
	}
}

// slicesWithout drops the variables named (NAME=) from env.
func slicesWithout(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		keep := true
		for _, n := range names {
			if strings.HasPrefix(kv, n) {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

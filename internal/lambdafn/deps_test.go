package lambdafn_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// forbidden says why a package must never be linked into a function: the
// embedded database, the simulator and test code belong to the local
// server and the tests only (issue 8).
func forbidden(pkg string) string {
	switch {
	case strings.HasPrefix(pkg, "github.com/dolthub/"):
		return "go-mysql-server (the embedded database)"
	case pkg == "github.com/ops-worker/ops-worker/internal/labsim" || strings.HasPrefix(pkg, "github.com/ops-worker/ops-worker/internal/labsim/"):
		return "the Lab Station simulator"
	case pkg == "github.com/ops-worker/ops-worker/internal/memsql":
		return "the embedded database"
	case pkg == "testing" || strings.HasPrefix(pkg, "testing/"):
		return "test code"
	case strings.HasPrefix(pkg, "github.com/ops-worker/ops-worker/internal/") && strings.HasSuffix(pkg, "test"):
		return "a test helper package"
	}
	return ""
}

// TestFunctionDeps lists every function's dependencies as Lambda builds it
// (linux, lambda.norpc) and fails on any forbidden package.
func TestFunctionDeps(t *testing.T) {
	root := repoRoot(t)
	for _, d := range functionDirs(t) {
		cmd := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", "-f", "{{.ImportPath}}", "./functions/"+d)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS=linux", "CGO_ENABLED=0")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps ./functions/%s: %v", d, err)
		}
		pkgs := strings.Fields(string(out))
		if len(pkgs) < 10 {
			t.Fatalf("go list -deps ./functions/%s: only %d packages", d, len(pkgs))
		}
		for _, p := range pkgs {
			if why := forbidden(p); why != "" {
				t.Errorf("functions/%s links %s: %s", d, p, why)
			}
		}
	}
}

// TestForbidden: the rule recognises what it must (a rule that matched
// nothing would pass every function).
func TestForbidden(t *testing.T) {
	for _, p := range []string{"github.com/dolthub/go-mysql-server/sql", "github.com/ops-worker/ops-worker/internal/labsim",
		"github.com/ops-worker/ops-worker/internal/memsql", "testing", "testing/fstest", "github.com/ops-worker/ops-worker/internal/dbtest"} {
		if forbidden(p) == "" {
			t.Errorf("%s not forbidden", p)
		}
	}
	for _, p := range []string{"net/http", "github.com/ops-worker/ops-worker/internal/api", "github.com/aws/aws-lambda-go/lambda"} {
		if forbidden(p) != "" {
			t.Errorf("%s forbidden", p)
		}
	}
}

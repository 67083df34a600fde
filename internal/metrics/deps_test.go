package metrics_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The Lambda functions build the worker with internal/app and write EMF
// lines with internal/telemetry: neither may link Prometheus (only
// cmd/ops-worker does, through this package).
func TestLambdaPathHasNoPrometheus(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		// go test puts its own go tool first on PATH: missing, it is a broken set-up, not a reason to skip.
		t.Fatalf("go tool not found: %v", err)
	}
	list := func(pkgs ...string) []string {
		args := append([]string{"list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}"}, pkgs...)
		out, err := exec.Command(goTool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		return strings.Fields(string(out))
	}
	for _, p := range list("github.com/ops-worker/ops-worker/internal/app", "github.com/ops-worker/ops-worker/internal/telemetry") {
		if strings.HasPrefix(p, "github.com/prometheus/") || strings.HasSuffix(p, "/internal/metrics") {
			t.Errorf("the Lambda path (internal/app, internal/telemetry) depends on %s", p)
		}
	}
	for _, p := range list("github.com/ops-worker/ops-worker/internal/telemetry") {
		if p == "github.com/ops-worker/ops-worker/internal/telemetry" {
			continue
		}
		t.Errorf("internal/telemetry must need only the standard library, depends on %s", p)
	}
	found := false
	for _, p := range list("github.com/ops-worker/ops-worker/cmd/ops-worker") {
		found = found || p == "github.com/prometheus/client_golang/prometheus"
	}
	if !found {
		t.Error("cmd/ops-worker does not link client_golang: is /metrics wired?")
	}
}

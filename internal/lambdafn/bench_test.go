package lambdafn_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/ops-worker/ops-worker/internal/api"
	"github.com/ops-worker/ops-worker/internal/dbtest"
)

// BenchmarkColdStart is the figures of issue 8 for every function, as
// custom metrics: the binary's size (goal <= 15 MB), the time from
// starting the emulator and the function process to the first answer
// (goal <= 150 ms; mean and fastest run) and the function's resident memory after it (goal <=
// 40 MB). The first answer is the function's own route called without a
// token (health: a real /health), with MYSQL_DSN set to a MariaDB
// database, so the cold start includes the connection check. Run with
//
//	go test -run '^$' -bench ColdStart -benchtime 5x ./internal/lambdafn
func BenchmarkColdStart(b *testing.B) {
	dir := builtFunctions(b)
	catalog := filepath.Join(b.TempDir(), "hosts.json")
	sample, err := os.ReadFile(filepath.Join(repoRoot(b), "hosts.sample.json"))
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(catalog, sample, 0o600); err != nil {
		b.Fatal(err)
	}
	env := map[string]string{"OPS_CONFIG": catalog, "LAB_MANAGER_TOKEN": testToken, "MYSQL_DSN": dbtest.NewDatabase(b),
		// hosts.sample.json's env: references.
		"WINRM_USER_LAB_WS_01": "u", "WINRM_PASS_LAB_WS_01": "p", "WINRM_USER_LAB_WS_02": "u", "WINRM_PASS_LAB_WS_02": "p"}
	for _, rt := range api.Routes {
		if rt.Tick {
			continue
		}
		b.Run(rt.Name, func(b *testing.B) {
			st, err := os.Stat(filepath.Join(dir, rt.Name, "bootstrap"))
			if err != nil {
				b.Fatal(err)
			}
			ev := event(rt.Method, rt.Path, "127.0.0.1", nil)
			var total, fastest time.Duration
			var rss int64
			for b.Loop() {
				start := time.Now()
				e := startRIE(b, rt.Name, env)
				var resp events.APIGatewayV2HTTPResponse
				if err := json.Unmarshal(e.invokeRaw(b, ev), &resp); err != nil || resp.StatusCode == 0 {
					b.Fatalf("%s: %v %s", rt.Name, err, e.logs)
				}
				took := time.Since(start)
				total += took
				if fastest == 0 || took < fastest {
					fastest = took
				}
				rss = max(rss, childRSS(b, e.cmd.Process.Pid))
				_ = e.cmd.Process.Kill()
				_ = e.cmd.Wait()
			}
			b.ReportMetric(float64(st.Size())/(1<<20), "MB-binary")
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-first-answer")
			// The fastest run: the machine's other load only ever adds.
			b.ReportMetric(float64(fastest.Milliseconds()), "ms-first-answer-min")
			b.ReportMetric(float64(rss)/(1<<20), "MB-rss")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// childRSS is the resident memory in bytes of the emulator's child (the
// function process), from /proc.
func childRSS(tb testing.TB, rie int) int64 {
	tb.Helper()
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(rie) + "/task/*/children")
	for _, f := range tasks {
		raw, _ := os.ReadFile(f)
		for _, pid := range strings.Fields(string(raw)) {
			status, err := os.ReadFile("/proc/" + pid + "/status")
			if err != nil {
				continue
			}
			for line := range strings.Lines(string(status)) {
				if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
					kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
					return kb << 10
				}
			}
		}
	}
	tb.Fatalf("no function process under the emulator (pid %d)", rie)
	return 0
}

package metrics_test

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/ops-worker/ops-worker/internal/metrics"
	"github.com/ops-worker/ops-worker/internal/metrics/metricstest"
	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/power"
	"github.com/ops-worker/ops-worker/internal/powerops"
	"github.com/ops-worker/ops-worker/internal/telemetry"
	"github.com/ops-worker/ops-worker/internal/wake"
)

const alertsFile = "../../deploy/prometheus-alerts.yaml"

// everySeries is a Metrics with every family of this package observed once.
func everySeries(t *testing.T) (*metrics.Metrics, []byte) {
	t.Helper()
	m := metrics.New(metrics.Options{})
	m.ObserveRequest("POST /api/wol", 200, time.Millisecond)
	m.ObserveCall("heartbeat", errors.New("x"), time.Millisecond)
	m.ObserveWake(wake.Result{Success: true, ReachedBy: "tcp", AttemptsUsed: 1}, nil)
	m.ObservePoll(ops.PollObservation{Host: "h", At: time.Now(), Timestamp: time.Now(), Ready: true})
	m.ObserveBackoff("h", true, 3, time.Now())
	m.ObserveTick(telemetry.Tick{Kind: telemetry.TickReservations, Counts: []telemetry.Count{{Phase: "start", Failed: 1}}, ClaimsTaken: 1})
	m.PowerOperation(powerops.OperationEvent{Driver: power.DriverMock, Action: power.ActionOn, Phase: power.PhasePreStart,
		Result: power.CodeUnreachable, Required: true, Duration: time.Millisecond})
	m.OutletState("pdu-1", "1", power.StateOn)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return m, rec.Body.Bytes()
}

// The example alert rules parse as YAML and use only metrics this
// package exports; promtool checks them and runs their unit tests when it
// is installed.
func TestAlertRules(t *testing.T) {
	raw, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert  string            `yaml:"alert"`
				Expr   string            `yaml:"expr"`
				For    string            `yaml:"for"`
				Labels map[string]string `yaml:"labels"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s is not YAML: %v", alertsFile, err)
	}
	_, scrape := everySeries(t)
	fams := metricstest.Parse(t, bytes.NewReader(scrape))
	var alerts []string
	name := regexp.MustCompile(`\bops_[a-z_]+\b`)
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if r.Expr == "" || r.Labels["severity"] == "" {
				t.Errorf("rule %s: no expr or severity", r.Alert)
			}
			for _, n := range name.FindAllString(r.Expr, -1) {
				if _, ok := fams[n]; !ok {
					t.Errorf("rule %s uses %s, which /metrics does not export", r.Alert, n)
				}
			}
		}
	}
	for _, a := range []string{"LabStationHeartbeatStale", "ReservationStartFailed", "SchedulerTickNotRun", "PowerRequiredStepFailed"} {
		if !slices.Contains(alerts, a) {
			t.Errorf("no alert %s in %s", a, alertsFile)
		}
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("OPS_TEST_PROMTOOL") == "required" {
			t.Fatal("promtool not in PATH and OPS_TEST_PROMTOOL=required (.ci/run installs it from Debian's prometheus package)")
		}
		t.Log("promtool not in PATH: rules checked as YAML and against the exported names only")
		return
	}
	for _, args := range [][]string{{"check", "rules", filepath.Base(alertsFile)}, {"test", "rules", "prometheus-alerts.test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = filepath.Dir(alertsFile)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(scrape)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

package telemetry_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/telemetry"
)

// units are the values MetricDefinition.Unit may take (CloudWatch
// MetricDatum units), from the EMF specification.
var units = []string{"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
	"Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
	"Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
	"Gigabits/Second", "Terabits/Second", "Count/Second", "None"}

// checkEMF validates line against the Embedded Metric Format
// specification's document structure and returns the root members.
func checkEMF(t *testing.T, line []byte) map[string]any {
	t.Helper()
	if bytes.ContainsAny(line, "\r\n") {
		t.Errorf("EMF document spans lines: %q", line)
	}
	// The LogEvent message MUST be a valid JSON object, nothing before or
	// after it.
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, line)
	}
	if dec.More() {
		t.Fatalf("data after the JSON object: %s", line)
	}
	aws, ok := root["_aws"].(map[string]any)
	if !ok {
		t.Fatalf("_aws missing or not an object: %s", line)
	}
	for k := range aws {
		if k != "Timestamp" && k != "CloudWatchMetrics" && k != "LogGroupName" && k != "LogStreamName" {
			t.Errorf("_aws has a member the specification does not define: %q", k)
		}
	}
	ts, ok := aws["Timestamp"].(json.Number)
	if !ok {
		t.Fatalf("_aws.Timestamp is not a number: %v", aws["Timestamp"])
	}
	ms, err := ts.Int64()
	if err != nil || ms < time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() || ms > time.Now().Add(24*time.Hour).UnixMilli() {
		t.Errorf("_aws.Timestamp %s is not milliseconds since the epoch near now", ts)
	}
	directives, ok := aws["CloudWatchMetrics"].([]any)
	if !ok || len(directives) == 0 {
		t.Fatalf("_aws.CloudWatchMetrics missing or empty: %v", aws["CloudWatchMetrics"])
	}
	for _, d := range directives {
		dir, ok := d.(map[string]any)
		if !ok {
			t.Fatalf("MetricDirective is not an object: %v", d)
		}
		for k := range dir {
			if k != "Namespace" && k != "Dimensions" && k != "Metrics" {
				t.Errorf("MetricDirective has member %q", k)
			}
		}
		ns, _ := dir["Namespace"].(string)
		if ns == "" || len(ns) > 1024 || strings.Contains(ns, ":") {
			t.Errorf("Namespace %q: 1-1024 characters, no colon", ns)
		}
		sets, ok := dir["Dimensions"].([]any)
		if !ok {
			t.Fatalf("Dimensions missing: %v", dir)
		}
		for _, s := range sets {
			set, ok := s.([]any)
			if !ok || len(set) > 30 {
				t.Fatalf("DimensionSet %v: an array of at most 30 names", s)
			}
			for _, n := range set {
				name, _ := n.(string)
				v, ok := root[name].(string)
				if name == "" || !ok || v == "" || len(v) > 1024 {
					t.Errorf("dimension %v: must name a root member with a string value (1-1024 characters), got %v", n, root[name])
				}
			}
		}
		defs, ok := dir["Metrics"].([]any)
		if !ok || len(defs) == 0 || len(defs) > 100 {
			t.Fatalf("Metrics: 1-100 MetricDefinitions, got %v", dir["Metrics"])
		}
		seen := map[string]bool{}
		for _, m := range defs {
			def, ok := m.(map[string]any)
			if !ok {
				t.Fatalf("MetricDefinition is not an object: %v", m)
			}
			for k := range def {
				if k != "Name" && k != "Unit" && k != "StorageResolution" {
					t.Errorf("MetricDefinition has member %q", k)
				}
			}
			name, _ := def["Name"].(string)
			if name == "" || len(name) > 1024 || seen[name] {
				t.Errorf("metric name %q empty, too long or repeated", name)
			}
			seen[name] = true
			if u, ok := def["Unit"]; ok {
				if s, _ := u.(string); !slices.Contains(units, s) {
					t.Errorf("metric %s: unit %v is not a CloudWatch unit", name, u)
				}
			}
			if _, ok := root[name].(json.Number); !ok {
				t.Errorf("metric %s: no numeric root member (got %v)", name, root[name])
			}
		}
	}
	return root
}

func num(t *testing.T, root map[string]any, name string) float64 {
	t.Helper()
	n, ok := root[name].(json.Number)
	if !ok {
		t.Fatalf("member %s missing: %v", name, root)
	}
	f, _ := n.Float64()
	return f
}

func TestEMFLine_ReservationTick(t *testing.T) {
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tick := telemetry.Tick{
		Kind: telemetry.TickReservations, Start: start, Duration: 1500 * time.Millisecond,
		Counts: []telemetry.Count{
			{Phase: telemetry.PhaseStart, Dispatched: 5, Failed: 2, Skipped: 1},
			{Phase: telemetry.PhaseEnd, Dispatched: 3, Failed: 0, Skipped: 4},
		},
		ClaimsTaken: 8, ClaimsExpired: 1,
	}
	line := telemetry.EMFLine(tick)
	root := checkEMF(t, line)
	if root["Kind"] != "reservations" {
		t.Errorf("Kind = %v", root["Kind"])
	}
	want := map[string]float64{"Runs": 1, "Errors": 0, "Duration": 1500, "Dispatched": 8, "Failed": 2, "Skipped": 5,
		"StartDispatched": 5, "StartFailed": 2, "StartSkipped": 1, "EndDispatched": 3, "EndFailed": 0, "EndSkipped": 4,
		"ClaimsTaken": 8, "ClaimsExpired": 1}
	for k, v := range want {
		if got := num(t, root, k); got != v {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	aws := root["_aws"].(map[string]any)
	if ts, _ := aws["Timestamp"].(json.Number).Int64(); ts != start.UnixMilli() {
		t.Errorf("Timestamp = %d, want %d", ts, start.UnixMilli())
	}
	dir := aws["CloudWatchMetrics"].([]any)[0].(map[string]any)
	if dir["Namespace"] != telemetry.EMFNamespace {
		t.Errorf("Namespace = %v", dir["Namespace"])
	}
	if n := len(dir["Metrics"].([]any)); n != len(want) {
		t.Errorf("%d metric definitions, want %d", n, len(want))
	}
	if _, ok := root["error"]; ok {
		t.Error("a successful tick carries an error member")
	}
	var buf bytes.Buffer
	if err := telemetry.WriteEMF(&buf, tick); err != nil || buf.String() != string(line)+"\n" {
		t.Errorf("WriteEMF: %v %q", err, buf.String())
	}
}

func TestEMFLine_FailedHeartbeatTick(t *testing.T) {
	tick := telemetry.Tick{Kind: telemetry.TickHeartbeats, Duration: 20 * time.Millisecond,
		Err:    errors.New("database unreachable\nsecond line"),
		Counts: []telemetry.Count{{Phase: telemetry.PhasePoll, Dispatched: 0}, {Phase: "", Skipped: 2}, {Phase: "poll", Failed: 1}}}
	root := checkEMF(t, telemetry.EMFLine(tick))
	if num(t, root, "Errors") != 1 || num(t, root, "Runs") != 1 || num(t, root, "Duration") != 20 {
		t.Errorf("failed tick: %v", root)
	}
	if root["error"] != "database unreachable\nsecond line" {
		t.Errorf("error member = %v", root["error"])
	}
	// A repeated phase sums into one metric; an empty phase is "Other".
	if num(t, root, "PollFailed") != 1 || num(t, root, "OtherSkipped") != 2 {
		t.Errorf("phase metrics: %v", root)
	}
	if got := checkEMF(t, telemetry.EMFLine(telemetry.Tick{}))["Kind"]; got != "unknown" {
		t.Errorf("empty kind: %v", got)
	}
}

func TestEMFWriter_OneLinePerTick(t *testing.T) {
	var buf bytes.Buffer
	var obs telemetry.TickObserver = &telemetry.EMFWriter{W: &buf}
	obs.ObserveTick(telemetry.Tick{Kind: telemetry.TickHeartbeats, Counts: []telemetry.Count{{Phase: telemetry.PhasePoll, Dispatched: 3}}})
	obs.ObserveTick(telemetry.Tick{Kind: telemetry.TickReservations})
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2: %q", len(lines), buf.String())
	}
	if root := checkEMF(t, []byte(lines[0])); num(t, root, "PollDispatched") != 3 || root["Kind"] != "heartbeats" {
		t.Errorf("first line: %v", root)
	}
	if root := checkEMF(t, []byte(lines[1])); root["Kind"] != "reservations" {
		t.Errorf("second line: %v", root)
	}
}

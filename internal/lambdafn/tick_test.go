package lambdafn_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/lambdafn"
	"github.com/ops-worker/ops-worker/internal/logtest"
)

// newTick builds a tick function with no database and an empty catalog.
func newTick(t *testing.T, kind string, env map[string]string) (*lambdafn.TickFunction, *logtest.Buffer) {
	t.Helper()
	cfg := emptyCatalogConfig(t, env)
	var logs logtest.Buffer
	f, err := lambdafn.NewTick(t.Context(), cfg, kind, &logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.App.Close() })
	return f, &logs
}

// emfLines are the CloudWatch EMF documents among a function's log lines.
func emfLines(t testing.TB, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(logs) {
		if !strings.Contains(line, `"_aws"`) {
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Errorf("EMF line not JSON: %q", line)
			continue
		}
		out = append(out, doc)
	}
	return out
}

// EventBridge's finest rate is a minute: an interval under it is served
// by several ticks per invocation, Every apart.
func TestTick_TicksPerInvocation(t *testing.T) {
	for _, tc := range []struct {
		kind, env, val string
		n              int
	}{
		{lambdafn.TickReservations, "OPS_RESERVATION_SCAN_INTERVAL", "30", 2},
		{lambdafn.TickReservations, "OPS_RESERVATION_SCAN_INTERVAL", "15", 4},
		{lambdafn.TickReservations, "OPS_RESERVATION_SCAN_INTERVAL", "60", 1},
		{lambdafn.TickHeartbeats, "OPS_POLL_INTERVAL", "120", 1},
		{lambdafn.TickHeartbeats, "OPS_POLL_INTERVAL", "20", 3},
	} {
		f, _ := newTick(t, tc.kind, map[string]string{tc.env: tc.val})
		secs, _ := strconv.Atoi(tc.val)
		if f.N != tc.n || f.Every != time.Duration(secs)*time.Second {
			t.Errorf("%s %s=%s: %d ticks every %s, want %d", tc.kind, tc.env, tc.val, f.N, f.Every, tc.n)
		}
	}
	hostsPath := labsimtest.WriteHostsFile(t, `{"hosts": []}`)
	cfg, _ := config.LoadMap(t.Context(), map[string]string{"OPS_CONFIG": hostsPath})
	if _, err := lambdafn.NewTick(t.Context(), cfg, "nightly", nil); err == nil {
		t.Error("unknown tick kind accepted")
	}
}

// A tick whose switch is off does nothing (and says so); one that runs
// writes one EMF line per tick, with its error (no database here).
func TestTick_SwitchAndEMF(t *testing.T) {
	ev := events.EventBridgeEvent{ID: "ev-1", Source: "aws.events", DetailType: "Scheduled Event", Time: time.Now()}
	f, logs := newTick(t, lambdafn.TickReservations, map[string]string{"OPS_RESERVATION_SCAN_INTERVAL": "60"})
	res, err := f.Handle(t.Context(), ev)
	if err != nil || len(res.Ticks) != 0 || len(emfLines(t, logs.String())) != 0 || !strings.Contains(logs.String(), "OPS_RESERVATION_AUTOMATION") {
		t.Fatalf("switched off: %+v %v\n%s", res, err, logs)
	}

	f, logs = newTick(t, lambdafn.TickReservations, map[string]string{"OPS_RESERVATION_AUTOMATION": "true", "OPS_RESERVATION_SCAN_INTERVAL": "60"})
	res, err = f.Handle(t.Context(), ev)
	if err == nil || res.Errors != 1 || len(res.Ticks) != 1 {
		t.Fatalf("no database: %+v %v", res, err)
	}
	docs := emfLines(t, logs.String())
	if len(docs) != 1 || docs[0]["Kind"] != "reservations" || docs[0]["Errors"] != 1.0 || docs[0]["Runs"] != 1.0 {
		t.Fatalf("EMF lines %v\n%s", docs, logs)
	}

	f, logs = newTick(t, lambdafn.TickHeartbeats, map[string]string{"OPS_POLL_ENABLED": "true", "OPS_POLL_INTERVAL": "60"})
	if res, err = f.Handle(t.Context(), ev); err != nil || len(res.Ticks) != 1 {
		t.Fatalf("heartbeats: %+v %v", res, err)
	}
	if docs := emfLines(t, logs.String()); len(docs) != 1 || docs[0]["Kind"] != "heartbeats" || docs[0]["Errors"] != 0.0 {
		t.Fatalf("heartbeat EMF lines %v\n%s", docs, logs)
	}
}

package lambdafn_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/store"
)

// TestRIE_TickReservations runs the built tick-reservations binary under
// the emulator with an EventBridge scheduled event, against MariaDB and a
// labsim station: the one due reservation is dispatched and ACTIVE, the
// answer carries the tick's summary, and the output the tick's EMF line.
func TestRIE_TickReservations(t *testing.T) {
	rieBinary(t)
	w := newWorld(t, map[string]string{
		"OPS_RESERVATION_AUTOMATION": "true",
		// One tick per invocation (30 s would run two, 30 s apart).
		"OPS_RESERVATION_SCAN_INTERVAL": "60",
	})
	migrateUnderRIE(t, w)
	addReservation(t, w, "tick-1", time.Now().UTC().Add(time.Minute))
	addReservation(t, w, "tick-later", time.Now().UTC().Add(time.Hour))
	e := startRIE(t, "tick-reservations", w.env)
	out := e.invokeRaw(t, events.EventBridgeEvent{
		Version: "0", ID: "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", DetailType: "Scheduled Event", Source: "aws.events",
		AccountID: "123456789012", Time: time.Now().UTC(), Region: "eu-west-1",
		Resources: []string{"arn:aws:events:eu-west-1:123456789012:rule/ops-worker-TickReservations"}, Detail: json.RawMessage(`{}`),
	})
	var res struct {
		Tick   string `json:"tick"`
		Errors int    `json:"errors"`
		Ticks  []struct {
			Source string `json:"source"`
			Start  struct {
				Candidates, Claimed, Succeeded, Failed int
			} `json:"start"`
		} `json:"ticks"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("answer %s: %v", out, err)
	}
	if res.Tick != "reservations" || res.Errors != 0 || len(res.Ticks) != 1 {
		t.Fatalf("answer %s", out)
	}
	if s := res.Ticks[0].Start; s.Candidates != 1 || s.Claimed != 1 || s.Succeeded != 1 || res.Ticks[0].Source != "aws.events" {
		t.Fatalf("tick summary %s\n%s", out, e.logs)
	}

	cfg, err := config.ParseDSN(w.env["MYSQL_DSN"])
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for id, want := range map[string]string{"tick-1": "ACTIVE", "tick-later": "CONFIRMED"} {
		r, err := st.GetReservation(t.Context(), id)
		if err != nil || r.Status != want {
			t.Errorf("%s: %+v %v, want %s", id, r, err, want)
		}
	}

	docs := emfLines(t, e.logs.String())
	if len(docs) != 1 {
		t.Fatalf("%d EMF lines, want 1:\n%s", len(docs), e.logs)
	}
	d := docs[0]
	if d["Kind"] != "reservations" || d["Runs"] != 1.0 || d["Errors"] != 0.0 || d["StartDispatched"] != 1.0 ||
		d["ClaimsTaken"] != 1.0 {
		t.Errorf("EMF line %v", d)
	}
	aws, _ := d["_aws"].(map[string]any)
	if cw, _ := aws["CloudWatchMetrics"].([]any); len(cw) != 1 {
		t.Errorf("EMF line without CloudWatchMetrics: %v", d)
	}
}

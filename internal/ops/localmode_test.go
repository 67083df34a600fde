package ops_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/ops"
)

// SetLocalMode checks its request, changes the station's flag (a
// quarantined host too), and records every attempt, failed or not, as a
// local-mode operation of the host.
func TestSetLocalMode(t *testing.T) {
	f := newFixture(t, fixtureOpts{db: true}, labsim.HostOptions{Name: "lab-ws-01"})
	ctx := ops.WithAPIOrigin(context.Background())
	sh := f.sim.Host("lab-ws-01")

	_, err := f.svc.SetLocalMode(ctx, ops.LocalModeRequest{Enabled: ptr(true)})
	wantCode(t, err, ops.CodeBadRequest, "host is required")
	_, err = f.svc.SetLocalMode(ctx, ops.LocalModeRequest{Host: "lab-ws-01"})
	wantCode(t, err, ops.CodeBadRequest, "enabled is required")
	_, err = f.svc.SetLocalMode(ctx, ops.LocalModeRequest{Host: "lab-ws-09", Enabled: ptr(true)})
	wantCode(t, err, ops.CodeHostNotFound, "host 'lab-ws-09' not found in config")

	if _, err := f.svc.SetQuarantine(ctx, ops.QuarantineRequest{Host: "lab-ws-01"}); err != nil {
		t.Fatal(err)
	}
	r, err := f.svc.SetLocalMode(ctx, ops.LocalModeRequest{Host: "LAB-WS-01", Enabled: ptr(true)})
	if err != nil || r != (ops.LocalModeResponse{Host: "lab-ws-01", LocalModeEnabled: true}) || !sh.LocalMode() {
		t.Fatalf("enable: %+v, %v; station flag %v", r, err, sh.LocalMode())
	}
	sh.SetFaults(labsim.Faults{DeniedPaths: []string{labsim.LocalModeFlagPath}})
	_, err = f.svc.SetLocalMode(ctx, ops.LocalModeRequest{Host: "lab-ws-01", Enabled: ptr(false)})
	wantCode(t, err, ops.CodeStationError, "")
	sh.SetFaults(labsim.Faults{})
	if r, err := f.svc.SetLocalMode(ctx, ops.LocalModeRequest{Host: "lab-ws-01", Enabled: ptr(false)}); err != nil || r.LocalModeEnabled || sh.LocalMode() {
		t.Fatalf("disable: %+v, %v; station flag %v", r, err, sh.LocalMode())
	}

	rr, err := f.svc.RecentOperations(ctx, ops.RecentRequest{ReservationID: domain.HostScope("lab-ws-01")})
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		Action, Status, Host string
		Success, Enabled     bool
		Code                 int
	}
	var got []rec
	for _, o := range rr.Operations {
		var p struct{ Enabled bool }
		if err := json.Unmarshal(o.Payload, &p); err != nil {
			t.Fatal(err)
		}
		got = append(got, rec{o.Action, o.Status, o.Host, o.Success, p.Enabled, *o.ResponseCode})
	}
	want := []rec{ // newest first
		{"local-mode", "completed", "lab-ws-01", true, false, 200},
		{"local-mode", "failed", "lab-ws-01", false, false, 502},
		{"local-mode", "completed", "lab-ws-01", true, true, 200},
	}
	if len(got) != len(want) {
		t.Fatalf("recorded %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("operation %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// Without a database the change is made and nothing is recorded.
func TestSetLocalMode_NoDatabase(t *testing.T) {
	f := newFixture(t, fixtureOpts{}, labsim.HostOptions{Name: "lab-ws-01"})
	if _, err := f.svc.SetLocalMode(context.Background(), ops.LocalModeRequest{Host: "lab-ws-01", Enabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if !f.sim.Host("lab-ws-01").LocalMode() {
		t.Error("flag not set")
	}
}

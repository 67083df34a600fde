package ops_test

import (
	"context"
	"sync"
	"testing"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/ops"
)

// notified records what the use cases hand their notifier.
type notified struct {
	mu sync.Mutex
	fs []domain.Failure
}

func (n *notified) Notify(f domain.Failure) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fs = append(n.fs, f)
}

func (n *notified) take() []domain.Failure {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.fs
	n.fs = nil
	return out
}

// TestNotifier_FailedSteps: every failed wake or command step is handed
// to the notifier, once, with its flow, action, code and reservation;
// successes, skipped end steps and abandoned calls are not.
func TestNotifier_FailedSteps(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{labs: map[string][]string{"lab-ws-01": {"4"}}},
		labsim.HostOptions{Name: "lab-ws-01"}, labsim.HostOptions{Name: "lab-ws-02", Asleep: true})
	n := &notified{}
	f.svc.Notifier = n
	ctx := context.Background()
	one := func(what string) domain.Failure {
		t.Helper()
		got := n.take()
		if len(got) != 1 {
			t.Fatalf("%s: %d notifications, want 1: %+v", what, len(got), got)
		}
		if got[0].At.IsZero() {
			t.Errorf("%s: no time", what)
		}
		return got[0]
	}
	none := func(what string) {
		t.Helper()
		if got := n.take(); len(got) != 0 {
			t.Errorf("%s: notified %+v", what, got)
		}
	}

	// Successes: nothing.
	if _, err := f.svc.RunCommand(ctx, ops.CommandRequest{Host: "lab-ws-01", Command: "status"}); err != nil {
		t.Fatal(err)
	}
	if res, _ := f.svc.StartReservation(ctx, ops.StartRequest{ReservationID: "ok", Host: "lab-ws-01"}); !res.Success {
		t.Fatalf("start: %+v", res)
	}
	none("successes")

	// /api/winrm: a failing exit code, then a station that is down.
	f.sim.Host("lab-ws-01").SetFaults(labsim.Faults{ExitCodes: map[string]int{"status": 3, "prepare-session": 2}})
	if _, err := f.svc.RunCommand(ctx, ops.CommandRequest{Host: "lab-ws-01", Command: "status"}); err != nil {
		t.Fatal(err)
	}
	if g := one("winrm exit 3"); g.Flow != domain.FlowCommand || g.Action != "status" || g.Code != domain.FailureExitCode ||
		g.ExitCode == nil || *g.ExitCode != 3 || g.ReservationID != "" || g.Host != "lab-ws-01" || g.LabID != "4" {
		t.Errorf("winrm exit: %+v", g)
	}
	if _, err := f.svc.RunCommand(ctx, ops.CommandRequest{Host: "lab-ws-02", Command: "status"}); err == nil {
		t.Fatal("command on a sleeping station succeeded")
	}
	if g := one("winrm down"); g.Code != string(ops.CodeHostUnreachable) || g.ExitCode != nil || g.Host != "lab-ws-02" {
		t.Errorf("winrm down: %+v", g)
	}

	// A reservation start: the failed prepare, with the reservation.
	res, _ := f.svc.StartReservation(ctx, ops.StartRequest{ReservationID: "r-1", Host: "lab-ws-01", LabID: "4"})
	if res.Success {
		t.Fatal("start succeeded")
	}
	if g := one("prepare"); g.Flow != domain.FlowStart || g.Action != "prepare" || g.ReservationID != "r-1" ||
		g.Code != domain.FailureExitCode || *g.ExitCode != 2 || g.Message != "Exit code 2" {
		t.Errorf("prepare: %+v", g)
	}

	// A wake the host never answers (a MAC it does not have): /api/wol
	// and a start's wake step.
	wrongMAC := ops.WakeRequest{Host: "lab-ws-02", MAC: "02:00:00:00:99:99", Attempts: ptr(1), PingTimeout: ptr(1)}
	if w, err := f.svc.Wake(ctx, wrongMAC); err != nil || w.Success {
		t.Fatalf("wake: %+v %v", w, err)
	}
	if g := one("wol"); g.Flow != domain.FlowWake || g.Action != "wake" || g.Code != domain.FailureNoResponse {
		t.Errorf("wol: %+v", g)
	}
	res, _ = f.svc.StartReservation(ctx, ops.StartRequest{ReservationID: "r-2", Host: "lab-ws-02",
		WakeOptions: ops.WakeOptions{MAC: wrongMAC.MAC, Attempts: ptr(1), PingTimeout: ptr(1)}})
	if g := one("start wake"); res.Success || g.Action != "wake" || g.Code != domain.FailureNoResponse || g.ReservationID != "r-2" {
		t.Errorf("start wake: %+v (%+v)", g, res)
	}

	// An end on a sleeping station: its steps are skipped, a success.
	if res, _ := f.svc.EndReservation(ctx, ops.EndRequest{ReservationID: "r-3", Host: "lab-ws-02"}); !res.Success {
		t.Fatalf("end asleep: %+v", res)
	}
	none("skipped end")

	// A caller that gave up: not the station's failure.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, _ = f.svc.RunCommand(cctx, ops.CommandRequest{Host: "lab-ws-01", Command: "status"})
	none("cancelled")
}

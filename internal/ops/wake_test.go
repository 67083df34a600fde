package ops_test

import (
	"context"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/ops"
)

func TestWakeAndCommand(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{}, labsim.HostOptions{Name: "lab-ws-01", Asleep: true, BootDelay: 100 * time.Millisecond})
	sh := f.sim.Host("lab-ws-01")
	ctx := context.Background()

	// A wrong MAC with no host entry: nothing answers, a 200 with success false.
	res, err := f.svc.Wake(ctx, ops.WakeRequest{MAC: "02:00:00:00:99:99", PingTarget: "127.0.0.1",
		Broadcast: "127.0.0.1", Port: ptr(sh.WakePort()), Attempts: ptr(1), PingTimeout: ptr(1)})
	if err != nil || res.Success || res.AttemptsUsed != 1 || res.ReachedBy != nil || res.PingTarget != "127.0.0.1" {
		t.Errorf("wake with a wrong MAC = %+v, %v", res, err)
	}
	res, err = f.svc.Wake(ctx, ops.WakeRequest{Host: "lab-ws-01", PingTimeout: ptr(3)})
	if err != nil || !res.Success || res.ReachedBy == nil || *res.ReachedBy != "tcp" || res.PingTarget != "127.0.0.1" {
		t.Fatalf("wake = %+v, %v", res, err)
	}

	cr, err := f.svc.RunCommand(ctx, ops.CommandRequest{Host: "lab-ws-01", Command: "status"})
	if err != nil || cr.ExitCode != 0 || cr.Stdout == "" {
		t.Errorf("status = %+v, %v", cr, err)
	}
	// A per-request override may not weaken the host.
	_, err = f.svc.RunCommand(ctx, ops.CommandRequest{Host: "lab-ws-01", Command: "status", UseSSL: ptr(false)})
	wantCode(t, err, ops.CodePolicyRefused, "")
	_, err = f.svc.RunCommand(ctx, ops.CommandRequest{Host: "lab-ws-01", Command: "status", User: "x", Password: "y"})
	wantCode(t, err, ops.CodePolicyRefused, "")
}

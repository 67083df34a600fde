package ops_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/ops"
)

// A session-guard grace over the limit (a day, through /api/winrm or a
// reservation start) is a 400 naming the limit, before the station is
// called; one within it runs.
func TestGuardGrace_Capped(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{db: true}, labsim.HostOptions{Name: "lab-ws-01", TimeScale: 0.001})
	sh := f.sim.Host("lab-ws-01")
	ctx := context.Background()

	for _, args := range [][]string{{"--guard-grace=86400"}, {"--guard-grace=90", "--guard-grace=3601"}} {
		_, err := f.svc.RunCommand(ctx, ops.CommandRequest{Host: "lab-ws-01", Command: "prepare-session", Args: args})
		wantCode(t, err, ops.CodeArgumentRefused, "guard grace "+strings.TrimPrefix(args[len(args)-1], "--guard-grace=")+" s is over the limit of 3600 s (OPS_MAX_GUARD_GRACE)")
	}
	_, err := f.svc.RunCommand(ctx, ops.CommandRequest{Host: "lab-ws-01", Command: "session", Args: []string{"guard", "--grace=86400"}})
	wantCode(t, err, ops.CodeArgumentRefused, "guard grace 86400 s is over the limit of 3600 s (OPS_MAX_GUARD_GRACE)")
	_, err = f.svc.StartReservation(ctx, ops.StartRequest{ReservationID: "r-day", Host: "lab-ws-01", Wake: ptr(false), GuardGrace: ptr(86400)})
	wantCode(t, err, ops.CodeArgumentRefused, "guard grace 86400 s is over the limit of 3600 s (OPS_MAX_GUARD_GRACE)")
	_, err = f.svc.EndReservation(ctx, ops.EndRequest{ReservationID: "r-day", Host: "lab-ws-01", ReleaseArgs: []string{"--guard-grace=86400"}})
	wantCode(t, err, ops.CodeArgumentRefused, "")
	if n := len(sh.Commands()); n != 0 {
		t.Errorf("the station ran %d commands of refused requests", n)
	}

	// Within the limit (and --no-guard): as before.
	if r, err := f.svc.RunCommand(ctx, ops.CommandRequest{Host: "lab-ws-01", Command: "prepare-session", Args: []string{"--guard-grace=3600"}}); err != nil || r.ExitCode != 0 {
		t.Errorf("grace at the limit: %+v %v", r, err)
	}
	// A lower limit is the one named.
	f.svc.Settings.MaxGuardGrace = 10 * time.Minute
	_, err = f.svc.RunCommand(ctx, ops.CommandRequest{Host: "lab-ws-01", Command: "release-session", Args: []string{"--guard-grace=601"}})
	wantCode(t, err, ops.CodeArgumentRefused, "guard grace 601 s is over the limit of 600 s (OPS_MAX_GUARD_GRACE)")
}

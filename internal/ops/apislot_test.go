package ops_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/ops"
)

// Two API calls that wait out a session-guard grace hold at most one of the
// station's two WinRM slots: a scheduler call (no API origin) made
// meanwhile runs at once instead of waiting for the grace to end.
func TestAPISlot_KeepsOneForTheScheduler(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{}, labsim.HostOptions{Name: "lab-ws-01", LocalUser: "student", TimeScale: 1})
	api := ops.WithAPIOrigin(context.Background())
	const grace = 3 * time.Second

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.svc.RunCommand(api, ops.CommandRequest{Host: "lab-ws-01", Command: "prepare-session", Args: []string{"--guard-grace=3"}})
		}()
	}
	time.Sleep(500 * time.Millisecond) // both API calls under way
	began := time.Now()
	res, err := f.svc.RunCommand(context.Background(), ops.CommandRequest{Host: "lab-ws-01", Command: "status"})
	took := time.Since(began)
	wg.Wait()
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("scheduler call: %+v %v", res, err)
	}
	if took > grace/2 {
		t.Errorf("the scheduler's call waited %v for a slot held by API calls", took)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("API call %d: %v", i, err)
		}
	}
}

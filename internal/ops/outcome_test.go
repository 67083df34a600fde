package ops_test

import (
	"context"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/ops"
)

// outcomeLab answers every command with exit code 0 and the given outcome,
// and records the wake options it was handed.
type outcomeLab struct {
	errLab
	outcome labstation.Outcome
	woke    *lab.WakeOptions
}

func (l outcomeLab) RunCommand(context.Context, hosts.Host, string, []string, lab.CommandOptions) (lab.CommandResult, error) {
	return lab.CommandResult{ExitCode: 0, Outcome: l.outcome}, nil
}

func (l outcomeLab) Wake(_ context.Context, _ hosts.Host, o lab.WakeOptions) (lab.WakeResult, error) {
	*l.woke = o
	return lab.WakeResult{Success: true, AttemptsUsed: 1}, nil
}

// A flow step's success and status are the outcome lab classified (Direct,
// where the exit code arrived, or the relay's), not ops' own reading of the
// exit code; its record's response code is the flow's rule.
func TestFlowStepReadsLabsOutcome(t *testing.T) {
	t.Parallel()
	cat, _, err := hosts.Parse([]byte(`{"hosts":[{"name":"lab-ws-01","address":"10.0.0.1","mac":"02:00:00:00:00:01","wol_port":7,"wake_attempts":4,"labs":["1"]}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	no := false
	for _, c := range []struct {
		outcome labstation.Outcome
		success bool
		status  string
	}{
		{labstation.OutcomeCompleted, true, ops.StatusCompleted},
		{labstation.OutcomeWarnings, true, ops.StatusWarnings},
		{labstation.OutcomeFailed, false, ops.StatusFailed},
	} {
		var woke lab.WakeOptions
		s := &ops.Service{Registry: hosts.NewStaticRegistry(cat), Lab: outcomeLab{outcome: c.outcome, woke: &woke}}
		resp, err := s.StartReservation(context.Background(), ops.StartRequest{ReservationID: "r", Host: "lab-ws-01", Wake: &no})
		if err != nil || len(resp.Steps) != 1 {
			t.Fatalf("%v: %+v %v", c.outcome, resp, err)
		}
		st := resp.Steps[0]
		if st.Success != c.success || st.Status != c.status || resp.Success != c.success {
			t.Errorf("outcome %v (exit code 0): step success %v status %s, want %v %s", c.outcome, st.Success, st.Status, c.success, c.status)
		}
		if want := map[bool]int{true: 200, false: 502}[c.success]; resp.HTTPStatus() != want {
			t.Errorf("outcome %v: flow status %d, want %d", c.outcome, resp.HTTPStatus(), want)
		}
	}
	// The wake plan handed to lab is complete (the request, then the host
	// entry, then the defaults): lab has nothing left to merge.
	var woke lab.WakeOptions
	s := &ops.Service{Registry: hosts.NewStaticRegistry(cat), Lab: outcomeLab{woke: &woke}}
	if _, err := s.Wake(context.Background(), ops.WakeRequest{Host: "lab-ws-01"}); err != nil {
		t.Fatal(err)
	}
	want := lab.WakeOptions{MAC: "02:00:00:00:00:01", Broadcast: hosts.DefaultBroadcast, Port: 7, PingTarget: "10.0.0.1",
		PingTimeout: 10 * time.Second, Attempts: 4}
	if woke != want || woke.Resolve(cat.Hosts()[0]) != woke {
		t.Errorf("wake plan %+v, want %+v (and Resolve a no-op on it)", woke, want)
	}
}

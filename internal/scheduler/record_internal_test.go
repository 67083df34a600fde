package scheduler

import (
	"context"
	"errors"
	"testing"

	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/store"
)

// A refused flow is recorded with the status the HTTP route answers for
// the same code: RELAY_UNREACHABLE was recorded 500 while API.md's routes
// answer 502, because the scheduler kept its own table.
func TestFlowRecordStatusIsTheCodes(t *testing.T) {
	s := &Scheduler{}
	ph := tickPhase{name: store.PhaseStart, action: ops.ActionSchedulerStart}
	r := store.Reservation{ReservationID: "r-1", LabID: "lab-1"}
	for _, c := range []struct {
		err  error
		want int
	}{
		{ops.Errorf(ops.CodeRelayUnreachable, "the relay did not answer"), 502},
		{ops.Errorf(ops.CodeHostNotFound, "host not found"), 404},
		{ops.Errorf(ops.CodeTimeout, "late"), 504},
		{ops.Errorf(ops.CodeSchedulerNotConfigured, "no"), 503},
		{ops.Errorf(ops.CodeBadRequest, "bad"), 400},
		{errors.New("not an *ops.Error"), 500},
	} {
		op, _, code := s.flowRecord(context.Background(), ph, r, "lab-ws-01", ops.FlowResponse{}, c.err)
		if code != c.want || op.Success || op.Status != ops.StatusFailed {
			t.Errorf("%v: recorded %d (success %v, status %s), want %d", c.err, code, op.Success, op.Status, c.want)
		}
	}
	for _, code := range ops.Codes() {
		if _, _, got := s.flowRecord(context.Background(), ph, r, "h", ops.FlowResponse{}, ops.Errorf(code, "x")); got != code.Status() {
			t.Errorf("%s: recorded %d, the code's status is %d", code, got, code.Status())
		}
	}
	if _, _, got := s.flowRecord(context.Background(), ph, r, "h", ops.FlowResponse{Success: false}, nil); got != 502 {
		t.Errorf("failed flow recorded %d, want 502", got)
	}
	if op, _, got := s.flowRecord(context.Background(), ph, r, "h", ops.FlowResponse{Success: true}, nil); got != 200 || !op.Success {
		t.Errorf("succeeded flow recorded %d (success %v), want 200", got, op.Success)
	}
}

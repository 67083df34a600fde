package ops

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/textcut"
)

// Notifier is told of every failed wake or command step: /api/wol,
// /api/winrm and the reservation flows (the API's and the reservation
// tick's). Notify must return at once and never fail: the step's answer
// does not wait for it (internal/notify queues the event and sends it from
// a goroutine of its own).
type Notifier interface {
	Notify(f domain.Failure)
}

// maxNotifiedOutput bounds stdout and stderr each in a notification's
// details: enough for the station's error line, not a chat flood.
const maxNotifiedOutput = 1024

// notify hands f to the notifier, if any. A step that failed because its
// caller gave up (lab.ErrCanceled: the client left, the server is shutting
// down) is not a station's failure: nobody is told.
func (s *Service) notify(ctx context.Context, f domain.Failure, err error) {
	if s.Notifier == nil || errors.Is(err, lab.ErrCanceled) {
		return
	}
	f.At = s.now().UTC()
	if f.Details != nil {
		d := maps.Clone(f.Details) // the step's own details stay whole
		for _, k := range []string{"stdout", "stderr"} {
			if v, ok := d[k].(string); ok && len(v) > maxNotifiedOutput {
				d[k] = textcut.Cut(v, maxNotifiedOutput, "…")
			}
		}
		f.Details = d
	}
	s.log().DebugContext(ctx, "failure notified", "host", f.Host, "action", f.Action, "code", f.Code)
	s.Notifier.Notify(f)
}

// firstLab is the host's first lab ("" when it serves none).
func firstLab(h hosts.Host) string {
	if len(h.Labs) > 0 {
		return h.Labs[0]
	}
	return ""
}

// notifyStep tells the notifier of a flow's failed wake or command step;
// err is the Lab's error when the step did not run to an answer.
func (s *Service) notifyStep(ctx context.Context, f *flow, st flowStep, step Step, err error) {
	if step.Success || (st.wake == nil && st.command == "") {
		return
	}
	fl := domain.Failure{Host: f.host.Name, LabID: f.labID, ReservationID: f.reservationID, Flow: f.kind,
		Action: step.Action, Message: step.Message, Details: step.Details}
	switch code, _ := step.Details["error"].(string); {
	case code != "":
		fl.Code = code
	case st.wake != nil:
		fl.Code = domain.FailureNoResponse
	default:
		fl.Code = domain.FailureExitCode
		if c, ok := step.Details["exitCode"].(int); ok {
			fl.ExitCode = &c
		}
	}
	s.notify(ctx, fl, err)
}

// exitFailure is the Failure of a command that ran and failed by its exit code.
func exitFailure(h hosts.Host, flow, action string, exit int) domain.Failure {
	return domain.Failure{Host: h.Name, LabID: firstLab(h), Flow: flow, Action: action,
		Code: domain.FailureExitCode, Message: fmt.Sprintf("Exit code %d", exit), ExitCode: &exit}
}

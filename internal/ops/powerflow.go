package ops

import (
	"context"
	"slices"
)

// The power policy phases the reservation flows run (GATEWAY.md section
// 3, upstream's order): pre_start, wake, post_start, prepare; pre_end,
// release, the station's power step, post_end.
const (
	PowerPreStart  = "pre_start"
	PowerPostStart = "post_start"
	PowerPreEnd    = "pre_end"
	PowerPostEnd   = "post_end"
)

// The actions a power policy step is recorded under in the timeline. They
// feed no timeline phase: "power" is the station's own power step.
const (
	ActionOutletOn     = "power:on"
	ActionOutletOff    = "power:off"
	ActionOutletCycle  = "power:cycle"
	ActionOutletPolicy = "power:policy" // a phase the policy could not run
)

var outletActions = []string{ActionOutletOn, ActionOutletOff, ActionOutletCycle, ActionOutletPolicy}

// PowerPolicies runs a lab's power policy for one phase of a reservation
// flow (internal/powerops, through app). Each executed step is idempotent
// by a key of reservation, policy, step and phase, so concurrent ticks and
// retried flows switch an outlet once.
type PowerPolicies interface {
	RunFlowPhase(ctx context.Context, p PowerPhase) (PowerPhaseResult, error)
}

// PowerPhase is one phase of one reservation's flow.
type PowerPhase struct {
	LabID, Phase, ReservationID string
	// LocalMode: the station's latest stored heartbeat reports local mode
	// (a policy with respectLocalMode then skips its steps).
	LocalMode bool
}

// PowerPhaseResult is what the phase did. Steps are recorded in the
// timeline as they are; Success false stops the flow (a failed required
// step under fail_reservation_start, or the end failure mode).
type PowerPhaseResult struct {
	Success bool
	Status  string
	Steps   []Step
}

// powerPhaseStep runs a flow's power phase, recording each step; false
// when the flow must stop. Without power policies, a lab id or a policy
// for the lab, nothing runs and nothing is recorded.
func (s *Service) powerPhaseStep(ctx context.Context, f *flow, phase string, out *FlowResponse) bool {
	if s.Power == nil || f.labID == "" {
		return true
	}
	res, err := s.Power.RunFlowPhase(ctx, PowerPhase{LabID: f.labID, Phase: phase, ReservationID: f.reservationID,
		LocalMode: s.localModeReported(ctx, f.host.Name)})
	if err != nil {
		// The policy could not be asked at all (database): a failed step
		// that stops the flow, nothing done to the station after it.
		s.log().WarnContext(ctx, "power phase failed", "reservation", f.reservationID, "lab", f.labID, "phase", phase, "err", err)
		e, _ := AsError(err)
		msg := "Power policy could not run"
		if e != nil && e.Code != CodeInternal {
			msg = e.Message
		}
		res = PowerPhaseResult{Status: StatusFailed, Steps: []Step{{Action: ActionOutletPolicy, Status: StatusFailed,
			Message: msg, Details: map[string]any{"phase": phase}}}}
	}
	for _, step := range res.Steps {
		step.RecordError = s.record(ctx, f, step)
		out.Steps = append(out.Steps, step)
		s.log().InfoContext(ctx, "reservation power step", "reservation", f.reservationID, "lab", f.labID,
			"phase", phase, "action", step.Action, "status", step.Status, "duration_ms", step.DurationMs)
	}
	if !res.Success {
		out.Success = false
		return false
	}
	return true
}

// localModeReported is the station's latest stored heartbeat's local
// mode; false without a database or a heartbeat.
func (s *Service) localModeReported(ctx context.Context, host string) bool {
	if s.Store == nil {
		return false
	}
	hb, err := s.Store.LatestHeartbeat(ctx, host)
	if err != nil || hb == nil || hb.LocalMode == nil {
		return false
	}
	return *hb.LocalMode
}

// isOutletAction reports a power policy step's action.
func isOutletAction(action string) bool { return slices.Contains(outletActions, action) }

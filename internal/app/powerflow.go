package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/power"
	"github.com/ops-worker/ops-worker/internal/power/drivers"
	"github.com/ops-worker/ops-worker/internal/powerops"
	"github.com/ops-worker/ops-worker/internal/retry"
)

// flowPower runs the labs' power policies inside the reservation flows
// (ops.PowerPolicies) through powerops: the same executor, idempotency
// keys and power_operations records as the lab phase routes.
type flowPower struct {
	s *powerops.Service
	// retryable tells a lost database connection (worth a new one) from a
	// failed statement; nil: nothing is retried.
	retryable func(error) bool
}

// policyReadWait bounds the retries of the policy read: a flow's own
// records retry a lost connection the same way, and a lab's policy must
// be known before its pre_start step can be skipped or run.
const policyReadWait = 10 * time.Second

// flowActor is the actor power_operations records for a flow's steps.
const flowActor = "reservation-flow"

func (p flowPower) RunFlowPhase(ctx context.Context, ph ops.PowerPhase) (ops.PowerPhaseResult, error) {
	var pol power.Policy
	var ok bool
	rctx, cancel := context.WithTimeout(ctx, policyReadWait)
	_, err := retry.Policy{First: 100 * time.Millisecond, Max: 2 * time.Second, Retry: p.retryable}.Do(rctx, func(ctx context.Context) error {
		var err error
		pol, ok, err = p.s.Policy(ctx, ph.LabID)
		return err
	})
	cancel()
	if err != nil {
		return ops.PowerPhaseResult{}, err
	}
	if !ok {
		return ops.PowerPhaseResult{Success: true}, nil // no policy: the flow as before
	}
	failStops := powerops.FailureMode(pol, ph.Phase) == power.FailReservationStart
	resp, err := p.s.RunPhase(ctx, powerops.PhaseRequest{LabID: ph.LabID, Phase: ph.Phase, ReservationID: ph.ReservationID,
		Actor: flowActor, LocalMode: ph.LocalMode})
	if err != nil {
		var e *ops.Error
		if !errors.As(err, &e) || e.Code == ops.CodeInternal {
			return ops.PowerPhaseResult{}, err
		}
		// A phase the policy cannot run (a step naming what the catalog
		// lost, a protected outlet): one failed step, and the failure mode
		// decides whether the flow goes on.
		step := ops.Step{Action: ops.ActionOutletPolicy, Status: ops.StatusFailed, Message: e.Message,
			Details: map[string]any{"phase": ph.Phase, "code": string(e.Code), "policy": pol.PolicyName}}
		if !failStops {
			step.Status = ops.StatusWarnings
			step.Message += " (warn_and_continue: the flow goes on)"
		}
		return ops.PowerPhaseResult{Success: !failStops, Status: step.Status, Steps: []ops.Step{step}}, nil
	}
	out := ops.PowerPhaseResult{Success: resp.Success, Status: resp.Status, Steps: make([]ops.Step, 0, len(resp.Steps))}
	for _, op := range resp.Steps {
		out.Steps = append(out.Steps, flowStep(op, ph.Phase, failStops))
	}
	return out, nil
}

// flowStep is one executed outlet step as the reservation timeline
// records it: power:on, power:off or power:cycle.
func flowStep(op powerops.Operation, phase string, failStops bool) ops.Step {
	step := ops.Step{Action: "power:" + op.Action, Success: op.Success, DurationMs: int64(op.DurationMs), Message: op.Message,
		Details: map[string]any{"phase": phase, "controllerId": op.ControllerID, "outlet": op.Outlet, "required": op.Required,
			"powerStatus": op.Status, "idempotencyKey": op.IdempotencyKey, "observedStateBefore": op.ObservedStateBefore,
			"observedStateAfter": op.ObservedStateAfter}}
	if op.ErrorCode != "" {
		step.Details["errorCode"] = op.ErrorCode
	}
	switch {
	case op.Success:
		step.Status = ops.StatusCompleted
	case op.Required && failStops:
		step.Status = ops.StatusFailed
	default:
		step.Status = ops.StatusWarnings
		step.Message += " (warn_and_continue: the flow goes on)"
	}
	if step.Message == "" {
		step.Message = "Outlet " + op.Outlet + " of " + op.ControllerID + ": " + op.Status
	}
	return step
}

// realPowerDrivers is the drivers' factory (internal/power/drivers). A
// driver is built per call (its credentials may have been rotated
// meanwhile), except a mock's: its outlets' state lives in the driver, so
// one per controller is kept for this process (and, with
// OPS_POWER_MOCK_STATE_DIR, in a file across restarts).
func realPowerDrivers(logger *slog.Logger, mockStateDir, caFile string) powerops.DriverFactory {
	var mu sync.Mutex
	mocks := map[string]power.Driver{}
	return func(ctl power.Controller, credType string, creds map[string]string) (power.Driver, error) {
		opts := drivers.Options{Logger: logger, CAFile: caFile}
		if ctl.Driver != drivers.Mock {
			return drivers.New(ctl.Driver, ctl.Host, ctl.Port, ctl.Config, credType, creds, opts)
		}
		mu.Lock()
		defer mu.Unlock()
		if d, ok := mocks[ctl.ID]; ok {
			return d, nil
		}
		opts.MockStateDir, opts.MockKey = mockStateDir, ctl.ID
		d, err := drivers.New(ctl.Driver, ctl.Host, ctl.Port, ctl.Config, credType, creds, opts)
		if err == nil {
			mocks[ctl.ID] = d
		}
		return d, err
	}
}

package powerops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/power"
)

// Step statuses of an operation.
const (
	StatusRunning          = "running" // claimed, not finished (or its runner died)
	StatusCompleted        = "completed"
	StatusFailed           = "failed"
	StatusAlreadyInState   = "skipped_already_in_state"
	StatusAlreadyCompleted = "skipped_already_completed" // the key was run before: its record
	StatusDryRun           = "dry_run"
	StatusLocalMode        = "skipped_local_mode"
)

// Phase statuses.
const (
	PhaseCompleted      = "completed"
	PhaseWarning        = "warning" // a step failed and the failure mode said go on
	PhaseFailed         = "failed"
	PhaseDryRun         = "dry_run"
	PhasePolicyDisabled = "policy_disabled"
	PhaseNoSteps        = "no_steps"
	PhaseLocalMode      = "skipped_local_mode"
)

// Operation is one power operation as answered (power_operations' row).
type Operation struct {
	ID                  int64  `json:"id,omitempty"`
	ReservationID       string `json:"reservationId,omitempty"`
	LabID               string `json:"labId,omitempty"`
	PolicyID            string `json:"policyId,omitempty"`
	StepID              string `json:"stepId,omitempty"`
	Phase               string `json:"phase,omitempty"`
	ControllerID        string `json:"controllerId"`
	Outlet              string `json:"outlet"`
	Action              string `json:"action"`
	DesiredState        string `json:"desiredState,omitempty"`
	Required            bool   `json:"required"`
	Success             bool   `json:"success"`
	Status              string `json:"status"`
	IdempotencyKey      string `json:"idempotencyKey"`
	ObservedStateBefore string `json:"observedStateBefore,omitempty"`
	ObservedStateAfter  string `json:"observedStateAfter,omitempty"`
	DurationMs          int    `json:"durationMs"`
	Actor               string `json:"actor,omitempty"`
	Reason              string `json:"reason,omitempty"`
	ErrorCode           string `json:"errorCode,omitempty"`
	Message             string `json:"message,omitempty"`
	CreatedAt           string `json:"createdAt,omitempty"`
}

// payload is what power_operations.payload holds beside the columns.
type payload struct {
	Actor        string `json:"actor,omitempty"`
	Reason       string `json:"reason,omitempty"`
	Required     bool   `json:"required"`
	DesiredState string `json:"desiredState,omitempty"`
	ErrorCode    string `json:"errorCode,omitempty"`
}

func fromRecord(r domain.PowerOperation) Operation {
	op := Operation{ID: r.ID, ReservationID: r.ReservationID, LabID: r.LabID, PolicyID: r.PolicyID, StepID: r.StepID,
		Phase: r.Phase, ControllerID: r.ControllerID, Outlet: r.OutletKey, Action: r.Action, DesiredState: r.RequestedState,
		Success: r.Success, Status: r.Status, IdempotencyKey: r.IdempotencyKey, ObservedStateBefore: r.ObservedStateBefore,
		ObservedStateAfter: r.ObservedStateAfter, Message: r.Message}
	if r.DurationMs != nil {
		op.DurationMs = *r.DurationMs
	}
	if !r.CreatedAt.IsZero() {
		op.CreatedAt = r.CreatedAt.UTC().Format(time.RFC3339)
	}
	var p payload
	if json.Unmarshal(r.Payload, &p) == nil {
		op.Actor, op.Reason, op.Required, op.ErrorCode = p.Actor, p.Reason, p.Required, p.ErrorCode
	}
	return op
}

// StepMeta is who runs a step and for what: it goes into the record.
type StepMeta struct {
	Actor, Reason string
	ReservationID string
	LabID         string
	PolicyID      string
	// Maintenance: the caller (manual command: its maintenance flag;
	// policy: the policy's maintenanceMode) allows protected outlets when
	// the step also allows them.
	Maintenance bool
}

// StepKey is a policy step's idempotency key: from reservation, lab,
// policy, step (its id, else its sequence) and phase, so every tick and
// retried flow of one reservation agrees on it.
func StepKey(reservationID, labID, policyName string, step power.Step, phase string) string {
	id := step.ID
	if id == "" {
		id = strconv.Itoa(step.Sequence)
	}
	sum := sha256.Sum256([]byte("power|v1|" + reservationID + "|" + labID + "|" + policyName + "|" + id + "|" + phase))
	return hex.EncodeToString(sum[:])
}

var errProtected = ops.Errorf(ops.CodePowerOutletProtected, "protected outlet requires allowProtected and maintenance")

// RunStep runs one step exactly once per key: it claims the key in
// power_operations first (a key already there returns its record, status
// skipped_already_completed when it was done, and switches nothing), waits
// delayBefore, reads the state before, switches with the step's timeout
// and retries, checks the read-back when asked, waits delayAfter and
// finishes the record. A protected outlet needs both the step's
// allowProtected and meta.Maintenance (CodePowerOutletProtected). A
// device failure is a finished record with Success false, not an error;
// errors are the catalog's (unknown controller or outlet) or the store's.
func (s *Service) RunStep(ctx context.Context, step power.Step, key string, meta StepMeta) (Operation, error) {
	c, err := s.controller(ctx, step.ControllerID)
	if err != nil {
		return Operation{}, err
	}
	return s.runStep(ctx, c, step, key, meta)
}

func (s *Service) runStep(ctx context.Context, c power.Controller, step power.Step, key string, meta StepMeta) (Operation, error) {
	o, ok := c.Outlet(step.Outlet)
	if !ok {
		return Operation{}, ops.Errorf(ops.CodePowerOutletNotFound, "controller %s has no outlet '%s'", c.ID, clip(step.Outlet, 64))
	}
	if o.Protected && !(step.AllowProtected && meta.Maintenance) {
		return Operation{}, errProtected
	}
	if key == "" || len(key) > 255 {
		return Operation{}, ops.Errorf(ops.CodeBadRequest, "idempotencyKey is required (at most 255 characters)")
	}
	stepID := step.ID
	if stepID == "" && step.Phase != power.PhaseManual {
		stepID = strconv.Itoa(step.Sequence)
	}
	p := payload{Actor: actorOf(meta.Actor), Reason: clip(meta.Reason, 256), Required: step.Required, DesiredState: step.DesiredState}
	pb, _ := json.Marshal(p)
	rec := domain.PowerOperation{ReservationID: meta.ReservationID, LabID: meta.LabID, PolicyID: meta.PolicyID, StepID: stepID,
		Phase: step.Phase, ControllerID: c.ID, OutletKey: step.Outlet, Action: step.Action, RequestedState: step.DesiredState,
		IdempotencyKey: key, Payload: pb}
	claimed, existing, err := s.opts.Store.ClaimPowerOperation(ctx, rec)
	if err != nil {
		return Operation{}, storeErr("claim power operation", err)
	}
	if !claimed {
		op := fromRecord(*existing)
		if op.Status != StatusRunning {
			op.Status = StatusAlreadyCompleted
		}
		s.log.InfoContext(ctx, "power step already run", "controller", c.ID, "outlet", step.Outlet, "phase", step.Phase, "status", existing.Status)
		return op, nil
	}
	start := time.Now()
	before, after, status, ecode, msg := s.switchOutlet(ctx, c, step)
	rec.Status, rec.Success = status, status != StatusFailed
	rec.ObservedStateBefore, rec.ObservedStateAfter, rec.Message = before, after, msg
	dur := int(time.Since(start) / time.Millisecond)
	code := 200
	if !rec.Success {
		code = 502
	}
	rec.DurationMs, rec.ResponseCode = &dur, &code
	p.ErrorCode = ecode
	rec.Payload, _ = json.Marshal(p)
	// Finish even when ctx ended (the flow's budget): the switch may have
	// happened, and the record must say what is known.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.opts.Store.FinishPowerOperation(fctx, rec); err != nil {
		return Operation{}, storeErr("finish power operation", err)
	}
	lvl := "power step done"
	if !rec.Success {
		lvl = "power step failed"
	}
	s.log.InfoContext(ctx, lvl, "controller", c.ID, "driver", c.Driver, "outlet", step.Outlet, "action", step.Action,
		"phase", step.Phase, "status", status, "code", ecode, "before", before, "after", after, "duration_ms", dur, "by", p.Actor)
	s.observeOp(OperationEvent{Controller: c.ID, Driver: c.Driver, Action: step.Action, Phase: step.Phase,
		Result: resultOf(status, ecode), Required: step.Required, Duration: time.Since(start)})
	op := fromRecord(rec)
	op.CreatedAt = ""
	return op, nil
}

// switchOutlet does the device part of a step. Its message is built from
// the driver's safe Message, never from a cause.
func (s *Service) switchOutlet(ctx context.Context, c power.Controller, step power.Step) (before, after, status, code, msg string) {
	fail := func(err error, what string) (string, string, string, string, string) {
		code := codeOr(err, power.CodeBadResponse)
		m := what
		var pe *power.Error
		if errors.As(err, &pe) && pe.Message != "" {
			m = what + ": " + clip(pe.Message, 200)
		}
		s.log.WarnContext(ctx, "power operation failed", "controller", c.ID, "outlet", step.Outlet, "code", code, "err", err)
		return before, after, StatusFailed, code, m
	}
	if !c.Enabled {
		return "", "", StatusFailed, "disabled", "controller is disabled"
	}
	d, err := s.driver(ctx, c)
	if err != nil {
		return fail(err, "controller unavailable")
	}
	timeout := time.Duration(step.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = power.DefaultTimeoutSeconds * time.Second
	}
	if step.DelayBeforeSeconds > 0 {
		if err := s.opts.Sleep(ctx, time.Duration(step.DelayBeforeSeconds)*time.Second); err != nil {
			return fail(power.Errorf(power.CodeUnreachable, "interrupted before the switch"), "delay before")
		}
	}
	before = s.readState(ctx, d, step.Outlet, timeout)
	s.observeState(c.ID, step.Outlet, before)
	if step.Action != power.ActionCycle && before == step.DesiredState {
		return before, before, StatusAlreadyInState, "", "outlet already " + before
	}
	var got power.OutletState
	attempts := step.RetryCount + 1
	for i := range attempts {
		actx, cancel := context.WithTimeout(ctx, timeout+time.Duration(step.OffSeconds)*time.Second*boolInt(step.Action == power.ActionCycle))
		if step.Action == power.ActionCycle {
			got, err = d.Cycle(actx, step.Outlet, time.Duration(step.OffSeconds)*time.Second)
		} else {
			got, err = d.Set(actx, step.Outlet, step.Action)
		}
		cancel()
		if err == nil || i == attempts-1 || ctx.Err() != nil || slices.Contains([]string{power.CodeAuth, power.CodeOutletUnknown, power.CodeConfig}, power.CodeOf(err)) {
			break
		}
	}
	if err != nil {
		// Whatever the switch did is not known.
		s.observeState(c.ID, step.Outlet, power.StateUnknown)
		return fail(err, "switch failed")
	}
	after = normState(got.State)
	want := step.DesiredState
	if step.Action == power.ActionCycle && want == "" {
		want = power.StateOn
	}
	readBack := step.ReadBackRequired && want != "" && want != power.StateUnknown
	if readBack && after == power.StateUnknown {
		after = s.readState(ctx, d, step.Outlet, timeout)
	}
	s.observeState(c.ID, step.Outlet, after)
	if readBack && after != want {
		return fail(power.Errorf(power.CodeReadBackMismatch, "outlet %s reads %s after the switch, expected %s", step.Outlet, after, want), "read-back check failed")
	}
	if step.DelayAfterSeconds > 0 {
		// The switch is done: an interrupted wait does not undo it.
		_ = s.opts.Sleep(ctx, time.Duration(step.DelayAfterSeconds)*time.Second)
	}
	return before, after, StatusCompleted, "", ""
}

func boolInt(b bool) time.Duration {
	if b {
		return 1
	}
	return 0
}

func (s *Service) readState(ctx context.Context, d power.Driver, outlet string, timeout time.Duration) string {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	outs, err := d.Outlets(rctx)
	if err != nil {
		return power.StateUnknown
	}
	for _, o := range outs {
		if o.Outlet == outlet {
			return normState(o.State)
		}
	}
	return power.StateUnknown
}

// PhaseRequest is POST /api/labs/{labId}/power/start|end, or a flow's phase.
type PhaseRequest struct {
	LabID         string
	Phase         string // one of power.Phases
	ReservationID string
	Actor         string
	DryRun        bool
	// LocalMode: the station's latest heartbeat reports local mode (the
	// flow knows; the routes leave it false). A policy with
	// respectLocalMode then skips its steps.
	LocalMode bool
}

// PhaseResponse answers it.
type PhaseResponse struct {
	Success bool        `json:"success"`
	LabID   string      `json:"labId"`
	Status  string      `json:"status"`
	Phase   string      `json:"phase"`
	Steps   []Operation `json:"steps"`
}

// HTTPStatus is the lab phase routes' status: 502 when a required step
// failed, as the older worker answered and as the outlet commands answer a
// failed device.
func (r PhaseResponse) HTTPStatus() int {
	if r.Success {
		return 200
	}
	return 502
}

// FailureMode is the policy's mode for phase (start or end side).
func FailureMode(p power.Policy, phase string) string {
	switch phase {
	case power.PhasePreStart, power.PhaseStart, power.PhasePostStart:
		return p.StartFailureMode
	}
	return p.EndFailureMode
}

// RunPhase runs the steps of a lab's policy for one phase, by sequence.
// A failed required step stops the phase (status failed) unless the
// phase's failure mode is warn_and_continue (go on, status warning); a
// failed optional step is a warning. A phase the policy cannot run (no
// policy, a step naming what the catalog lost, a protected outlet without
// allowProtected and maintenanceMode) is CodePowerPhaseRefused.
func (s *Service) RunPhase(ctx context.Context, req PhaseRequest) (PhaseResponse, error) {
	if !slices.Contains(power.Phases, req.Phase) {
		return PhaseResponse{}, ops.Errorf(ops.CodeBadRequest, "phase must be one of %s", strings.Join(power.Phases, ", "))
	}
	if strings.TrimSpace(req.ReservationID) == "" || len(req.ReservationID) > 128 {
		return PhaseResponse{}, ops.Errorf(ops.CodeBadRequest, "reservationId is required (at most 128 characters)")
	}
	out := PhaseResponse{LabID: req.LabID, Phase: req.Phase, Steps: []Operation{}}
	p, ok, err := s.Policy(ctx, req.LabID)
	if err != nil {
		return PhaseResponse{}, err
	}
	if !ok {
		return PhaseResponse{}, ops.Errorf(ops.CodePowerPhaseRefused, "lab '%s' has no power policy", clip(req.LabID, 128))
	}
	steps := p.StepsFor(req.Phase)
	cs, err := s.catalog(ctx)
	if err != nil {
		return PhaseResponse{}, err
	}
	byID := map[string]power.Controller{}
	for _, c := range cs {
		byID[c.ID] = c
	}
	// Preflight: everything checked before the first switch.
	for _, st := range steps {
		c, ok := byID[st.ControllerID]
		if !ok {
			return PhaseResponse{}, ops.Errorf(ops.CodePowerPhaseRefused, "step %s names controller '%s', not in the catalog", stepName(st), clip(st.ControllerID, 128))
		}
		o, ok := c.Outlet(st.Outlet)
		if !ok {
			return PhaseResponse{}, ops.Errorf(ops.CodePowerPhaseRefused, "step %s names outlet '%s', not on controller %s", stepName(st), clip(st.Outlet, 64), c.ID)
		}
		if o.Protected && !(st.AllowProtected && p.MaintenanceMode) {
			return PhaseResponse{}, ops.Errorf(ops.CodePowerPhaseRefused, "step %s: protected outlet %s requires allowProtected and maintenanceMode", stepName(st), o.Outlet)
		}
	}
	switch {
	case !p.Enabled:
		out.Success, out.Status = true, PhasePolicyDisabled
		return out, nil
	case p.RespectLocalMode && req.LocalMode:
		out.Success, out.Status = true, PhaseLocalMode
		return out, nil
	case req.DryRun:
		for _, st := range steps {
			out.Steps = append(out.Steps, Operation{Phase: st.Phase, StepID: stepName(st), ControllerID: st.ControllerID, Outlet: st.Outlet,
				Action: st.Action, DesiredState: st.DesiredState, Required: st.Required, Success: true, Status: StatusDryRun,
				IdempotencyKey: StepKey(req.ReservationID, p.LabID, p.PolicyName, st, req.Phase)})
		}
		out.Success, out.Status = true, PhaseDryRun
		return out, nil
	case len(steps) == 0:
		out.Success, out.Status = true, PhaseNoSteps
		return out, nil
	}
	mode := FailureMode(p, req.Phase)
	out.Success, out.Status = true, PhaseCompleted
	meta := StepMeta{Actor: req.Actor, Reason: "policy " + p.PolicyName + " " + req.Phase, ReservationID: req.ReservationID,
		LabID: p.LabID, PolicyID: p.PolicyName, Maintenance: p.MaintenanceMode}
	for _, st := range steps {
		op, err := s.runStep(ctx, byID[st.ControllerID], st, StepKey(req.ReservationID, p.LabID, p.PolicyName, st, req.Phase), meta)
		if err != nil {
			return PhaseResponse{}, err
		}
		out.Steps = append(out.Steps, op)
		if op.Success || op.Status == StatusRunning {
			continue
		}
		if st.Required && mode == power.FailReservationStart {
			out.Success, out.Status = false, PhaseFailed
			break
		}
		out.Status = PhaseWarning
	}
	return out, nil
}

func stepName(st power.Step) string {
	if st.ID != "" {
		return st.ID
	}
	return strconv.Itoa(st.Sequence)
}

// CommandRequest is POST /api/power/controllers/{c}/outlets/{o}/commands.
type CommandRequest struct {
	ControllerID, Outlet string
	Command              string // set_state or cycle
	State                string // on or off, for set_state
	OffSeconds           *int
	Actor, Reason        string
	IdempotencyKey       string
	AllowProtected       bool
	Maintenance          bool
}

// CommandResponse answers it; 502 when the operation failed.
type CommandResponse struct {
	Success   bool      `json:"success"`
	Operation Operation `json:"operation"`
}

// HTTPStatus is 200, or 502 for a failed operation.
func (r CommandResponse) HTTPStatus() int {
	if r.Success {
		return 200
	}
	return 502
}

// OutletCommand runs a manual command on one outlet, once per the
// caller's idempotencyKey.
func (s *Service) OutletCommand(ctx context.Context, req CommandRequest) (CommandResponse, error) {
	c, err := s.controller(ctx, req.ControllerID)
	if err != nil {
		return CommandResponse{}, err
	}
	if _, ok := c.Outlet(req.Outlet); !ok {
		return CommandResponse{}, ops.Errorf(ops.CodePowerOutletNotFound, "controller %s has no outlet '%s'", c.ID, clip(req.Outlet, 64))
	}
	key := strings.TrimSpace(req.IdempotencyKey)
	if key == "" || len(key) > 255 || clip(key, 255) != key {
		return CommandResponse{}, ops.Errorf(ops.CodeBadRequest, "idempotencyKey is required (at most 255 printable characters)")
	}
	st := power.Step{Phase: power.PhaseManual, ControllerID: c.ID, Outlet: req.Outlet, Required: true, ReadBackRequired: true,
		TimeoutSeconds: power.DefaultTimeoutSeconds, AllowProtected: req.AllowProtected}
	switch req.Command {
	case "set_state":
		if req.State != power.StateOn && req.State != power.StateOff {
			return CommandResponse{}, ops.Errorf(ops.CodeInvalidField, "state must be on or off")
		}
		st.Action, st.DesiredState = req.State, req.State
	case "cycle":
		st.Action, st.DesiredState, st.OffSeconds = power.ActionCycle, power.StateOn, power.DefaultOffSeconds
		if req.OffSeconds != nil {
			if *req.OffSeconds < 1 || *req.OffSeconds > power.MaxOffSeconds {
				return CommandResponse{}, ops.Errorf(ops.CodeInvalidField, "offSeconds must be between 1 and %d", power.MaxOffSeconds)
			}
			st.OffSeconds = *req.OffSeconds
		}
	default:
		return CommandResponse{}, ops.Errorf(ops.CodeInvalidField, "command must be set_state or cycle")
	}
	op, err := s.runStep(ctx, c, st, key, StepMeta{Actor: req.Actor, Reason: req.Reason, Maintenance: req.Maintenance})
	if err != nil {
		return CommandResponse{}, err
	}
	return CommandResponse{Success: op.Success, Operation: op}, nil
}

// OperationsResponse is GET /api/power/operations.
type OperationsResponse struct {
	Success    bool        `json:"success"`
	Operations []Operation `json:"operations"`
}

// Operations lists a reservation's power operations, oldest first (every
// reservation's newest 100 when reservationID is "").
func (s *Service) Operations(ctx context.Context, reservationID string) (OperationsResponse, error) {
	if len(reservationID) > 128 {
		return OperationsResponse{}, ops.Errorf(ops.CodeInvalidField, "reservationId is at most 128 characters")
	}
	rows, err := s.opts.Store.PowerOperations(ctx, reservationID, 200)
	if err != nil {
		return OperationsResponse{}, storeErr("read power operations", err)
	}
	out := OperationsResponse{Success: true, Operations: make([]Operation, 0, len(rows))}
	for _, r := range rows {
		out.Operations = append(out.Operations, fromRecord(r))
	}
	return out, nil
}

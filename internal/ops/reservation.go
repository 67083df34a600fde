package ops

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/retry"
	"github.com/ops-worker/ops-worker/internal/textcut"
)

// Defaults of the reservation flows (API.md).
const (
	DefaultGuardGrace = 90 // seconds
	// MaxStoredOutput caps stdout and stderr each in a recorded step's
	// payload (the response carries them whole); a cut one is flagged
	// with stdoutTruncated / stderrTruncated.
	MaxStoredOutput = domain.MaxStoredText
)

// Step statuses.
const (
	StatusCompleted = "completed"
	StatusWarnings  = "completed_with_warnings"
	StatusFailed    = "failed"
)

// Record errors shown in Step.RecordError.
const (
	recordNoDB   = "not recorded: no database"
	recordFailed = "not recorded: database write failed"
)

// flowStep is a step planned before anything runs, so that every refusal
// (allowlist, argument, wake syntax) is a 400 before any network I/O.
type flowStep struct {
	action string
	// power is a power policy phase (PowerPreStart...): the lab's outlet
	// steps of that phase, when it has a policy.
	power   string
	wake    *wakePlan
	command string
	args    []string
	// powerOff > 0: the power-off confirmation, for at most powerOff.
	powerOff time.Duration
}

// flow is one start or end run.
type flow struct {
	reservationID string
	labID         string
	host          hosts.Host
	// kind is domain.FlowStart or domain.FlowEnd (for the notifier).
	kind  string
	steps []flowStep
	// skipWhenAsleep (the end flow): a command step that finds the station
	// asleep (lab.ErrHostDown) and the command steps after it are recorded
	// skipped, not failed (see EndReservation).
	skipWhenAsleep bool
}

// StartReservation is POST /api/reservations/start: wake (unless wake is
// false), then prepare-session (unless prepare is false), stopping at the
// first failure. OK false means the HTTP layer answers 502 with the body.
func (s *Service) StartReservation(ctx context.Context, r StartRequest) (FlowResponse, error) {
	f, err := s.newFlow(ctx, r.ReservationID, r.Host, r.LabID)
	if err != nil {
		return FlowResponse{}, err
	}
	f.kind = domain.FlowStart
	f.steps = append(f.steps, flowStep{power: PowerPreStart})
	if r.Wake == nil || *r.Wake {
		p, perr := planWake(f.host, r.WakeOptions)
		if perr == nil {
			perr = s.checkWakeTargets(r.WakeOptions)
		}
		if perr != nil {
			return FlowResponse{}, perr
		}
		f.steps = append(f.steps, flowStep{action: ActionWake, wake: &p})
	}
	f.steps = append(f.steps, flowStep{power: PowerPostStart})
	if r.Prepare == nil || *r.Prepare {
		args := r.PrepareArgs
		if args == nil {
			grace := DefaultGuardGrace
			if r.GuardGrace != nil {
				if *r.GuardGrace < 0 {
					return FlowResponse{}, Errorf(CodeBadRequest, "guardGrace must be 0 or more seconds")
				}
				grace = *r.GuardGrace
			}
			args = []string{labstation.GuardGraceArg(grace)}
		}
		f.steps = append(f.steps, flowStep{action: ActionPrepare, command: "prepare-session", args: args})
	}
	return s.runFlow(ctx, f)
}

// EndReservation is POST /api/reservations/end: release-session (unless
// release is false), then, with a powerAction, `power <mode> <args...>`
// recorded as "power:<mode>".
//
// With PowerOffWait, a power step that succeeded is followed by the step
// "power-off": the station's probes (as a wake checks it) are repeated
// until nothing answers, for at most PowerOffWait. Windows takes seconds to
// shut down or hibernate while LabStation.exe answers at once, so without
// it a start flow run right after (the next booking's) would find the
// station still answering, skip the wake and prepare a station that then
// goes down. Confirmed: completed, "Power-off confirmed after <d>"; still
// answering at the bound, or the probe unusable: completed_with_warnings
// (a success: the power command was accepted).
//
// A station diagnosed asleep or powered off (lab.ErrHostDown: neither its
// WinRM port nor any probe its wake_check allows answers) has no session to
// release and is already powered down: that step and the command steps
// after it are recorded skipped (success, status completed, message
// "Skipped: station asleep (host down): ...", details "skipped": true and
// "skipReason"), and the flow succeeds. (A station that went down during
// the call is found asleep too: it may have run the command; either way
// nothing is left to release.) A station that answers with an
// error, refuses WinRM while answering ping, or times out still fails the
// step (the scheduler retries it after the cooldown).
func (s *Service) EndReservation(ctx context.Context, r EndRequest) (FlowResponse, error) {
	f, err := s.newFlow(ctx, r.ReservationID, r.Host, r.LabID)
	if err != nil {
		return FlowResponse{}, err
	}
	f.skipWhenAsleep = true
	f.kind = domain.FlowEnd
	f.steps = append(f.steps, flowStep{power: PowerPreEnd})
	if r.Release == nil || *r.Release {
		args := r.ReleaseArgs
		if args == nil {
			args = []string{"--reboot"}
		}
		f.steps = append(f.steps, flowStep{action: ActionRelease, command: "release-session", args: args})
	}
	if r.PowerAction != nil {
		mode, merr := labstation.PowerMode(r.PowerAction.Mode)
		if merr != nil {
			return FlowResponse{}, Wrap(CodeBadRequest, "powerAction.mode must be shutdown or hibernate", merr)
		}
		args := append([]string{mode}, r.PowerAction.Args...)
		f.steps = append(f.steps, flowStep{action: ActionPowerPrefix + mode, command: "power", args: args})
		if r.PowerOffWait > 0 {
			f.steps = append(f.steps, flowStep{action: ActionPowerOff, powerOff: r.PowerOffWait})
		}
	}
	f.steps = append(f.steps, flowStep{power: PowerPostEnd})
	return s.runFlow(ctx, f)
}

// newFlow checks what both flows need: the ids and the host. The lab id is
// the request's, else the host's first lab.
func (s *Service) newFlow(ctx context.Context, reservationID, host, labID string) (*flow, *Error) {
	if reservationID == "" || host == "" {
		return nil, Errorf(CodeBadRequest, "reservationId and host are required")
	}
	h, err := s.host(ctx, host, "host '%s' not found")
	if err != nil {
		return nil, err
	}
	if labID == "" && len(h.Labs) > 0 {
		labID = h.Labs[0]
	}
	return &flow{reservationID: reservationID, labID: labID, host: h}, nil
}

// runFlow checks every command step, then runs the steps in order, stopping
// at the first failure, recording each.
func (s *Service) runFlow(ctx context.Context, f *flow) (FlowResponse, error) {
	for _, st := range f.steps {
		if st.command != "" {
			if err := s.checkCommand(st.command); err != nil {
				return FlowResponse{}, err
			}
			if err := s.checkLine(f.host, st.command, st.args); err != nil {
				return FlowResponse{}, err
			}
		}
	}
	out := FlowResponse{Success: true, ReservationID: f.reservationID, Host: f.host.Name, LabID: f.labID, Steps: []Step{}}
	asleep := false
	for _, st := range f.steps {
		if st.power != "" {
			if !s.powerPhaseStep(ctx, f, st.power, &out) {
				break
			}
			continue
		}
		var step Step
		var stepErr error // the Lab's error of a step that got no answer
		switch {
		case st.wake != nil:
			step, stepErr = s.wakeStep(ctx, *st.wake)
		case st.powerOff > 0:
			if asleep {
				continue // down already: nothing to confirm
			}
			step = s.powerOffStep(ctx, f.host, st.powerOff)
		case asleep:
			step = skippedAsleep(st, 0)
		default:
			step, stepErr = s.commandStep(ctx, f.host, st)
			if f.skipWhenAsleep && errors.Is(stepErr, lab.ErrHostDown) {
				asleep = true
				step = skippedAsleep(st, step.DurationMs)
				s.log().InfoContext(ctx, "station asleep: end steps skipped", "reservation", f.reservationID,
					"host", f.host.Name, "action", st.action)
			}
		}
		step.RecordError = s.record(ctx, f, step)
		s.notifyStep(ctx, f, st, step, stepErr)
		out.Steps = append(out.Steps, step)
		s.log().InfoContext(ctx, "reservation step", "reservation", f.reservationID, "host", f.host.Name,
			"action", step.Action, "status", step.Status, "duration_ms", step.DurationMs)
		if !step.Success {
			out.Success = false
			break
		}
	}
	return out, nil
}

// wakeStep runs the wake of a flow, as /api/wol does; err is the Lab's
// error when the wake could not run.
func (s *Service) wakeStep(ctx context.Context, p wakePlan) (Step, error) {
	start := time.Now()
	res, err := s.Lab.Wake(ctx, p.host, p.opts)
	details := map[string]any{"mac": p.mac, "pingTarget": cmp.Or(res.PingTarget, p.pingTarget),
		"attemptsRequested": p.attempts, "attemptsUsed": res.AttemptsUsed, "waitSeconds": p.wait,
		"port": p.port, "broadcast": p.broadcast}
	step := Step{Action: ActionWake, DurationMs: time.Since(start).Milliseconds(), Details: details}
	switch {
	case err != nil:
		e := fromLab(p.host.Name, err)
		s.log().WarnContext(ctx, "wake step failed", "host", p.host.Name, "code", e.Code, "err", err)
		step.Status, step.Message = StatusFailed, e.Message
		details["error"] = string(e.Code)
	case res.Success:
		step.Success, step.Status, step.Message = true, StatusCompleted, "Host reachable"
		details["reachedBy"] = res.ReachedBy
	default:
		step.Status, step.Message = StatusFailed, "Host did not respond to ping"
	}
	return step, err
}

// commandStep runs one LabStation command of a flow; err is the Lab's
// error when the command did not run (the step says it as failed).
func (s *Service) commandStep(ctx context.Context, h hosts.Host, st flowStep) (Step, error) {
	start := time.Now()
	release := s.apiSlot(ctx, h.Name)
	res, err := s.Lab.RunCommand(ctx, h, st.command, st.args, lab.CommandOptions{})
	release()
	elapsed := time.Since(start).Milliseconds()
	step := Step{Action: st.action, DurationMs: elapsed}
	if err != nil {
		e := fromLab(h.Name, err)
		s.log().WarnContext(ctx, "command step failed", "host", h.Name, "action", st.action, "code", e.Code, "err", err)
		step.Status, step.Message = StatusFailed, e.Message
		step.Details = map[string]any{"exitCode": nil, "stdout": "", "stderr": "", "args": st.args,
			"durationMs": elapsed, "error": string(e.Code)}
		return step, err
	}
	// The outcome is lab's, classified once where the exit code arrived
	// (Direct, or the relay's Direct, whose outcome travels on the wire).
	o := res.Outcome
	step.Success, step.Status = o.Success(), o.Status()
	step.Message = fmt.Sprintf("Exit code %d", res.ExitCode)
	step.Details = map[string]any{"exitCode": res.ExitCode, "stdout": res.Stdout, "stderr": res.Stderr,
		"args": st.args, "durationMs": res.Duration.Milliseconds()}
	return step, nil
}

// powerOffStep waits until h stops answering its probes (lab.Reachable:
// ICMP and/or its WinRM port, as its wake_check says; each waits up to
// Settings.PowerOffProbe, repeated half of that apart), for at most within.
func (s *Service) powerOffStep(ctx context.Context, h hosts.Host, within time.Duration) Step {
	start := time.Now()
	deadline := start.Add(within)
	probes := 0
	step := Step{Action: ActionPowerOff, Success: true, Status: StatusWarnings}
	probe := cmp.Or(s.Settings.PowerOffProbe, DefaultPowerOffProbe)
	var lastErr error
	for {
		wait := min(probe, time.Until(deadline))
		if wait <= 0 || ctx.Err() != nil {
			break
		}
		probes++
		by, err := s.Lab.Reachable(ctx, h, wait)
		if (err == nil && by == "") || (err != nil && errors.Is(err, lab.ErrUnreachable)) {
			step.Status = StatusCompleted
			break
		}
		if err != nil && !errors.Is(err, lab.ErrCanceled) && !errors.Is(err, lab.ErrTimeout) {
			lastErr = err // the probe itself cannot run: no use repeating it
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(probe/2, max(0, time.Until(deadline)))):
		}
	}
	elapsed := time.Since(start)
	step.DurationMs = elapsed.Milliseconds()
	confirmed := step.Status == StatusCompleted
	switch {
	case confirmed:
		step.Message = fmt.Sprintf("Power-off confirmed after %v: station stopped answering", elapsed.Round(100*time.Millisecond))
	case lastErr != nil:
		e := fromLab(h.Name, lastErr)
		s.log().WarnContext(ctx, "power-off not checked", "host", h.Name, "code", e.Code, "err", lastErr)
		step.Message = "Power-off not checked: " + e.Message
	case ctx.Err() != nil:
		step.Message = fmt.Sprintf("Power-off not confirmed: flow ended after %v with the station still answering", elapsed.Round(100*time.Millisecond))
	default:
		step.Message = fmt.Sprintf("Power-off not confirmed within %v: station still answering", within)
	}
	if !confirmed {
		s.log().WarnContext(ctx, "power-off not confirmed", "host", h.Name, "message", step.Message)
	}
	step.Details = map[string]any{"confirmed": confirmed, "waitSeconds": within.Seconds(), "probes": probes,
		"durationMs": step.DurationMs}
	return step
}

// SkipReasonAsleep is the "skipReason" of an end step skipped because the
// station is asleep or powered off (lab.ErrHostDown).
const SkipReasonAsleep = "station asleep (host down)"

// skippedAsleep is the record of end step st not run because the station
// is asleep: nothing to release, already powered down. It is a success
// with status completed, as the scheduler's hand-over records a skipped
// release ("Release and power skipped: ..."); elapsed is the time the
// attempt that found the station asleep took (0 for the steps after it).
func skippedAsleep(st flowStep, elapsed int64) Step {
	what := "nothing to release"
	if st.action != ActionRelease {
		what = "already powered down"
	}
	return Step{Action: st.action, Success: true, Status: StatusCompleted, DurationMs: elapsed,
		Message: "Skipped: " + SkipReasonAsleep + ": " + what,
		Details: map[string]any{"exitCode": nil, "stdout": "", "stderr": "", "args": st.args,
			"durationMs": elapsed, "skipped": true, "skipReason": SkipReasonAsleep}}
}

// record writes a step to reservation_operations; it returns what
// Step.RecordError says ("" when written). The write outlives a client
// that left: the step ran.
func (s *Service) record(ctx context.Context, f *flow, step Step) string {
	if s.Store == nil {
		return recordNoDB
	}
	payload, err := json.Marshal(storedDetails(step.Details))
	if err != nil {
		s.log().ErrorContext(ctx, "step not recorded: payload", "reservation", f.reservationID, "action", step.Action, "err", err)
		return recordFailed
	}
	code := flowStatus(step.Success)
	dur := int(step.DurationMs)
	op := domain.Operation{ReservationID: f.reservationID, LabID: f.labID, Host: f.host.Name,
		Action: step.Action, Status: step.Status, Success: step.Success, ResponseCode: &code,
		DurationMs: &dur, Payload: payload, Message: step.Message, CreatedAt: s.now().UTC(),
		Key: domain.NewOperationKey()}
	wctx, cancel := detached(ctx)
	defer cancel()
	// A dropped connection (a database restart, a killed connection) is
	// retried on a new one until the write's deadline: the step ran, and
	// its record is what the timeline and the scheduler read.
	p := retry.Policy{First: 100 * time.Millisecond, Max: 2 * time.Second, Retry: s.Store.IsConnectionError,
		Failed: func(attempt int, err error) {
			s.log().WarnContext(ctx, "step record failed; retrying", "reservation", f.reservationID, "action", step.Action, "attempt", attempt, "err", err)
		}}
	attempts, err := p.Do(wctx, func(wctx context.Context) error {
		_, err := s.Store.RecordOperation(wctx, op)
		return err
	})
	if err != nil {
		s.log().ErrorContext(ctx, "step not recorded", "reservation", f.reservationID, "action", step.Action, "attempts", attempts, "err", err)
		return recordFailed
	}
	return ""
}

// storedDetails is a step's details with stdout and stderr cut to
// MaxStoredOutput each (flagged), so a chatty station cannot fill the
// table.
func storedDetails(d map[string]any) map[string]any {
	out := make(map[string]any, len(d)+2)
	for k, v := range d {
		out[k] = v
	}
	for _, k := range []string{"stdout", "stderr"} {
		if v, ok := out[k].(string); ok && len(v) > MaxStoredOutput {
			out[k], out[k+"Truncated"] = textcut.Cut(v, MaxStoredOutput, ""), true
		}
	}
	return out
}

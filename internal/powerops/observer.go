package powerops

import "time"

// Observer is told of the power steps run and the outlet states read, for
// metrics (the local server's internal/metrics implements it; a Lambda
// function leaves Options.Observer nil, and nothing is observed).
type Observer interface {
	// PowerOperation: one executed step (a manual command, a lab phase
	// route's or a reservation flow's step), once, when its record is
	// finished. An idempotent replay (the key was run before) is not one.
	PowerOperation(ev OperationEvent)
	// OutletState: an outlet of the catalog as just read (before and after
	// a switch, and by the controller list's probe): power.StateOn,
	// StateOff or StateUnknown (the read failed or the device cannot say).
	OutletState(controller, outlet, state string)
}

// Results of an executed step besides the power error codes
// (power.CodeUnreachable, ..., and ResultDisabled).
const (
	ResultSuccess        = "success"          // switched (and read back when asked)
	ResultAlreadyInState = "already_in_state" // the outlet read as desired: nothing switched
	ResultDisabled       = "disabled"         // the controller is disabled
	ResultFailed         = "failed"           // a failure without a code
)

// OperationEvent is one executed step.
type OperationEvent struct {
	Controller string
	Driver     string // the controller's driver (power.DriverAPC, ...)
	Action     string // power.ActionOn, ActionOff, ActionCycle
	Phase      string // the step's phase (power.PhaseManual for a command)
	// Result: ResultSuccess, ResultAlreadyInState, or the failure's code
	// (power.CodeReadBackMismatch, CodeUnreachable, ..., ResultDisabled).
	Result   string
	Required bool
	Duration time.Duration
}

// Failed reports whether the step failed.
func (e OperationEvent) Failed() bool {
	return e.Result != ResultSuccess && e.Result != ResultAlreadyInState
}

// resultOf is a finished step's Result.
func resultOf(status, code string) string {
	switch {
	case status == StatusCompleted:
		return ResultSuccess
	case status == StatusAlreadyInState:
		return ResultAlreadyInState
	case code != "":
		return code
	}
	return ResultFailed
}

func (s *Service) observeOp(ev OperationEvent) {
	if s.opts.Observer != nil {
		s.opts.Observer.PowerOperation(ev)
	}
}

func (s *Service) observeState(controller, outlet, state string) {
	if s.opts.Observer != nil {
		s.opts.Observer.OutletState(controller, outlet, normState(state))
	}
}

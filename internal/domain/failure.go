package domain

import "time"

// Failure is one failed wake or command step, as the use cases hand it to
// their notifier (ops.Notifier): what failed, where, and why, with no
// secret (no password, token or DSN; a station's output cut short).
type Failure struct {
	Host  string
	LabID string
	// ReservationID is "" outside a reservation flow (/api/wol, /api/winrm).
	ReservationID string
	// Flow is where the step ran: FlowWake, FlowCommand, FlowStart or FlowEnd.
	Flow string
	// Action is the step: "wake", "prepare", "release", "power:<mode>" in
	// a flow; "wake" or the LabStation command's name for the API routes.
	Action string
	// Code is the error contract's code (HOST_UNREACHABLE, TIMEOUT, ...),
	// or FailureNoResponse / FailureExitCode.
	Code    string
	Message string
	// ExitCode is the command's, when it ran.
	ExitCode *int
	// Details are the step's details as recorded (stdout and stderr cut).
	Details map[string]any
	At      time.Time
}

// Where a Failure happened (Failure.Flow).
const (
	FlowWake    = "wol"
	FlowCommand = "winrm"
	FlowStart   = "reservation-start"
	FlowEnd     = "reservation-end"
)

// Failure codes of steps that failed without an error of the contract.
const (
	// FailureNoResponse: the magic packets went out, the host never answered.
	FailureNoResponse = "NO_RESPONSE"
	// FailureExitCode: the command ran and its exit code means failure.
	FailureExitCode = "EXIT_CODE"
)

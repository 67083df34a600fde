// Package ops holds the use cases of the worker: wake, commands, reservation
// flows, heartbeat polls, timelines, the host catalog. They know nothing of
// HTTP or Lambda; their failures are *Error values with a Code that the HTTP
// layer maps to a status.
package ops

import (
	"errors"
	"fmt"
	"slices"
)

// Code names a kind of failure in the error contract of API.md
// (`{"error", "code", "requestId"}`).
type Code string

// Codes of the error contract. A use case only picks the code; its HTTP
// status is the code's (Code.Status), for the HTTP layer and for the
// scheduler's records alike.
const (
	CodeBadRequest          Code = "BAD_REQUEST"         // malformed body or query, missing field
	CodeInvalidJSON         Code = "INVALID_JSON"        // the body is not one JSON object
	CodeInvalidField        Code = "INVALID_FIELD"       // a field of the wrong type or value
	CodeBodyTooLarge        Code = "PAYLOAD_TOO_LARGE"   // body over the limit
	CodeUnsupportedMedia    Code = "UNSUPPORTED_MEDIA"   // a body that is not JSON by its Content-Type
	CodeUnauthorized        Code = "UNAUTHORIZED"        // token missing or wrong
	CodeForbidden           Code = "FORBIDDEN"           // source outside OPS_ALLOWED_CIDRS
	CodeAuthNotConfigured   Code = "AUTH_NOT_CONFIGURED" // no LAB_MANAGER_TOKEN: fail closed
	CodeNotFound            Code = "NOT_FOUND"           // no such route
	CodeMethodNotAllowed    Code = "METHOD_NOT_ALLOWED"
	CodeHostNotFound        Code = "HOST_NOT_FOUND"
	CodeCommandNotAllowed   Code = "COMMAND_NOT_ALLOWED"
	CodeArgumentRefused     Code = "ARGUMENT_REFUSED" // cannot reach LabStation.exe verbatim
	CodePolicyRefused       Code = "POLICY_REFUSED"   // a per-request override would weaken the host
	CodeReservationNotFound Code = "RESERVATION_NOT_FOUND"
	CodeDBNotConfigured     Code = "DB_NOT_CONFIGURED"
	CodeConfigInvalid       Code = "CONFIG_INVALID" // hosts.json reload refused
	CodeHostUnreachable     Code = "HOST_UNREACHABLE"
	CodeStationError        Code = "STATION_ERROR" // the station answered, but not usefully
	CodeTimeout             Code = "TIMEOUT"
	CodeRelayUnreachable    Code = "RELAY_UNREACHABLE" // the relay did not answer (issue 10)
	CodeInternal            Code = "INTERNAL_ERROR"
	// CodeSchedulerNotConfigured: a tick route of a handler without ticks.
	CodeSchedulerNotConfigured Code = "SCHEDULER_NOT_CONFIGURED"
	// CodeServiceBusy: a bounded resource is full (OPS_HEARTBEAT_STREAM_MAX
	// open heartbeat streams) or the process is shutting down.
	CodeServiceBusy Code = "SERVICE_BUSY"
	// CodeDegraded: GET /health with a configured part not answering.
	CodeDegraded Code = "DEGRADED"

	// Provisioning and the credential store (issue 17).
	CodeGuacamoleUnavailable  Code = "GUACAMOLE_UNAVAILABLE"  // no Guacamole database, or it did not answer
	CodeConnectionNotFound    Code = "CONNECTION_NOT_FOUND"   // no such Guacamole connection
	CodeDiscoveryInsufficient Code = "DISCOVERY_INSUFFICIENT" // no Lab Station nor WinRM signal: not provisioned
	CodeHostExists            Code = "HOST_EXISTS"            // a host of that name is in the catalog
	CodeSecretsNotConfigured  Code = "SECRETS_NOT_CONFIGURED" // no OPS_SECRETS_KEY: the store refuses writes
	// Power control (issue 18, GATEWAY.md section 2's power rows).
	CodePowerConfigInvalid      Code = "POWER_CONFIG_INVALID"       // a controller, policy or command refused
	CodePowerControllerExists   Code = "POWER_CONTROLLER_EXISTS"    // POST of an id the catalog has
	CodePowerControllerNotFound Code = "POWER_CONTROLLER_NOT_FOUND" // no such controller
	CodePowerOutletNotFound     Code = "POWER_OUTLET_NOT_FOUND"     // no such outlet on the controller
	CodePowerOutletProtected    Code = "POWER_OUTLET_PROTECTED"     // protected outlet without allowProtected and maintenance
	CodePowerPhaseRefused       Code = "POWER_PHASE_REFUSED"        // the lab's policy cannot run that phase
	CodePowerNotConfigured      Code = "POWER_NOT_CONFIGURED"       // no power catalog (no database)
	CodeCredentialExists        Code = "CREDENTIAL_EXISTS"          // a credential of that reference, without overwrite
)

// codeStatus is the one table from code to HTTP status (API.md). Adding a
// code is one edit here (TestEveryCodeHasAStatus keeps it so). The numbers
// are written out so that the use cases do not import net/http.
var codeStatus = map[Code]int{
	CodeBadRequest:          400,
	CodeInvalidJSON:         400,
	CodeInvalidField:        400,
	CodeBodyTooLarge:        413,
	CodeUnsupportedMedia:    415,
	CodeUnauthorized:        401,
	CodeForbidden:           403,
	CodeAuthNotConfigured:   503,
	CodeNotFound:            404,
	CodeMethodNotAllowed:    405,
	CodeHostNotFound:        404,
	CodeCommandNotAllowed:   400,
	CodeArgumentRefused:     400,
	CodePolicyRefused:       400,
	CodeReservationNotFound: 404,
	// API.md: a timeline without a database is a 500 with its own message.
	CodeDBNotConfigured:  500,
	CodeConfigInvalid:    422,
	CodeHostUnreachable:  502,
	CodeStationError:     502,
	CodeRelayUnreachable: 502,
	CodeTimeout:          504,
	CodeInternal:         500,

	CodeSchedulerNotConfigured: 503,
	CodeServiceBusy:            503,
	CodeDegraded:               503,

	CodeGuacamoleUnavailable:  503,
	CodeConnectionNotFound:    404,
	CodeDiscoveryInsufficient: 409,
	CodeHostExists:            409,
	CodeSecretsNotConfigured:  503,

	CodePowerConfigInvalid:      400,
	CodePowerControllerExists:   409,
	CodePowerControllerNotFound: 404,
	CodePowerOutletNotFound:     404,
	CodePowerOutletProtected:    403,
	CodePowerPhaseRefused:       422,
	CodePowerNotConfigured:      503,
	CodeCredentialExists:        409,
}

// Status is the HTTP status of c; an unknown code is a 500.
func (c Code) Status() int {
	if s, ok := codeStatus[c]; ok {
		return s
	}
	return 500
}

// Codes lists every code of the contract (for tests and documentation).
func Codes() []Code {
	out := make([]Code, 0, len(codeStatus))
	for c := range codeStatus {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// StatusOf is the HTTP status an error of a use case answers: its *Error's
// code's, else 500 (an error outside the contract is internal).
func StatusOf(err error) int {
	if e, ok := AsError(err); ok {
		return e.Code.Status()
	}
	return 500
}

// Error is the one error type of the use cases. Message is shown to the
// caller as is, so it never holds a secret; Err is the cause, for the log.
type Error struct {
	Code    Code
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted message and no cause.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with message and cause.
func Wrap(code Code, message string, err error) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// AsError finds the *Error in err's chain.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

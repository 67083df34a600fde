package relayproto

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/power"
)

// Routes of the relay. Every one is signed; all but health are POST with a
// JSON body.
const (
	PathHealth     = "/v1/health"     // GET
	PathWake       = "/v1/wake"       // WakeRequest -> WakeResponse
	PathReachable  = "/v1/reachable"  // ReachableRequest -> ReachableResponse
	PathCommand    = "/v1/command"    // CommandRequest -> CommandResponse
	PathHeartbeat  = "/v1/heartbeat"  // HeartbeatRequest -> HeartbeatResponse
	PathHeartbeats = "/v1/heartbeats" // BatchRequest -> BatchResponse
	PathLocalMode  = "/v1/local-mode" // LocalModeRequest -> LocalModeResponse
	PathDiscover   = "/v1/discover"   // DiscoverRequest -> discovery.Result
	PathPower      = "/v1/power"      // PowerRequest -> PowerResponse
)

// MaxBody is the largest request body the relay reads (413 above it).
const MaxBody = 256 << 10

// MaxBatch is the most hosts one batch request may name.
const MaxBatch = 5000

// HealthResponse is GET /v1/health.
type HealthResponse struct {
	Status  string `json:"status"` // "ok"
	Hosts   int    `json:"hosts"`
	Version string `json:"version,omitempty"`
}

// WakeRequest names a host of the relay's catalog and the overrides of
// lab.WakeOptions. A broadcast outside the relay's subnets is refused.
type WakeRequest struct {
	Host          string `json:"host"`
	MAC           string `json:"mac,omitempty"`
	Broadcast     string `json:"broadcast,omitempty"`
	Port          int    `json:"port,omitempty"`
	PingTarget    string `json:"ping_target,omitempty"`
	PingTimeoutMS int64  `json:"ping_timeout_ms,omitempty"`
	Attempts      int    `json:"attempts,omitempty"`
}

// WakeResponse is lab.WakeResult.
type WakeResponse struct {
	Success      bool   `json:"success"`
	AttemptsUsed int    `json:"attempts_used"`
	DurationNS   int64  `json:"duration_ns"`
	PingTarget   string `json:"ping_target"`
	ReachedBy    string `json:"reached_by"`
}

// ReachableRequest probes a host for up to WaitMS.
type ReachableRequest struct {
	Host   string `json:"host"`
	WaitMS int64  `json:"wait_ms"`
}

// ReachableResponse says which probe answered.
type ReachableResponse struct {
	ReachedBy string `json:"reached_by"`
}

// CommandRequest runs LabStation.exe on a host. Options carry no
// credentials: those live in the relay's catalog and never travel.
type CommandRequest struct {
	Host    string         `json:"host"`
	Command string         `json:"command"`
	Args    []string       `json:"args"`
	Options CommandOptions `json:"options"`
}

// CommandOptions are lab.CommandOptions without the credentials.
type CommandOptions struct {
	Transport string `json:"transport,omitempty"`
	UseSSL    *bool  `json:"use_ssl,omitempty"`
	Port      int    `json:"port,omitempty"`
}

// CommandResponse is lab.CommandResult, and the error when the command
// failed after it was sent (the partial result still travels, as Direct
// returns it).
type CommandResponse struct {
	ExitCode   int    `json:"exit_code"`
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	DurationNS int64  `json:"duration_ns"`
	Outcome    int    `json:"outcome"`
	Error      *Error `json:"error,omitempty"`
}

// HeartbeatRequest reads one host's heartbeat.
type HeartbeatRequest struct {
	Host          string `json:"host"`
	IncludeEvents bool   `json:"include_events"`
}

// HeartbeatResponse is lab.HeartbeatRead with the documents as the
// station wrote them (the client parses them with labstation, exactly as
// Direct does), or the error of that host.
type HeartbeatResponse struct {
	Host       string          `json:"host"`
	Heartbeat  json.RawMessage `json:"heartbeat,omitempty"`
	LastEvent  json.RawMessage `json:"last_event,omitempty"`
	EventsErr  string          `json:"events_error,omitempty"`
	Stale      bool            `json:"stale"`
	DurationNS int64           `json:"duration_ns"`
	Error      *Error          `json:"error,omitempty"`
}

// LocalModeRequest writes (Enabled) or removes a host's local-mode flag.
// It names no path: the relay writes its own catalog's path for the host.
type LocalModeRequest struct {
	Host    string `json:"host"`
	Enabled bool   `json:"enabled"`
}

// LocalModeResponse is the flag's state after the request.
type LocalModeResponse struct {
	LocalModeEnabled bool `json:"local_mode_enabled"`
}

// DiscoverRequest asks the relay to probe a host name for a Lab Station
// (discovery.Prober), only inside the relay's subnets. The host need not
// be in its catalog: discovery is how it gets there.
type DiscoverRequest struct {
	Hostname string `json:"hostname"`
}

// Power operations: the calls of power.Driver.
const (
	PowerDescribe = "describe"
	PowerOutlets  = "outlets"
	PowerSet      = "set"
	PowerCycle    = "cycle"
)

// PowerRequest asks the relay to call one of the power controllers of its
// own configuration (RELAY_POWER_CONFIG): the controller's address and
// credential are the relay's, never the worker's. Outlet and State are
// for set and cycle (State "on" or "off", set only), OffMs for cycle.
type PowerRequest struct {
	Controller string `json:"controller"`
	Op         string `json:"op"`
	Outlet     string `json:"outlet,omitempty"`
	State      string `json:"state,omitempty"`
	OffMs      int64  `json:"off_ms,omitempty"`
}

// PowerResponse is the driver's answer: the field of the op, or Error, a
// driver failure with its stable code (power.Code*), exactly as the
// worker's own driver would have failed.
type PowerResponse struct {
	Description *power.Description  `json:"description,omitempty"`
	Outlets     []power.OutletState `json:"outlets,omitempty"`
	Outlet      *power.OutletState  `json:"outlet,omitempty"`
	Error       *PowerError         `json:"power_error,omitempty"`
}

// PowerError is a *power.Error on the wire (its cause stays in the
// relay's log).
type PowerError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// BatchRequest reads many hosts' heartbeats in one signed request.
type BatchRequest struct {
	Hosts         []string `json:"hosts"`
	IncludeEvents bool     `json:"include_events"`
}

// BatchResponse holds one HeartbeatResponse per requested host, in order.
type BatchResponse struct {
	Results []HeartbeatResponse `json:"results"`
}

// Error is the error shape of every relay answer: the message, the lab
// kind (see Kinds) and, where the worker's answer quotes them, the fields
// of the structured error.
type Error struct {
	Message string `json:"error"`
	Kind    string `json:"kind"`
	// Policy is a *lab.PolicyError's fields.
	Policy *lab.PolicyError `json:"policy,omitempty"`
	// Arg is a *labstation.ArgError's fields.
	Arg *labstation.ArgError `json:"arg,omitempty"`
	// NotAllowed is a *labstation.NotAllowedError's command.
	NotAllowed *labstation.NotAllowedError `json:"not_allowed,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// The wire names of lab's kinds are lab.Kinds' names (lab.KindName,
// lab.KindNamed). KindSignature and KindNotInCatalog are the relay's own
// refusals; the client maps them to lab.ErrConfig.

// The relay's own refusals.
const (
	KindSignature    = "signature"      // 401: not signed, bad MAC, window, replay
	KindNotInCatalog = "not_in_catalog" // 403: a host the relay does not hold
	KindBadRequest   = "bad_request"    // 400: a body the relay cannot decode
	KindTooLarge     = "too_large"      // 413
	KindUnavailable  = "unavailable"    // 503: replay cache full
)

// KindName is the wire name of err's lab kind ("protocol" when none).
func KindName(err error) string {
	if name := lab.KindName(err); name != "" {
		return name
	}
	return "protocol"
}

// ErrorOf is the wire form of a lab error.
func ErrorOf(err error) *Error {
	e := &Error{Message: err.Error(), Kind: KindName(err)}
	var (
		pe *lab.PolicyError
		ae *labstation.ArgError
		ne *labstation.NotAllowedError
	)
	if errors.As(err, &pe) {
		e.Policy = pe
	}
	if errors.As(err, &ae) {
		e.Arg = ae
	}
	if errors.As(err, &ne) {
		e.NotAllowed = ne
	}
	return e
}

// LabError turns a wire error back into the *lab.Error of op on host, with
// the structured cause when there was one, so the worker answers exactly
// what it answers in direct mode. An unknown kind is lab.ErrProtocol.
func (e *Error) LabError(op, host string) error {
	kind, ok := lab.KindNamed(e.Kind)
	if !ok {
		switch e.Kind {
		case KindSignature, KindNotInCatalog, KindUnavailable:
			kind = lab.ErrConfig
		case KindBadRequest, KindTooLarge:
			kind = lab.ErrArgument
		default:
			kind = lab.ErrProtocol
		}
	}
	var cause error = fmt.Errorf("relay: %s", e.Message)
	switch {
	case e.Policy != nil:
		cause = &lab.PolicyError{Field: e.Policy.Field, Reason: e.Policy.Reason}
	case e.Arg != nil:
		cause = &labstation.ArgError{Index: e.Arg.Index, Part: e.Arg.Part, Arg: e.Arg.Arg, Reason: e.Arg.Reason}
	case e.NotAllowed != nil:
		cause = &labstation.NotAllowedError{Command: e.NotAllowed.Command}
	}
	if errors.Is(kind, lab.ErrHostDown) || errors.Is(kind, lab.ErrWinRMClosed) {
		// Keep the kinds a diagnosed failure wraps in direct mode.
		cause = fmt.Errorf("%w: %w", kind, cause)
	}
	return &lab.Error{Op: op, Host: host, Kind: kind, Err: cause}
}

// Duration converts a wire duration.
func Duration(ns int64) time.Duration { return time.Duration(ns) }

// Package power switches lab equipment through networked power strips
// (PDUs): the driver interface every controller kind implements (APC over
// SNMP, NETIO's JSON API, a mock), the catalog's models and their
// validation, and the errors with their stable codes (GATEWAY.md sections
// 2 and 3).
package power

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Outlet states. A driver reports StateUnknown for a value it cannot map.
const (
	StateOn      = "on"
	StateOff     = "off"
	StateUnknown = "unknown"
)

// Driver is one power controller as the use cases drive it. Every call is
// bounded by ctx (and by the driver's own timeout and retries); a device's
// answer is untrusted input. Errors are *Error values with a stable Code.
type Driver interface {
	// Describe reads what the device is (model, firmware, profile, outlet
	// count) without changing anything: discovery.
	Describe(ctx context.Context) (Description, error)
	// Outlets reads every outlet's state.
	Outlets(ctx context.Context) ([]OutletState, error)
	// Set switches one outlet on or off and returns its state read back
	// after the switch (StateUnknown when the device cannot say).
	Set(ctx context.Context, outlet, state string) (OutletState, error)
	// Cycle switches an outlet off, waits off, and on again, and returns
	// its state read back.
	Cycle(ctx context.Context, outlet string, off time.Duration) (OutletState, error)
}

// Description is what Describe learns of a device.
type Description struct {
	Driver   string `json:"driver"`
	Model    string `json:"model,omitempty"`
	Firmware string `json:"firmware,omitempty"`
	// Profile is the driver's dialect (apc-powernet-snmp: "rpdu2" or
	// "legacy"), detected or configured.
	Profile string `json:"profile,omitempty"`
	Outlets int    `json:"outlets"`
}

// OutletState is one outlet as the device reports it. Outlet is the
// catalog's key (a decimal index for APC and NETIO).
type OutletState struct {
	Outlet string `json:"outlet"`
	Name   string `json:"name,omitempty"`
	State  string `json:"state"`
}

// Codes of Error: stable, shown to callers and counted by metrics.
const (
	CodeUnreachable        = "unreachable"         // no answer in time
	CodeAuth               = "auth"                // credentials refused (community, v3 keys, HTTP 401)
	CodeUnsupportedProfile = "unsupported-profile" // the device speaks no dialect the driver knows
	CodeOutletUnknown      = "outlet-unknown"      // no such outlet on the device
	CodeReadBackMismatch   = "read-back-mismatch"  // switched, but the device reports another state
	CodeBadResponse        = "bad-response"        // an answer that is not what the protocol says
	CodeConfig             = "config"              // the controller's configuration cannot work
)

// Error is a driver's failure. Message is safe to show: it never holds a
// community, key or password (drivers build it from their own words and
// bounded, sanitised device text only).
type Error struct {
	Code    string
	Message string
	Err     error // the cause, for the log; never a secret either
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("power %s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("power %s: %s: %v", e.Code, e.Message, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf is an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf is err's Code, "" when err is not a power error.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

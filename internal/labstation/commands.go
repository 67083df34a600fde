package labstation

import (
	"errors"
	"fmt"
	"strings"
)

// Command words of LabStation.exe (LABSTATION.md). Multi-word commands are
// the first word plus a sub-command argument: "power shutdown" runs command
// CmdPower with args ["shutdown", ...].
const (
	CmdPrepareSession = "prepare-session"
	CmdReleaseSession = "release-session"
	CmdSession        = "session" // session guard
	CmdPower          = "power"   // power shutdown | power hibernate
	CmdRecovery       = "recovery"
	CmdStatusJSON     = "status-json"
	CmdStatus         = "status"
	CmdEnergy         = "energy"
	CmdAccount        = "account"
	CmdService        = "service"
	CmdWOL            = "wol"
)

// Sub-commands and power modes.
const (
	SubGuard               = "guard"            // session guard
	SubRebootIfNeeded      = "reboot-if-needed" // recovery reboot-if-needed
	PowerShutdown          = "shutdown"
	PowerHibernate         = "hibernate"
	DefaultGuardGrace      = 90 // seconds, prepare-session --guard-grace
	DefaultAllowedCommands = "prepare-session,release-session,power,session,energy,status-json,recovery,account,service,wol,status"
)

// DefaultAllowList returns the default OPS_ALLOWED_COMMANDS as a fresh slice.
func DefaultAllowList() []string { return strings.Split(DefaultAllowedCommands, ",") }

// ErrCommandNotAllowed is wrapped by the error CheckCommand returns.
var ErrCommandNotAllowed = errors.New("command not allowed")

// NotAllowedError names a command outside the allowlist. Its message is
// the API's wording: command '<c>' not allowed.
type NotAllowedError struct{ Command string }

func (e *NotAllowedError) Error() string {
	c := e.Command
	if len(c) > 64 {
		c = c[:64] + "…"
	}
	// Keep the message on one line whatever the caller sent.
	c = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7F {
			return '?'
		}
		return r
	}, c)
	return fmt.Sprintf("command '%s' not allowed", c)
}

// Unwrap lets errors.Is(err, ErrCommandNotAllowed) match.
func (e *NotAllowedError) Unwrap() error { return ErrCommandNotAllowed }

// CheckCommand returns nil when command is one of allowed (exact,
// case-sensitive match; blanks around allowlist entries are ignored), else
// a *NotAllowedError.
func CheckCommand(command string, allowed []string) error {
	if command != "" {
		for _, a := range allowed {
			if strings.TrimSpace(a) == command {
				return nil
			}
		}
	}
	return &NotAllowedError{Command: command}
}

// PowerMode validates a power action mode ("" means shutdown).
func PowerMode(mode string) (string, error) {
	switch mode {
	case "", PowerShutdown:
		return PowerShutdown, nil
	case PowerHibernate:
		return PowerHibernate, nil
	}
	return "", fmt.Errorf("power mode %q: want %q or %q", mode, PowerShutdown, PowerHibernate)
}

// GuardGraceArg is prepare-session's grace option, e.g. --guard-grace=90.
func GuardGraceArg(seconds int) string { return fmt.Sprintf("--guard-grace=%d", seconds) }

// Outcome is the meaning of a LabStation.exe exit code.
type Outcome int

// The three outcomes of LABSTATION.md.
const (
	OutcomeFailed    Outcome = iota // exit code 2 or more, negative, or no answer
	OutcomeCompleted                // exit code 0
	OutcomeWarnings                 // exit code 1: completed with warnings, still a success
)

// ClassifyExit maps an exit code to its Outcome. Negative codes (no
// answer, a killed process) are failures.
func ClassifyExit(code int) Outcome {
	switch code {
	case 0:
		return OutcomeCompleted
	case 1:
		return OutcomeWarnings
	}
	return OutcomeFailed
}

// Status is the step status the API reports.
func (o Outcome) Status() string {
	switch o {
	case OutcomeCompleted:
		return "completed"
	case OutcomeWarnings:
		return "completed_with_warnings"
	}
	return "failed"
}

// Success reports whether the step counts as done.
func (o Outcome) Success() bool { return o == OutcomeCompleted || o == OutcomeWarnings }

// String is Status.
func (o Outcome) String() string { return o.Status() }

package ops

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labstation"
)

// fromLab is the one mapping from a Lab failure to the error contract. The
// message names the host and says what an operator can do; it never holds
// the cause's text when that could carry station bytes (the cause stays in
// Err, for the log). A caller that gave up (lab.ErrCanceled) is reported as
// CodeTimeout: nobody reads the answer, and the HTTP table has no 499.
func fromLab(host string, err error) *Error {
	name := quoteName(host)
	var (
		pe *lab.PolicyError
		ae *labstation.ArgError
		ne *labstation.NotAllowedError
	)
	switch {
	case errors.Is(err, lab.ErrRelayUnreachable):
		return Wrap(CodeRelayUnreachable, fmt.Sprintf("the relay for host '%s' did not answer", name), err)
	case errors.Is(err, lab.ErrPolicy) && errors.As(err, &pe):
		return Wrap(CodePolicyRefused, "override refused: "+pe.Error(), err)
	case errors.Is(err, lab.ErrPolicy):
		return Wrap(CodePolicyRefused, "override refused by the host's WinRM policy", err)
	case errors.Is(err, lab.ErrHostDown):
		return Wrap(CodeHostUnreachable, fmt.Sprintf("host '%s' not answering: wake it first", name), err)
	case errors.Is(err, lab.ErrWinRMClosed):
		return Wrap(CodeHostUnreachable, fmt.Sprintf("host '%s' answers but its WinRM port does not accept connections (service stopped or port filtered)", name), err)
	case errors.Is(err, lab.ErrUnreachable):
		return Wrap(CodeHostUnreachable, fmt.Sprintf("host '%s' not reachable: check that it is awake and on the network", name), err)
	case errors.Is(err, lab.ErrMACRequired):
		return Wrap(CodeBadRequest, "mac is required", err)
	case errors.Is(err, lab.ErrCommandNotAllowed) && errors.As(err, &ne):
		return Wrap(CodeCommandNotAllowed, ne.Error(), err)
	case errors.Is(err, lab.ErrCommandNotAllowed):
		return Wrap(CodeCommandNotAllowed, "command not allowed", err)
	case errors.Is(err, lab.ErrArgument) && errors.As(err, &ae):
		return Wrap(CodeArgumentRefused, ae.Error(), err)
	case errors.Is(err, lab.ErrArgument):
		return Wrap(CodeArgumentRefused, "an argument or address cannot reach the station as given", err)
	case errors.Is(err, lab.ErrUnauthorized):
		return Wrap(CodeStationError, fmt.Sprintf("host '%s' refused the worker's credentials (check winrm_user, winrm_pass and winrm_transport)", name), err)
	case errors.Is(err, lab.ErrAuthService):
		return Wrap(CodeStationError, fmt.Sprintf("authentication service (Kerberos KDC) unavailable for host '%s'", name), err)
	case errors.Is(err, lab.ErrCertificate):
		return Wrap(CodeStationError, fmt.Sprintf("host '%s' presented an untrusted HTTPS certificate (check winrm_ca_file)", name), err)
	case errors.Is(err, lab.ErrBusy):
		return Wrap(CodeStationError, fmt.Sprintf("host '%s' is busy (WinRM quota used up): try again later", name), err)
	case errors.Is(err, lab.ErrRemote):
		return Wrap(CodeStationError, fmt.Sprintf("host '%s' reported a failure or unusable data", name), err)
	case errors.Is(err, lab.ErrProtocol):
		return Wrap(CodeStationError, fmt.Sprintf("host '%s' answered with something that is not usable WinRM", name), err)
	case errors.Is(err, lab.ErrTimeout):
		return Wrap(CodeTimeout, fmt.Sprintf("host '%s' did not finish in time", name), err)
	case errors.Is(err, lab.ErrCanceled):
		return Wrap(CodeTimeout, fmt.Sprintf("request cancelled before host '%s' answered", name), err)
	case errors.Is(err, lab.ErrConfig):
		return Wrap(CodeConfigInvalid, fmt.Sprintf("host '%s' cannot be used as configured", name), err)
	}
	return Wrap(CodeStationError, fmt.Sprintf("host '%s' failed", name), err)
}

// maxNameInMessage bounds a caller's string quoted in a message.
const maxNameInMessage = 64

// quoteName makes a caller's string safe to put between quotes in a
// message: one line, at most maxNameInMessage bytes (cut on a rune).
func quoteName(s string) string { return oneLine(s, maxNameInMessage) }

// oneLine replaces control characters (CR, LF, ...) and cuts s to at most
// max bytes on a rune boundary, marking the cut with "…".
func oneLine(s string, max int) string {
	if len(s) > max {
		cut := max
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7F || r == '\u2028' || r == '\u2029' {
			return '?'
		}
		return r
	}, s)
}

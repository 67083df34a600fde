package ops

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/textcut"
)

// fromLab is the one mapping from a Lab failure to the error contract:
// lab's kind (lab.KindOf, which owns the precedence) picks the entry of
// labCodes. The message names the host and says what an operator can do;
// it never holds the cause's text when that could carry station bytes (the
// cause stays in Err, for the log). A caller that gave up (lab.ErrCanceled)
// is reported as CodeTimeout: nobody reads the answer, and the HTTP table
// has no 499.
func fromLab(host string, err error) *Error {
	name := quoteName(host)
	if kind, ok := lab.KindOf(err); ok {
		if c, ok := labCodes[kind]; ok {
			return Wrap(c.code, c.message(name, err), err)
		}
	}
	return Wrap(CodeStationError, fmt.Sprintf("host '%s' failed", name), err)
}

// labCode is the answer to one lab kind: its code and its message, from
// the (quoted) host name and the error.
type labCode struct {
	code    Code
	message func(name string, err error) string
}

// fixed is a message that names the host (%s) and nothing else.
func fixed(format string) func(string, error) string {
	return func(name string, _ error) string { return fmt.Sprintf(format, name) }
}

// structured is the message of the typed cause T when err has one (its
// text is built to be shown), else fallback.
func structured[T error](prefix, fallback string) func(string, error) string {
	return func(_ string, err error) string {
		var te T
		if errors.As(err, &te) {
			return prefix + te.Error()
		}
		return fallback
	}
}

// labCodes maps every lab kind (lab.Kinds) to its answer; a kind missing
// here fails TestEveryLabKindHasACode.
var labCodes = map[error]labCode{
	lab.ErrRelayUnreachable:  {CodeRelayUnreachable, fixed("the relay for host '%s' did not answer")},
	lab.ErrPolicy:            {CodePolicyRefused, structured[*lab.PolicyError]("override refused: ", "override refused by the host's WinRM policy")},
	lab.ErrHostDown:          {CodeHostUnreachable, fixed("host '%s' not answering: wake it first")},
	lab.ErrWinRMClosed:       {CodeHostUnreachable, fixed("host '%s' answers but its WinRM port does not accept connections (service stopped or port filtered)")},
	lab.ErrUnreachable:       {CodeHostUnreachable, fixed("host '%s' not reachable: check that it is awake and on the network")},
	lab.ErrMACRequired:       {CodeBadRequest, func(string, error) string { return "mac is required" }},
	lab.ErrCommandNotAllowed: {CodeCommandNotAllowed, structured[*labstation.NotAllowedError]("", "command not allowed")},
	lab.ErrArgument:          {CodeArgumentRefused, structured[*labstation.ArgError]("", "an argument or address cannot reach the station as given")},
	lab.ErrUnauthorized:      {CodeStationError, fixed("host '%s' refused the worker's credentials (check winrm_user, winrm_pass and winrm_transport)")},
	lab.ErrAuthService:       {CodeStationError, fixed("authentication service (Kerberos KDC) unavailable for host '%s'")},
	lab.ErrCertificate:       {CodeStationError, fixed("host '%s' presented an untrusted HTTPS certificate (check winrm_ca_file)")},
	lab.ErrBusy:              {CodeStationError, fixed("host '%s' is busy (WinRM quota used up): try again later")},
	lab.ErrRemote:            {CodeStationError, fixed("host '%s' reported a failure or unusable data")},
	lab.ErrProtocol:          {CodeStationError, fixed("host '%s' answered with something that is not usable WinRM")},
	lab.ErrTimeout:           {CodeTimeout, fixed("host '%s' did not finish in time")},
	lab.ErrCanceled:          {CodeTimeout, fixed("request cancelled before host '%s' answered")},
	lab.ErrConfig:            {CodeConfigInvalid, fixed("host '%s' cannot be used as configured")},
}

// maxNameInMessage bounds a caller's string quoted in a message.
const maxNameInMessage = 64

// quoteName makes a caller's string safe to put between quotes in a
// message: one line, at most maxNameInMessage bytes (cut on a rune).
func quoteName(s string) string { return oneLine(s, maxNameInMessage) }

// oneLine replaces control characters (CR, LF, ...) and cuts s to at most
// max bytes on a rune boundary, marking the cut with "…".
func oneLine(s string, max int) string {
	s = textcut.Cut(s, max, "…")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7F || r == '\u2028' || r == '\u2029' {
			return '?'
		}
		return r
	}, s)
}

package lab

import (
	"errors"
	"fmt"

	"github.com/ops-worker/ops-worker/internal/labstation"
)

// Kinds of failure of a Lab. Every error a Lab method returns is an *Error
// whose Kind is exactly one of these, so callers (the use cases, the HTTP
// layer) branch with errors.Is(err, lab.ErrHostDown) and friends and never
// need the packages behind an implementation (winrm, wake, the relay).
//
// ErrHostDown and ErrWinRMClosed (diagnose.go) and ErrPolicy (policy.go)
// are kinds too.
var (
	// ErrUnreachable: the station could not be reached and no probe could
	// say more (no probe allowed, or it answered again by then).
	ErrUnreachable = errors.New("host not reachable")
	// ErrUnauthorized: the station refused the credentials, offers no
	// authentication the worker will use, or no Kerberos ticket was granted
	// for them.
	ErrUnauthorized = errors.New("station refused the credentials")
	// ErrAuthService: the authentication service (a Kerberos KDC) could not
	// be reached; the station itself was not tried.
	ErrAuthService = errors.New("authentication service unavailable")
	// ErrCertificate: the station's HTTPS certificate is not trusted.
	ErrCertificate = errors.New("station certificate not trusted")
	// ErrTimeout: the call ran out of time (the command's or the caller's).
	ErrTimeout = errors.New("timed out")
	// ErrCanceled: the caller gave up.
	ErrCanceled = errors.New("cancelled")
	// ErrArgument: a command, argument, path or address that cannot reach
	// the station as given, refused before anything was sent.
	ErrArgument = labstation.ErrArgument
	// ErrCommandNotAllowed: a command outside the allow list.
	ErrCommandNotAllowed = labstation.ErrCommandNotAllowed
	// ErrMACRequired: neither the request nor the host entry gives a MAC.
	ErrMACRequired = errors.New("mac is required")
	// ErrProtocol: the station answered something that is not usable WinRM
	// (malformed, unsealed where sealing is required, a fault).
	ErrProtocol = errors.New("station protocol error")
	// ErrRemote: the station ran the request but it failed or its data is
	// unusable (a heartbeat that cannot be read or parsed).
	ErrRemote = errors.New("station reported a failure")
	// ErrBusy: the station refuses more work for now (its shell or
	// operation quota is used up).
	ErrBusy = errors.New("station busy (WinRM quota exceeded)")
	// ErrConfig: the host entry or the worker's set-up cannot be used as it
	// is (an unreadable CA file, Kerberos without a realm, no waker).
	ErrConfig = errors.New("host configuration unusable")
	// ErrRelayUnreachable: the host is reached through a relay, and the
	// relay did not answer (connection refused, TLS failure, an answer
	// that is not the relay protocol). The station itself was not tried.
	ErrRelayUnreachable = errors.New("relay unreachable")
)

// Error is the error of every Lab method.
type Error struct {
	Op   string // "run command", "read heartbeat", "wake", "probe", ...
	Host string // the catalog name
	Kind error
	Err  error // the cause, never carrying a secret
}

func (e *Error) Error() string {
	if e.Err == nil || e.Err == e.Kind {
		return fmt.Sprintf("%s %s: %v", e.Op, e.Host, e.Kind)
	}
	return fmt.Sprintf("%s %s: %v", e.Op, e.Host, e.Err)
}

// Unwrap matches the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Kind is one kind of failure and its stable name (the relay wire's).
type Kind struct {
	Name string
	Err  error
}

// Kinds is the one ordered list of lab's kinds, the most specific first:
// an error that wraps two (a diagnosed host down also wraps the bare
// unreachable of the WinRM layer; a policy refusal may wrap an argument
// error) is of the first. KindOf walks it, and the relay wire's names are
// these. Adding a kind is one entry here (and its mapping in ops, which
// TestEveryLabKindHasACode keeps).
func Kinds() []Kind {
	return []Kind{
		{"relay_unreachable", ErrRelayUnreachable},
		{"policy", ErrPolicy},
		{"host_down", ErrHostDown},
		{"winrm_closed", ErrWinRMClosed},
		{"mac_required", ErrMACRequired},
		{"command_not_allowed", ErrCommandNotAllowed},
		{"argument", ErrArgument},
		{"remote", ErrRemote},
		{"unreachable", ErrUnreachable},
		{"unauthorized", ErrUnauthorized},
		{"auth_service", ErrAuthService},
		{"certificate", ErrCertificate},
		{"timeout", ErrTimeout},
		{"canceled", ErrCanceled},
		{"busy", ErrBusy},
		{"config", ErrConfig},
		{"protocol", ErrProtocol},
	}
}

// KindOf is err's kind: a *Error's Kind, else the first of Kinds that err
// wraps; false when it is none of them.
func KindOf(err error) (error, bool) {
	var le *Error
	if errors.As(err, &le) {
		return le.Kind, true
	}
	for _, k := range Kinds() {
		if errors.Is(err, k.Err) {
			return k.Err, true
		}
	}
	return nil, false
}

// KindName is the name of err's kind (KindOf), "" when it has none.
func KindName(err error) string {
	k, ok := KindOf(err)
	if !ok {
		return ""
	}
	for _, n := range Kinds() {
		if n.Err == k {
			return n.Name
		}
	}
	return ""
}

// KindNamed is the kind of that name, false when there is none.
func KindNamed(name string) (error, bool) {
	for _, k := range Kinds() {
		if k.Name == name {
			return k.Err, true
		}
	}
	return nil, false
}

// Why a station's WinRM port could not be reached, told apart by a probe
// after the failure. Direct wraps winrm.ErrUnreachable in both as well.
var (
	// ErrHostDown: no probe the host entry allows (ping and/or its WinRM
	// port) answered: the station is asleep, powered off or cut off.
	ErrHostDown = errors.New("host not answering (asleep, powered off or unreachable): wake it first")
	// ErrWinRMClosed: the station answers ping, but its WinRM port refuses
	// connections or ignores them: the WinRM service is stopped, a firewall
	// drops the port, or the port is wrong.
	ErrWinRMClosed = errors.New("host answers ping but its WinRM port does not accept connections (WinRM service stopped, port filtered or wrong port)")
)

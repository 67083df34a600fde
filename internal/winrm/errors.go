package winrm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
)

// Kinds of failure. Every error returned by Client wraps exactly one of them,
// so callers branch with errors.Is(err, winrm.ErrUnauthorized) and friends.
var (
	// ErrUnauthorized: the station refused the credentials (HTTP 401).
	ErrUnauthorized = errors.New("authentication failed (wrong user or password)")
	// ErrAuthMethod: the station did not offer the configured authentication
	// (for example no NTLM/Negotiate), and nothing weaker was tried.
	ErrAuthMethod = errors.New("authentication method not offered by the station")
	// ErrCertificate: the HTTPS certificate is not trusted by the configured CA
	// or does not match the host name.
	ErrCertificate = errors.New("station certificate not trusted")
	// ErrUnreachable: nothing answers on the WinRM port (connection refused,
	// host asleep or unreachable), or the connection dropped mid-call (the
	// station went to sleep or rebooted).
	ErrUnreachable = errors.New("station unreachable (connection refused or dropped, or host asleep)")
	// ErrTimeout: the operation or overall time limit ran out.
	ErrTimeout = errors.New("timed out")
	// ErrCanceled: the caller's context was cancelled.
	ErrCanceled = errors.New("cancelled")
	// ErrArgument: a command argument or path cannot reach the station
	// verbatim and was refused before anything was sent.
	ErrArgument = errors.New("argument refused")
	// ErrConfig: the target is unusable or would be insecure (for example
	// Basic authentication over plain HTTP, an unreadable CA file).
	ErrConfig = errors.New("invalid WinRM target")
	// ErrEncryption: NTLM message encryption over HTTP could not be set up
	// or the station answered unencrypted; nothing was sent in clear text.
	ErrEncryption = errors.New("NTLM message encryption failed")
	// ErrProtocol: the station answered something that is not valid WinRM
	// (HTTP error, SOAP fault, garbage, dropped connection).
	ErrProtocol = errors.New("WinRM protocol error")
	// ErrRemote: the remote script or command failed in a way that leaves no
	// usable output (for example the heartbeat file cannot be read).
	ErrRemote = errors.New("remote command failed")
	// ErrEventsUnreadable is the eventsErr of ReadHeartbeat when the events
	// log could not be read; the heartbeat itself is still returned.
	ErrEventsUnreadable = errors.New("events log unreadable")
)

// Error is the error type of every Client method. Kind is one of the Err*
// values above; Err is the underlying cause (never carrying a password).
type Error struct {
	Op   string // "run", "heartbeat", ...
	Host string // address:port
	Kind error
	Err  error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("winrm %s %s: %v", e.Op, e.Host, e.Kind)
	}
	return fmt.Sprintf("winrm %s %s: %v: %v", e.Op, e.Host, e.Kind, e.Err)
}

// Unwrap lets errors.Is match both the kind and the cause (for example
// context.Canceled or a *x509.UnknownAuthorityError).
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// statusError is a non-200 HTTP answer; the body may hold a WS-Management
// fault (see wsmanFault).
type statusError struct {
	Code int
	Body string
}

func (e *statusError) Error() string { return fmt.Sprintf("http error %d: %s", e.Code, e.Body) }

// codeOperationTimeout is the WSManFault code of w:TimedOut: the command did
// not finish (nor write output) within the request's OperationTimeout. It
// only means "still running: ask again".
const codeOperationTimeout = "2150858793"

// wsmanFault is what we read of a SOAP fault answer.
type wsmanFault struct {
	Subcode string // e.g. "w:TimedOut"
	Code    string // WSManFault Code, e.g. "2150858793"
	Message string
}

// parseFault reads the WS-Management fault of an HTTP error answer.
func parseFault(err error) (wsmanFault, bool) {
	var se *statusError
	if !errors.As(err, &se) {
		return wsmanFault{}, false
	}
	var env struct {
		Body struct {
			Fault *struct {
				Code struct {
					Subcode struct{ Value string }
				}
				Reason struct{ Text string }
				Detail struct {
					WSManFault struct {
						Code    string `xml:"Code,attr"`
						Message string
					}
				}
			}
		}
	}
	if xml.Unmarshal([]byte(se.Body), &env) != nil || env.Body.Fault == nil {
		return wsmanFault{}, false
	}
	f := env.Body.Fault
	msg := strings.TrimSpace(f.Detail.WSManFault.Message)
	if msg == "" {
		msg = strings.TrimSpace(f.Reason.Text)
	}
	return wsmanFault{Subcode: strings.TrimSpace(f.Code.Subcode.Value), Code: f.Detail.WSManFault.Code, Message: msg}, true
}

// isOperationTimeout reports whether err is the OperationTimeout fault
// (w:TimedOut, WSManFault code 2150858793) that ends a Receive while the
// command still runs.
func isOperationTimeout(err error) bool {
	f, ok := parseFault(err)
	if !ok {
		return false
	}
	_, sub, _ := strings.Cut(f.Subcode, ":")
	return f.Code == codeOperationTimeout || sub == "TimedOut" || f.Subcode == "TimedOut"
}

// faultError turns an HTTP error carrying a WS-Management fault into a
// short ErrProtocol naming the fault; other errors are returned as they are.
func faultError(err error) error {
	f, ok := parseFault(err)
	if !ok {
		return err
	}
	return &kindError{kind: ErrProtocol, msg: fmt.Sprintf("WS-Management fault %s (code %s): %s", f.Subcode, f.Code, f.Message)}
}

// kindError marks an error produced by our transport with its kind.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// errCommandTimeout is the cause set on the per-call deadline, so a
// deadline of ours (ErrTimeout) is told apart from the caller's.
var errCommandTimeout = errors.New("command time limit reached")

// classify maps a failure to its kind. ctx is the per-call context; parent
// is the caller's.
func classify(parent, ctx context.Context, err error) error {
	var ke *kindError
	switch {
	case parent.Err() != nil:
		if errors.Is(parent.Err(), context.DeadlineExceeded) {
			return ErrTimeout
		}
		return ErrCanceled
	case ctx.Err() != nil:
		return ErrTimeout
	case errors.As(err, &ke):
		return ke.kind
	case isCertError(err):
		return ErrCertificate
	case isUnreachable(err):
		return ErrUnreachable
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ErrTimeout
	}
	return ErrProtocol
}

func isCertError(err error) bool {
	var (
		ve  *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
		uap *x509.UnknownAuthorityError
	)
	return errors.As(err, &ve) || errors.As(err, &ua) || errors.As(err, &he) ||
		errors.As(err, &ci) || errors.As(err, &uap)
}

func isUnreachable(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTDOWN) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

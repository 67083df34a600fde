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
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"
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
	// ErrConfig: the target is unusable or would be insecure (for example
	// Basic authentication over plain HTTP, an unreadable CA file).
	ErrConfig = errors.New("invalid WinRM target")
	// ErrEncryption: NTLM message encryption over HTTP could not be set up
	// or the station answered unencrypted; nothing was sent in clear text.
	ErrEncryption = errors.New("NTLM message encryption failed")
	// ErrProtocol: the station answered something that is not valid WinRM
	// (HTTP error, SOAP fault, garbage, dropped connection).
	ErrProtocol = errors.New("WinRM protocol error")
	// ErrArgument: the command line cannot be sent as it is (it holds
	// "]]>", which would end the CDATA section masterzen writes it in);
	// nothing was sent.
	ErrArgument = errors.New("command line cannot be sent verbatim")
	// ErrQuota: the station refused the request under its WinRM quotas
	// (w:QuotaLimit: MaxShellsPerUser, 30 by default, or concurrent
	// operations). Its message says which; shells it holds for this user
	// close when deleted or after 2 idle hours. Retry later.
	ErrQuota = errors.New("station's WinRM quota exceeded")
)

// Error is the error type of every Client method. Kind is one of the Err*
// values above; Err is the underlying cause (never carrying a password).
type Error struct {
	Op   string // RunOptions.Op: "run", "powershell", "run status", ...
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

// statusError is a non-200 HTTP answer. Body is the whole answer (up to
// maxResponse). Its text is the SOAP fault's subcode, WSManFault code and
// message when the body holds one (else the body), bounded and escaped
// because it ends up in logs and API errors and the station chooses it; it
// keeps "OperationTimeout" for a w:TimedOut fault because masterzen's
// receive loop recognises that fault by string.
type statusError struct {
	Code int
	Body string
}

// maxErrorBody bounds the part of a station's answer shown in an error.
const maxErrorBody = 512

// operationTimeout is what masterzen's receive loop looks for in the error
// text (strings.Contains) to tell "no output yet, ask again" from a failure.
const operationTimeout = "OperationTimeout"

func (e *statusError) Error() string {
	var text string
	f, ok := parseFault(e.Body)
	if ok {
		text = escapeText(fmt.Sprintf("WS-Management fault %s %s (WSManFault code %s): %s",
			f.Code, f.Subcode, f.WSMan.Code, strings.TrimSpace(firstNonBlank(f.WSMan.Message, f.Reason))), maxErrorBody)
	} else {
		text = escapeText(e.Body, maxErrorBody)
	}
	// A Windows w:TimedOut fault names OperationTimeout late in a long
	// envelope, or not at all in its subcode: keep the word so masterzen
	// still polls again.
	timedOut := (ok && strings.HasSuffix(f.Subcode, ":TimedOut")) || strings.Contains(e.Body, operationTimeout)
	if timedOut && !strings.Contains(text, operationTimeout) {
		text += " (" + operationTimeout + ")"
	}
	return fmt.Sprintf("http error %d: %s", e.Code, text)
}

// soapFault is what a WS-Management fault says (names without namespaces:
// stations and clients vary the prefixes).
type soapFault struct {
	Code    string `xml:"Body>Fault>Code>Value"`
	Subcode string `xml:"Body>Fault>Code>Subcode>Value"`
	Reason  string `xml:"Body>Fault>Reason>Text"`
	WSMan   struct {
		Code    string `xml:"Code,attr"`
		Message string `xml:"Message"`
	} `xml:"Body>Fault>Detail>WSManFault"`
}

func parseFault(body string) (soapFault, bool) {
	var f soapFault
	if !strings.Contains(body, "Fault") || xml.Unmarshal([]byte(body), &f) != nil || (f.Subcode == "" && f.WSMan.Code == "") {
		return soapFault{}, false
	}
	return f, true
}

func firstNonBlank(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// isQuotaFault reports a w:QuotaLimit fault answer.
func isQuotaFault(err error) bool {
	var se *statusError
	if !errors.As(err, &se) {
		return false
	}
	f, ok := parseFault(se.Body)
	return ok && strings.HasSuffix(f.Subcode, ":QuotaLimit")
}

// escapeText returns at most max bytes of s (cut at a rune start, "..."
// added when cut) with control characters and invalid UTF-8 escaped, so a
// station's bytes cannot forge log lines or flood them.
func escapeText(s string, max int) string {
	cut := len(s) > max
	if cut {
		for max > 0 && !utf8.RuneStart(s[max]) {
			max--
		}
		s = s[:max]
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && strings.HasPrefix(s[i:], "\xef\xbf\xbd"):
			b.WriteRune(r) // a real U+FFFD
		case r == utf8.RuneError:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	if cut {
		b.WriteString("...")
	}
	return b.String()
}

// codeOperationTimeout is the WSManFault code of w:TimedOut: the command did
// not finish (nor write output) within the request's OperationTimeout. It
// only means "still running: ask again".
const codeOperationTimeout = "2150858793"

// statusFault reads the WS-Management fault of an HTTP error answer.
func statusFault(err error) (soapFault, bool) {
	var se *statusError
	if !errors.As(err, &se) {
		return soapFault{}, false
	}
	return parseFault(se.Body)
}

// isOperationTimeout reports whether err is the OperationTimeout fault
// (w:TimedOut, WSManFault code 2150858793) that ends a Receive while the
// command still runs.
func isOperationTimeout(err error) bool {
	f, ok := statusFault(err)
	if !ok {
		return false
	}
	_, sub, _ := strings.Cut(f.Subcode, ":")
	return f.WSMan.Code == codeOperationTimeout || sub == "TimedOut" || f.Subcode == "TimedOut"
}

// faultError turns an HTTP error carrying a WS-Management fault into a
// short error naming the fault (ErrQuota for w:QuotaLimit, else
// ErrProtocol), bounded and escaped; other errors are returned as they are.
func faultError(err error) error {
	f, ok := statusFault(err)
	if !ok {
		return err
	}
	kind := ErrProtocol
	if strings.HasSuffix(f.Subcode, ":QuotaLimit") {
		kind = ErrQuota
	}
	msg := fmt.Sprintf("WS-Management fault %s (code %s): %s", f.Subcode, f.WSMan.Code,
		strings.TrimSpace(firstNonBlank(f.WSMan.Message, f.Reason)))
	return &kindError{kind: kind, msg: escapeText(msg, maxErrorBody)}
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
	case isQuotaFault(err):
		return ErrQuota
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

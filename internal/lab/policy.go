package lab

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// ErrPolicy is wrapped by every *PolicyError: a per-request override that
// would weaken the host's WinRM policy.
var ErrPolicy = errors.New("override refused by the WinRM policy")

// PolicyError names the refused override. Its message holds no secret.
type PolicyError struct {
	Field  string // "transport", "use_ssl", "port", "user", "password"
	Reason string
}

func (e *PolicyError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Reason) }

// Unwrap makes errors.Is(err, ErrPolicy) true.
func (e *PolicyError) Unwrap() error { return ErrPolicy }

// Policy is what the configuration allows requests to change
// (OPS_WINRM_ALLOWED_TRANSPORTS, OPS_ALLOW_CREDENTIAL_OVERRIDE).
type Policy struct {
	// AllowedTransports, lower-case; empty means ntlm, kerberos, basic.
	AllowedTransports       []string
	AllowCredentialOverride bool
}

func (p Policy) transportAllowed(tr string) bool {
	allowed := p.AllowedTransports
	if len(allowed) == 0 {
		allowed = []string{winrm.TransportNTLM, winrm.TransportKerberos, winrm.TransportBasic}
	}
	return slices.Contains(allowed, tr)
}

// Target builds the WinRM target of h with the overrides of o applied, and
// refuses (a *PolicyError) any that would weaken the host's policy: an
// HTTPS -> HTTP downgrade, a transport outside the allowed list, Basic over
// plain HTTP, or a credential override when it is not allowed.
func (p Policy) Target(h hosts.Host, globalCAFile string, o CommandOptions) (winrm.Target, error) {
	t := winrm.TargetFromHost(h, globalCAFile)
	if t.Transport == "" {
		t.Transport = hosts.DefaultTransport
	}
	t.Transport = strings.ToLower(t.Transport)
	if !p.transportAllowed(t.Transport) {
		return winrm.Target{}, &PolicyError{Field: "transport", Reason: fmt.Sprintf("host transport %q is not in the allowed transports", t.Transport)}
	}
	if o.Transport != "" {
		tr := strings.ToLower(strings.TrimSpace(o.Transport))
		if !p.transportAllowed(tr) {
			return winrm.Target{}, &PolicyError{Field: "transport", Reason: fmt.Sprintf("transport %q is not allowed", o.Transport)}
		}
		t.Transport = tr
	}
	if o.UseSSL != nil && *o.UseSSL != t.UseSSL {
		if !*o.UseSSL {
			return winrm.Target{}, &PolicyError{Field: "use_ssl", Reason: "downgrade from HTTPS to HTTP is not allowed"}
		}
		// Upgrade to HTTPS: a port that was the HTTP default follows.
		t.UseSSL = true
		if t.Port == hosts.DefaultHTTPPort {
			t.Port = 0
		}
	}
	if o.Port != 0 {
		if o.Port < 1 || o.Port > 65535 {
			return winrm.Target{}, &PolicyError{Field: "port", Reason: fmt.Sprintf("port %d out of range", o.Port)}
		}
		t.Port = o.Port
	}
	if t.Transport == winrm.TransportBasic && !t.UseSSL {
		return winrm.Target{}, &PolicyError{Field: "transport", Reason: "basic authentication over plain HTTP is not allowed"}
	}
	if o.User != "" || o.Password != "" {
		if !p.AllowCredentialOverride {
			field := "user"
			if o.User == "" {
				field = "password"
			}
			return winrm.Target{}, &PolicyError{Field: field, Reason: "credential override is not allowed (OPS_ALLOW_CREDENTIAL_OVERRIDE=false)"}
		}
		if o.User != "" {
			t.User = o.User
		}
		t.Password = o.Password
	}
	return t, nil
}

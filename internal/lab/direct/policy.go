package direct

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// Policy is what the configuration allows requests to change
// (OPS_WINRM_ALLOWED_TRANSPORTS, OPS_ALLOW_CREDENTIAL_OVERRIDE).
//
// A request can never weaken a host: it cannot change the port (the
// catalog's port is the one the station's certificate and firewall rules
// are for), cannot go from HTTPS to HTTP, and can only keep or strengthen
// the transport (kerberos > ntlm > basic), within AllowedTransports.
type Policy struct {
	// AllowedTransports, case-insensitive. nil (the zero Policy) means
	// DefaultAllowedTransports: ntlm and kerberos, never basic, which sends
	// the password itself. A non-nil list allows exactly what it names, so
	// an empty or blank one allows nothing (config refuses one at start-up).
	AllowedTransports       []string
	AllowCredentialOverride bool
}

// DefaultAllowedTransports is what the zero Policy allows. It is
// deliberately stricter than the worker's configured default
// (OPS_WINRM_ALLOWED_TRANSPORTS: every transport, winrm.Transports, as
// API.md gives it): code that builds a Policy without the configuration
// gets no Basic.
var DefaultAllowedTransports = []string{winrm.TransportNTLM, winrm.TransportKerberos}

// transportStrength orders the transports by what an observer of the
// connection or of the station could learn: Basic sends the password,
// NTLM a challenge response, Kerberos a ticket.
var transportStrength = map[string]int{
	winrm.TransportBasic:    1,
	winrm.TransportNTLM:     2,
	winrm.TransportKerberos: 3,
}

func (p Policy) transportAllowed(tr string) bool {
	if p.AllowedTransports == nil {
		return slices.Contains(DefaultAllowedTransports, tr)
	}
	for _, a := range p.AllowedTransports {
		if strings.ToLower(strings.TrimSpace(a)) == tr {
			return true
		}
	}
	return false
}

// TargetFromHost builds the WinRM target of a catalog host, as it is:
// no override, no policy check (Policy.Target does both). A host's own CA
// file wins over globalCAFile (OPS_WINRM_CA_FILE).
func TargetFromHost(h hosts.Host, globalCAFile string) winrm.Target {
	t := winrm.Target{
		Name:               h.Name,
		Address:            h.Address,
		Port:               h.WinRMPort,
		UseSSL:             h.WinRMUseSSL,
		Transport:          h.WinRMTransport,
		User:               h.WinRMUser,
		Password:           h.WinRMPass,
		CAFile:             h.WinRMCAFile,
		InsecureSkipVerify: h.WinRMInsecureSkipVerify,
		TLSServerName:      h.WinRMTLSServerName,
	}
	if t.CAFile == "" {
		t.CAFile = globalCAFile
	}
	return t
}

// Target builds the WinRM target of h with the overrides of o applied, and
// refuses (a *lab.PolicyError) any that would weaken the host's policy: an
// HTTPS -> HTTP downgrade, a port other than the host's, a transport weaker
// than the host's or outside the allowed list, Basic over plain HTTP, or a
// credential override when it is not allowed. An HTTP -> HTTPS upgrade is
// allowed, and a host on the default HTTP port (5985) then uses the default
// HTTPS port (5986): that is the same listener pair, not a request's port.
func (p Policy) Target(h hosts.Host, globalCAFile string, o lab.CommandOptions) (winrm.Target, error) {
	t := TargetFromHost(h, globalCAFile)
	t.Transport = t.EffectiveTransport()
	if _, known := transportStrength[t.Transport]; !known || !p.transportAllowed(t.Transport) {
		return winrm.Target{}, &lab.PolicyError{Field: "transport", Reason: fmt.Sprintf("host transport %q is not in the allowed transports", t.Transport)}
	}
	if o.Transport != "" {
		tr := strings.ToLower(strings.TrimSpace(o.Transport))
		// The request's value is not echoed: only names we know are.
		strength, known := transportStrength[tr]
		switch {
		case !known:
			return winrm.Target{}, &lab.PolicyError{Field: "transport", Reason: "unknown transport (want kerberos, ntlm or basic)"}
		case strength < transportStrength[t.Transport]:
			return winrm.Target{}, &lab.PolicyError{Field: "transport", Reason: fmt.Sprintf("%s is weaker than the host's %s: a request may only keep or strengthen it (kerberos > ntlm > basic)", tr, t.Transport)}
		case !p.transportAllowed(tr):
			return winrm.Target{}, &lab.PolicyError{Field: "transport", Reason: fmt.Sprintf("transport %s is not allowed", tr)}
		}
		t.Transport = tr
	}
	if o.UseSSL != nil && *o.UseSSL != t.UseSSL {
		if !*o.UseSSL {
			return winrm.Target{}, &lab.PolicyError{Field: "use_ssl", Reason: "downgrade from HTTPS to HTTP is not allowed"}
		}
		// Upgrade to HTTPS: a port that was the HTTP default follows.
		t.UseSSL = true
		if t.Port == winrm.DefaultHTTPPort {
			t.Port = 0
		}
	}
	if o.Port != 0 && o.Port != t.EffectivePort() {
		// Any other port would send the credentials (NTLM over HTTP, say)
		// to whatever listens there.
		return winrm.Target{}, &lab.PolicyError{Field: "port", Reason: fmt.Sprintf("the port is the host's (%d) and cannot be overridden", t.EffectivePort())}
	}
	if t.Transport == winrm.TransportBasic && !t.UseSSL {
		return winrm.Target{}, &lab.PolicyError{Field: "transport", Reason: "basic authentication over plain HTTP is not allowed"}
	}
	if o.User != "" || o.Password != "" {
		if !p.AllowCredentialOverride {
			field := "user"
			if o.User == "" {
				field = "password"
			}
			return winrm.Target{}, &lab.PolicyError{Field: field, Reason: "credential override is not allowed (OPS_ALLOW_CREDENTIAL_OVERRIDE=false)"}
		}
		if o.User != "" {
			t.User = o.User
		}
		t.Password = o.Password
	}
	return t, nil
}

package winrm

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/ops-worker/ops-worker/internal/winrm/winrmspec"
)

// Transports a Target may name (their home is winrmspec, which the
// catalog validates with).
const (
	TransportNTLM     = winrmspec.TransportNTLM
	TransportBasic    = winrmspec.TransportBasic
	TransportKerberos = winrmspec.TransportKerberos
	// DefaultTransport is what an empty Target.Transport means.
	DefaultTransport = winrmspec.DefaultTransport
)

// Transports lists every transport a Target may name (the default of
// OPS_WINRM_ALLOWED_TRANSPORTS, in that order). Do not modify it.
var Transports = winrmspec.Transports()

// The WS-Management listener ports, what a zero Target.Port means.
const (
	DefaultHTTPSPort = winrmspec.DefaultHTTPSPort
	DefaultHTTPPort  = winrmspec.DefaultHTTPPort
)

// Target is one WinRM endpoint with its credentials and trust settings.
// String, GoString and LogValue never show the password, and it is not
// marshalled to JSON.
type Target struct {
	// Name is the catalog host name (lab sets it); calls in
	// flight are limited per Name, or per Address when Name is empty, so a
	// different port or spelling of the same station shares its limit.
	Name      string
	Address   string
	Port      int  // 0: 5986 with SSL, 5985 without
	UseSSL    bool // false only when the host entry asks for plain HTTP
	Transport string
	User      string
	Password  string `json:"-"`
	// CACertPEM is the CA bundle that signs the station's certificate; when
	// empty, CAFile is read; when both are empty the system roots are used.
	CACertPEM          []byte
	CAFile             string
	InsecureSkipVerify bool
	TLSServerName      string
}

// String names the endpoint for errors and logs; it never holds secrets.
func (t Target) String() string {
	return net.JoinHostPort(t.Address, strconv.Itoa(t.EffectivePort()))
}

// targetFields is Target without its methods, for GoString.
type targetFields Target

// GoString is %#v: every field, the password masked: "" stays "" (a
// missing password shows as missing), anything else is "[REDACTED]", as
// the host catalog prints it.
func (t Target) GoString() string {
	c := targetFields(t)
	if c.Password != "" {
		c.Password = "[REDACTED]"
	}
	return strings.Replace(fmt.Sprintf("%#v", c), "winrm.targetFields", "winrm.Target", 1)
}

// LogValue implements slog.LogValuer: the endpoint and who, not the secret.
func (t Target) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", t.Name),
		slog.String("endpoint", t.String()),
		slog.String("transport", t.EffectiveTransport()),
		slog.Bool("use_ssl", t.UseSSL),
		slog.String("user", t.User),
	)
}

// limitKey is what calls in flight are counted by: the host identity, not
// the address:port a request could vary.
func (t Target) limitKey() string {
	if t.Name != "" {
		return "name:" + strings.ToLower(t.Name)
	}
	return "addr:" + strings.ToLower(t.Address)
}

// EffectivePort is Port, or the default of the scheme when Port is 0.
func (t Target) EffectivePort() int {
	switch {
	case t.Port != 0:
		return t.Port
	case t.UseSSL:
		return DefaultHTTPSPort
	default:
		return DefaultHTTPPort
	}
}

// EffectiveTransport is Transport in lower case, or DefaultTransport when
// it is empty.
func (t Target) EffectiveTransport() string {
	if t.Transport == "" {
		return DefaultTransport
	}
	return strings.ToLower(t.Transport)
}

func (t Target) validate() error {
	if t.Address == "" {
		return fmt.Errorf("no address")
	}
	if strings.ContainsAny(t.Address, "/?#@ \t\r\n") {
		return fmt.Errorf("address %q is not a host name or IP address", t.Address)
	}
	if p := t.EffectivePort(); p < 1 || p > 65535 {
		return fmt.Errorf("port %d out of range", p)
	}
	switch t.EffectiveTransport() {
	case TransportNTLM:
	case TransportBasic:
		// Basic sends the password itself; over plain HTTP anyone on the path
		// would read it.
		if !t.UseSSL {
			return fmt.Errorf("basic authentication over plain HTTP is refused")
		}
	case TransportKerberos:
		if !t.UseSSL {
			return fmt.Errorf("kerberos over plain HTTP needs message encryption, which is not supported")
		}
	default:
		return fmt.Errorf("unknown transport %q", t.Transport)
	}
	if t.User == "" {
		return fmt.Errorf("no user")
	}
	return nil
}

// sessionKey scopes a target's TLS sessions in the Client's cache: a session
// is offered again only to the same station name, address, port and server
// name, under the same trust (CA bundle, skip-verify). On resumption
// crypto/tls checks the cached certificate's expiry and name but not its
// chain against the current roots, so a changed CA file must not find the
// old session. Credentials are not part of it: TLS sessions carry none, and
// NTLM still authenticates every new connection.
func (t Target) sessionKey(caPEM []byte) string {
	ca := sha256.Sum256(caPEM)
	return strings.Join([]string{
		strings.ToLower(t.Name), strings.ToLower(t.Address), strconv.Itoa(t.EffectivePort()),
		strings.ToLower(t.TLSServerName), hex.EncodeToString(ca[:]),
		strconv.FormatBool(t.InsecureSkipVerify),
	}, "\x00")
}

// sessionScope is the Client's TLS session cache seen by one target: its
// keys are prefixed with the target's sessionKey (crypto/tls keys by server
// name alone, which stations sharing an address or name would share).
type sessionScope struct {
	cache tls.ClientSessionCache
	scope string
}

func (s sessionScope) Get(key string) (*tls.ClientSessionState, bool) {
	return s.cache.Get(s.scope + "\x00" + key)
}

func (s sessionScope) Put(key string, cs *tls.ClientSessionState) {
	s.cache.Put(s.scope+"\x00"+key, cs)
}

// tlsSetup is an HTTPS target's TLS trust: trust is its sessionKey (which
// also scopes kept connections), and config builds the client
// configuration once, when a connection is dialled: a call on a kept
// connection parses no certificate.
type tlsSetup struct {
	trust  string
	config func() (*tls.Config, error)
}

// tlsSetup reads the target's CA bundle; with sessions, the handshakes of
// its configuration resume the target's earlier sessions (scoped by
// sessionKey over the CA bundle actually read).
func (t Target) tlsSetup(sessions tls.ClientSessionCache, cas *caFiles) (*tlsSetup, error) {
	pemBytes := t.CACertPEM
	if len(pemBytes) == 0 && t.CAFile != "" {
		b, err := cas.read(t.CAFile)
		if err != nil {
			return nil, err
		}
		pemBytes = b
	}
	if len(pemBytes) > 0 && !hasPEMCertificate(pemBytes) {
		return nil, fmt.Errorf("CA bundle %q holds no PEM certificate", t.CAFile)
	}
	trust := t.sessionKey(pemBytes)
	build := func() (*tls.Config, error) {
		cfg := &tls.Config{
			MinVersion:         tls.VersionTLS12,
			ServerName:         t.TLSServerName,
			InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // per-host opt-in, warned at load
		}
		if cfg.ServerName == "" {
			cfg.ServerName = t.Address
		}
		if len(pemBytes) > 0 {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pemBytes) {
				return nil, &kindError{kind: ErrConfig, msg: fmt.Sprintf("CA bundle %q holds no usable certificate", t.CAFile)}
			}
			cfg.RootCAs = pool
		}
		if sessions != nil {
			cfg.ClientSessionCache = sessionScope{sessions, trust}
		}
		return cfg, nil
	}
	return &tlsSetup{trust: trust, config: sync.OnceValues(build)}, nil
}

// hasPEMCertificate reports whether b holds a PEM CERTIFICATE block (the
// certificate itself is parsed when a connection is dialled).
func hasPEMCertificate(b []byte) bool {
	for len(b) > 0 {
		var block *pem.Block
		if block, b = pem.Decode(b); block == nil {
			return false
		}
		if block.Type == "CERTIFICATE" {
			return true
		}
	}
	return false
}

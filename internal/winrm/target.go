package winrm

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
)

// Transports a Target may name.
const (
	TransportNTLM     = "ntlm"
	TransportBasic    = "basic"
	TransportKerberos = "kerberos"
	// DefaultTransport is what an empty Target.Transport means.
	DefaultTransport = TransportNTLM
)

// Transports lists every transport a Target may name (the default of
// OPS_WINRM_ALLOWED_TRANSPORTS, in that order). Do not modify it.
var Transports = []string{TransportNTLM, TransportKerberos, TransportBasic}

// The WS-Management listener ports, what a zero Target.Port means.
const (
	DefaultHTTPSPort = 5986
	DefaultHTTPPort  = 5985
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

// tlsConfig is the client TLS configuration of an HTTPS target.
func (t Target) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.TLSServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // per-host opt-in, warned at load
	}
	if cfg.ServerName == "" {
		cfg.ServerName = t.Address
	}
	pemBytes := t.CACertPEM
	if len(pemBytes) == 0 && t.CAFile != "" {
		b, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pemBytes = b
	}
	if len(pemBytes) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("CA bundle %q holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

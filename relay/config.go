package relay

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ops-worker/ops-worker/internal/discovery"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab/direct"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/relayproto"
	"github.com/ops-worker/ops-worker/internal/wake"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// Config is the relay's own configuration (relay/cmd/ops-relay reads it
// from flags and RELAY_* variables).
type Config struct {
	Listen  string // host:port
	TLSCert string // PEM files; both empty: plain HTTP, loopback only
	TLSKey  string
	// Secrets are the accepted shared secrets (RELAY_SECRETS=new,old):
	// one, or two during a rotation.
	Secrets []string
	// HostsPath is the relay's own catalog (the hosts.json schema, WinRM
	// credentials included: they never leave the relay).
	HostsPath string
	// PowerPath is the relay's power controllers (RELAY_POWER_CONFIG, see
	// LoadPower), credentials included: they never leave the relay. ""
	// holds none.
	PowerPath string
	// Subnets are where magic packets may be sent.
	Subnets []netip.Prefix
	// Relays are the names this relay answers to (RELAY_ID): the hosts
	// of the URL the workers reach it by. A request signed for any other
	// is refused. nil: the DNS names and IP addresses of the TLS
	// certificate (wildcards aside), which are the names a worker can
	// reach it by; without TLS, localhost and loopback addresses.
	Relays []string
	// MaxConns caps the connections served at once (RELAY_MAX_CONNS); 0:
	// DefaultMaxConns. More wait to be accepted.
	MaxConns int

	WinRMCAFile      string
	WinRMTransports  []string // nil: every transport (winrm.Transports)
	AllowedCommands  []string // RELAY_ALLOWED_COMMANDS; nil: labstation.DefaultAllowList
	NoLocalMode      bool     // RELAY_LOCAL_MODE=false: refuse local-mode requests
	OperationTimeout time.Duration
	CommandTimeout   time.Duration
	HeartbeatStale   time.Duration
	ICMP             string // wake.Waker.ICMP: "" (auto) or "off"
	ReplayCacheSize  int
	InFlightPerHost  int
	// Discovery configures /v1/discover's probes (zero: discovery's
	// defaults); the subnets bound them.
	Discovery discovery.Config
}

// DefaultMaxConns is RELAY_MAX_CONNS's default: well above what the
// workers open (a batch per tick, two commands per station in flight),
// low enough that idle connections cannot exhaust the relay.
const DefaultMaxConns = 512

// Validate checks what can be checked without the network.
func (c Config) Validate() error {
	var errs []error
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("TLS: give both the certificate and the key, or neither"))
	}
	if c.TLSCert == "" && !loopbackAddr(c.Listen) {
		errs = append(errs, fmt.Errorf("listen address %q: plain HTTP is only allowed on a loopback address; give a TLS certificate and key", c.Listen))
	}
	if len(c.Secrets) == 0 || len(c.Secrets) > 2 {
		errs = append(errs, fmt.Errorf("RELAY_SECRETS: give one secret, or two (new,old) during a rotation; got %d", len(c.Secrets)))
	}
	for i, s := range c.Secrets {
		if len(s) < relayproto.MinSecretLen {
			errs = append(errs, fmt.Errorf("RELAY_SECRETS: secret %d is shorter than %d characters", i+1, relayproto.MinSecretLen))
		}
	}
	if c.HostsPath == "" {
		errs = append(errs, errors.New("host catalog path is required"))
	}
	if len(c.Subnets) == 0 {
		errs = append(errs, errors.New("RELAY_SUBNETS: give the subnets magic packets may go to (e.g. 10.1.2.0/24)"))
	}
	for _, id := range c.Relays {
		_, ipErr := netip.ParseAddr(id)
		if err := relayproto.CheckRelayID(id); err != nil || id != relayproto.RelayID(id) || strings.Contains(id, ":") && ipErr != nil {
			errs = append(errs, fmt.Errorf("RELAY_ID: %q is not a host name or IP address in lower case (the host of the relay's URL, without port)", id))
		}
	}
	if c.MaxConns < 0 {
		errs = append(errs, fmt.Errorf("RELAY_MAX_CONNS: %d is not a count", c.MaxConns))
	}
	if c.AllowedCommands != nil && len(c.AllowedCommands) == 0 {
		errs = append(errs, errors.New("RELAY_ALLOWED_COMMANDS: must name at least one command"))
	}
	for _, cmd := range c.AllowedCommands {
		if !slices.Contains(labstation.DefaultAllowList(), cmd) {
			errs = append(errs, fmt.Errorf("RELAY_ALLOWED_COMMANDS: %q is not a command of the Lab Station contract (%s)", cmd, labstation.DefaultAllowedCommands))
		}
	}
	return errors.Join(errs...)
}

// loopbackAddr says whether host:port names a loopback IP (or localhost).
func loopbackAddr(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// ParseSubnets parses a comma-separated list of prefixes (a bare address
// is its own /32 or /128).
func ParseSubnets(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("subnet %q: %w", f, err)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("subnet %q: %w", f, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// SplitList splits a comma-separated list (RELAY_SECRETS,
// RELAY_WINRM_TRANSPORTS), trimming and dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// New builds the relay: loads the catalog, builds direct.Direct the way the
// worker does in direct mode (internal/app), and the verifier. Close the
// returned WinRM client when done.
func New(c Config, logger *slog.Logger) (*Server, *winrm.Client, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	cat, warns, err := hosts.LoadFileWith(c.HostsPath, hosts.Options{})
	for _, w := range warns {
		logger.Warn("host catalog: "+w, "path", c.HostsPath)
	}
	if err != nil {
		return nil, nil, err
	}
	var pcs map[string]PowerController
	if c.PowerPath != "" {
		if pcs, err = LoadPower(c.PowerPath, nil, logger); err != nil {
			return nil, nil, err
		}
	}
	transports := c.WinRMTransports
	if transports == nil {
		transports = winrm.Transports
	}
	allowed := c.AllowedCommands
	if allowed == nil {
		allowed = labstation.DefaultAllowList()
	}
	client := winrm.New(winrm.Config{OperationTimeout: c.OperationTimeout, CommandTimeout: c.CommandTimeout, Logger: logger})
	d := &direct.Direct{
		WinRM:        client,
		Waker:        &wake.Waker{Logger: logger, ICMP: c.ICMP},
		GlobalCAFile: c.WinRMCAFile,
		// Credentials never travel, so no request may override them.
		Policy:          direct.Policy{AllowedTransports: append([]string{}, transports...)},
		AllowedCommands: allowed,
		StaleAfter:      c.HeartbeatStale,
	}
	relays := c.Relays
	if relays == nil && c.TLSCert != "" {
		if relays, err = certNames(c.TLSCert); err != nil {
			return nil, nil, err
		}
	}
	secrets := make([][]byte, len(c.Secrets))
	for i, s := range c.Secrets {
		secrets[i] = []byte(s)
	}
	s := &Server{
		Catalog:   cat,
		Lab:       d,
		Subnets:   append([]netip.Prefix(nil), c.Subnets...),
		Verifier:  &relayproto.Verifier{Secrets: secrets, Relays: relays, Replay: &relayproto.ReplayCache{Size: c.ReplayCacheSize}},
		InFlight:  c.InFlightPerHost,
		Discovery: c.Discovery,
		Power:     pcs,
		Logger:    logger,

		NoLocalMode: c.NoLocalMode,

		AllowedCommands: allowed,
	}
	return s, client, nil
}

// certNames are the names a TLS certificate is valid for, as relay
// identities: its DNS names (wildcards aside: one relay's name must not
// stand for another) and IP addresses.
func certNames(certFile string) ([]string, error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	block, rest := pem.Decode(data)
	for block != nil && block.Type != "CERTIFICATE" {
		block, rest = pem.Decode(rest)
	}
	if block == nil {
		return nil, fmt.Errorf("TLS certificate %s: no PEM certificate", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s: %w", certFile, err)
	}
	var names []string
	for _, n := range cert.DNSNames {
		if !strings.HasPrefix(n, "*") {
			names = append(names, relayproto.RelayID(n))
		}
	}
	for _, ip := range cert.IPAddresses {
		names = append(names, relayproto.RelayID(ip.String()))
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("RELAY_ID: the TLS certificate %s names no host but wildcards; set RELAY_ID to the host of the relay's URL", certFile)
	}
	return names, nil
}

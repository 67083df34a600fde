// Package drivers builds a power.Driver from a catalog controller: its
// driver name, address, config and the decrypted credential.
package drivers

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ops-worker/ops-worker/internal/power"
	"github.com/ops-worker/ops-worker/internal/power/apcsnmp"
	"github.com/ops-worker/ops-worker/internal/power/mock"
	"github.com/ops-worker/ops-worker/internal/power/netio"
)

// Driver names, as the catalog spells them.
const (
	APC   = apcsnmp.DriverName
	NETIO = netio.DriverName
	Mock  = mock.DriverName
)

// Config is the catalog's controller config (the same fields and JSON
// names as the catalog's; it never holds a secret). Zero values mean each
// driver's default.
// Config is a controller's catalog config (power.Config): one type, so
// the catalog and the drivers cannot drift apart.
type Config = power.Config

// Options are the deployment's, not a controller's.
type Options struct {
	// CAFile is the PEM bundle NETIO's HTTPS is verified against (the
	// system roots when empty).
	CAFile string
	// MockStateDir keeps each mock controller's state in
	// mock-<MockKey>.json there (mock-<host>-<port>.json without a key);
	// empty keeps it in memory.
	MockStateDir string
	// MockKey names a mock's state file: the controller's id, since mocks
	// have no address to tell them apart.
	MockKey string
	// MockOutlets is the mock strip's outlet count (mock.DefaultOutlets
	// when 0).
	MockOutlets int
	// Dial, when set, opens every connection to a device (the relay).
	Dial   func(ctx context.Context, network, address string) (net.Conn, error)
	Logger *slog.Logger
}

// New builds the driver named driver. credType and creds are the
// credential as credentials.Service.Power returns them (empty for a mock
// or a NETIO without authentication). Errors are *power.Error with
// CodeConfig; none shows a secret.
func New(driver, host string, port int, cfg Config, credType string, creds map[string]string, opts Options) (power.Driver, error) {
	if cfg.TimeoutSeconds < 0 || cfg.TimeoutSeconds > 60 {
		return nil, power.Errorf(power.CodeConfig, "timeoutSeconds %d is invalid (0..60)", cfg.TimeoutSeconds)
	}
	timeout := time.Duration(cfg.TimeoutSeconds) * time.Second
	switch driver {
	case APC:
		if v := strings.ToLower(strings.TrimSpace(cfg.SNMPVersion)); v != "" && !strings.EqualFold("snmp"+v, credType) {
			return nil, power.Errorf(power.CodeConfig, "snmpVersion %q does not match the credential's type %q", clip(v), clip(credType))
		}
		c := apcsnmp.Config{Host: host, Port: port, Profile: cfg.Profile, ModuleIndex: cfg.ModuleIndex,
			Timeout: timeout, Retries: cfg.Retries, Dial: opts.Dial, Logger: opts.Logger}
		return apcsnmp.New(c, apcsnmp.Credentials{Type: credType, Fields: creds})
	case NETIO:
		c := netio.Config{Host: host, Port: port, Path: cfg.Path, HTTPS: cfg.UseHTTPS, CAFile: opts.CAFile,
			InsecureSkipVerify: cfg.VerifyTLS != nil && !*cfg.VerifyTLS, Timeout: timeout, Retries: cfg.Retries,
			DialContext: opts.Dial, Logger: opts.Logger}
		if c.InsecureSkipVerify && c.HTTPS {
			logger(opts).Warn("power controller TLS certificate verification is disabled (verifyTls=false)", "driver", NETIO, "host", host, "port", port)
		}
		return netio.New(c, netio.Credentials{Type: credType, Fields: creds})
	case Mock:
		c := mock.Config{Outlets: opts.MockOutlets}
		switch {
		case opts.MockStateDir != "" && opts.MockKey != "":
			c.StatePath = filepath.Join(opts.MockStateDir, "mock-"+fileSafe(opts.MockKey)+".json")
		case opts.MockStateDir != "":
			c.StatePath = filepath.Join(opts.MockStateDir, "mock-"+fileSafe(host)+"-"+strconv.Itoa(port)+".json")
		}
		return mock.New(c)
	}
	return nil, power.Errorf(power.CodeConfig, "driver %q is unknown (want %s, %s or %s)", clip(driver), APC, NETIO, Mock)
}

func logger(o Options) *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

func clip(s string) string {
	if len(s) > 32 {
		s = s[:32]
	}
	return strings.ToValidUTF8(s, "?")
}

// fileSafe keeps a host name usable as part of a file name.
func fileSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			return r
		}
		return '_'
	}, s)
	if s == "" || strings.Trim(s, ".") == "" {
		s = "default"
	}
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

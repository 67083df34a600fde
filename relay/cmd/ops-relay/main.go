// Command ops-relay is the relay (DESIGN.md "The relay"): a small server
// for an always-on machine inside the lab subnet that wakes, probes and
// runs LabStation.exe on the hosts of its own catalog for workers that
// cannot reach the lab, on signed requests only. It runs on Linux (see
// relay/ops-relay.service) and Windows, where the Service Control Manager
// can run it as a service (service_windows.go; README).
//
// Configuration: flags, each defaulting to a RELAY_* variable (RELAY_ID,
// RELAY_ALLOWED_COMMANDS and RELAY_MAX_CONNS among them); the shared
// secrets only from RELAY_SECRETS (new,old during a rotation), never from
// the command line, where every local user could read them.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/netutil"

	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/winrm"
	"github.com/ops-worker/ops-worker/relay"
)

// Main is the program: ParseFlags, Run (returns once listening), Close.
type Main struct {
	Config    relay.Config
	LogFormat string // "json" or "text"

	// LogFile, when set, is where the log is appended (a Windows service
	// has no console); "": LogOutput.
	LogFile string

	// Getenv, when set, replaces os.Getenv (tests).
	Getenv    func(string) string
	LogOutput io.Writer // nil: os.Stderr

	logFile *os.File
	srv     *http.Server
	ln      net.Listener
	client  *winrm.Client
	done    chan error
}

func (m *Main) getenv(k string) string {
	if m.Getenv != nil {
		return m.Getenv(k)
	}
	return os.Getenv(k)
}

// ParseFlags reads the command line and the environment into m.
func (m *Main) ParseFlags(args []string) error {
	env := func(k, def string) string {
		if v := m.getenv(k); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("ops-relay", flag.ContinueOnError)
	c := &m.Config
	var subnets, transports, relays, commands, maxConns, localMode string
	fs.StringVar(&c.Listen, "listen", env("RELAY_LISTEN", "127.0.0.1:8740"), "listen on `host:port` (RELAY_LISTEN); plain HTTP only on loopback")
	fs.StringVar(&c.TLSCert, "tls-cert", env("RELAY_TLS_CERT", ""), "TLS certificate `file` (RELAY_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", env("RELAY_TLS_KEY", ""), "TLS key `file` (RELAY_TLS_KEY)")
	fs.StringVar(&c.HostsPath, "hosts", env("RELAY_HOSTS", "hosts.json"), "the relay's host catalog `file` (RELAY_HOSTS)")
	fs.StringVar(&c.PowerPath, "power", env("RELAY_POWER_CONFIG", ""), "the relay's power controllers `file`, credentials inline (RELAY_POWER_CONFIG); empty: none")
	fs.StringVar(&subnets, "subnets", env("RELAY_SUBNETS", ""), "comma-separated `prefixes` magic packets may go to (RELAY_SUBNETS)")
	fs.StringVar(&c.WinRMCAFile, "winrm-ca-file", env("RELAY_WINRM_CA_FILE", ""), "CA `file` for the stations' WinRM certificates (RELAY_WINRM_CA_FILE)")
	fs.StringVar(&transports, "winrm-transports", env("RELAY_WINRM_TRANSPORTS", strings.Join(winrm.Transports, ",")), "allowed WinRM transports (RELAY_WINRM_TRANSPORTS)")
	fs.StringVar(&relays, "id", env("RELAY_ID", ""), "comma-separated `names` the relay answers to: the host of its URL (RELAY_ID); default: the TLS certificate's names")
	fs.StringVar(&commands, "allowed-commands", env("RELAY_ALLOWED_COMMANDS", labstation.DefaultAllowedCommands), "comma-separated LabStation.exe `commands` the relay runs (RELAY_ALLOWED_COMMANDS)")
	fs.StringVar(&localMode, "local-mode", env("RELAY_LOCAL_MODE", "true"), "write and remove the stations' local-mode flags on request: true or false (RELAY_LOCAL_MODE)")
	fs.StringVar(&maxConns, "max-conns", env("RELAY_MAX_CONNS", strconv.Itoa(relay.DefaultMaxConns)), "most `connections` served at once (RELAY_MAX_CONNS)")
	fs.StringVar(&c.ICMP, "icmp", env("RELAY_ICMP", ""), `ICMP probes: "" (auto) or off (RELAY_ICMP)`)
	fs.StringVar(&m.LogFormat, "log-format", env("RELAY_LOG_FORMAT", "json"), "log format: json or text")
	fs.StringVar(&m.LogFile, "log-file", env("RELAY_LOG_FILE", ""), "append the log to `file` instead of stderr (RELAY_LOG_FILE; for a Windows service)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if c.Subnets, err = relay.ParseSubnets(subnets); err != nil {
		return fmt.Errorf("-subnets: %w", err)
	}
	c.WinRMTransports = relay.SplitList(transports)
	c.Relays = relay.SplitList(relays)
	c.AllowedCommands = relay.SplitList(commands)
	if c.AllowedCommands == nil {
		c.AllowedCommands = []string{} // set but empty: Validate refuses it
	}
	if c.MaxConns, err = strconv.Atoi(strings.TrimSpace(maxConns)); err != nil || c.MaxConns <= 0 {
		return fmt.Errorf("-max-conns (RELAY_MAX_CONNS): %q is not a positive number", maxConns)
	}
	switch strings.ToLower(strings.TrimSpace(localMode)) {
	case "true", "1", "yes":
	case "false", "0", "no":
		c.NoLocalMode = true
	default:
		return fmt.Errorf("-local-mode (RELAY_LOCAL_MODE): %q is not true or false", localMode)
	}
	c.Secrets = relay.SplitList(m.getenv("RELAY_SECRETS"))
	if m.LogFormat != "json" && m.LogFormat != "text" {
		return fmt.Errorf("-log-format must be json or text, got %q", m.LogFormat)
	}
	return c.Validate()
}

// Run builds the relay and serves in the background; it returns once the
// listener is open (Addr).
func (m *Main) Run(ctx context.Context) error {
	out := m.LogOutput
	if out == nil {
		out = os.Stderr
	}
	if m.LogFile != "" {
		f, err := os.OpenFile(m.LogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("log file: %w", err)
		}
		m.logFile, out = f, f
	}
	var h slog.Handler = slog.NewJSONHandler(out, nil)
	if m.LogFormat == "text" {
		h = slog.NewTextHandler(out, nil)
	}
	logger := slog.New(h)
	s, client, err := relay.New(m.Config, logger)
	if err != nil {
		return err
	}
	m.client = client
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", m.Config.Listen)
	if err != nil {
		return err
	}
	// Connections past the cap wait in the kernel's backlog to be
	// accepted: a flood of idle ones cannot hold every goroutine and file
	// of the relay (ReadHeaderTimeout frees a silent one after 10 s).
	ln = netutil.LimitListener(ln, cmp.Or(m.Config.MaxConns, relay.DefaultMaxConns))
	m.ln = ln
	m.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 32 << 10, ErrorLog: slog.NewLogLogger(h, slog.LevelWarn)}
	m.done = make(chan error, 1)
	tls := m.Config.TLSCert != ""
	go func() {
		if tls {
			m.done <- m.srv.ServeTLS(ln, m.Config.TLSCert, m.Config.TLSKey)
		} else {
			m.done <- m.srv.Serve(ln)
		}
	}()
	logger.Info("relay ready", "listen", ln.Addr().String(), "tls", tls, "hosts", s.Catalog.Len(), "power_controllers", len(s.Power),
		"subnets", fmt.Sprint(m.Config.Subnets), "secrets", len(m.Config.Secrets),
		"relay_id", cmp.Or(strings.Join(s.Verifier.Relays, ","), "localhost"), "max_conns", cmp.Or(m.Config.MaxConns, relay.DefaultMaxConns))
	return nil
}

// Addr is the listening address, once Run has returned.
func (m *Main) Addr() string { return m.ln.Addr().String() }

// Close stops serving (requests in flight get 30 s) and waits for the
// WinRM clean-ups.
func (m *Main) Close() error {
	var errs []error
	if m.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		errs = append(errs, m.srv.Shutdown(ctx))
		if err := <-m.done; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	if m.client != nil {
		errs = append(errs, m.client.Close())
	}
	if m.logFile != nil {
		errs = append(errs, m.logFile.Close())
	}
	return errors.Join(errs...)
}

func main() {
	m := &Main{}
	if err := m.ParseFlags(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "ops-relay:", err)
		os.Exit(2)
	}
	if isWindowsService() {
		if err := runService(m); err != nil {
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ops-relay:", err)
		os.Exit(1)
	}
	select {
	case <-ctx.Done():
	case err := <-m.done:
		fmt.Fprintln(os.Stderr, "ops-relay:", err)
		m.done <- err // for Close
	}
	if err := m.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "ops-relay:", err)
		os.Exit(1)
	}
}

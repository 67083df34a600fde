// Command labsim runs simulated Lab Stations (see internal/labsim) until
// SIGINT or SIGTERM, and prints the CA file and a ready hosts.json.
//
// With -base-port and -ca-dir the ports and the CA stay the same from one
// run to the next, so the hosts.json printed once keeps working:
//
//	labsim -hosts 3 -base-port 45000 -ca-dir ~/.labsim -out hosts.json
//
// Host i (0-based) then takes HTTPS base+3i, HTTP base+3i+1 and the UDP
// wake port base+3i+2. With -health-base-port H, host i's Lab Station
// health endpoint (plain HTTP, GET /labstation/health) takes H+i; without
// it, an ephemeral port. The health URLs are printed before hosts.json.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
)

// Main is the program: parse flags into it, Run, then Close.
type Main struct {
	Hosts     int
	Latency   time.Duration
	BootDelay time.Duration
	Asleep    bool
	// AsleepHosts start asleep too, by name (lab-ws-02,...).
	AsleepHosts []string
	// UnlistedHosts run but are left out of hosts.json: provisioning
	// candidates, which the worker learns of from Guacamole.
	UnlistedHosts []string
	Out           string // hosts.json path; "" = stdout only
	BasePort      int    // 0: ephemeral ports; else host i uses BasePort+3i .. +3i+2
	CADir         string // "": a fresh CA removed on exit; else kept there
	// HealthBasePort: 0: ephemeral health ports; else host i's is
	// HealthBasePort+i (a range of its own, so -base-port's layout stays).
	HealthBasePort int

	// Windows behaviours, on by default (see labsim.HostOptions): each can
	// be relaxed for a benchmark.
	SleepMode   string        // "blackhole" (default) or "refuse"
	MaxShells   int           // 0: 30; -1: no limit
	IdleTimeout time.Duration // 0: 2h; negative: never
	MaxEnvelope int           // bytes; 0: 512000; -1: no limit
	CodePage    int           // OEM code page: 0: 437; 850; 65001: no conversion

	Stdout io.Writer
	Logger *slog.Logger

	sim *labsim.Sim
}

// ParseFlags reads the command line into m.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("labsim", flag.ContinueOnError)
	fs.IntVar(&m.Hosts, "hosts", 1, "number of simulated hosts")
	fs.DurationVar(&m.Latency, "latency", 0, "latency added to every WinRM request")
	fs.DurationVar(&m.BootDelay, "boot-delay", 2*time.Second, "time from a magic packet to WinRM answering")
	fs.BoolVar(&m.Asleep, "asleep", false, "start every host asleep")
	fs.Func("asleep-hosts", "start these hosts asleep: `names`, comma-separated (lab-ws-02,lab-ws-03)", func(v string) error {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				m.AsleepHosts = append(m.AsleepHosts, n)
			}
		}
		return nil
	})
	fs.Func("unlisted-hosts", "run these hosts but leave them out of hosts.json (provisioning candidates): `names`, comma-separated", func(v string) error {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				m.UnlistedHosts = append(m.UnlistedHosts, n)
			}
		}
		return nil
	})
	fs.StringVar(&m.Out, "out", "", "write hosts.json to this path")
	fs.IntVar(&m.BasePort, "base-port", 0, "first of fixed ports: host i (0-based) gets HTTPS `N`+3i, HTTP N+3i+1, wake UDP N+3i+2 (0: ephemeral)")
	fs.IntVar(&m.HealthBasePort, "health-base-port", 0, "first of fixed Lab Station health endpoint ports: host i (0-based) gets `N`+i (0: ephemeral)")
	fs.StringVar(&m.CADir, "ca-dir", "", "load the CA from `DIR` (labsim-ca.pem, labsim-ca-key.pem), or create it there, and keep it on exit")
	fs.StringVar(&m.SleepMode, "sleep", string(labsim.SleepBlackhole), "how a sleeping host's WinRM ports answer a dial: `blackhole` (no answer until the dial timeout, as Windows) or refuse")
	fs.IntVar(&m.MaxShells, "max-shells", 0, "MaxShellsPerUser: `N` shells per user (0: Windows' 30, -1: no limit)")
	fs.DurationVar(&m.IdleTimeout, "idle-timeout", 0, "close a shell idle this long (0: Windows' 2h, negative: never)")
	fs.IntVar(&m.MaxEnvelope, "max-envelope", 0, "MaxEnvelopeSize in `bytes` for requests (0: Windows' 512000, -1: no limit)")
	fs.IntVar(&m.CodePage, "codepage", 0, "OEM code page of shells that do not ask for UTF-8: 437 (0), 850, or 65001 for no conversion")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: labsim [flags]\n\n"+
			"Runs simulated Lab Stations on 127.0.0.1 until interrupted and prints the CA\n"+
			"file and a ready hosts.json. Use -base-port and -ca-dir to keep that\n"+
			"hosts.json valid across restarts.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if m.Hosts < 1 || m.Hosts > 5000 {
		return fmt.Errorf("-hosts must be 1..5000, got %d", m.Hosts)
	}
	if m.SleepMode != string(labsim.SleepBlackhole) && m.SleepMode != string(labsim.SleepRefuse) {
		return fmt.Errorf("-sleep must be blackhole or refuse, got %q", m.SleepMode)
	}
	if m.CodePage != 0 && m.CodePage != 437 && m.CodePage != 850 && m.CodePage != 65001 {
		return fmt.Errorf("-codepage must be 437, 850 or 65001, got %d", m.CodePage)
	}
	if m.BasePort != 0 {
		if last := m.BasePort + 3*m.Hosts - 1; m.BasePort < 1024 || last > 65535 {
			return fmt.Errorf("-base-port %d with %d hosts needs ports %d..%d, want within 1024..65535", m.BasePort, m.Hosts, m.BasePort, last)
		}
	}
	if m.HealthBasePort != 0 {
		first, last := m.HealthBasePort, m.HealthBasePort+m.Hosts-1
		if first < 1024 || last > 65535 {
			return fmt.Errorf("-health-base-port %d with %d hosts needs ports %d..%d, want within 1024..65535", first, m.Hosts, first, last)
		}
		if m.BasePort != 0 && first <= m.BasePort+3*m.Hosts-1 && last >= m.BasePort {
			return fmt.Errorf("-health-base-port %d..%d overlaps -base-port's %d..%d", first, last, m.BasePort, m.BasePort+3*m.Hosts-1)
		}
	}
	return nil
}

// Run starts the hosts, writes hosts.json and blocks until ctx ends.
func (m *Main) Run(ctx context.Context) error {
	if m.Stdout == nil {
		m.Stdout = os.Stdout
	}
	if m.Logger == nil {
		m.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	opts := labsim.Options{Logger: m.Logger, CADir: m.CADir}
	for flagName, names := range map[string][]string{"-asleep-hosts": m.AsleepHosts, "-unlisted-hosts": m.UnlistedHosts} {
		for _, n := range names {
			var i int
			if _, err := fmt.Sscanf(n, "lab-ws-%d", &i); err != nil || i < 1 || i > m.Hosts || n != fmt.Sprintf("lab-ws-%02d", i) {
				return fmt.Errorf("%s: no host %q among lab-ws-01..lab-ws-%02d", flagName, n, m.Hosts)
			}
		}
	}
	for i := 0; i < m.Hosts; i++ {
		name := fmt.Sprintf("lab-ws-%02d", i+1) // labsim's default name
		ho := labsim.HostOptions{Name: name, Latency: m.Latency, BootDelay: m.BootDelay,
			Asleep:    m.Asleep || slices.Contains(m.AsleepHosts, name),
			SleepMode: labsim.SleepMode(m.SleepMode), MaxShellsPerUser: m.MaxShells, IdleTimeout: m.IdleTimeout,
			MaxEnvelopeSize: m.MaxEnvelope, OEMCodePage: m.CodePage}
		if m.BasePort != 0 {
			p := m.BasePort + 3*i
			ho.HTTPSPort, ho.HTTPPort, ho.WakePort = p, p+1, p+2
		}
		if m.HealthBasePort != 0 {
			ho.HealthPort = m.HealthBasePort + i
		}
		opts.Hosts = append(opts.Hosts, ho)
	}
	sim, err := labsim.Start(ctx, opts)
	if err != nil {
		return err // already "labsim: host ...: HTTPS port N: ..."
	}
	m.sim = sim
	doc, err := sim.HostsJSON()
	if err != nil {
		return err
	}
	if doc, err = unlist(doc, m.UnlistedHosts); err != nil {
		return err
	}
	if m.Out != "" {
		if err := os.WriteFile(m.Out, doc, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", m.Out, err)
		}
	}
	fmt.Fprintf(m.Stdout, "CA file: %s\n", sim.CAFile())
	if m.Out != "" {
		fmt.Fprintf(m.Stdout, "hosts.json: %s\n", m.Out)
	}
	for _, h := range sim.Hosts() {
		fmt.Fprintf(m.Stdout, "Lab Station health: %s http://127.0.0.1:%d/labstation/health\n", h.Name(), h.HealthPort())
	}
	fmt.Fprintf(m.Stdout, "%s", doc)
	m.Logger.Info("labsim running", "hosts", m.Hosts, "ca_file", sim.CAFile())
	<-ctx.Done()
	return nil
}

// Close stops every simulated host.
func (m *Main) Close() error {
	if m.sim == nil {
		return nil
	}
	return m.sim.Close()
}

func main() {
	m := &Main{}
	if err := m.ParseFlags(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "labsim:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := m.Run(ctx)
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "labsim:", err)
		os.Exit(1)
	}
}

// unlist drops the named hosts from a hosts.json document.
func unlist(doc []byte, names []string) ([]byte, error) {
	if len(names) == 0 {
		return doc, nil
	}
	var cat struct {
		Hosts []map[string]any `json:"hosts"`
	}
	if err := json.Unmarshal(doc, &cat); err != nil {
		return nil, fmt.Errorf("hosts.json: %w", err)
	}
	cat.Hosts = slices.DeleteFunc(cat.Hosts, func(h map[string]any) bool { return slices.Contains(names, fmt.Sprint(h["name"])) })
	out, err := json.MarshalIndent(cat, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("hosts.json: %w", err)
	}
	return append(out, '\n'), nil
}

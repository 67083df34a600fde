package labsim

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Options configures a simulator with one or more hosts.
type Options struct {
	Hosts  []HostOptions
	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now

	// CADir, when set, keeps the CA across runs: its certificate and key
	// are loaded from CADir/labsim-ca.pem and CADir/labsim-ca-key.pem when
	// both exist and form a valid CA, else made and written there (the key
	// 0600). Close leaves them. Empty: a new CA in a temporary directory
	// that Close removes.
	CADir string
}

// HostOptions configures one simulated Lab Station. Zero values get defaults.
type HostOptions struct {
	Name           string        // default "lab-ws-NN" (1-based index)
	User, Password string        // default "LabGatewaySvc" / "labsim-password"
	MAC            string        // default 02:00:00 then the 1-based index in 3 bytes (02:00:00:00:00:01)
	Asleep         bool          // start asleep
	BootDelay      time.Duration // after a matching magic packet (and for reboots)
	// PowerOffDelay is how long a power shutdown/hibernate takes to put
	// the host to sleep after the command returned (Windows takes seconds;
	// the host answers meanwhile): at least this, or the command's
	// --delay if longer. 0 means 300 ms, the least.
	PowerOffDelay     time.Duration
	Latency           time.Duration // added to every WinRM HTTP request
	HeartbeatInterval time.Duration // heartbeat.json rewrite period (default 60s)
	// TimeScale scales how long LabStation.exe commands run: the session
	// guard waits its grace period times TimeScale before evicting a local
	// user (0.01 makes 90 s take 0.9 s). 0 means 1, real Windows timing.
	TimeScale float64

	// LocalUser, when set, is a local user signed in at the console
	// (e.g. "student"): prepare-session and the session guard evict it.
	LocalUser string
	// ProfileMissing makes prepare-session/release-session finish with
	// warnings (exit 1): the lab user's profile folder is missing.
	ProfileMissing bool
	// AllowUnencrypted accepts unencrypted SOAP (Basic or NTLM) on the plain
	// HTTP listener, like a Windows listener with AllowUnencrypted=true.
	// The default refuses it: plain HTTP then needs NTLM message encryption.
	AllowUnencrypted bool
	// Kerberos, when set, also accepts SPNEGO/Kerberos for User@Realm
	// (see KerberosOptions); nil: NTLM and Basic only.
	Kerberos *KerberosOptions

	// SleepMode is what a client dialling a WinRM port of the sleeping host
	// sees: SleepBlackhole (the default, as a sleeping or powered-off
	// Windows host: no answer to the SYN, the dial waits for its timeout)
	// or SleepRefuse (connection refused at once, faster for benchmarks).
	SleepMode SleepMode
	// MaxShellsPerUser is WinRM's MaxShellsPerUser: 0 means Windows'
	// default, 30; negative means no limit. Create beyond it gets the
	// w:QuotaLimit fault (2150859173).
	MaxShellsPerUser int
	// IdleTimeout closes a shell that has seen no request for that long
	// (WinRM's Winrs IdleTimeout): 0 means Windows' default, 2 h;
	// negative means never. Later requests on it get the unknown-shell
	// fault.
	IdleTimeout time.Duration
	// KeepAliveTimeout closes an HTTP connection idle for that long
	// (HTTP.sys's IdleConnectionTimeout): 0 means Windows' default, 120 s;
	// negative means never.
	KeepAliveTimeout time.Duration
	// MaxEnvelopeSize is WinRM's MaxEnvelopeSizekb in bytes: 0 means
	// Windows' default, 512000 (500 KB); negative means no limit. A larger
	// request gets the w:EncodingLimit fault.
	MaxEnvelopeSize int
	// OEMCodePage encodes the output of a shell whose Create did not ask
	// for WINRS_CODEPAGE 65001: 0 means 437 (the US OEM code page), 850 is
	// the Western European one, 65001 turns the conversion off (output is
	// UTF-8 whatever the shell asked).
	OEMCodePage int
	// LabStationExe is where LabStation.exe is installed: default
	// C:\LabStation\LabStation.exe. Any other path is a program that does
	// not exist (cmd.exe's exit 9009).
	LabStationExe string
	// AllowBasic enables Basic authentication (off by default, as on
	// Windows); like Windows it still needs HTTPS or AllowUnencrypted.
	AllowBasic bool
	// CBT is the NTLM channel-binding check on HTTPS; the zero value is
	// CBTStrict (a hardened station's CbtHardeningLevel).
	CBT CBTMode

	// Fixed ports on 127.0.0.1 (0: ephemeral). They stay the same across
	// sleep and wake either way; fixed ones also survive a restart.
	HTTPSPort, HTTPPort, WakePort int
	// HealthPort is the Lab Station health endpoint's (plain HTTP, as on
	// the LAN); 0: ephemeral.
	HealthPort int
}

// SleepMode is how a sleeping host's WinRM ports answer a dial.
type SleepMode string

// Sleep modes of HostOptions.SleepMode.
const (
	// SleepBlackhole drops the SYN: the dial waits until its timeout, as
	// with a real sleeping host. The default.
	SleepBlackhole SleepMode = "blackhole"
	// SleepRefuse answers the SYN with a reset: connection refused at once.
	SleepRefuse SleepMode = "refuse"
)

// Windows' defaults that HostOptions' zero values stand for.
const (
	DefaultMaxShellsPerUser = 30
	DefaultIdleTimeout      = 2 * time.Hour
	DefaultKeepAliveTimeout = 120 * time.Second
	DefaultMaxEnvelopeSize  = 512000
	DefaultOEMCodePage      = 437
	DefaultLabStationExe    = `C:\LabStation\LabStation.exe`
)

// Default credentials of a simulated host.
const (
	DefaultUser     = "LabGatewaySvc"
	DefaultPassword = "labsim-password"
)

// Sim is a running simulator. Close stops every listener and goroutine.
type Sim struct {
	log   *slog.Logger
	now   func() time.Time
	dir   string // the temporary directory Close removes; "" with CADir
	caDir string
	caPEM []byte
	tls   *tls.Config

	hosts  []*Host
	byName map[string]*Host

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// Start creates or loads the CA, then the hosts and their listeners (all on
// 127.0.0.1, on HostOptions' ports or ephemeral ones). The context bounds
// start-up only; Close stops the sim.
func Start(ctx context.Context, opts Options) (*Sim, error) {
	if len(opts.Hosts) == 0 {
		return nil, errors.New("labsim: no hosts")
	}
	s := &Sim{
		log:    opts.Logger,
		now:    opts.Now,
		caDir:  opts.CADir,
		byName: make(map[string]*Host, len(opts.Hosts)),
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.setupCA(); err != nil {
		return nil, fmt.Errorf("labsim: %w", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())

	for i, ho := range opts.Hosts {
		if err := ctx.Err(); err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("labsim: start: %w", err)
		}
		h, err := newHost(s, i, ho)
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("labsim: %w", err) // names the host
		}
		key := strings.ToLower(h.name)
		if _, dup := s.byName[key]; dup {
			_ = h.shutdown() // not in s.hosts yet
			_ = s.Close()
			return nil, fmt.Errorf("labsim: duplicate host name %q", h.name)
		}
		s.byName[key] = h
		s.hosts = append(s.hosts, h)
	}
	return s, nil
}

// Close stops every listener, timer and request in flight and removes the
// temporary directory. It is safe to call more than once.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		var errs []error
		for _, h := range s.hosts {
			if err := h.shutdown(); err != nil {
				errs = append(errs, err)
			}
		}
		s.wg.Wait()
		if s.dir != "" {
			if err := os.RemoveAll(s.dir); err != nil {
				errs = append(errs, err)
			}
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// setupCA loads or makes the CA and the hosts' server certificate, and
// writes the CA file.
func (s *Sim) setupCA() error {
	now := time.Now() // real time: clients check certificates against it
	var c *ca
	if s.caDir != "" {
		var loaded bool
		var err error
		if c, loaded, err = loadOrCreateCA(s.caDir, now, s.log); err != nil {
			return fmt.Errorf("CA in %s: %w", s.caDir, err)
		}
		s.log.Info("labsim CA", "file", s.CAFile(), "loaded", loaded)
	} else {
		dir, err := os.MkdirTemp("", "labsim-")
		if err != nil {
			return fmt.Errorf("temp dir: %w", err)
		}
		s.dir = dir
		if c, err = newCA(now); err == nil {
			err = os.WriteFile(s.CAFile(), c.certPEM, 0o600)
		}
		if err != nil {
			_ = os.RemoveAll(dir)
			return fmt.Errorf("CA file: %w", err)
		}
	}
	cfg, err := c.serverTLS(now)
	if err != nil {
		if s.dir != "" {
			_ = os.RemoveAll(s.dir)
		}
		return err
	}
	s.caPEM, s.tls = c.certPEM, cfg
	return nil
}

// CAFile is the path of the CA certificate (PEM) that signed every host's
// HTTPS certificate: in Options.CADir, kept, or else in a temporary
// directory that Close removes.
func (s *Sim) CAFile() string {
	if s.caDir != "" {
		return filepath.Join(s.caDir, caCertFile)
	}
	return filepath.Join(s.dir, caCertFile)
}

// CACertPEM returns the CA certificate in PEM form.
func (s *Sim) CACertPEM() []byte { return append([]byte(nil), s.caPEM...) }

// Host returns the host with this name (case-insensitive), or nil.
func (s *Sim) Host(name string) *Host { return s.byName[strings.ToLower(name)] }

// Hosts returns every host in the order of Options.Hosts.
func (s *Sim) Hosts() []*Host { return append([]*Host(nil), s.hosts...) }

// hostsJSONEntry follows API.md "hosts.json".
type hostsJSONEntry struct {
	Name           string   `json:"name"`
	Address        string   `json:"address"`
	MAC            string   `json:"mac"`
	WinRMUser      string   `json:"winrm_user"`
	WinRMPass      string   `json:"winrm_pass"`
	WinRMTransport string   `json:"winrm_transport"`
	WinRMPort      int      `json:"winrm_port"`
	WinRMUseSSL    bool     `json:"winrm_use_ssl"`
	WinRMCAFile    string   `json:"winrm_ca_file"`
	HeartbeatPath  string   `json:"heartbeat_path"`
	EventsPath     string   `json:"events_path"`
	Broadcast      string   `json:"broadcast"`
	WOLPort        int      `json:"wol_port"`
	WakeCheck      string   `json:"wake_check"`
	Labs           []string `json:"labs"`
}

// HostsJSON returns a ready hosts.json for these hosts: HTTPS with NTLM,
// the CA file, loopback broadcast and wake port, credentials inline, and
// lab "1" for the first host, "2" for the second, and so on.
func (s *Sim) HostsJSON() ([]byte, error) {
	doc := struct {
		Hosts []hostsJSONEntry `json:"hosts"`
	}{}
	for i, h := range s.hosts {
		doc.Hosts = append(doc.Hosts, hostsJSONEntry{
			Name: h.name, Address: "127.0.0.1", MAC: h.mac,
			WinRMUser: h.user, WinRMPass: h.password, WinRMTransport: "ntlm",
			WinRMPort: h.httpsPort, WinRMUseSSL: true, WinRMCAFile: s.CAFile(),
			HeartbeatPath: HeartbeatPath, EventsPath: EventsPath,
			Broadcast: "127.0.0.1", WOLPort: h.wakePort, WakeCheck: "tcp",
			Labs: []string{fmt.Sprint(i + 1)},
		})
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("labsim: hosts.json: %w", err)
	}
	return append(b, '\n'), nil
}

// WriteHostsJSON writes HostsJSON to path (mode 0600: it holds the
// stations' passwords).
func (s *Sim) WriteHostsJSON(path string) error {
	doc, err := s.HostsJSON()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		return fmt.Errorf("labsim: write %s: %w", path, err)
	}
	return nil
}

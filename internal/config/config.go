// Package config reads every environment knob of the worker, with the
// defaults of API.md, and refuses invalid values with a message that names
// the variable.
package config

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// Config is the whole environment of a worker process. Interval-like values
// are whole seconds, as the older worker had them; the methods below give
// them as durations.
type Config struct {
	Bind string `env:"OPS_BIND, default=0.0.0.0"`
	Port int    `env:"OPS_PORT, default=8081"`
	// HostsPath is the file catalog; hosts.NoFile ("none") means no file:
	// every host comes from the database catalog (ops_catalog_hosts), which
	// then needs MYSQL_DSN (or the local server's embedded database).
	HostsPath  string `env:"OPS_CONFIG, default=hosts.json"`
	MySQLDSN   string `env:"MYSQL_DSN" json:"-"` // secret: see GoString
	LogLevel   string `env:"OPS_LOG_LEVEL, default=INFO"`
	PollEnable bool   `env:"OPS_POLL_ENABLED, default=false"`

	PollIntervalSec int `env:"OPS_POLL_INTERVAL, default=60"`
	PollConcurrency int `env:"OPS_POLL_CONCURRENCY, default=32"`

	ReservationAutomation bool `env:"OPS_RESERVATION_AUTOMATION, default=false"`
	ScanIntervalSec       int  `env:"OPS_RESERVATION_SCAN_INTERVAL, default=30"`
	StartLeadSec          int  `env:"OPS_RESERVATION_START_LEAD, default=120"`
	EndDelaySec           int  `env:"OPS_RESERVATION_END_DELAY, default=60"`
	LookbackSec           int  `env:"OPS_RESERVATION_LOOKBACK, default=21600"`
	RetryCooldownSec      int  `env:"OPS_RESERVATION_RETRY_COOLDOWN, default=60"`
	MaxBatch              int  `env:"OPS_RESERVATION_MAX_BATCH, default=200"`
	// ReservationEndPower is the reservation tick's power step after the
	// release: shutdown (the default, scheduler.DefaultEndPower: an idle
	// station sleeps until the next booking's wake), hibernate, or none.
	ReservationEndPower string `env:"OPS_RESERVATION_END_POWER, default=shutdown"`
	// PowerOffWaitSec bounds the tick's end flow's wait for the station to
	// stop answering after its power step (scheduler.DefaultPowerOffWait);
	// 0: no wait.
	PowerOffWaitSec int `env:"OPS_RESERVATION_POWER_OFF_WAIT, default=120"`

	// The defaults below are literals (envconfig tags); each equals its
	// home, which TestLoad_Defaults checks: winrm's
	// DefaultOperationTimeout, DefaultReadTimeout, DefaultCommandTimeout
	// and Transports, and lab.DefaultStaleAfter. OPS_ALLOWED_COMMANDS has
	// no tag default: it is labstation.DefaultAllowedCommands itself (see
	// codeDefaults).
	WinRMOperationTimeoutSec int      `env:"OPS_WINRM_OPERATION_TIMEOUT, default=20"`
	WinRMReadTimeoutSec      int      `env:"OPS_WINRM_READ_TIMEOUT, default=30"`
	WinRMCommandTimeoutSec   int      `env:"OPS_WINRM_COMMAND_TIMEOUT, default=300"`
	WinRMAllowedTransports   []string `env:"OPS_WINRM_ALLOWED_TRANSPORTS, default=ntlm,kerberos,basic"`
	// WinRMMaxIdleConns is how many authenticated station connections are
	// kept for the next call (winrm.Config.MaxIdleConns): 0 derives it
	// from the open-file limit, -1 turns reuse off.
	WinRMMaxIdleConns       int      `env:"OPS_WINRM_MAX_IDLE_CONNS, default=0"`
	WinRMCAFile             string   `env:"OPS_WINRM_CA_FILE"`
	AllowCredentialOverride bool     `env:"OPS_ALLOW_CREDENTIAL_OVERRIDE, default=false"`
	AllowedCommands         []string `env:"OPS_ALLOWED_COMMANDS"`
	// HeartbeatStaleAfterSec flags a heartbeat older than this as stale
	// (the station service rewrites it about every minute).
	HeartbeatStaleAfterSec int `env:"OPS_HEARTBEAT_STALE_AFTER, default=300"`

	TimelineDefaultLimit  int `env:"OPS_TIMELINE_DEFAULT_LIMIT, default=100"`
	TimelineMaxOps        int `env:"OPS_TIMELINE_MAX_OPS, default=500"`
	TimelinePhaseLookback int `env:"OPS_TIMELINE_PHASE_LOOKBACK, default=500"`

	LabManagerToken string   `env:"LAB_MANAGER_TOKEN" json:"-"` // secret
	AuthDisabled    bool     `env:"OPS_AUTH_DISABLED, default=false"`
	AllowedCIDRs    []string `env:"OPS_ALLOWED_CIDRS"`
	TrustedProxies  []string `env:"OPS_TRUSTED_PROXIES"`
	// StationCIDRs (OPS_STATION_CIDRS), when set, is where Lab Stations may
	// be: the catalog refuses an entry whose address is not an IP literal
	// inside one of them (see hosts.Options.StationPrefixes).
	StationCIDRs []string `env:"OPS_STATION_CIDRS"`
	// MaxGuardGraceSec: see limits.go.
	MaxGuardGraceSec int `env:"OPS_MAX_GUARD_GRACE, default=3600"`

	RelayURL    string `env:"OPS_RELAY_URL"`
	RelaySecret string `env:"OPS_RELAY_SECRET" json:"-"` // secret
	// RelaySecrets (OPS_RELAY_SECRETS) is a secret per relay URL: see relay.go.
	RelaySecrets string `env:"OPS_RELAY_SECRETS" json:"-"` // secrets

	// Issue 16 core: the current gateway's proxy credential and the
	// current worker's environment (internalauth.go, legacyenv.go).
	// InternalAuthToken (OPS_INTERNAL_AUTH_TOKEN) is the service credential
	// the current proxy sends, in the header InternalAuthHeader names,
	// instead of the operator's token (api.Guard admits either).
	InternalAuthToken  string `env:"OPS_INTERNAL_AUTH_TOKEN" json:"-"` // secret
	InternalAuthHeader string `env:"OPS_INTERNAL_AUTH_HEADER, default=X-Ops-Internal-Token"`
	// MySQLHostname, MySQLHostAlias and MySQLPort are the current worker's
	// database server (MySQLServer): MYSQL_DSN is built from them when it
	// is not set (legacyenv.go).
	MySQLHostname  string `env:"MYSQL_HOSTNAME"`
	MySQLHostAlias string `env:"MYSQL_HOST"`
	MySQLPort      string `env:"MYSQL_PORT"`

	// Guacamole's database, which GET /api/hosts reads the gateway's
	// connections from (guacamole.go): GUACAMOLE_MYSQL_DSN, or built from
	// the worker database's host and port with the Guacamole account.
	GuacamoleDSN         string `env:"GUACAMOLE_MYSQL_DSN" json:"-"` // secret
	GuacamoleUser        string `env:"OPS_GUACAMOLE_MYSQL_USER"`
	GuacamolePassword    string `env:"OPS_GUACAMOLE_MYSQL_PASSWORD" json:"-"` // secret
	GuacamoleDatabase    string `env:"GUACAMOLE_MYSQL_DATABASE"`
	GuacamoleDatabaseAlt string `env:"MYSQL_DATABASE"`
	// Failure notifications and alerts (issue 16; notify.go, internal/notify).
	// The NOTIFICATION_SERVICE_* names are the gateway worker's.
	NotificationURL             string   `env:"NOTIFICATION_SERVICE_URL"`
	NotificationRecipients      []string `env:"NOTIFICATION_SERVICE_RECIPIENTS"`
	NotificationEnabled         bool     `env:"NOTIFICATION_SERVICE_ENABLED, default=true"`
	NotificationToken           string   `env:"NOTIFICATION_SERVICE_ACCESS_TOKEN" json:"-"` // secret
	NotificationTokenHeader     string   `env:"NOTIFICATION_SERVICE_ACCESS_TOKEN_HEADER, default=X-Access-Token"`
	NotificationRetryAttempts   int      `env:"NOTIFICATION_SERVICE_RETRY_ATTEMPTS, default=3"`
	NotificationRetryBackoffSec int      `env:"NOTIFICATION_SERVICE_RETRY_BACKOFF_SECONDS, default=5"`
	WebhookURL                  string   `env:"OPS_WEBHOOK_URL" json:"-"`    // secret: a chat webhook's path is its credential
	WebhookSecret               string   `env:"OPS_WEBHOOK_SECRET" json:"-"` // secret
	AlertThreshold              int      `env:"OPS_ALERT_FAILURE_THRESHOLD, default=3"`
	AlertWindowSec              int      `env:"OPS_ALERT_WINDOW_SECONDS, default=300"`
	AlertCooldownSec            int      `env:"OPS_ALERT_COOLDOWN_SECONDS, default=900"`
	NotifyTimeoutSec            int      `env:"OPS_NOTIFY_TIMEOUT, default=10"`
	NotifyQueueSize             int      `env:"OPS_NOTIFY_QUEUE_SIZE, default=256"`
	NotifyFlushWaitSec          int      `env:"OPS_NOTIFY_FLUSH_WAIT, default=5"`
	// Heartbeat streams (GET /api/heartbeat/stream): see stream.go.
	HeartbeatSSEIntervalSec int `env:"OPS_HEARTBEAT_SSE_INTERVAL_SECONDS, default=10"`
	HeartbeatStreamMax      int `env:"OPS_HEARTBEAT_STREAM_MAX, default=2000"`
	// CatalogRefreshSec is how long an instance trusts its merged host
	// catalog before re-reading the database part (hosts.Options.RefreshEvery).
	CatalogRefreshSec           int `env:"OPS_CATALOG_REFRESH_SECONDS, default=5"`
	HeartbeatStreamEndMarginSec int `env:"OPS_HEARTBEAT_STREAM_END_MARGIN, default=10"`
	// Provisioning (POST /api/hosts/provision): see provision.go.
	ProvisionDefaultsJSON string `env:"OPS_PROVISION_DEFAULTS"`
	// Host discovery (discovery.go). DiscoveryHeartbeatPaths' default is
	// hosts.DefaultHeartbeatPath (codeDefaults); its first entry is a
	// discovered host's heartbeat path when no read found another.
	DiscoveryTimeoutText     string   `env:"OPS_DISCOVERY_TIMEOUT_SECONDS, default=1.5"`
	DiscoveryLabStationPorts []string `env:"OPS_DISCOVERY_LABSTATION_PORTS, default=8765,8088"`
	DiscoveryLabStationPaths []string `env:"OPS_DISCOVERY_LABSTATION_PATHS, default=/labstation/health,/health"`
	DiscoveryHeartbeatPaths  []string `env:"OPS_DISCOVERY_HEARTBEAT_PATHS"`
	DiscoveryWinRMPort       int      `env:"OPS_DISCOVERY_WINRM_PORT, default=5986"`

	discoveryTimeout time.Duration // parsed by validateDiscovery
	discoveryPorts   []int
	// The credential store's keys (issue 17; secrets.go), the older
	// worker's names: the key new rows are sealed under, as text or a
	// file, and the keys older rows may still be sealed under.
	SecretsKey              string `env:"OPS_SECRETS_KEY" json:"-"` // secret
	SecretsKeyFile          string `env:"OPS_SECRETS_KEY_FILE"`
	SecretsPreviousKeys     string `env:"OPS_SECRETS_PREVIOUS_KEYS" json:"-"` // secrets
	SecretsPreviousKeysFile string `env:"OPS_SECRETS_PREVIOUS_KEYS_FILE"`
	CredentialCacheSec      int    `env:"OPS_CREDENTIAL_CACHE_SECONDS, default=5"`
	// PowerMockStateDir keeps the mock power controllers' outlet states
	// across restarts (one JSON file per controller); empty: in memory.
	PowerMockStateDir string `env:"OPS_POWER_MOCK_STATE_DIR"`
	// PowerCAFile verifies NETIO controllers' HTTPS (PEM); empty: the
	// system roots.
	PowerCAFile string `env:"OPS_POWER_CA_FILE"`
}

// Load reads the process environment.
func Load(ctx context.Context) (Config, error) {
	return LoadFrom(ctx, envconfig.OsLookuper())
}

// LoadMap reads a fixed set of variables, for tests and tools.
func LoadMap(ctx context.Context, env map[string]string) (Config, error) {
	return LoadFrom(ctx, envconfig.MapLookuper(env))
}

// codeDefaults answers, for the variables l does not have, the defaults
// whose home is another package's constant, which an envconfig tag (a
// literal) cannot name. As a tag default does, each applies only when its
// variable is not set at all: set but empty stays empty (and is refused).
type codeDefaults struct{ l envconfig.Lookuper }

func (d codeDefaults) Lookup(key string) (string, bool) {
	if v, ok := d.l.Lookup(key); ok {
		return v, true
	}
	switch key {
	case "OPS_ALLOWED_COMMANDS":
		return labstation.DefaultAllowedCommands, true // labstation owns the command contract
	case "OPS_DISCOVERY_HEARTBEAT_PATHS":
		return hosts.DefaultHeartbeatPath, true // a tag cannot hold its backslashes
	}
	return "", false
}

// LoadFrom reads the variables through l and validates them.
func LoadFrom(ctx context.Context, l envconfig.Lookuper) (Config, error) {
	var c Config
	if err := checkLegacyEnv(l); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	l = codeDefaults{legacyEnv{l}}
	if err := checkTypes(l); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: l}); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	c.AllowedCommands = cleanList(c.AllowedCommands, false)
	c.WinRMAllowedTransports = cleanList(c.WinRMAllowedTransports, true)
	c.AllowedCIDRs = cleanList(c.AllowedCIDRs, false)
	c.TrustedProxies = cleanList(c.TrustedProxies, false)
	c.StationCIDRs = cleanList(c.StationCIDRs, false)
	c.NotificationRecipients = cleanList(c.NotificationRecipients, false)
	c.LogLevel = strings.ToUpper(strings.TrimSpace(c.LogLevel))
	if err := c.validate(); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}

// checkTypes validates numbers and booleans before envconfig does, because
// envconfig's errors name the Go field, not the variable an operator set.
func checkTypes(l envconfig.Lookuper) error {
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		v, ok := l.Lookup(name)
		if !ok || v == "" {
			continue
		}
		switch f.Type.Kind() {
		case reflect.Int:
			if _, err := strconv.Atoi(strings.TrimSpace(v)); err != nil {
				return fmt.Errorf("%s: %q is not a whole number", name, v)
			}
		case reflect.Bool:
			if _, err := strconv.ParseBool(strings.TrimSpace(v)); err != nil {
				return fmt.Errorf("%s: %q is not a boolean (want true or false)", name, v)
			}
		}
	}
	return nil
}

func cleanList(in []string, lower bool) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		s = strings.TrimSpace(s)
		if lower {
			s = strings.ToLower(s)
		}
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (c *Config) validate() error {
	// The steps run in this order, so a configuration with several bad
	// values names the same first one as before the cut.
	for _, step := range []func() error{
		c.validateLimits, c.checkCounts, c.checkReservation, c.checkTimeline, c.checkWinRM,
		c.checkLogLevel, c.checkLists, c.checkNetworks, c.checkDSN, c.checkRelayURL,
		c.validateRelay, c.checkInternalAuth, c.checkGuacamole, c.validateNotify, c.validateStream, c.validateSecrets,
		c.checkProvisionDefaults, c.validateDiscovery, c.checkCatalog,
	} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// named is one integer setting and its variable.
type named struct {
	name string
	v    int
}

// checkCounts refuses counts that must be positive, and waits that must
// not be negative.
func (c *Config) checkCounts() error {
	for _, p := range []named{
		{"OPS_PORT", c.Port},
		{"OPS_POLL_INTERVAL", c.PollIntervalSec},
		{"OPS_POLL_CONCURRENCY", c.PollConcurrency},
		{"OPS_RESERVATION_SCAN_INTERVAL", c.ScanIntervalSec},
		{"OPS_RESERVATION_MAX_BATCH", c.MaxBatch},
		{"OPS_WINRM_OPERATION_TIMEOUT", c.WinRMOperationTimeoutSec},
		{"OPS_WINRM_READ_TIMEOUT", c.WinRMReadTimeoutSec},
		{"OPS_WINRM_COMMAND_TIMEOUT", c.WinRMCommandTimeoutSec},
		{"OPS_HEARTBEAT_STALE_AFTER", c.HeartbeatStaleAfterSec},
		{"OPS_TIMELINE_DEFAULT_LIMIT", c.TimelineDefaultLimit},
		{"OPS_TIMELINE_MAX_OPS", c.TimelineMaxOps},
		{"OPS_TIMELINE_PHASE_LOOKBACK", c.TimelinePhaseLookback},
	} {
		if p.v <= 0 {
			return fmt.Errorf("%s: must be a positive number, got %d", p.name, p.v)
		}
	}
	for _, p := range []named{
		{"OPS_RESERVATION_START_LEAD", c.StartLeadSec},
		{"OPS_RESERVATION_END_DELAY", c.EndDelaySec},
		{"OPS_RESERVATION_LOOKBACK", c.LookbackSec},
		{"OPS_RESERVATION_RETRY_COOLDOWN", c.RetryCooldownSec},
		{"OPS_RESERVATION_POWER_OFF_WAIT", c.PowerOffWaitSec},
	} {
		if p.v < 0 {
			return fmt.Errorf("%s: must not be negative, got %d", p.name, p.v)
		}
	}
	return nil
}

// maxCatalogRefreshSec bounds OPS_CATALOG_REFRESH_SECONDS: a host added on
// one instance reaches the others within it.
const maxCatalogRefreshSec = 300

// checkCatalog checks the catalog's refresh interval.
func (c *Config) checkCatalog() error {
	if c.CatalogRefreshSec < 1 || c.CatalogRefreshSec > maxCatalogRefreshSec {
		return fmt.Errorf("OPS_CATALOG_REFRESH_SECONDS: must be 1..%d, got %d", maxCatalogRefreshSec, c.CatalogRefreshSec)
	}
	return nil
}

// CatalogRefresh is OPS_CATALOG_REFRESH_SECONDS as a duration.
func (c Config) CatalogRefresh() time.Duration {
	return time.Duration(c.CatalogRefreshSec) * time.Second
}

// checkReservation checks the reservation tick's settings (and the port,
// whose range check has always come here).
func (c *Config) checkReservation() error {
	switch c.ReservationEndPower {
	case "shutdown", "hibernate", "none":
	default:
		return fmt.Errorf("OPS_RESERVATION_END_POWER: must be shutdown, hibernate or none, got %q", c.ReservationEndPower)
	}
	if c.Port > 65535 {
		return fmt.Errorf("OPS_PORT: %d is not a TCP port", c.Port)
	}
	if c.RetryCooldownSec == 0 {
		return fmt.Errorf("OPS_RESERVATION_RETRY_COOLDOWN: must be at least 1 second")
	}
	if c.MaxBatch > domain.MaxBatch {
		// One scan claims its whole batch in one INSERT (domain.MaxBatch).
		return fmt.Errorf("OPS_RESERVATION_MAX_BATCH: %d is above the maximum of %d", c.MaxBatch, domain.MaxBatch)
	}
	return nil
}

// checkTimeline keeps the timeline's pages within what the store serves.
func (c *Config) checkTimeline() error {
	for _, p := range []named{{"OPS_TIMELINE_MAX_OPS", c.TimelineMaxOps}, {"OPS_TIMELINE_PHASE_LOOKBACK", c.TimelinePhaseLookback}} {
		if p.v > domain.MaxPageSize {
			return fmt.Errorf("%s: %d is above the maximum of %d", p.name, p.v, domain.MaxPageSize)
		}
	}
	if c.TimelineDefaultLimit > c.TimelineMaxOps {
		return fmt.Errorf("OPS_TIMELINE_DEFAULT_LIMIT: %d is above OPS_TIMELINE_MAX_OPS (%d)", c.TimelineDefaultLimit, c.TimelineMaxOps)
	}
	return nil
}

// checkWinRM orders the WinRM timeouts and checks the idle pool size.
func (c *Config) checkWinRM() error {
	if c.WinRMReadTimeoutSec <= c.WinRMOperationTimeoutSec {
		// The HTTP wait must outlast the WS-Man OperationTimeout, or every
		// long Receive fails as a transport error instead of a clean timeout.
		return fmt.Errorf("OPS_WINRM_READ_TIMEOUT: %d must be greater than OPS_WINRM_OPERATION_TIMEOUT (%d)", c.WinRMReadTimeoutSec, c.WinRMOperationTimeoutSec)
	}
	if c.WinRMMaxIdleConns < -1 {
		return fmt.Errorf("OPS_WINRM_MAX_IDLE_CONNS: %d is not a count (0: from the open-file limit, -1: no reuse)", c.WinRMMaxIdleConns)
	}
	if c.WinRMCommandTimeoutSec <= c.WinRMOperationTimeoutSec {
		// A command outlives single Receives; a deadline at or below the
		// operation timeout would cut every command that runs a while.
		return fmt.Errorf("OPS_WINRM_COMMAND_TIMEOUT: %d must be greater than OPS_WINRM_OPERATION_TIMEOUT (%d)", c.WinRMCommandTimeoutSec, c.WinRMOperationTimeoutSec)
	}
	return nil
}

func (c *Config) checkLogLevel() error {
	_, err := c.SlogLevel()
	return err
}

// checkLists refuses empty or unknown command and transport lists.
func (c *Config) checkLists() error {
	if len(c.AllowedCommands) == 0 {
		return fmt.Errorf("OPS_ALLOWED_COMMANDS: must name at least one command")
	}
	if len(c.WinRMAllowedTransports) == 0 {
		// An empty list once meant "all"; it now allows nothing, which would
		// refuse every call: say so at start-up instead.
		return fmt.Errorf("OPS_WINRM_ALLOWED_TRANSPORTS: must name at least one transport (%s)", strings.Join(winrm.Transports, ", "))
	}
	for _, t := range c.WinRMAllowedTransports {
		if !slices.Contains(winrm.Transports, t) {
			return fmt.Errorf("OPS_WINRM_ALLOWED_TRANSPORTS: unknown transport %q (want %s)", t, strings.Join(winrm.Transports, ", "))
		}
	}
	return nil
}

// checkNetworks parses the CIDR lists.
func (c *Config) checkNetworks() error {
	for _, l := range []struct {
		name string
		v    []string
	}{{"OPS_ALLOWED_CIDRS", c.AllowedCIDRs}, {"OPS_TRUSTED_PROXIES", c.TrustedProxies}, {"OPS_STATION_CIDRS", c.StationCIDRs}} {
		if _, err := parsePrefixes(l.name, l.v); err != nil {
			return err
		}
	}
	return nil
}

// checkRelayURL refuses user info in OPS_RELAY_URL, which is logged and
// shown (hosts.CheckRelayURL); the rest of the URL is relayclient's to
// check.
func (c *Config) checkRelayURL() error {
	if c.RelayURL == "" {
		return nil
	}
	if err := hosts.CheckRelayURL(c.RelayURL); err != nil {
		return fmt.Errorf("OPS_RELAY_URL: %w", err)
	}
	return nil
}

func (c *Config) checkDSN() error {
	if c.MySQLDSN != "" {
		if _, err := ParseDSN(c.MySQLDSN); err != nil {
			return fmt.Errorf("MYSQL_DSN: %w", err)
		}
	}
	return nil
}

// SlogLevel maps OPS_LOG_LEVEL (DEBUG, INFO, WARNING/WARN, ERROR) to slog.
func (c Config) SlogLevel() (slog.Level, error) {
	switch c.LogLevel {
	case "DEBUG":
		return slog.LevelDebug, nil
	case "INFO", "":
		return slog.LevelInfo, nil
	case "WARN", "WARNING":
		return slog.LevelWarn, nil
	case "ERROR", "CRITICAL":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("OPS_LOG_LEVEL: unknown level %q (want DEBUG, INFO, WARNING, ERROR)", c.LogLevel)
}

// AllowedPrefixes is OPS_ALLOWED_CIDRS parsed (a bare address is a /32 or /128).
func (c Config) AllowedPrefixes() []netip.Prefix {
	p, _ := parsePrefixes("", c.AllowedCIDRs)
	return p
}

// StationPrefixes is OPS_STATION_CIDRS parsed (a bare address is a /32 or
// /128); empty when the variable is unset, and then any address loads.
func (c Config) StationPrefixes() []netip.Prefix {
	p, _ := parsePrefixes("", c.StationCIDRs)
	return p
}

// TrustedProxyPrefixes is OPS_TRUSTED_PROXIES parsed.
func (c Config) TrustedProxyPrefixes() []netip.Prefix {
	p, _ := parsePrefixes("", c.TrustedProxies)
	return p
}

func parsePrefixes(name string, in []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(in))
	for _, s := range in {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is neither a CIDR nor an IP address", name, s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func sec(n int) time.Duration { return time.Duration(n) * time.Second }

// Durations of the second-valued knobs.
func (c Config) PollInterval() time.Duration { return sec(c.PollIntervalSec) }
func (c Config) ScanInterval() time.Duration { return sec(c.ScanIntervalSec) }
func (c Config) StartLead() time.Duration    { return sec(c.StartLeadSec) }
func (c Config) EndDelay() time.Duration     { return sec(c.EndDelaySec) }

// PowerOffWait is OPS_RESERVATION_POWER_OFF_WAIT; 0 means no wait.
func (c Config) PowerOffWait() time.Duration          { return sec(c.PowerOffWaitSec) }
func (c Config) Lookback() time.Duration              { return sec(c.LookbackSec) }
func (c Config) RetryCooldown() time.Duration         { return sec(c.RetryCooldownSec) }
func (c Config) WinRMOperationTimeout() time.Duration { return sec(c.WinRMOperationTimeoutSec) }
func (c Config) WinRMReadTimeout() time.Duration      { return sec(c.WinRMReadTimeoutSec) }
func (c Config) HeartbeatStaleAfter() time.Duration   { return sec(c.HeartbeatStaleAfterSec) }

// WinRMCommandTimeout bounds one whole LabStation.exe command, which may run
// through many operation timeouts: prepare-session's session guard alone
// waits 90 s by default with someone at the console, then logs off, closes
// the controller and wipes temp files. The 300 s default covers the longest
// contract command with its defaults (90 s grace) twice over; a command
// with a longer --guard-grace/--grace gets grace + 60 s anyway
// (labstation.MinRunTime).
func (c Config) WinRMCommandTimeout() time.Duration { return sec(c.WinRMCommandTimeoutSec) }

// CommandAllowed reports whether cmd is in OPS_ALLOWED_COMMANDS.
func (c Config) CommandAllowed(cmd string) bool {
	for _, a := range c.AllowedCommands {
		if a == cmd {
			return true
		}
	}
	return false
}

// TransportAllowed reports whether t is in OPS_WINRM_ALLOWED_TRANSPORTS.
func (c Config) TransportAllowed(t string) bool {
	for _, a := range c.WinRMAllowedTransports {
		if a == strings.ToLower(t) {
			return true
		}
	}
	return false
}

// configFields is Config without its methods, for the redacted views.
type configFields Config

// redacted is c with every secret (MYSQL_DSN, LAB_MANAGER_TOKEN,
// OPS_RELAY_SECRET, OPS_RELAY_SECRETS, OPS_INTERNAL_AUTH_TOKEN,
// GUACAMOLE_MYSQL_DSN, OPS_GUACAMOLE_MYSQL_PASSWORD, the notification and
// webhook secrets, OPS_SECRETS_KEY, OPS_SECRETS_PREVIOUS_KEYS) replaced by a fixed
// mask; an unset one stays empty.
func (c Config) redacted() configFields {
	r := configFields(c)
	for _, p := range []*string{&r.MySQLDSN, &r.LabManagerToken, &r.RelaySecret, &r.RelaySecrets, &r.InternalAuthToken,
		&r.GuacamoleDSN, &r.GuacamolePassword, &r.NotificationToken, &r.WebhookURL, &r.WebhookSecret,
		&r.SecretsKey, &r.SecretsPreviousKeys} {
		if *p != "" {
			*p = "[REDACTED]"
		}
	}
	return r
}

// String, GoString and LogValue print every setting with the secrets
// masked, so logging or dumping a Config leaks none; the secret fields are
// also json:"-".
func (c Config) String() string { return fmt.Sprintf("%+v", c.redacted()) }

// GoString implements fmt.GoStringer (%#v).
func (c Config) GoString() string {
	return strings.Replace(fmt.Sprintf("%#v", c.redacted()), "config.configFields", "config.Config", 1)
}

// LogValue implements slog.LogValuer.
func (c Config) LogValue() slog.Value { return slog.AnyValue(c.redacted()) }

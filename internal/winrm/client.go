package winrm

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	mzwinrm "github.com/masterzen/winrm"
)

// Defaults of Config (OPS_WINRM_OPERATION_TIMEOUT / OPS_WINRM_READ_TIMEOUT /
// OPS_WINRM_COMMAND_TIMEOUT).
const (
	DefaultOperationTimeout = 20 * time.Second
	DefaultReadTimeout      = 30 * time.Second
	DefaultCommandTimeout   = 300 * time.Second
	DefaultDialTimeout      = 10 * time.Second
	DefaultMaxPerHost       = 2
	DefaultMaxOutput        = 4 << 20
	DefaultKrb5Conf         = "/etc/krb5.conf"
	// DefaultTLSSessionCache is the number of TLS sessions a Client keeps
	// for resumption (one per station; a few KB each).
	DefaultTLSSessionCache = 4096
)

// Config tunes a Client. The zero value uses the defaults above.
type Config struct {
	// OperationTimeout is the WS-Management OperationTimeout of each request
	// (how long the station may hold a Receive open).
	OperationTimeout time.Duration
	// ReadTimeout is the wait for an HTTP answer; it is kept above
	// OperationTimeout so a legitimate long Receive is not cut.
	ReadTimeout time.Duration
	// CommandTimeout bounds one whole call (shell, command, every Receive,
	// close) unless the call's RunOptions.Timeout says otherwise; zero means
	// DefaultCommandTimeout. A command runs through as many
	// OperationTimeouts as it needs within it. A command still running then
	// is abandoned and its shell deleted.
	CommandTimeout time.Duration
	// DialTimeout bounds each TCP connect. It is kept below CommandTimeout
	// (at most half of it): a sleeping station ignores the SYN, and its
	// dial must fail as unreachable (then diagnosed) before the call's time
	// limit turns it into a bare timeout.
	DialTimeout time.Duration
	// MaxPerHost is the number of calls in flight per host (Target.Name,
	// or the address when it is empty; the Lab Station contract allows 2).
	MaxPerHost int
	// MaxOutput caps each of stdout and stderr; the rest is read and dropped.
	MaxOutput int
	// Krb5Conf is the krb5.conf used by the Kerberos transport.
	Krb5Conf string
	Logger   *slog.Logger
	// Observer, when set, is told the outcome and duration of every call
	// (metrics); nil: nothing is observed.
	Observer Observer
	// TLSSessionCache is how many TLS sessions (one per station) the
	// Client keeps so that the next call's handshake resumes (no
	// certificate chain sent and verified, no signature); 0 means
	// DefaultTLSSessionCache, negative turns resumption off. Polling more
	// stations than this in a cycle resumes nothing (LRU).
	TLSSessionCache int
	// MaxIdleConns is how many authenticated connections (at most
	// MaxPerHost per station) the Client keeps for the next call to the
	// same station with the same credentials, so a poll needs no TCP
	// connect, TLS handshake or NTLM round trip. 0 means a quarter of the
	// process's open-file limit, at most 16384 (256 under Lambda's 1024);
	// negative turns reuse off. Polling more stations than this in a
	// cycle reuses nothing (least recently used go first).
	MaxIdleConns int
	// IdleConnTimeout is how long an idle connection is kept; 0 means
	// DefaultIdleConnTimeout. Keep it below the stations' keep-alive
	// (HTTP.sys: 120 s) and above the poll interval.
	IdleConnTimeout time.Duration
}

// Client runs WinRM calls. It is safe for concurrent use; each call builds
// its own masterzen client, parameters and transport.
type Client struct {
	cfg      Config
	mu       sync.Mutex
	sems     map[string]*hostSem // by Target.limitKey
	cleanups sync.WaitGroup
	// sessions is shared by the calls' TLS configurations, each through a
	// sessionScope of its target (nil: no resumption).
	sessions tls.ClientSessionCache
	// pool keeps the authenticated connections of finished calls.
	pool *connPool
	// caFiles keeps the CA bundles read from Target.CAFile.
	caFiles caFiles
}

// New returns a Client with cfg's zero fields set to the defaults.
func New(cfg Config) *Client {
	if cfg.OperationTimeout <= 0 {
		cfg.OperationTimeout = DefaultOperationTimeout
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.ReadTimeout <= cfg.OperationTimeout {
		cfg.ReadTimeout = cfg.OperationTimeout + 5*time.Second
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = DefaultCommandTimeout
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.DialTimeout > cfg.CommandTimeout/2 {
		cfg.DialTimeout = cfg.CommandTimeout / 2
	}
	if cfg.MaxPerHost <= 0 {
		cfg.MaxPerHost = DefaultMaxPerHost
	}
	if cfg.MaxOutput <= 0 {
		cfg.MaxOutput = DefaultMaxOutput
	}
	if cfg.Krb5Conf == "" {
		cfg.Krb5Conf = DefaultKrb5Conf
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, sems: map[string]*hostSem{}}
	if cfg.TLSSessionCache == 0 {
		cfg.TLSSessionCache = DefaultTLSSessionCache
	}
	if cfg.TLSSessionCache > 0 {
		c.sessions = tls.NewLRUClientSessionCache(cfg.TLSSessionCache)
	}
	if cfg.MaxIdleConns == 0 {
		cfg.MaxIdleConns = defaultMaxIdleConns()
	}
	if cfg.IdleConnTimeout <= 0 {
		cfg.IdleConnTimeout = DefaultIdleConnTimeout
	}
	c.pool = newConnPool(cfg.MaxIdleConns, cfg.MaxPerHost, cfg.IdleConnTimeout)
	c.cfg = cfg
	return c
}

// Result of one command. When the call fails after the command started,
// Stdout and Stderr hold what was received until then and ExitCode is 0:
// no exit code came (the error says why).
type Result struct {
	ExitCode int
	Stdout   string
	Stderr   string
	Duration time.Duration
	// Truncated is set when stdout or stderr went over Config.MaxOutput.
	Truncated bool
}

// RunOptions are the settings of one call. The zero value uses the
// Client's Config.
type RunOptions struct {
	// Timeout is the command deadline of this call (shell, command, every
	// Receive, close); zero or negative means Config.CommandTimeout. The
	// caller that knows the command picks it: a command that waits on
	// purpose needs more, a quick read less.
	Timeout time.Duration
	// Op names the call in errors and logs ("run prepare-session"); empty
	// means "run" for Run and "powershell" for RunPowerShell.
	Op string
}

// Run runs commandLine on t, as the station's cmd shell receives it: the
// caller builds and quotes the line.
func (c *Client) Run(ctx context.Context, t Target, commandLine string, o RunOptions) (Result, error) {
	if strings.Contains(commandLine, cdataEnd) {
		// masterzen writes the line inside <![CDATA[...]]> unescaped: "]]>"
		// would end it and the rest would be read as XML. labstation's
		// quoting never makes one (every ">" gets a caret); a caller
		// building its own line must not slip one through.
		return Result{}, &Error{Op: cmp.Or(o.Op, "run"), Host: t.String(), Kind: ErrArgument,
			Err: errors.New(`the command line holds "]]>"; nothing sent`)}
	}
	return c.exec(ctx, t, cmp.Or(o.Op, "run"), commandLine, c.timeout(o))
}

// cdataEnd ends the CDATA section that carries a command line.
const cdataEnd = "]]>"

// RunPowerShell runs script on t with powershell.exe -EncodedCommand, so
// no character of it is interpreted by cmd.exe on the way. Quoting what
// goes into the script is the caller's business.
func (c *Client) RunPowerShell(ctx context.Context, t Target, script string, o RunOptions) (Result, error) {
	return c.exec(ctx, t, cmp.Or(o.Op, "powershell"), mzwinrm.Powershell(script), c.timeout(o))
}

func (c *Client) timeout(o RunOptions) time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return c.cfg.CommandTimeout
}

// Config is the Client's configuration with the defaults applied, so a
// caller can derive a call's RunOptions.Timeout from it.
func (c *Client) Config() Config { return c.cfg }

// exec runs commandLine on t within timeout (the command deadline), and
// tells the Observer how it went.
func (c *Client) exec(parent context.Context, t Target, op, commandLine string, timeout time.Duration) (Result, error) {
	if c.cfg.Observer == nil {
		return c.execCall(parent, t, op, commandLine, timeout)
	}
	start := time.Now()
	res, err := c.execCall(parent, t, op, commandLine, timeout)
	c.cfg.Observer.ObserveCall(op, err, time.Since(start))
	return res, err
}

func (c *Client) execCall(parent context.Context, t Target, op, commandLine string, timeout time.Duration) (Result, error) {
	start := time.Now()
	host := t.String()
	fail := func(kind, err error) error { return &Error{Op: op, Host: host, Kind: kind, Err: err} }
	if err := t.validate(); err != nil {
		return Result{}, fail(ErrConfig, err)
	}
	var tlsSet *tlsSetup
	if t.UseSSL {
		var err error
		if tlsSet, err = t.tlsSetup(c.sessions, &c.caFiles); err != nil {
			return Result{}, fail(ErrConfig, err)
		}
	}
	release, err := c.acquire(parent, t.limitKey())
	if err != nil {
		return Result{}, fail(classify(parent, parent, err), err)
	}
	ctx, cancel := context.WithTimeoutCause(parent, timeout, errCommandTimeout)
	defer cancel()
	res, st, shellID, err := c.call(ctx, t, tlsSet, commandLine)
	res.Duration = time.Since(start)
	if err == nil {
		release()
		c.cfg.Logger.Debug("winrm call", "op", op, "host", host, "exit_code", res.ExitCode, "duration_ms", res.Duration.Milliseconds(),
			"receives", st.receives, "receive_timeouts", st.timeouts)
		return res, nil
	}
	kind := classify(parent, ctx, err)
	if ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	if shellID != "" {
		// Abandoned mid-command (deadline, cancellation, a failed Receive):
		// the station may still run it and count it against its 2 slots.
		// Delete the shell in the background, keeping our slot until done,
		// so the caller returns at once.
		c.cleanups.Add(1)
		go func(release func()) {
			defer c.cleanups.Done()
			defer release()
			c.deleteShell(context.WithoutCancel(parent), t, tlsSet, shellID)
		}(release)
		release = func() {}
	}
	release()
	c.cfg.Logger.Debug("winrm call failed", "op", op, "host", host, "kind", kind.Error(), "duration_ms", res.Duration.Milliseconds(),
		"receives", st.receives, "receive_timeouts", st.timeouts)
	return res, fail(kind, err)
}

// Close waits for the background clean-ups of abandoned calls (each bounded
// by DialTimeout + ReadTimeout) and closes the idle connections. The
// Client stays usable.
func (c *Client) Close() error {
	c.cleanups.Wait()
	c.pool.closeIdle()
	return nil
}

// CloseIdleConnections closes the connections kept for reuse (after the
// host catalog changed, say); calls in flight keep theirs.
func (c *Client) CloseIdleConnections() { c.pool.closeIdle() }

// IdleConnections is the number of connections kept for reuse.
func (c *Client) IdleConnections() int { return c.pool.idleCount() }

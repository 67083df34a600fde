// Package winrm runs commands on Lab Stations over WinRM (masterzen/winrm),
// every call bounded by the caller's context and by time limits, with at
// most a few commands in flight per station and typed errors.
package winrm

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
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

// RunPowerShell runs script on t with powershell.exe -EncodedCommand, so
// no character of it is interpreted by cmd.exe on the way. Quoting what
// goes into the script is the caller's business.
// cdataEnd ends the CDATA section that carries a command line.
const cdataEnd = "]]>"

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

// acquire takes one of the MaxPerHost slots of key. The map holds a key
// only while some call holds or waits for one of its slots (refs), so it
// does not grow with every host ever called.
func (c *Client) acquire(ctx context.Context, key string) (func(), error) {
	c.mu.Lock()
	s := c.sems[key]
	if s == nil {
		s = &hostSem{slots: make(chan struct{}, c.cfg.MaxPerHost)}
		c.sems[key] = s
	}
	s.refs++
	c.mu.Unlock()
	unref := func() {
		c.mu.Lock()
		if s.refs--; s.refs == 0 {
			delete(c.sems, key)
		}
		c.mu.Unlock()
	}
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots; unref() }, nil
	case <-ctx.Done():
		unref()
		return nil, ctx.Err()
	}
}

// hostSem is the slots of one host and how many calls hold or wait for one.
type hostSem struct {
	slots chan struct{}
	refs  int
}

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

// call runs one command on the call's connection, which is closed when
// ctx ends: that is what stops masterzen's context-less calls at once.
func (c *Client) call(ctx context.Context, t Target, tlsSet *tlsSetup, commandLine string) (res Result, st receiveStats, shellID string, err error) {
	err = c.withClient(ctx, t, tlsSet, func(client *mzwinrm.Client, tr mzwinrm.Transporter) error {
		var runErr error
		res, st, shellID, runErr = c.runShell(ctx, t, client, tr, commandLine)
		return runErr
	})
	return res, st, shellID, err
}

func (c *Client) deleteShell(parent context.Context, t Target, tlsSet *tlsSetup, shellID string) {
	ctx, cancel := context.WithTimeout(parent, c.cfg.DialTimeout+c.cfg.ReadTimeout)
	defer cancel()
	err := c.withClient(ctx, t, tlsSet, func(client *mzwinrm.Client, _ mzwinrm.Transporter) error {
		return client.NewShell(shellID).Close()
	})
	if err != nil {
		c.cfg.Logger.Debug("winrm delete abandoned shell", "host", t.String(), "err", err.Error())
	}
}

// withClient gives fn a masterzen client on the call's connection: one
// kept from an earlier call with the same key, else a new one; it goes
// back to the pool only when fn succeeded (link.finish). Kerberos calls
// keep connections of their own (withKerberosClient).
func (c *Client) withClient(ctx context.Context, t Target, tlsSet *tlsSetup, fn func(*mzwinrm.Client, mzwinrm.Transporter) error) error {
	if t.EffectiveTransport() == TransportKerberos {
		var tlsCfg *tls.Config
		if tlsSet != nil {
			var err error
			if tlsCfg, err = tlsSet.config(); err != nil {
				return err
			}
		}
		return c.withKerberosClient(ctx, t, tlsCfg, fn)
	}
	l := c.newLink(ctx, t, tlsSet)
	ok := false
	defer func() { l.finish(ok) }()
	url := t.url()
	var tr mzwinrm.Transporter
	switch {
	case t.EffectiveTransport() == TransportBasic:
		tr = newBasicTransport(ctx, url, t.User, t.Password, l)
	case t.UseSSL:
		tr = newNTLMTransport(ctx, url, t.User, t.Password, l)
	default:
		tr = newEncTransport(ctx, url, t.User, t.Password, l)
	}
	client, tr, err := c.newMZClient(t, tr, nil)
	if err != nil {
		return err
	}
	err = fn(client, tr)
	ok = err == nil
	return err
}

// withKerberosClient gives fn a masterzen client on connections of its
// own, all closed when ctx ends or fn returns.
func (c *Client) withKerberosClient(ctx context.Context, t Target, tlsCfg *tls.Config, fn func(*mzwinrm.Client, mzwinrm.Transporter) error) error {
	tracker := newConnTracker(c.cfg.DialTimeout)
	ht := newHTTPTransport(tracker, tlsCfg, c.cfg.ReadTimeout)
	stop := context.AfterFunc(ctx, tracker.closeAll)
	defer func() {
		stop()
		ht.CloseIdleConnections()
		tracker.closeAll()
	}()
	// Our own SPNEGO transport: our connections and context, bounded
	// reads, the KDC exchange abandoned when ctx ends (kerberos.go).
	tr, err := newKrbTransport(ctx, t.url(), t.User, t.Password, "HTTP/"+t.Address, c.cfg.Krb5Conf, ht, &c.cleanups)
	if err != nil {
		return err
	}
	client, gtr, err := c.newMZClient(t, tr, tracker)
	if err != nil {
		return err
	}
	return fn(client, gtr)
}

// url is the station's WS-Management endpoint.
func (t Target) url() string {
	scheme := "http"
	if t.UseSSL {
		scheme = "https"
	}
	return scheme + "://" + t.String() + "/wsman"
}

func wsmanDuration(d time.Duration) string {
	return "PT" + strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "S"
}

func (c *Client) newMZClient(t Target, tr mzwinrm.Transporter, tracker *connTracker) (*mzwinrm.Client, mzwinrm.Transporter, error) {
	tr = guardPanics(tr, c.cfg.Logger) // a hostile answer must not end the worker (issue 6)
	// Fresh parameters per client: masterzen's DefaultParameters is a shared
	// global pointer.
	params := mzwinrm.NewParameters(wsmanDuration(c.cfg.OperationTimeout), "en-US", 153600)
	if tracker != nil {
		params.Dial = tracker.Dial
	}
	params.TransportDecorator = func() mzwinrm.Transporter { return tr }
	ep := &mzwinrm.Endpoint{
		Host: t.Address, Port: t.EffectivePort(), HTTPS: t.UseSSL, Insecure: t.InsecureSkipVerify,
		TLSServerName: t.TLSServerName, Timeout: c.cfg.ReadTimeout,
	}
	client, err := mzwinrm.NewClientWithParameters(ep, t.User, t.Password, params)
	if err != nil {
		return nil, nil, &kindError{kind: ErrConfig, msg: "winrm client: " + err.Error()}
	}
	return client, tr, nil
}

// runShell creates a shell, runs the command, collects its output and
// deletes the shell. On failure it returns the shell ID when the shell is
// still to be deleted (exec does it in the background).
func (c *Client) runShell(ctx context.Context, t Target, client *mzwinrm.Client, tr mzwinrm.Transporter, commandLine string) (Result, receiveStats, string, error) {
	// Every step by hand with masterzen's exported request builders and
	// parsers: CreateShell to learn the shell ID (masterzen keeps it
	// unexported), Command to keep masterzen's receive loop from starting
	// (see receive).
	params := client.Parameters
	url := t.url()
	req := mzwinrm.NewOpenShellRequest(url, &params)
	resp, err := tr.Post(client, req)
	req.Free()
	if err != nil {
		return Result{}, receiveStats{}, "", fmt.Errorf("create shell: %w", err)
	}
	var shellID string
	err = parse(func() (err error) { shellID, err = parseShellID(resp); return err })
	if err != nil || shellID == "" {
		return Result{}, receiveStats{}, "", &kindError{kind: ErrProtocol, msg: fmt.Sprintf("create shell: no shell ID in answer (%v)", err)}
	}
	req = mzwinrm.NewExecuteCommandRequest(url, shellID, commandLine, nil, &params)
	resp, err = tr.Post(client, req)
	req.Free()
	if err != nil {
		return Result{}, receiveStats{}, shellID, fmt.Errorf("execute: %w", faultError(err))
	}
	var commandID string
	err = parse(func() (err error) { commandID, err = parseCommandID(resp); return err })
	if err != nil || commandID == "" {
		return Result{}, receiveStats{}, shellID, &kindError{kind: ErrProtocol, msg: fmt.Sprintf("execute: no command ID in answer (%v)", err)}
	}
	res, st, err := c.receive(ctx, client, tr, url, shellID, commandID)
	if err != nil {
		return res, st, shellID, fmt.Errorf("receive output: %w", err)
	}
	c.closeShell(t, client.NewShell(shellID))
	return res, st, "", nil
}

// receiveStats counts the Receives of one command and how many of them
// ended in the OperationTimeout fault.
type receiveStats struct{ receives, timeouts int }

// timedOutPause is the least time between a Receive answered with the
// OperationTimeout fault and the next one, so a station that answered it
// at once (Windows waits the OperationTimeout) does not make us spin.
const timedOutPause = 100 * time.Millisecond

// receive issues Receive requests until the command is Done, ctx ends (the
// command deadline or the caller) or a request fails.
//
// masterzen's own loop (Command, fetchOutput) is not used: it recognises
// the OperationTimeout fault by the substring "OperationTimeout" anywhere
// in the error text, also takes any *url.Error timeout as "still running"
// (so a station that stops answering is polled back to back until our
// deadline), turns a dropped connection into exit code 16001, feeds the
// output through pipes that need two draining goroutines, and sends a
// Signal on cancellation over connections we have already closed. Here
// the fault is recognised by its WS-Management code (2150858793) or
// subcode (w:TimedOut); any other failure ends the command with its own
// kind (a dropped connection is ErrUnreachable, a station silent past
// ReadTimeout ErrTimeout, another fault ErrProtocol), and output goes
// straight into the capped buffers.
func (c *Client) receive(ctx context.Context, client *mzwinrm.Client, tr mzwinrm.Transporter, url, shellID, commandID string) (Result, receiveStats, error) {
	params := client.Parameters
	stdout := &capBuffer{max: c.cfg.MaxOutput}
	stderr := &capBuffer{max: c.cfg.MaxOutput}
	result := func(exit int) Result {
		return Result{ExitCode: exit, Stdout: stdout.String(), Stderr: stderr.String(),
			Truncated: stdout.truncated || stderr.truncated}
	}
	var st receiveStats
	for {
		if err := ctx.Err(); err != nil {
			return result(0), st, err
		}
		st.receives++
		sent := time.Now()
		req := mzwinrm.NewGetOutputRequest(url, shellID, commandID, "stdout stderr", &params)
		resp, err := tr.Post(client, req)
		req.Free()
		if err != nil {
			if !isOperationTimeout(err) {
				return result(0), st, faultError(err)
			}
			st.timeouts++
			if wait := timedOutPause - time.Since(sent); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
				}
			}
			continue
		}
		if !strings.Contains(resp, "ReceiveResponse") {
			return result(0), st, &kindError{kind: ErrProtocol, msg: "answer to Receive is not a ReceiveResponse"}
		}
		var done bool
		var exit int
		err = parse(func() (err error) { done, exit, err = parseReceive(resp, stdout, stderr); return err })
		if err != nil {
			return result(0), st, &kindError{kind: ErrProtocol, msg: "parse Receive answer: " + err.Error()}
		}
		if done {
			return result(exit), st, nil
		}
	}
}

func (c *Client) closeShell(t Target, shell *mzwinrm.Shell) {
	if err := shell.Close(); err != nil {
		c.cfg.Logger.Debug("winrm delete shell", "host", t.String(), "err", err.Error())
	}
}

// parse runs a decoder of station bytes, a panic in it (there should be
// none) turned into an error rather than the end of the worker.
func parse(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panic: %v", r)
		}
	}()
	return fn()
}

// capBuffer keeps the first max bytes and drops the rest, still reading it.
type capBuffer struct {
	b         []byte
	max       int
	truncated bool
}

func (c *capBuffer) Write(p []byte) (int, error) {
	room := c.max - len(c.b)
	if room < len(p) {
		c.truncated = true
		if room > 0 {
			c.b = append(c.b, p[:room]...)
		}
		return len(p), nil
	}
	c.b = append(c.b, p...)
	return len(p), nil
}

func (c *capBuffer) String() string { return string(c.b) }

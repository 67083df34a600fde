// Command ops-worker is the local server: every HTTP endpoint of the worker
// in one process, on OPS_BIND:OPS_PORT (0.0.0.0:8081 by default). It is what
// `make run` starts and what a gateway host inside the lab LAN runs.
//
// Configuration is the environment (API.md "Configuration"). Without
// MYSQL_DSN it runs on an embedded in-memory database whose data is lost on
// exit, and says so. SIGINT or SIGTERM stops it gracefully: it stops
// accepting, lets the requests in flight finish (at most -shutdown-timeout,
// then cancels them), waits for the WinRM clean-ups, and closes the
// database. A second signal ends it at once.
package main

import (
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
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ops-worker/ops-worker/internal/app"
	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/discovery"
	"github.com/ops-worker/ops-worker/internal/metrics"
	"github.com/ops-worker/ops-worker/internal/scheduler"
)

// Defaults of the HTTP server. WriteTimeout is computed from the
// configuration (see writeTimeout).
const (
	DefaultShutdownTimeout = 60 * time.Second
	readHeaderTimeout      = 10 * time.Second
	// readTimeout covers the whole request body; bodies are small JSON.
	readTimeout    = 30 * time.Second
	idleTimeout    = 2 * time.Minute
	maxHeaderBytes = 64 << 10
	// embeddedDBName is the database name inside the in-memory engine.
	embeddedDBName = "ops_worker"
)

// Main is the program: ParseFlags, Run (returns once listening), then
// Close (graceful shutdown).
type Main struct {
	// Addr is host:port to listen on; "" means OPS_BIND:OPS_PORT. Port 0
	// takes a free port (see BoundAddr).
	Addr string
	// LogFormat is "auto" (text on a terminal, else JSON), "json" or "text".
	LogFormat string
	// ShutdownTimeout bounds how long Close waits for requests in flight
	// before cancelling them; 0: DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// DemoReservation adds the demo's reservations to the embedded
	// database, for `make run`: "demo-1" (lab 1, CONFIRMED, tomorrow), for
	// the README's curl lines, and "demo-2" (lab 2, starting in three
	// minutes, for three), for the reservation tick; and Guacamole
	// connection tables that GET /api/hosts links the hosts to (see
	// demo.go).
	DemoReservation bool
	// DemoPDU, when set (host:port), is a simulated PDU (pdusim) that lab
	// 2's demo power policy switches around demo-2.
	DemoPDU string
	// Healthcheck makes the program a probe instead of a server: GET
	// /health of the server the same environment starts, exit 0 on 200
	// (see healthcheck).
	Healthcheck bool

	// Env, when set, replaces the process environment (tests).
	Env map[string]string
	// LogOutput receives the log; nil: os.Stderr.
	LogOutput io.Writer

	// wrapHandler, when set, wraps the worker's handler (tests).
	wrapHandler func(http.Handler) http.Handler
	// noEmbedded runs without the embedded database when MYSQL_DSN is
	// unset, as a Lambda function does (tests).
	noEmbedded bool
	// discoveryResolver replaces the system's resolver for discovery's
	// probes (tests: no name may be asked of the machine's DNS server).
	discoveryResolver discovery.Resolver

	app      *app.App
	metrics  *metrics.Metrics
	log      *slog.Logger
	srv      *http.Server
	ln       net.Listener
	done     chan struct{} // closed when Serve returns
	serveErr error         // what Serve returned, once done is closed
	closed   bool
	// ticks fires the scheduler's ticks (nil when neither is enabled).
	ticks *scheduler.Timers
	// cancelRequests ends the context of every request still running when
	// ShutdownTimeout has passed, so their WinRM calls stop.
	cancelRequests context.CancelFunc
}

// ParseFlags reads the command line into m.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("ops-worker", flag.ContinueOnError)
	fs.StringVar(&m.Addr, "addr", "", "listen on `host:port` instead of OPS_BIND:OPS_PORT (port 0: any free port)")
	fs.StringVar(&m.LogFormat, "log-format", "auto", "log format: auto (text on a terminal, else json), json or text")
	fs.DurationVar(&m.ShutdownTimeout, "shutdown-timeout", DefaultShutdownTimeout, "on SIGINT/SIGTERM, how long requests in flight may take to finish")
	fs.StringVar(&m.DemoPDU, "demo-pdu", "", "`host:port` of a simulated PDU (pdusim, SNMP v2c, community in "+demoPDUCommunityVar+"): lab "+DemoAutoLab+" gets a power policy switching its two outlets around "+DemoAutoReservationID)
	fs.BoolVar(&m.DemoReservation, "demo-reservation", false, "add reservations "+DemoReservationID+" (lab 1, CONFIRMED, tomorrow) and "+DemoAutoReservationID+" (lab 2, starting in 3 minutes for 3, for OPS_RESERVATION_AUTOMATION) and the demo Guacamole connections (GET /api/hosts links lab-ws-01 and lab-ws-02 to them) to the embedded database")
	fs.BoolVar(&m.Healthcheck, "healthcheck", false, "probe instead of serving: GET /health of the server on OPS_BIND:OPS_PORT (-addr), loopback for 0.0.0.0; exit 0 on 200, else 1 (a container's HEALTHCHECK)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: ops-worker [flags]\n\n"+
			"Serves the ops-worker HTTP API. Configuration is the environment (see\n"+
			"README.md); without MYSQL_DSN the database is in memory and lost on exit.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch m.LogFormat {
	case "auto", app.LogJSON, app.LogText:
	default:
		return fmt.Errorf("-log-format must be auto, json or text, got %q", m.LogFormat)
	}
	if m.ShutdownTimeout < 0 {
		return fmt.Errorf("-shutdown-timeout must not be negative")
	}
	return nil
}

// config reads Env when it is set (tests), else the process environment.
func (m *Main) config(ctx context.Context) (config.Config, error) {
	if m.Env != nil {
		return config.LoadMap(ctx, m.Env)
	}
	return config.Load(ctx)
}

// Run builds the worker, listens, and serves in the background. It returns
// once the listener is open (BoundAddr is then set); Err reports a server
// that stopped on its own.
func (m *Main) Run(ctx context.Context) error {
	cfg, err := m.config(ctx)
	if err != nil {
		return err
	}
	if err := m.newLogger(cfg); err != nil {
		return err
	}
	if err := m.buildApp(ctx, cfg); err != nil {
		return err
	}
	if m.DemoReservation {
		now := time.Now()
		if err := addDemoReservation(ctx, m.app, now); err != nil {
			return err
		}
		m.log.Info("demo reservations added", "reservation_ids", DemoReservationID+","+DemoAutoReservationID)
		if err := addDemoGuacamole(ctx, m.app); err != nil {
			return err
		}
		m.log.Info("demo Guacamole connections added", "database", demoGuacamoleDB, "connections", len(DemoGuacamole))
		logDemoPlan(m.log, cfg, m.app, now)
	}
	if m.DemoPDU != "" {
		if err := addDemoPower(ctx, m.app, m.DemoPDU); err != nil {
			return err
		}
		m.log.Info("demo power: lab "+DemoAutoLab+"'s bench behind the simulated PDU (outlets 1 plc, 2 hmi), policy demo-bench", "pdu", m.DemoPDU)
	}
	if err := m.serve(ctx, cfg); err != nil {
		return err
	}
	m.startTicks(ctx, cfg)

	m.log.Info("listening", "addr", m.ln.Addr().String(), "url", "http://"+m.ln.Addr().String(),
		"db_kind", m.app.DBKind(), "hosts_loaded", m.app.Hosts().Catalog().Len(),
		"write_timeout", m.srv.WriteTimeout.String())
	if m.app.DBKind() == app.DBEmbedded {
		m.log.Warn("the database is IN MEMORY: everything recorded is lost when ops-worker stops")
	}
	return nil
}

// newLogger writes to LogOutput (stderr) in LogFormat; "auto" is text on a
// terminal, JSON otherwise.
func (m *Main) newLogger(cfg config.Config) error {
	out := m.LogOutput
	if out == nil {
		out = os.Stderr
	}
	format := m.LogFormat
	if format == "" || format == "auto" {
		format = app.LogJSON
		if isTerminal(out) {
			format = app.LogText
		}
	}
	var err error
	m.log, err = app.NewLogger(cfg, format, out)
	return err
}

// buildApp builds the worker with the local server's metrics. Prometheus
// lives here, not in internal/app: the Lambda functions build the same app
// without it (they write EMF lines instead).
func (m *Main) buildApp(ctx context.Context, cfg config.Config) error {
	m.metrics = metrics.New(metrics.Options{KnownHost: m.knownHost})
	opts := app.Options{
		Logger:         m.log,
		EmbeddedDB:     embeddedDB,
		MetricsHandler: m.metrics.Handler(),
		Observers: app.Observers{HTTP: m.metrics, WinRM: m.metrics, Wake: m.metrics, Polls: m.metrics,
			Ticks: m.metrics, Backoff: m.metrics, Notify: m.metrics, Streams: m.metrics, Power: m.metrics},
	}
	if m.noEmbedded {
		opts.EmbeddedDB = nil
	}
	opts.DiscoveryResolver = m.discoveryResolver
	if m.DemoReservation {
		opts.EmbeddedGuacamoleDB = demoGuacamoleDB
	}
	var err error
	if m.app, err = app.New(ctx, cfg, opts); err != nil {
		return err
	}
	m.metrics.RegisterIdleConnections(m.app.WinRMIdleConnections)
	if st := m.app.Store(); st != nil {
		m.metrics.Registry().MustRegister(collectors.NewDBStatsCollector(st.DB, m.app.DBKind()))
		if m.app.DBKind() == app.DBMySQL {
			seedHeartbeats(ctx, m.app, m.metrics, m.log)
		}
	}
	return nil
}

// serve listens and serves the API in the background (Close stops it).
func (m *Main) serve(ctx context.Context, cfg config.Config) error {
	addr := m.Addr
	if addr == "" {
		addr = net.JoinHostPort(cfg.Bind, strconv.Itoa(cfg.Port))
	}
	var err error
	m.ln, err = net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	handler := m.app.Handler()
	if m.wrapHandler != nil {
		handler = m.wrapHandler(handler)
	}
	reqCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancelRequests = cancel
	m.srv = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout(cfg),
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
	}
	// Shutdown waits for handlers, and a heartbeat stream never ends by
	// itself: end them all as soon as it starts.
	m.srv.RegisterOnShutdown(m.app.CloseStreams)
	m.done = make(chan struct{})
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(m.ln); !errors.Is(err, http.ErrServerClosed) {
			m.serveErr = fmt.Errorf("serve: %w", err)
		}
	}()
	return nil
}

// startTicks starts the heartbeat and reservation timers that
// OPS_POLL_ENABLED and OPS_RESERVATION_AUTOMATION ask for. Each kind runs
// one tick at a time (the next waits for the one running); on the embedded
// database, which has no row locks, that is also what keeps the
// reservation tick's claims exactly-once, so only one local server may run
// on it (it is private to this process anyway).
func (m *Main) startTicks(ctx context.Context, cfg config.Config) {
	if !cfg.PollEnable && !cfg.ReservationAutomation {
		m.log.Info("scheduler ticks off (OPS_POLL_ENABLED, OPS_RESERVATION_AUTOMATION); POST /api/ticks/* runs one on demand")
		return
	}
	if cfg.ReservationAutomation && m.app.DBKind() == app.DBNone {
		m.log.Warn("OPS_RESERVATION_AUTOMATION=true but there is no database: every reservation tick fails (Database not configured)")
	}
	o := scheduler.TimerOptions{
		Heartbeats: cfg.PollEnable, HeartbeatInterval: cfg.PollInterval(),
		Reservations: cfg.ReservationAutomation, ReservationInterval: cfg.ScanInterval(),
	}
	m.ticks = m.app.Scheduler().StartTimers(context.WithoutCancel(ctx), o)
	m.log.Info("scheduler ticks on", "heartbeats", o.Heartbeats, "poll_interval", o.HeartbeatInterval.String(),
		"poll_concurrency", cfg.PollConcurrency, "reservations", o.Reservations,
		"scan_interval", o.ReservationInterval.String(), "end_power", cfg.ReservationEndPower)
}

// writeTimeout is how long a response may take: the flow budget
// (app.FlowTimeout, the one the reservation tick gives a flow: two
// guard-length commands, the power-off wait, two minutes) and writeMargin
// for the records and the answer, so that no flow outlives its HTTP
// answer. A prepare-session asked for a guard grace longer than the
// budget's still runs longer (the WinRM client gives it grace + 60 s): its
// steps are recorded (see the timeline), but the caller's connection is
// cut before the answer.
func writeTimeout(cfg config.Config) time.Duration {
	return app.FlowTimeout(cfg) + writeMargin
}

// writeMargin is the part of the write deadline after the flow budget.
const writeMargin = 30 * time.Second

// BoundAddr is the address the server listens on ("" before Run).
func (m *Main) BoundAddr() string {
	if m.ln == nil {
		return ""
	}
	return m.ln.Addr().String()
}

// Done is closed when the server stops serving (after Close, or on its own
// on an accept error, which Close then returns). nil before Run.
func (m *Main) Done() <-chan struct{} { return m.done }

// Close stops accepting, waits up to ShutdownTimeout for the requests in
// flight, cancels those still running, then closes the worker (WinRM
// clean-ups, database).
func (m *Main) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	ticksDone := make(chan struct{})
	go func() {
		defer close(ticksDone)
		if m.ticks != nil {
			// A tick running finishes (its flows are recorded) within the
			// shutdown timeout, else it is cancelled.
			timeout := m.ShutdownTimeout
			if timeout == 0 {
				timeout = DefaultShutdownTimeout
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			m.ticks.Stop(ctx)
		}
	}()
	if m.srv != nil {
		timeout := m.ShutdownTimeout
		if timeout == 0 {
			timeout = DefaultShutdownTimeout
		}
		m.log.Info("shutting down: waiting for requests in flight", "timeout", timeout.String())
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := m.srv.Shutdown(ctx)
		cancel()
		if err != nil {
			m.log.Warn("requests still running after the shutdown timeout: cancelling them", "timeout", timeout.String())
			m.cancelRequests()
			// Cancelled handlers return quickly (every WinRM call follows
			// its context); Close drops whatever connection remains.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := m.srv.Shutdown(ctx); err != nil {
				errs = append(errs, m.srv.Close())
			}
			cancel()
		}
		m.cancelRequests()
		<-m.done
		errs = append(errs, m.serveErr)
	} else if m.ln != nil {
		errs = append(errs, m.ln.Close())
	}
	<-ticksDone
	if m.app != nil {
		errs = append(errs, m.app.Close())
		if m.log != nil {
			m.log.Info("stopped")
		}
	}
	return errors.Join(errs...)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// runMain runs the program and returns its exit status.
func runMain(args []string) int {
	// Subcommands: one-shot tools beside the server.
	if len(args) > 0 {
		switch args[0] {
		case "reseal-credentials":
			return resealCredentials(args[1:], os.Stdout, os.Stderr)
		case "import-credentials":
			return importCredentials(args[1:], os.Stdout, os.Stderr)
		}
	}
	m := &Main{}
	if err := m.ParseFlags(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "ops-worker:", err)
		return 2
	}
	if m.Healthcheck {
		return m.healthcheck(context.Background(), os.Stdout, os.Stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ops-worker:", err)
		_ = m.Close()
		return 1
	}
	status := 0
	select {
	case <-ctx.Done():
	case <-m.Done():
		status = 1 // Close reports why
	}
	stop() // a second signal now ends the process at once
	if err := m.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "ops-worker:", err)
		status = 1
	}
	return status
}

func main() {
	os.Exit(runMain(os.Args[1:]))
}

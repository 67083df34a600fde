// Package app builds the worker from its configuration: the one
// construction that the local server (cmd/ops-worker) and every Lambda
// function (functions/<name>) share, so they can never disagree on how a
// host catalog is loaded, which database is used or how the API is guarded.
//
// New does the cold start: logger, host catalog, database (opened and
// migrated), the lab (Wake-on-LAN and WinRM, the WinRM client built only
// when a call first needs it), the use cases and the HTTP handler.
//
// This package never links the embedded database (go-mysql-server adds
// tens of megabytes): the local server hands it in through
// Options.EmbeddedDB, and a Lambda function leaves that nil.
package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ops-worker/ops-worker/internal/api"
	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/credentials"
	"github.com/ops-worker/ops-worker/internal/discovery"
	"github.com/ops-worker/ops-worker/internal/guacamole"
	"github.com/ops-worker/ops-worker/internal/heartbeatstream"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/lab/credlab"
	"github.com/ops-worker/ops-worker/internal/lab/direct"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/notify"
	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/powerops"
	"github.com/ops-worker/ops-worker/internal/relayclient"
	"github.com/ops-worker/ops-worker/internal/scheduler"
	"github.com/ops-worker/ops-worker/internal/store"
	"github.com/ops-worker/ops-worker/internal/telemetry"
	"github.com/ops-worker/ops-worker/internal/wake"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// The database adapter is what the use cases need of it.
var (
	_ ops.Store           = (*store.Store)(nil)
	_ ops.PollStateReader = (*store.Store)(nil)
	_ scheduler.Store     = (*store.Store)(nil)
	_ credentials.Store   = (*store.Store)(nil)
)

// Kinds of database, as /health reports them (ops.Service.DBKind).
const (
	DBMySQL    = "mysql"
	DBEmbedded = "embedded-memory"
	DBNone     = "none"
)

// EmbeddedDB is a database running inside the process (memsql.Server has
// this shape). Its data is lost when the process exits.
type EmbeddedDB interface {
	// Config is the driver config that reaches it.
	Config() *mysql.Config
	Close() error
}

// Options are what differs between the ways of running the worker. The
// zero value is what a Lambda function wants, apart from the pool size
// (DBMaxOpenConns), the logger, Route and SkipMigrations (see
// internal/lambdafn).
type Options struct {
	// EmbeddedDB starts an in-process database, used only when MYSQL_DSN
	// is empty. nil (Lambda): no embedded database; with MYSQL_DSN empty
	// the worker then runs without a database (DBKind "none").
	EmbeddedDB func(ctx context.Context) (EmbeddedDB, error)

	// Logger, when set, is used as is (OPS_LOG_LEVEL is then the caller's
	// business). nil: a new one writing to LogOutput in LogFormat at
	// OPS_LOG_LEVEL.
	Logger *slog.Logger
	// LogFormat is LogJSON (the default, for CloudWatch and log shippers)
	// or LogText (for a terminal).
	LogFormat string
	// LogOutput is where a new logger writes; nil: os.Stderr.
	LogOutput io.Writer

	// DBMaxOpenConns and DBMaxIdleConns size the connection pool; 0 keeps
	// store.Open's (store.DefaultMaxOpenConns and DefaultMaxIdleConns: the
	// local server polls many hosts at once). A Lambda instance serves one request at a time: 2 and 1 are
	// plenty there. database/sql opens connections only when a query
	// needs one, so a small pool costs nothing until it is used (store.Open
	// does check one connection at start, and Migrate uses it).
	DBMaxOpenConns int
	DBMaxIdleConns int

	// Version is reported by /health; "": the module's build information.
	Version string

	// SourceAddr is the caller's address when it is not the TCP peer
	// (Lambda: API Gateway's requestContext.http.sourceIp); see api.Guard.
	SourceAddr func(r *http.Request) (netip.Addr, bool)
	// RequestIDFallback gives a platform request id (Lambda's) used when
	// the caller sent no valid X-Request-ID; nil: none.
	RequestIDFallback func(r *http.Request) string
	// MetricsHandler serves GET /metrics (local server); nil: no route.
	MetricsHandler http.Handler
	// Route, when set, restricts the handler to the one api.Routes entry
	// of that Name (a Lambda function serves only its own endpoint); "":
	// every route (the local server). See api.Options.Route.
	Route string
	// SkipMigrations leaves the schema alone at start. The Lambda HTTP
	// functions set it: a dozen functions each migrating on every cold
	// start is wasted work on the hot path, so the stack migrates once
	// per deploy instead (functions/migrate). false: New applies the
	// migrations (the local server, tests).
	SkipMigrations bool
	// LazyDB opens the pool without connecting: the first query does.
	// The Lambda functions set it, so a database that is down fails the
	// requests that need it (in the error contract, and /health says
	// "db": false) instead of every cold start. Migrations need a
	// connection: LazyDB is meant with SkipMigrations. false: New checks
	// a connection (store.Open).
	LazyDB bool
	// EmbeddedGuacamoleDB names a database of the embedded engine that
	// holds Guacamole's connection tables (the local demo seeds one), read
	// when the embedded database runs and no Guacamole database is
	// configured; "": none.
	EmbeddedGuacamoleDB string
	// DiscoveryResolver, when set, resolves the hostnames discovery probes
	// (tests: a name that must not resolve would otherwise be asked of the
	// machine's DNS server); nil: the system's resolver.
	DiscoveryResolver discovery.Resolver
	// PowerDrivers builds the power controllers' drivers; nil: the real
	// drivers (internal/power/drivers: apc-powernet-snmp, netio-json,
	// mock with its state in memory). Tests hand in fakes.
	PowerDrivers powerops.DriverFactory
	// Observers are the metrics hooks (the local server fills them from
	// internal/metrics); the zero value observes nothing and costs
	// nothing, and keeps any metrics library out of a Lambda function.
	Observers Observers
}

// Observers are told what the worker does, for metrics. Each nil field
// observes nothing.
type Observers struct {
	// HTTP: every request's route pattern, status and duration.
	HTTP api.RequestObserver
	// WinRM: every WinRM call's outcome and duration.
	WinRM winrm.Observer
	// Wake: every Wake-on-LAN wake's result.
	Wake wake.Observer
	// Polls: every heartbeat poll's outcome (ops.Service.Polls).
	Polls ops.PollObserver
	// Ticks and Backoff are for the scheduler (App.Observers hands them
	// on): every tick's summary, and each station's back-off state. A
	// Lambda tick function sets Ticks to &telemetry.EMFWriter{W: os.Stdout}.
	Ticks   telemetry.TickObserver
	Backoff telemetry.BackoffObserver
	// Notify: every failure notification sent, failed or dropped.
	Notify notify.Observer
	// Streams: the heartbeat streams' open count and their hub's beats.
	Streams heartbeatstream.Observer
	// Power: every executed power step and every outlet state read.
	Power powerops.Observer
}

// App is a built worker. Handler serves its API; Close releases what New
// opened.
type App struct {
	cfg     config.Config
	logger  *slog.Logger
	hosts   *hosts.Registry
	store   *store.Store         // nil: no database
	embed   EmbeddedDB           // nil: none started
	guac    *guacamole.Directory // nil: no Guacamole database
	dbKind  string
	lab     *direct.Lazy
	creds   *credentials.Service // nil: no database
	service *ops.Service
	sched   *scheduler.Scheduler
	notify  *notify.Dispatcher // nil: no notification target
	guard   *api.Guard
	handler http.Handler
	obs     Observers
	streams *heartbeatstream.Hub
	router  *relayclient.Router
	power   *powerops.Service // nil: no database

	closeOnce sync.Once
	closeErr  error
}

// New builds the worker from cfg. ctx bounds the start-up work (database
// connection and migrations), not the App's lifetime. On error, whatever
// was started is closed again.
func New(ctx context.Context, cfg config.Config, o Options) (_ *App, err error) {
	a := &App{cfg: cfg, obs: o.Observers}
	defer func() {
		if err != nil {
			_ = a.Close()
		}
	}()
	if err := a.newLogger(o); err != nil {
		return nil, err
	}
	if a.cfg.HostsPath == hosts.NoFile && a.cfg.MySQLDSN == "" && o.EmbeddedDB == nil {
		return nil, errors.New("OPS_CONFIG=none needs a database (MYSQL_DSN)")
	}
	if err := a.openDB(ctx, o); err != nil {
		return nil, err
	}
	if err := a.newCredentials(); err != nil {
		return nil, err
	}
	if err := a.loadHosts(ctx, o); err != nil {
		return nil, err
	}
	labs, relayPing, err := a.newLab(o)
	if err != nil {
		return nil, err
	}
	a.service = &ops.Service{
		Registry:  a.hosts,
		Lab:       labs,
		RelayPing: relayPing,
		Settings:  Settings(cfg),
		Logger:    a.logger,
		Version:   firstNonEmpty(o.Version, Version()),
		DBKind:    a.dbKind,
		Polls:     o.Observers.Polls,
	}
	// The interface field stays nil without a database: a typed nil
	// *store.Store in it would look configured and panic on first use.
	if a.store != nil {
		a.service.Store = a.store
	}
	if a.creds != nil {
		a.service.Credentials = ops.CredentialResolvers{ops.CatalogCredentials{}, a.creds}
	}
	if err := a.openGuacamole(o); err != nil {
		return nil, err
	}
	if err := a.newProvisioning(o); err != nil {
		return nil, err
	}
	if err := a.newNotifier(o); err != nil {
		return nil, err
	}
	if err := a.newPower(o); err != nil {
		return nil, err
	}
	a.newScheduler(o)
	a.newGuard(o)
	a.streams = heartbeatstream.New(a.service, heartbeatstream.Options{Interval: cfg.HeartbeatSSEInterval(),
		Max: cfg.HeartbeatStreamMax, Observer: o.Observers.Streams, Logger: a.logger})
	a.handler = newHandler(handlerDeps{
		service:           a.service,
		guard:             a.guard,
		logger:            a.logger,
		requestIDFallback: o.RequestIDFallback,
		metrics:           o.MetricsHandler,
		route:             o.Route,
		observer:          o.Observers.HTTP,
		ticks:             a.sched,
		power:             a.power,
		streams:           api.StreamOptions{Hub: a.streams, EndMargin: cfg.HeartbeatStreamEndMargin()},
	})
	a.logger.Info("worker ready", "version", a.service.Version, "db_kind", a.dbKind,
		"hosts_loaded", a.hosts.Catalog().Len(), "hosts_path", cfg.HostsPath)
	return a, nil
}

// newLogger is o's logger, else a new one as the configuration says;
// lines the use cases log with a request's context carry its id.
func (a *App) newLogger(o Options) error {
	a.logger = o.Logger
	if a.logger == nil {
		l, err := NewLogger(a.cfg, o.LogFormat, o.LogOutput)
		if err != nil {
			return err
		}
		a.logger = l
	}
	a.logger = slog.New(api.LogHandler(a.logger.Handler()))
	return nil
}

// loadHosts loads the host catalog, logging its warnings: the file, then,
// with a database, the database part merged in (ops_catalog_hosts). With
// LazyDB (Lambda) a database down at the cold start does not fail it: the
// database part is then first read by the first request (Current), and
// so with SkipMigrations.
func (a *App) loadHosts(ctx context.Context, o Options) error {
	cfg := a.cfg
	opts := hosts.Options{StationPrefixes: cfg.StationPrefixes(), RefreshEvery: cfg.CatalogRefresh(), Logger: a.logger}
	if a.store != nil {
		opts.Dynamic = CatalogStore(a.store)
		// The schema may not be there yet with SkipMigrations (the deploy's
		// migrate function makes it): no start-up read either.
		opts.DeferDynamic = o.LazyDB || o.SkipMigrations
	}
	reg, warns, err := hosts.NewRegistryWith(ctx, cfg.HostsPath, opts)
	for _, w := range warns {
		a.logger.Warn("host catalog: "+w, "path", cfg.HostsPath)
	}
	if err != nil {
		return err // already "host catalog <path>: ..."
	}
	a.hosts = reg
	return nil
}

// newLab is the lab the use cases act through: the direct one (its WinRM
// client built on first need) behind the relay router. Hosts whose entry
// names a relay, or all with OPS_RELAY_URL, go through one; the others
// directly. Without OPS_RELAY_SECRET a host naming a relay fails
// (CONFIG_INVALID) rather than go direct. relayPing is nil without
// OPS_RELAY_URL.
func (a *App) newLab(o Options) (_ lab.Lab, relayPing func(context.Context) error, _ error) {
	cfg := a.cfg
	a.lab = newLazyLab(cfg, a.logger, o.Observers)
	if cfg.RelayURL != "" {
		if err := relayclient.CheckURL(cfg.RelayURL); err != nil {
			return nil, nil, fmt.Errorf("OPS_RELAY_URL: %w", err)
		}
	}
	// Stored credentials fill in for the direct lab only: a relay's own
	// worker resolves the credentials of the hosts behind it.
	var directLab lab.Lab = a.lab
	if a.creds != nil {
		directLab = credlab.Lab{Inner: a.lab, Resolver: a.creds}
	}
	rr := relayclient.NewRouter(directLab, cfg.RelayURL, cfg.RelaySecretFor, cfg.HeartbeatStaleAfter())
	a.router = rr
	if cfg.RelayURL != "" {
		relayPing = rr.Ping
		a.logger.Info("relay mode: hosts are reached through the relay", "relay_url", cfg.RelayURL)
	}
	return rr, relayPing, nil
}

// newCredentials builds the credential store over the database, when
// there is one. Without OPS_SECRETS_KEY it refuses writes (ErrNoKey) and
// resolves nothing, and the worker runs on its catalog's credentials.
func (a *App) newCredentials() error {
	if a.store == nil {
		return nil
	}
	ring, err := a.cfg.Keyring()
	if err != nil {
		return err // names the variable, never the key
	}
	a.creds = credentials.New(a.store, ring, credentials.Options{CacheTTL: a.cfg.CredentialCacheTTL(), Logger: a.logger})
	if ring == nil {
		a.logger.Info("credential store: no OPS_SECRETS_KEY, stored credentials are off (the catalog's are used)")
	} else {
		a.logger.Info("credential store ready", "key_id", ring.CurrentID(), "key_ids", ring.IDs())
	}
	return nil
}

// newPower builds the power use cases over the database's catalog, the
// credential store and o.PowerDrivers; without a database there is none
// (the power routes answer 503).
func (a *App) newPower(o Options) error {
	if a.store == nil {
		return nil
	}
	if dir := a.cfg.PowerMockStateDir; dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("OPS_POWER_MOCK_STATE_DIR: %w", err)
		}
	}
	factory := o.PowerDrivers
	if factory == nil {
		factory = realPowerDrivers(a.logger, a.cfg.PowerMockStateDir, a.cfg.PowerCAFile)
	}
	po := powerops.Options{Store: a.store, Drivers: factory, Logger: a.logger, Observer: o.Observers.Power}
	if a.router != nil {
		// With OPS_RELAY_URL, controllers are driven by the relay (it holds
		// their credentials), as hosts are reached through it.
		po.Remote = a.router.PowerDriver
	}
	if a.creds != nil {
		po.Credentials = a.creds
	}
	a.power = powerops.New(po)
	a.service.Power = flowPower{s: a.power, retryable: a.store.IsConnectionError}
	return nil
}

// Power is the power use cases (nil without a database).
func (a *App) Power() *powerops.Service { return a.power }

// Credentials is the credential store (nil without a database).
func (a *App) Credentials() *credentials.Service { return a.creds }

// newScheduler builds the ticks over the use cases and the database.
func (a *App) newScheduler(o Options) {
	a.sched = scheduler.New(a.service, nil, SchedulerConfig(a.cfg), a.logger)
	if o.Observers.Ticks != nil || o.Observers.Backoff != nil {
		a.sched.Observer = scheduler.TelemetryObserver(o.Observers.Ticks, o.Observers.Backoff)
	}
	if a.store != nil {
		a.sched.Store = a.store
	}
}

// newGuard builds the API's guard and warns of an open or closed API.
func (a *App) newGuard(o Options) {
	cfg := a.cfg
	a.guard = &api.Guard{
		Token:          cfg.LabManagerToken,
		InternalToken:  cfg.InternalAuthToken,
		InternalHeader: cfg.InternalAuthHeader,
		AuthDisabled:   cfg.AuthDisabled,
		Allowed:        cfg.AllowedPrefixes(),
		TrustedProxies: cfg.TrustedProxyPrefixes(),
		SourceAddr:     o.SourceAddr,
	}
	switch {
	case cfg.AuthDisabled:
		a.logger.Warn("OPS_AUTH_DISABLED=true: the API accepts every caller without a token; for local development only")
	case cfg.LabManagerToken == "" && cfg.InternalAuthToken == "":
		a.logger.Warn("neither LAB_MANAGER_TOKEN nor OPS_INTERNAL_AUTH_TOKEN is set: every /api/* route answers 503 until one is")
	}
}

// FromEnv reads the process environment (config.Load) and builds the
// worker with o: all a Lambda function's main needs before wrapping
// Handler, e.g.
//
//	a, err := app.FromEnv(ctx, app.Options{DBMaxOpenConns: 2, DBMaxIdleConns: 1})
//	...
//	lambda.Start(httpadapter.NewV2(a.Handler()).ProxyWithContext)
func FromEnv(ctx context.Context, o Options) (*App, error) {
	cfg, err := config.Load(ctx)
	if err != nil {
		return nil, err
	}
	return New(ctx, cfg, o)
}

// openDB opens MYSQL_DSN, else the embedded database when the caller
// offers one, else nothing; then applies the migrations.
func (a *App) openDB(ctx context.Context, o Options) error {
	var dcfg *mysql.Config
	switch {
	case a.cfg.MySQLDSN != "":
		c, err := config.ParseDSN(a.cfg.MySQLDSN)
		if err != nil {
			return fmt.Errorf("MYSQL_DSN: %w", err)
		}
		dcfg, a.dbKind = c, DBMySQL
	case o.EmbeddedDB != nil:
		e, err := o.EmbeddedDB(ctx)
		if err != nil {
			return fmt.Errorf("embedded database: %w", err)
		}
		a.embed = e
		dcfg, a.dbKind = e.Config(), DBEmbedded
		a.logger.Warn("MYSQL_DSN is not set: using an EMBEDDED IN-MEMORY database; " +
			"every heartbeat, operation and quarantine flag is LOST when this process exits. " +
			"Set MYSQL_DSN to keep them.")
	default:
		a.dbKind = DBNone
		a.logger.Warn("MYSQL_DSN is not set: running without a database (nothing is recorded; the timeline answers 'Database not configured')")
		return nil
	}
	var st *store.Store
	if o.LazyDB {
		conn, err := mysql.NewConnector(dcfg)
		if err != nil {
			return fmt.Errorf("database config: %w", err)
		}
		st = &store.Store{DB: sql.OpenDB(conn)}
		store.KeepFresh(st.DB)
	} else {
		var err error
		if st, err = store.Open(ctx, dcfg); err != nil {
			return err // store.Open names the address, never the password
		}
	}
	a.store = st
	if o.DBMaxOpenConns > 0 {
		st.DB.SetMaxOpenConns(o.DBMaxOpenConns)
	}
	if o.DBMaxIdleConns > 0 {
		st.DB.SetMaxIdleConns(o.DBMaxIdleConns)
	}
	if o.SkipMigrations {
		return nil
	}
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("database migrations: %w", err)
	}
	return nil
}

// Settings converts the configuration into what the use cases read.
func Settings(cfg config.Config) ops.Settings {
	return ops.Settings{
		AllowedCommands:       append([]string(nil), cfg.AllowedCommands...),
		TimelineDefaultLimit:  cfg.TimelineDefaultLimit,
		TimelineMaxOps:        cfg.TimelineMaxOps,
		TimelinePhaseLookback: cfg.TimelinePhaseLookback,
		HeartbeatStaleAfter:   cfg.HeartbeatStaleAfter(),
		RelayConfigured:       cfg.RelayURL != "",
		StationPrefixes:       cfg.StationPrefixes(),
		MaxGuardGrace:         cfg.MaxGuardGrace(),
	}
}

// SchedulerConfig converts the configuration into the ticks' knobs.
func SchedulerConfig(cfg config.Config) scheduler.Config {
	return scheduler.Config{
		PollConcurrency: cfg.PollConcurrency,
		// A poll is one WinRM command, which the lab layer bounds by two
		// operation timeouts; a little more here covers the dial and probe.
		PollTimeout: 2*cfg.WinRMOperationTimeout() + 5*time.Second,
		// The first back-off step is one poll interval: a station that
		// failed twice is skipped once, then twice as long each time.
		BackoffBase: cfg.PollInterval(),
		Window: store.Window{
			StartLead:     cfg.StartLead(),
			EndDelay:      cfg.EndDelay(),
			Lookback:      cfg.Lookback(),
			RetryCooldown: cfg.RetryCooldown(),
			MaxBatch:      cfg.MaxBatch,
		},
		FlowTimeout:  FlowTimeout(cfg),
		EndPower:     cfg.ReservationEndPower,
		PowerOffWait: cfg.PowerOffWait(),
	}
}

// FlowTimeout is the reservation flows' backstop (scheduler
// Config.FlowTimeout), above the own deadlines of a flow's steps one after
// another, so that a hung station command ends at its own deadline and
// releases the station's lock then, never cut earlier by the flow (which
// would also cut a session guard that legitimately waits its grace). A
// command's own deadline is direct.Direct's: OPS_WINRM_COMMAND_TIMEOUT, raised
// for a session-guard command to its grace + 60 s (labstation.MinRunTime;
// 150 s with the default 90 s grace). The end flow is the longer: release
// (a guard command), power, then the power-off wait; the start flow's wake
// and prepare fit in the same. 2 minutes more cover the wake's probes and
// the records.
func FlowTimeout(cfg config.Config) time.Duration {
	cmd := cfg.WinRMCommandTimeout()
	guard := max(cmd, labstation.MinRunTime(labstation.CmdReleaseSession, nil))
	return 2*guard + cfg.PowerOffWait() + 2*time.Minute
}

// CloseStreams ends every heartbeat stream (their pollers stop, each
// stream's handler returns) and refuses new ones: http.Server.Shutdown
// waits for handlers but never ends a stream by itself, so the local
// server calls this from RegisterOnShutdown. Close calls it too.
func (a *App) CloseStreams() {
	if a.streams != nil {
		a.streams.Close()
	}
}

// Streams is the heartbeat streams' hub.
func (a *App) Streams() *heartbeatstream.Hub { return a.streams }

// Handler is the whole HTTP API (every route, guard, request ids).
func (a *App) Handler() http.Handler { return a.handler }

// Service is the use cases, for the tick functions and tests.
func (a *App) Service() *ops.Service { return a.service }

// Observers are the metrics hooks New was given.
func (a *App) Observers() Observers { return a.obs }

// Scheduler runs the heartbeat and reservation ticks (the local server's
// timers, the tick routes and the tick Lambda functions call it).
func (a *App) Scheduler() *scheduler.Scheduler { return a.sched }

// Logger is the worker's logger.
func (a *App) Logger() *slog.Logger { return a.logger }

// DBKind is "mysql", "embedded-memory" or "none".
func (a *App) DBKind() string { return a.dbKind }

// Hosts is the host registry.
func (a *App) Hosts() *hosts.Registry { return a.hosts }

// Store is the database, nil when there is none.
func (a *App) Store() *store.Store { return a.store }

// WinRMIdleConnections is the number of authenticated station connections
// kept for reuse (a gauge of the local server's /metrics).
func (a *App) WinRMIdleConnections() int {
	if a.lab == nil {
		return 0
	}
	return a.lab.IdleConnections()
}

// Close waits for the WinRM clean-ups of abandoned calls (each bounded),
// then closes the pool and the embedded database. Stop serving requests
// first (http.Server.Shutdown). Calling it again returns the first result.
func (a *App) Close() error {
	a.closeOnce.Do(func() {
		var errs []error
		a.CloseStreams() // first: a stream's poll could still fail and notify
		// The notifications queued are sent (and recorded) before the
		// database closes, for at most notifyDrainTimeout.
		if a.notify != nil {
			ctx, cancel := context.WithTimeout(context.Background(), notifyDrainTimeout)
			errs = append(errs, a.notify.Close(ctx))
			cancel()
		}
		if a.lab != nil {
			errs = append(errs, a.lab.Close())
		}
		if a.store != nil {
			errs = append(errs, a.store.Close())
		}
		if a.guac != nil {
			errs = append(errs, a.guac.Close())
		}
		if a.embed != nil {
			errs = append(errs, a.embed.Close())
		}
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// Package metrics is the local server's Prometheus instrumentation: one
// Metrics, holding its own registry (never the global default one), that
// implements every observer hook of the worker (api.RequestObserver,
// winrm.Observer, wake.Observer, ops.PollObserver, powerops.Observer, and
// the scheduler's telemetry.TickObserver and telemetry.BackoffObserver) and
// serves them all on Handler (GET /metrics, mounted by api behind the guard).
//
// Only cmd/ops-worker imports it: the Lambda functions build the worker
// with internal/app, which knows the hooks but not this package, so
// Prometheus never enters their binaries (they write EMF lines instead,
// telemetry.EMFLine).
//
// Every label is bounded: routes are the mux's patterns, never raw paths;
// WinRM ops are capped (MaxOps); per-station series exist only for hosts
// of the catalog in force (Options.KnownHost), and disappear when a
// reload removes the host; power outlet series are capped
// (MaxOutletSeries).
package metrics

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ops-worker/ops-worker/internal/api"
	"github.com/ops-worker/ops-worker/internal/notify"
	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/telemetry"
	"github.com/ops-worker/ops-worker/internal/wake"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// Namespace prefixes every metric name.
const Namespace = "ops"

// MaxOps bounds the distinct values of the WinRM "op" label; further ops
// are counted as "other".
const MaxOps = 32

// Label values for what has no bounded name.
const (
	Unmatched = "unmatched" // route of a request no route served (404, 405)
	Other     = "other"
)

// durationBuckets (seconds) cover a fast API answer up to a long WinRM
// command (OPS_WINRM_COMMAND_TIMEOUT, minutes).
var durationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// Options configure New.
type Options struct {
	// KnownHost reports whether name is a host of the catalog in force.
	// Per-station series are kept only for those (bounded cardinality, and
	// a host removed by a reload disappears at the next scrape). nil:
	// every host observed is kept (tests).
	KnownHost func(name string) bool
	// Now is the clock of the heartbeat age; nil: time.Now.
	Now func() time.Time
	// NoRuntime leaves out the Go runtime and process collectors.
	NoRuntime bool
}

// Metrics is the worker's Prometheus registry and its observers. Safe for
// concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	winrmCalls    *prometheus.CounterVec
	winrmDuration *prometheus.HistogramVec
	opsMu         sync.Mutex
	ops           map[string]bool

	wakes        *prometheus.CounterVec
	wakePackets  prometheus.Counter
	wakeDuration prometheus.Histogram

	polls    *prometheus.CounterVec
	stations *stationCollector

	tickRuns        *prometheus.CounterVec
	tickDuration    *prometheus.HistogramVec
	tickLastRun     *prometheus.GaugeVec
	tickLastSuccess *prometheus.GaugeVec
	tickItems       *prometheus.CounterVec
	claims          *prometheus.CounterVec

	notifications *prometheus.CounterVec // notify.go
	streams       streamMetrics
	power         *powerMetrics // power.go
}

// The hooks Metrics implements.
var (
	_ api.RequestObserver       = (*Metrics)(nil)
	_ winrm.Observer            = (*Metrics)(nil)
	_ wake.Observer             = (*Metrics)(nil)
	_ ops.PollObserver          = (*Metrics)(nil)
	_ telemetry.TickObserver    = (*Metrics)(nil)
	_ telemetry.BackoffObserver = (*Metrics)(nil)
	_ notify.Observer           = (*Metrics)(nil)
)

// RegisterIdleConnections exports n (the WinRM client's kept connections)
// as ops_winrm_idle_connections, read at each scrape.
func (m *Metrics) RegisterIdleConnections(n func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "winrm", Name: "idle_connections",
		Help: "Authenticated station connections kept for the next call (OPS_WINRM_MAX_IDLE_CONNS)."},
		func() float64 { return float64(n()) }))
}

// New builds the metrics on a registry of their own.
func New(o Options) *Metrics {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	m := &Metrics{reg: prometheus.NewRegistry(), ops: map[string]bool{}}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }

	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "http", Name: "requests_total",
		Help: "HTTP requests answered, by method and route pattern (never the raw path; \"unmatched\" for 404/405) and status code."},
		[]string{"method", "route", "status"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "http", Name: "request_duration_seconds",
		Help: "Time to answer an HTTP request, by method and route pattern.", Buckets: durationBuckets},
		[]string{"method", "route"})
	f(m.httpRequests)
	f(m.httpDuration)

	m.winrmCalls = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "winrm", Name: "calls_total",
		Help: "WinRM calls, by op (\"run <command>\", \"heartbeat\", ...) and outcome (ok, or the error kind: unreachable, timeout, unauthorized, ...)."},
		[]string{"op", "outcome"})
	m.winrmDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "winrm", Name: "call_duration_seconds",
		Help: "Duration of WinRM calls, by op and outcome.", Buckets: durationBuckets},
		[]string{"op", "outcome"})
	f(m.winrmCalls)
	f(m.winrmDuration)

	m.wakes = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "wake", Name: "wakes_total",
		Help: "Wake-on-LAN wakes, by result: reached by icmp or tcp, none (not reached after every attempt) or error (bad input, send failed, cancelled)."},
		[]string{"result"})
	m.wakePackets = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "wake", Name: "magic_packets_total",
		Help: "Magic packets sent (one per wake attempt)."})
	m.wakeDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "wake", Name: "duration_seconds",
		Help: "Duration of wakes, packets and probes included.", Buckets: durationBuckets})
	f(m.wakes)
	f(m.wakePackets)
	f(m.wakeDuration)

	m.polls = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "heartbeat", Name: "polls_total",
		Help: "Heartbeat polls, by outcome (ok or error)."}, []string{"outcome"})
	f(m.polls)
	m.stations = newStationCollector(o.KnownHost, now)
	f(m.stations)

	m.tickRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "tick", Name: "runs_total",
		Help: "Scheduler tick runs, by kind (heartbeats, reservations) and result (ok, or error when the tick as a whole failed)."},
		[]string{"kind", "result"})
	m.tickDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "tick", Name: "duration_seconds",
		Help: "Duration of scheduler ticks, by kind.", Buckets: durationBuckets}, []string{"kind"})
	m.tickLastRun = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "tick", Name: "last_run_timestamp_seconds",
		Help: "When the last tick of this kind started (Unix seconds)."}, []string{"kind"})
	m.tickLastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "tick", Name: "last_success_timestamp_seconds",
		Help: "When the last tick of this kind that did not fail as a whole started (Unix seconds)."}, []string{"kind"})
	m.tickItems = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "tick", Name: "items_total",
		Help: "Items handled by ticks, by kind, phase (poll; start, end) and outcome (dispatched, failed: dispatched and failed, skipped)."},
		[]string{"kind", "phase", "outcome"})
	m.claims = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "tick", Name: "claims_total",
		Help: "Reservation claims, by event: taken, or expired (taken over from an earlier claim whose cooldown ran out)."},
		[]string{"event"})
	f(m.tickRuns)
	f(m.tickDuration)
	f(m.tickLastRun)
	f(m.tickLastSuccess)
	f(m.tickItems)
	f(m.claims)
	m.notifications = newNotificationCounter()
	f(m.notifications)
	m.streams = newStreamMetrics(f)
	m.power = newPowerMetrics(f)

	if !o.NoRuntime {
		f(collectors.NewGoCollector())
		f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// Registry is the registry the metrics live in (to add collectors, e.g.
// collectors.NewDBStatsCollector).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format (or what
// the scraper negotiates). Mount it behind the guard (api.Options.MetricsHandler).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveRequest implements api.RequestObserver.
func (m *Metrics) ObserveRequest(pattern string, status int, d time.Duration) {
	method, route := splitPattern(pattern)
	m.httpRequests.WithLabelValues(method, route, statusLabel(status)).Inc()
	m.httpDuration.WithLabelValues(method, route).Observe(d.Seconds())
}

// splitPattern turns a ServeMux pattern ("POST /api/wol") into its method
// and path; "" is the unmatched route.
func splitPattern(p string) (method, route string) {
	if p == "" {
		return Other, Unmatched
	}
	method, route, ok := strings.Cut(p, " ")
	if !ok {
		return "any", p
	}
	return method, strings.TrimSpace(route)
}

func statusLabel(s int) string {
	if s < 100 || s > 999 {
		return Other
	}
	return strconv.Itoa(s)
}

// ObserveCall implements winrm.Observer.
func (m *Metrics) ObserveCall(op string, err error, d time.Duration) {
	op = m.opLabel(op)
	outcome := WinRMOutcome(err)
	m.winrmCalls.WithLabelValues(op, outcome).Inc()
	m.winrmDuration.WithLabelValues(op, outcome).Observe(d.Seconds())
}

// opLabel keeps at most MaxOps distinct op values.
func (m *Metrics) opLabel(op string) string {
	if op == "" {
		return Other
	}
	m.opsMu.Lock()
	defer m.opsMu.Unlock()
	if m.ops[op] {
		return op
	}
	if len(m.ops) >= MaxOps || len(op) > 64 {
		return Other
	}
	m.ops[op] = true
	return op
}

// winrmKinds name the kinds of winrm errors, as the outcome label says them.
var winrmKinds = []struct {
	kind error
	name string
}{
	{winrm.ErrUnauthorized, "unauthorized"},
	{winrm.ErrAuthMethod, "auth_method"},
	{winrm.ErrCertificate, "certificate"},
	{winrm.ErrUnreachable, "unreachable"},
	{winrm.ErrTimeout, "timeout"},
	{winrm.ErrCanceled, "canceled"},
	{winrm.ErrConfig, "config"},
	{winrm.ErrEncryption, "encryption"},
	{winrm.ErrProtocol, "protocol"},
	{winrm.ErrQuota, "quota"},
}

// WinRMOutcome is the outcome label of a WinRM call's error: "ok" for
// nil, the kind's name (unreachable, timeout, ...) or "other".
func WinRMOutcome(err error) string {
	if err == nil {
		return "ok"
	}
	var we *winrm.Error
	if errors.As(err, &we) {
		for _, k := range winrmKinds {
			if we.Kind == k.kind {
				return k.name
			}
		}
	}
	for _, k := range winrmKinds {
		if errors.Is(err, k.kind) {
			return k.name
		}
	}
	return Other
}

// ObserveWake implements wake.Observer.
func (m *Metrics) ObserveWake(res wake.Result, err error) {
	result := "none"
	switch {
	case err != nil:
		result = "error"
	case res.Success && (res.ReachedBy == wake.ReachedICMP || res.ReachedBy == wake.ReachedTCP):
		result = res.ReachedBy
	case res.Success:
		result = Other
	}
	m.wakes.WithLabelValues(result).Inc()
	if res.AttemptsUsed > 0 {
		m.wakePackets.Add(float64(res.AttemptsUsed))
	}
	m.wakeDuration.Observe(res.Duration.Seconds())
}

// ObservePoll implements ops.PollObserver.
func (m *Metrics) ObservePoll(o ops.PollObservation) {
	outcome := "ok"
	if o.Err != nil {
		outcome = "error"
	}
	m.polls.WithLabelValues(outcome).Inc()
	m.stations.poll(o)
}

// SeedHeartbeat records a heartbeat read before this process started (the
// last one stored), so the age gauge exists from the first scrape. It
// changes nothing when a newer heartbeat is already known.
func (m *Metrics) SeedHeartbeat(host string, timestamp time.Time, ready bool) {
	m.stations.seed(host, timestamp, ready)
}

// ObserveBackoff implements telemetry.BackoffObserver.
func (m *Metrics) ObserveBackoff(host string, backedOff bool, failures int, until time.Time) {
	m.stations.setBackoff(host, backedOff, failures, until)
}

// ObserveTick implements telemetry.TickObserver.
func (m *Metrics) ObserveTick(t telemetry.Tick) {
	kind := t.Kind
	if kind != telemetry.TickHeartbeats && kind != telemetry.TickReservations {
		kind = Other
	}
	start := t.Start
	if start.IsZero() {
		start = time.Now().Add(-t.Duration)
	}
	result := "ok"
	if t.Err != nil {
		result = "error"
	}
	m.tickRuns.WithLabelValues(kind, result).Inc()
	m.tickDuration.WithLabelValues(kind).Observe(t.Duration.Seconds())
	m.tickLastRun.WithLabelValues(kind).Set(unixSeconds(start))
	if t.Err == nil {
		m.tickLastSuccess.WithLabelValues(kind).Set(unixSeconds(start))
	}
	for _, c := range t.Counts {
		phase := c.Phase
		if phase != telemetry.PhasePoll && phase != telemetry.PhaseStart && phase != telemetry.PhaseEnd {
			phase = Other
		}
		m.tickItems.WithLabelValues(kind, phase, "dispatched").Add(nonNeg(c.Dispatched))
		m.tickItems.WithLabelValues(kind, phase, "failed").Add(nonNeg(c.Failed))
		m.tickItems.WithLabelValues(kind, phase, "skipped").Add(nonNeg(c.Skipped))
	}
	m.claims.WithLabelValues("taken").Add(nonNeg(t.ClaimsTaken))
	m.claims.WithLabelValues("expired").Add(nonNeg(t.ClaimsExpired))
}

func nonNeg(n int) float64 {
	if n < 0 {
		return 0
	}
	return float64(n)
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

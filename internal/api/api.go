// Package api is the HTTP face of the worker: one http.Handler (New) that
// the local server mounts and every Lambda function wraps, with API.md's
// routes, auth, strict request decoding and error contract.
package api

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/scheduler"
)

// Service is what the handlers need of the use cases; *ops.Service has it.
type Service interface {
	Wake(ctx context.Context, req ops.WakeRequest) (ops.WakeResponse, error)
	RunCommand(ctx context.Context, req ops.CommandRequest) (ops.CommandResponse, error)
	PollHeartbeat(ctx context.Context, req ops.PollRequest) (ops.PollResponse, error)
	StartReservation(ctx context.Context, req ops.StartRequest) (ops.FlowResponse, error)
	EndReservation(ctx context.Context, req ops.EndRequest) (ops.FlowResponse, error)
	Timeline(ctx context.Context, req ops.TimelineRequest) (ops.TimelineResponse, error)
	ReloadHosts(ctx context.Context) (ops.ReloadResponse, error)
	SetQuarantine(ctx context.Context, req ops.QuarantineRequest) (ops.QuarantineResponse, error)
	Hosts(ctx context.Context) (ops.HostsResponse, error)
	RecentOperations(ctx context.Context, req ops.RecentRequest) (ops.RecentResponse, error)
	Health(ctx context.Context) ops.HealthResponse
	SetLocalMode(ctx context.Context, req ops.LocalModeRequest) (ops.LocalModeResponse, error)
	DiscoverHost(ctx context.Context, req ops.DiscoverRequest) (ops.DiscoverResponse, error)
	ProvisionHost(ctx context.Context, req ops.ProvisionRequest) (ops.ProvisionResponse, error)
	SaveWinRMCredentials(ctx context.Context, req ops.WinRMCredentialsRequest) (ops.WinRMCredentialsResponse, error)
}

// Options configure New.
type Options struct {
	// Service runs the use cases. Required.
	Service Service
	// Guard protects every route with Auth set. Nil: a zero Guard, which
	// answers 503 on every guarded route (fail closed).
	Guard *Guard
	// Logger receives the access log and every request's lines (each with
	// request_id). Nil: slog.Default().
	Logger *slog.Logger
	// RequestIDFallback supplies a platform request id (API Gateway's in
	// Lambda) used when the caller sends no valid X-Request-ID. May be nil.
	RequestIDFallback func(*http.Request) string
	// MetricsHandler, when set, is mounted at GET /metrics behind a copy
	// of Guard that also accepts `Authorization: Bearer <token>` (what
	// Prometheus sends). Nil: /metrics is a 404. It is not in Routes: it
	// belongs to the local server only, not to a Lambda function.
	MetricsHandler http.Handler
	// Ticks runs POST /api/ticks/heartbeats|reservations. Nil: those
	// routes answer 503 SCHEDULER_NOT_CONFIGURED.
	Ticks Ticks
	// Route, when set, is the Name of the one route in Routes to serve
	// (a Lambda function serves only its own endpoint: least privilege).
	// Every other path then answers 404, or under /api/ the Guard's
	// refusal first, exactly like an unknown path. "": every route.
	Route string
	// Observer, when set, is told every request's route pattern, status
	// and duration (metrics); nil: nothing is observed.
	Observer RequestObserver
	// HealthCacheTTL is how long GET /health answers one probe's result;
	// 0: DefaultHealthCacheTTL.
	HealthCacheTTL time.Duration
	// Streams serves GET /api/heartbeat/stream (see StreamOptions); its
	// zero value answers that route 503.
	Streams StreamOptions
	// Power runs the power routes; nil: they answer 503
	// POWER_NOT_CONFIGURED.
	Power PowerService
}

// RequestObserver is told how every request went, once it was answered,
// from the request's goroutine: it must be fast and safe for concurrent
// use.
type RequestObserver interface {
	// ObserveRequest receives the pattern of the route that served the
	// request as registered ("POST /api/wol", "GET /metrics"; "" when no
	// route matched: the 404s and 405s), never the raw path, so its
	// values are bounded; the status sent (200 when the handler wrote
	// nothing) and the time taken.
	ObserveRequest(pattern string, status int, d time.Duration)
}

// Route is one endpoint of API.md. The mux of New is built from Routes,
// and the tests check the OpenAPI document (and the Lambda template)
// against it.
type Route struct {
	Method string
	Path   string
	// Name is a short kebab-case name, fit for a function folder
	// (functions/<name>) or a log field.
	Name string
	// Auth: behind the Guard (every /api/* route).
	Auth bool
	// Tick marks a scheduler tick route (POST /api/ticks/...): served by
	// the local server for an external cron. A Lambda deployment fires the
	// same tick from an EventBridge schedule (functions/tick-<name>), so
	// its template gives these no HTTP route.
	Tick bool
	// Stream marks a long-lived streaming route (GET
	// /api/heartbeat/stream): a Lambda deployment serves it from a
	// response-streaming function behind a function URL
	// (functions/<name>, InvokeMode RESPONSE_STREAM), not through the
	// HTTP API, which buffers whole answers and ends them at 30 s.
	Stream bool
}

// Ticks runs the scheduler's ticks (*scheduler.Scheduler has it).
type Ticks interface {
	HeartbeatTick(ctx context.Context, ev scheduler.Event) (scheduler.HeartbeatSummary, error)
	ReservationTick(ctx context.Context, ev scheduler.Event) (scheduler.ReservationSummary, error)
}

// Routes are the endpoints New serves, in API.md's order. GET /metrics is
// mounted only when Options.MetricsHandler is set and is not listed here.
var Routes = []Route{
	{Method: "GET", Path: "/health", Name: "health"},
	{Method: "POST", Path: "/api/wol", Name: "wol", Auth: true},
	{Method: "POST", Path: "/api/winrm", Name: "winrm", Auth: true},
	{Method: "POST", Path: "/api/heartbeat/poll", Name: "heartbeat-poll", Auth: true},
	{Method: "POST", Path: "/api/reservations/start", Name: "reservation-start", Auth: true},
	{Method: "POST", Path: "/api/reservations/end", Name: "reservation-end", Auth: true},
	{Method: "GET", Path: "/api/reservations/timeline", Name: "reservation-timeline", Auth: true},
	{Method: "POST", Path: "/api/hosts/reload", Name: "hosts-reload", Auth: true},
	{Method: "POST", Path: "/api/hosts/quarantine", Name: "hosts-quarantine", Auth: true},
	{Method: "GET", Path: "/api/hosts", Name: "hosts-list", Auth: true},
	{Method: "GET", Path: "/api/operations/recent", Name: "operations-recent", Auth: true},
	{Method: "GET", Path: "/api/openapi.json", Name: "openapi", Auth: true},
	{Method: "POST", Path: "/api/ticks/heartbeats", Name: "ticks-heartbeats", Auth: true, Tick: true},
	{Method: "POST", Path: "/api/ticks/reservations", Name: "ticks-reservations", Auth: true, Tick: true},
	{Method: "POST", Path: "/api/hosts/local-mode", Name: "hosts-local-mode", Auth: true},
	{Method: "GET", Path: "/api/heartbeat/stream", Name: "heartbeat-stream", Auth: true, Stream: true},
	{Method: "POST", Path: "/api/hosts/discover", Name: "hosts-discover", Auth: true},
	{Method: "POST", Path: "/api/hosts/provision", Name: "hosts-provision", Auth: true},
	{Method: "POST", Path: "/api/hosts/winrm-credentials", Name: "hosts-winrm-credentials", Auth: true},
	// Power control (GATEWAY.md section 2's power rows; PowerService).
	{Method: "GET", Path: "/api/power/controllers", Name: "power-controllers-list", Auth: true},
	{Method: "POST", Path: "/api/power/controllers", Name: "power-controllers-create", Auth: true},
	{Method: "PUT", Path: "/api/power/controllers/{id}", Name: "power-controllers-update", Auth: true},
	{Method: "GET", Path: "/api/power/credentials", Name: "power-credentials-list", Auth: true},
	{Method: "POST", Path: "/api/power/credentials", Name: "power-credentials-save", Auth: true},
	{Method: "GET", Path: "/api/power/policies", Name: "power-policies-list", Auth: true},
	{Method: "PUT", Path: "/api/power/policies/{labId}", Name: "power-policies-put", Auth: true},
	{Method: "POST", Path: "/api/power/controllers/{controllerId}/outlets/{outlet}/commands", Name: "power-outlet-command", Auth: true},
	{Method: "POST", Path: "/api/labs/{labId}/power/start", Name: "lab-power-start", Auth: true},
	{Method: "POST", Path: "/api/labs/{labId}/power/end", Name: "lab-power-end", Auth: true},
	{Method: "GET", Path: "/api/power/operations", Name: "power-operations", Auth: true},
}

// New returns the handler of every route in Routes (and /metrics when
// configured). Unknown paths answer 404 and known paths with another
// method 405 (with Allow), both in the error contract; under /api/ the
// Guard is asked first, so an unauthenticated caller learns nothing about
// which routes exist.
func New(opts Options) http.Handler {
	if opts.Service == nil {
		panic("api.New: Options.Service is nil")
	}
	guard := opts.Guard
	if guard == nil {
		guard = &Guard{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	handlers := handlersFor(opts.Service, opts.Ticks)
	maps.Copy(handlers, powerHandlers(opts.Power))
	health := newHealthCache(opts.Service.Health, opts.HealthCacheTTL)
	handlers["health"] = health
	handlers["heartbeat-stream"] = streamHandler(opts.Streams)
	handlers["hosts-quarantine"] = health.invalidating(handlers["hosts-quarantine"])
	handlers["hosts-reload"] = health.invalidating(handlers["hosts-reload"])
	if opts.Route != "" && !slices.ContainsFunc(Routes, func(rt Route) bool { return rt.Name == opts.Route }) {
		panic("api.New: Options.Route " + opts.Route + " is not in Routes")
	}
	mux := http.NewServeMux()
	allowed := map[string][]string{} // path -> methods, for 405's Allow
	for _, rt := range Routes {
		if opts.Route != "" && rt.Name != opts.Route {
			continue
		}
		h, ok := handlers[rt.Name]
		if !ok {
			panic("api.New: no handler for route " + rt.Name)
		}
		var hh http.Handler = h
		if !rt.Tick {
			hh = apiOrigin(hh) // scheduler work (the ticks) keeps its own station slot
		}
		if rt.Auth {
			hh = guard.Wrap(hh)
		}
		mux.Handle(rt.Method+" "+rt.Path, hh)
		allowed[rt.Path] = append(allowed[rt.Path], rt.Method)
	}
	if opts.MetricsHandler != nil {
		mg := *guard
		mg.AllowBearer = true
		mux.Handle("GET /metrics", mg.Wrap(opts.MetricsHandler))
		allowed["/metrics"] = append(allowed["/metrics"], "GET")
	}
	front := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" && r.Method != http.MethodConnect && isClean(r.URL.EscapedPath()) {
			mux.ServeHTTP(w, r)
			return
		}
		// No route: the mux would answer in plain text, or redirect an
		// unclean path (to a Location that would drop the proxy's /ops/
		// prefix). Answer in the error contract instead.
		unrouted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			methods, known := allowedFor(allowed, r.URL.Path)
			if known && isClean(r.URL.EscapedPath()) {
				if slices.Contains(methods, http.MethodGet) {
					methods = append(slices.Clone(methods), http.MethodHead)
				}
				w.Header().Set("Allow", strings.Join(methods, ", "))
				writeError(w, r, ops.Errorf(ops.CodeMethodNotAllowed, "method %s not allowed on %s", escapeLog(r.Method), r.URL.Path))
				return
			}
			writeError(w, r, ops.Errorf(ops.CodeNotFound, "no such route"))
		})
		if strings.HasPrefix(r.URL.Path, "/api/") {
			guard.Wrap(unrouted).ServeHTTP(w, r)
			return
		}
		unrouted.ServeHTTP(w, r)
	})
	return withRequest(front, log, opts.RequestIDFallback, opts.Observer)
}

// isClean tells whether p is already in the form ServeMux would redirect
// to (no //, /./, /../).
func isClean(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

// allowedFor is the methods of the route paths matching p: exact, or a
// pattern whose {name} segments match any one non-empty segment.
func allowedFor(allowed map[string][]string, p string) ([]string, bool) {
	if m, ok := allowed[p]; ok {
		return m, true
	}
	segs := strings.Split(p, "/")
	var out []string
	for pattern, methods := range allowed {
		if !strings.Contains(pattern, "{") {
			continue
		}
		ps := strings.Split(pattern, "/")
		if len(ps) != len(segs) {
			continue
		}
		match := true
		for i, s := range ps {
			if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
				match = match && segs[i] != ""
			} else {
				match = match && s == segs[i]
			}
		}
		if match {
			out = append(out, methods...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), len(out) > 0
}

// Package lambdafn runs the worker as AWS Lambda functions: the few lines
// every functions/<name>/main.go would otherwise repeat. An HTTP function
// is
//
//	func main() { lambdafn.Start("wol") }
//
// Start reads the configuration from the environment at cold start, builds
// the worker with the one shared construction (internal/app, exactly what
// the local server uses) restricted to that one route of api.Routes, and
// hands the API handler, wrapped in aws-lambda-go-api-proxy's HTTP API
// (payload v2) adapter, to lambda.Start.
//
// What differs from the local server, and only here:
//   - no embedded database (app.Options.EmbeddedDB stays nil), a pool of
//     2 connections (1 idle), opened lazily: an instance serves one
//     request at a time, and a database outage fails the requests that
//     need it, in the error contract, rather than every cold start;
//   - no migrations at cold start (functions/migrate runs them once per
//     deploy, see StartMigrate);
//   - the caller's address is API Gateway's requestContext.http.sourceIp
//     (SourceAddr), the fallback request id API Gateway's requestId
//     (GatewayRequestID);
//   - JSON logs on stdout, every line of an invocation carrying the Lambda
//     request id as aws_request_id (LogHandler).
package lambdafn

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/ops-worker/ops-worker/internal/app"
	"github.com/ops-worker/ops-worker/internal/config"
)

// Pool sizes of a function's database pool. Go functions get one
// invocation at a time per instance; the second connection covers a use
// case that reads while a transaction is open.
const (
	DBMaxOpenConns = 2
	DBMaxIdleConns = 1
)

// initTimeout bounds the cold start (Lambda's own limit on the init phase
// is 10 s).
const initTimeout = 9 * time.Second

// Handler is an HTTP API (v2) Lambda handler.
type Handler func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Function is one built HTTP function: its worker and its Lambda handler.
type Function struct {
	App     *app.App
	Handler Handler
}

// New builds the function serving route (an api.Routes Name) from cfg,
// logging JSON to out (nil: os.Stdout).
func New(ctx context.Context, cfg config.Config, route string, out io.Writer) (*Function, error) {
	a, err := app.New(ctx, cfg, Options(cfg, route, out))
	if err != nil {
		return nil, err
	}
	proxy := httpadapter.NewV2(a.Handler()).ProxyWithContext
	flushWait := cfg.NotifyFlushWait()
	h := func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		resp, err := proxy(ctx, ev)
		FlushNotifications(ctx, a, flushWait)
		return resp, err
	}
	return &Function{App: a, Handler: h}, nil
}

// FlushNotifications is the end of an invocation: Lambda freezes the
// process once the handler returns, so the failure notifications this
// invocation queued are sent now, for at most wait (OPS_NOTIFY_FLUSH_WAIT)
// and never past the invocation's deadline less a second. An invocation
// with no failure waits for nothing. What is not sent by then (a sink that
// is slow or down, a retry's back-off) stays queued in the frozen process:
// it goes on when the next invocation thaws this instance, and is lost if
// the instance is never invoked again.
func FlushNotifications(ctx context.Context, a *app.App, wait time.Duration) {
	if wait <= 0 {
		return
	}
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)-time.Second)
	}
	if wait <= 0 {
		return
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wait)
	defer cancel()
	if err := a.FlushNotifications(fctx); err != nil {
		a.Logger().WarnContext(ctx, "notifications left queued at the end of the invocation", "pending",
			a.Notifier().Pending(), "wait", wait.String())
	}
}

// Options are the app.Options of a Lambda function serving route ("": the
// whole API) with its logger writing JSON to out (nil: os.Stdout). A
// logger that cannot be built (a bad OPS_LOG_LEVEL) leaves Logger nil, so
// app.New reports the error.
func Options(cfg config.Config, route string, out io.Writer) app.Options {
	o := app.Options{
		DBMaxOpenConns:    DBMaxOpenConns,
		DBMaxIdleConns:    DBMaxIdleConns,
		SourceAddr:        SourceAddr,
		RequestIDFallback: GatewayRequestID,
		Route:             route,
		SkipMigrations:    true,
		LazyDB:            true,
		LogFormat:         app.LogJSON,
		LogOutput:         stdout(out),
	}
	if l, err := app.NewLogger(cfg, app.LogJSON, stdout(out)); err == nil {
		o.Logger = slog.New(LogHandler(l.Handler()))
	}
	return o
}

// Start is the main of the HTTP function serving route. It never returns:
// a cold start that fails (bad configuration, bad host catalog) is logged and ends the process with status 1, which Lambda
// reports as an init error and retries on the next invocation.
func Start(route string) {
	ctx, cancel := context.WithTimeout(context.Background(), initTimeout)
	cfg, err := config.Load(ctx)
	if err != nil {
		fail(route, err)
	}
	f, err := New(ctx, cfg, route, os.Stdout)
	cancel()
	if err != nil {
		fail(route, err)
	}
	lambda.Start(f.Handler)
}

// fail logs a cold-start error as one JSON line and exits.
func fail(function string, err error) {
	l := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	l.Error("cold start failed", "function", function, "err", err.Error())
	os.Exit(1)
}

func stdout(w io.Writer) io.Writer {
	if w == nil {
		return os.Stdout
	}
	return w
}

// SourceAddr is the caller's address as API Gateway saw it
// (requestContext.http.sourceIp), for api.Guard.SourceAddr; false outside
// an API Gateway v2 request.
func SourceAddr(r *http.Request) (netip.Addr, bool) {
	gw, ok := core.GetAPIGatewayV2ContextFromContext(r.Context())
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(gw.HTTP.SourceIP)
	if err != nil {
		return netip.Addr{}, false
	}
	return a, true
}

// GatewayRequestID reads API Gateway's request id (requestContext.requestId), the
// fallback when the caller sent no valid X-Request-ID; "" outside an API
// Gateway v2 request.
func GatewayRequestID(r *http.Request) string {
	gw, ok := core.GetAPIGatewayV2ContextFromContext(r.Context())
	if !ok {
		return ""
	}
	return gw.RequestID
}

// LogHandler adds aws_request_id, the Lambda request id of the invocation
// whose context a line is logged with, to every record of h. The API logs
// every request's lines with the request's context, which carries the
// invocation's (see httpadapter's EventToRequestWithContext).
func LogHandler(h slog.Handler) slog.Handler { return lambdaIDHandler{h} }

type lambdaIDHandler struct{ h slog.Handler }

func (l lambdaIDHandler) Enabled(ctx context.Context, lv slog.Level) bool {
	return l.h.Enabled(ctx, lv)
}

func (l lambdaIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		r = r.Clone()
		r.AddAttrs(slog.String("aws_request_id", lc.AwsRequestID))
	}
	return l.h.Handle(ctx, r)
}

func (l lambdaIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return lambdaIDHandler{l.h.WithAttrs(as)}
}

func (l lambdaIDHandler) WithGroup(name string) slog.Handler {
	return lambdaIDHandler{l.h.WithGroup(name)}
}

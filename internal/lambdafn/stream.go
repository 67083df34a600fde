package lambdafn

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdaurl"

	"github.com/ops-worker/ops-worker/internal/app"
	"github.com/ops-worker/ops-worker/internal/config"
)

// StreamHandler is a function URL handler with response streaming: the
// body is read by the runtime while the handler still writes it.
type StreamHandler func(context.Context, *events.LambdaFunctionURLRequest) (*events.LambdaFunctionURLStreamingResponse, error)

// StreamFunction is one built response-streaming function.
type StreamFunction struct {
	App     *app.App
	Handler StreamHandler
}

// NewStream builds the function serving route (a streaming route of
// api.Routes) behind a function URL. As New, but the caller's address and
// the fallback request id are the function URL's (requestContext.http.sourceIp,
// requestContext.requestId), and the handler is aws-lambda-go's lambdaurl:
// each event is passed on as it is written. A stream ends
// OPS_HEARTBEAT_STREAM_END_MARGIN before the invocation's deadline (the
// request's context carries it), so that the browser's EventSource
// reconnects to a new invocation rather than being cut.
func NewStream(ctx context.Context, cfg config.Config, route string, out io.Writer) (*StreamFunction, error) {
	o := Options(cfg, route, out)
	o.SourceAddr, o.RequestIDFallback = URLSourceAddr, URLRequestID
	a, err := app.New(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	return &StreamFunction{App: a, Handler: lambdaurl.Wrap(a.Handler())}, nil
}

// StartStream is the main of the response-streaming function serving
// route; like Start, it never returns.
func StartStream(route string) {
	ctx, cancel := context.WithTimeout(context.Background(), initTimeout)
	cfg, err := config.Load(ctx)
	if err != nil {
		fail(route, err)
	}
	f, err := NewStream(ctx, cfg, route, os.Stdout)
	cancel()
	if err != nil {
		fail(route, err)
	}
	lambda.Start(f.Handler)
}

// URLSourceAddr is the caller's address as the function URL saw it
// (requestContext.http.sourceIp), for api.Guard.SourceAddr; false outside
// a function URL request.
func URLSourceAddr(r *http.Request) (netip.Addr, bool) {
	req, ok := lambdaurl.RequestFromContext(r.Context())
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(req.RequestContext.HTTP.SourceIP)
	if err != nil {
		return netip.Addr{}, false
	}
	return a, true
}

// URLRequestID is the function URL's request id (requestContext.requestId);
// "" outside a function URL request.
func URLRequestID(r *http.Request) string {
	req, ok := lambdaurl.RequestFromContext(r.Context())
	if !ok {
		return ""
	}
	return req.RequestContext.RequestID
}

package app

import (
	"log/slog"
	"net/http"

	"github.com/ops-worker/ops-worker/internal/api"
	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/powerops"
)

// handlerDeps is what the HTTP layer is built from (api.Options).
type handlerDeps struct {
	service           *ops.Service
	guard             *api.Guard
	logger            *slog.Logger
	requestIDFallback func(*http.Request) string
	metrics           http.Handler
	route             string
	observer          api.RequestObserver
	ticks             api.Ticks
	streams           api.StreamOptions
	power             *powerops.Service // nil: the power routes answer 503
}

// newHandler builds the HTTP API.
func newHandler(d handlerDeps) http.Handler {
	return api.New(api.Options{Service: d.service, Guard: d.guard, Logger: d.logger,
		RequestIDFallback: d.requestIDFallback, MetricsHandler: d.metrics, Route: d.route, Observer: d.observer, Ticks: d.ticks,
		Streams: d.streams, Power: powerService(d.power)})
}

// powerService keeps a nil *powerops.Service out of the interface (a
// typed nil would look configured).
func powerService(p *powerops.Service) api.PowerService {
	if p == nil {
		return nil
	}
	return p
}

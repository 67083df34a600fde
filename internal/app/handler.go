package app

import (
	"log/slog"
	"net/http"

	"github.com/ops-worker/ops-worker/internal/api"
	"github.com/ops-worker/ops-worker/internal/ops"
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
}

// newHandler builds the HTTP API.
func newHandler(d handlerDeps) http.Handler {
	return api.New(api.Options{Service: d.service, Guard: d.guard, Logger: d.logger,
		RequestIDFallback: d.requestIDFallback, MetricsHandler: d.metrics, Route: d.route, Observer: d.observer, Ticks: d.ticks,
		Streams: d.streams})
}

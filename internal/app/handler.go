package app

import (
	"encoding/json"
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
}

// newHandler builds the HTTP API.
//
// MERGE NOTE (issue 7): api.New is being written on another branch
// (i7-p1). Once it is on main, this whole function becomes
//
//	return api.New(api.Options{Service: d.service, Guard: d.guard, Logger: d.logger,
//		RequestIDFallback: d.requestIDFallback, MetricsHandler: d.metrics})
//
// and writeJSON goes. Until then it serves GET /health and puts every
// /api/* route behind the real guard (answering 404 NOT_FOUND past it), so
// the local server, its end-to-end test and `make run` work already.
func newHandler(d handlerDeps) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, d.service.Health(r.Context()))
	})
	mux.Handle("/api/", d.guard.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{
			"error": "route not implemented yet", "code": string(ops.CodeNotFound),
			"requestId": api.RequestID(r.Header.Get("X-Request-ID"), ""),
		})
	})))
	if d.metrics != nil {
		g := *d.guard
		g.AllowBearer = true
		mux.Handle("GET /metrics", g.Wrap(d.metrics))
	}
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

package api

import (
	"net/http"

	"github.com/ops-worker/ops-worker/internal/ops"
)

// apiOrigin marks the requests of h as the API's (ops.WithAPIOrigin): their
// station calls take at most one of a station's WinRM slots, leaving the
// other to the scheduler.
func apiOrigin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(ops.WithAPIOrigin(r.Context())))
	})
}

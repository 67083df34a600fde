package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/ops-worker/ops-worker/internal/ops"
)

// StatusOf is the HTTP status of code (ops.Code.Status, the one table);
// an unknown code is a 500.
func StatusOf(code ops.Code) int { return code.Status() }

// errorBody is API.md's error contract.
type errorBody struct {
	Error     string   `json:"error"`
	Code      ops.Code `json:"code"`
	RequestID string   `json:"requestId"`
}

const internalMessage = "Internal server error"

// writeError answers err with the error contract. An *ops.Error shows its
// message; anything else is an internal error whose cause goes to the log
// only.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	log := loggerFrom(r.Context())
	body := errorBody{RequestID: requestIDFrom(r.Context())}
	status := http.StatusInternalServerError
	var oe *ops.Error
	if errors.As(err, &oe) && oe.Code != ops.CodeInternal {
		body.Error, body.Code = oe.Message, oe.Code
		status = StatusOf(oe.Code)
		if status >= 500 {
			log.ErrorContext(r.Context(), "request failed", "code", string(oe.Code), "status", status, "err", err)
		} else {
			log.InfoContext(r.Context(), "request refused", "code", string(oe.Code), "status", status, "reason", escapeLog(oe.Message))
		}
	} else {
		body.Error, body.Code = internalMessage, ops.CodeInternal
		log.ErrorContext(r.Context(), "internal error", "err", err)
	}
	writeJSON(w, status, body)
}

// writeJSON answers v as JSON. A value that cannot be encoded is a bug:
// the caller gets the internal error body instead of a half-written one.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		slog.Error("encode response", "err", err)
		status = http.StatusInternalServerError
		b = []byte(`{"error":"` + internalMessage + `","code":"` + string(ops.CodeInternal) + `"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/ops-worker/ops-worker/internal/ops"
)

// statusOf is the one table from error code to HTTP status.
var statusOf = map[ops.Code]int{
	ops.CodeBadRequest:        http.StatusBadRequest,
	ops.CodeInvalidJSON:       http.StatusBadRequest,
	ops.CodeInvalidField:      http.StatusBadRequest,
	ops.CodeBodyTooLarge:      http.StatusRequestEntityTooLarge,
	ops.CodeUnsupportedMedia:  http.StatusUnsupportedMediaType,
	ops.CodeUnauthorized:      http.StatusUnauthorized,
	ops.CodeForbidden:         http.StatusForbidden,
	ops.CodeAuthNotConfigured: http.StatusServiceUnavailable,
	ops.CodeNotFound:          http.StatusNotFound,
	ops.CodeMethodNotAllowed:  http.StatusMethodNotAllowed,
	ops.CodeHostNotFound:      http.StatusNotFound,
	ops.CodeCommandNotAllowed: http.StatusBadRequest,
	ops.CodeArgumentRefused:   http.StatusBadRequest,
	ops.CodePolicyRefused:     http.StatusBadRequest,
	ops.CodeReservationNotFnd: http.StatusNotFound,
	// API.md: a timeline without a database is a 500 with its own message.
	ops.CodeDBNotConfigured:  http.StatusInternalServerError,
	ops.CodeConfigInvalid:    http.StatusUnprocessableEntity,
	ops.CodeHostUnreachable:  http.StatusBadGateway,
	ops.CodeStationError:     http.StatusBadGateway,
	ops.CodeRelayUnreachable: http.StatusBadGateway,
	ops.CodeTimeout:          http.StatusGatewayTimeout,
	ops.CodeInternal:         http.StatusInternalServerError,

	ops.CodeSchedulerNotConfigured: http.StatusServiceUnavailable,
}

// StatusOf is the HTTP status of code; an unknown code is a 500.
func StatusOf(code ops.Code) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

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

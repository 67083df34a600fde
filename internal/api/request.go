package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/textcut"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyLogger
)

// requestIDPattern is API.md's rule for a caller's X-Request-ID.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// PickRequestID picks the request id: the caller's id when it is valid, else fallback when
// valid (API Gateway's request id in Lambda), else a new random one.
func PickRequestID(callerID, fallback string) string {
	switch {
	case requestIDPattern.MatchString(callerID):
		return callerID
	case requestIDPattern.MatchString(fallback):
		return fallback
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(keyRequestID).(string)
	return id
}

// loggerFrom is the request's logger (with its request id), or the default.
func loggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(keyLogger).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// statusRecorder remembers the status for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the server's writer (a
// heartbeat stream flushes each event and moves its write deadline).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// withRequest gives every request an id (echoed in X-Request-ID), a logger
// carrying it, an access log line and a recover that turns a panic into the
// internal error body: a bug in one handler never takes the process down.
// fallbackID supplies a platform request id (Lambda); it may be nil.
// obs, when set, is told the route pattern (set by the mux on r), status
// and duration of every request.
func withRequest(next http.Handler, base *slog.Logger, fallbackID func(*http.Request) string, obs RequestObserver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		fb := ""
		if fallbackID != nil {
			fb = fallbackID(r)
		}
		id := PickRequestID(r.Header.Get("X-Request-ID"), fb)
		log := base.With("request_id", id)
		ctx := context.WithValue(r.Context(), keyRequestID, id)
		ctx = context.WithValue(ctx, keyLogger, log)
		r = r.WithContext(ctx)
		w.Header().Set("X-Request-ID", id)
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(r.Context(), "panic in handler", "panic", p, "stack", string(debug.Stack()))
				if rec.status == 0 {
					writeError(rec, r, ops.Wrap(ops.CodeInternal, internalMessage, nil))
				}
			}
			d := time.Since(start)
			log.InfoContext(r.Context(), "request", "method", r.Method, "path", escapeLog(r.URL.Path),
				"status", rec.status, "duration_ms", d.Milliseconds())
			if obs != nil {
				status := rec.status
				if status == 0 {
					status = http.StatusOK // net/http's answer to a handler that wrote nothing
				}
				obs.ObserveRequest(r.Pattern, status, d)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// escapeLog keeps caller-controlled text on one log line and short: CR, LF,
// other control characters and line separators are written as \xNN or \uNNNN (JSON handlers escape
// them anyway; the text handler of a terminal does not).
func escapeLog(s string) string {
	s = textcut.Cut(s, 256, "...")
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			if r <= 0xff {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029'
}

// LogHandler wraps h so that a record logged with a request's context
// (InfoContext(ctx, ...), as the use cases log) carries that request's
// request_id, like the handlers' own lines. Give the use cases' logger
// (and New's) this handler so that every line of a request can be found by
// its id. A logger that already has a request_id attribute (the one New
// derives per request) is left as it is: the id appears once. Inside
// WithGroup the id lands in the group.
func LogHandler(h slog.Handler) slog.Handler { return ctxHandler{h: h} }

type ctxHandler struct {
	h     slog.Handler
	hasID bool
}

func (c ctxHandler) Enabled(ctx context.Context, l slog.Level) bool { return c.h.Enabled(ctx, l) }

func (c ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	if !c.hasID {
		if id := requestIDFrom(ctx); id != "" {
			r = r.Clone()
			r.AddAttrs(slog.String("request_id", id))
		}
	}
	return c.h.Handle(ctx, r)
}

func (c ctxHandler) WithAttrs(as []slog.Attr) slog.Handler {
	has := c.hasID
	for _, a := range as {
		has = has || a.Key == "request_id"
	}
	return ctxHandler{h: c.h.WithAttrs(as), hasID: has}
}

func (c ctxHandler) WithGroup(name string) slog.Handler {
	return ctxHandler{h: c.h.WithGroup(name), hasID: c.hasID}
}

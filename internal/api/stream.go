package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ops-worker/ops-worker/internal/heartbeatstream"
	"github.com/ops-worker/ops-worker/internal/ops"
)

// Defaults of StreamOptions.
const (
	// DefaultKeepAlive: proxies commonly cut a response idle for 30-60 s.
	DefaultKeepAlive = 15 * time.Second
	// DefaultStreamEndMargin is how long before its context's deadline (a
	// Lambda invocation's timeout) a stream ends by itself, so that the
	// client's EventSource reconnects instead of seeing a cut.
	DefaultStreamEndMargin = 10 * time.Second
	// streamWriteWindow is how long one event may take to reach the
	// client: the server's write deadline is moved this far ahead before
	// each write, so that a client that stopped reading is dropped but a
	// stream that keeps flowing is never cut.
	streamWriteWindow = 30 * time.Second
	// streamRetryMs is the reconnect delay the stream suggests (the SSE
	// "retry:" field).
	streamRetryMs = 3000
)

// StreamOptions configure GET /api/heartbeat/stream.
type StreamOptions struct {
	// Hub fans the stations' heartbeats out. Nil: the route answers 503
	// SERVICE_BUSY "heartbeat streams not configured".
	Hub *heartbeatstream.Hub
	// KeepAlive is the time between two ": keep-alive" comments; 0:
	// DefaultKeepAlive.
	KeepAlive time.Duration
	// EndMargin: see DefaultStreamEndMargin; 0: that default. A request
	// whose context has no deadline (the local server) streams until the
	// client leaves or the server shuts down.
	EndMargin time.Duration
	// MaxDuration, when positive, ends every stream after that long (the
	// client reconnects).
	MaxDuration time.Duration
}

// streamEvent is the data of an `event: heartbeat`: the poll answer of
// POST /api/heartbeat/poll (host included) and where it came from.
type streamEvent struct {
	ops.PollResponse
	// Source is "poll" (the station was asked) or "stored" (a heartbeat
	// another poll stored within the interval).
	Source string `json:"source"`
}

// streamError is the data of an `event: error`: the error contract and the
// host.
type streamError struct {
	errorBody
	Host string `json:"host"`
}

// streamHandler serves GET /api/heartbeat/stream?host=&include_events=.
func streamHandler(o StreamOptions) http.Handler {
	if o.KeepAlive <= 0 {
		o.KeepAlive = DefaultKeepAlive
	}
	if o.EndMargin <= 0 {
		o.EndMargin = DefaultStreamEndMargin
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, include, err := parseStreamQuery(r.URL.RawQuery)
		if err != nil {
			writeError(w, r, err)
			return
		}
		if o.Hub == nil {
			writeError(w, r, ops.Errorf(ops.CodeServiceBusy, "heartbeat streams not configured"))
			return
		}
		sub, err := o.Hub.Subscribe(r.Context(), host)
		if err != nil {
			writeError(w, r, err)
			return
		}
		defer sub.Close()
		serveStream(w, r, sub, include, o)
	})
}

// parseStreamQuery reads host and include_events (default true; "0",
// "false", "no" and "off" turn it off, as the older worker reads it).
func parseStreamQuery(raw string) (host string, include bool, err error) {
	q, err := query(raw, "host", "include_events")
	if err != nil {
		return "", false, err
	}
	include = true
	if v, ok := q["include_events"]; ok {
		switch strings.ToLower(strings.TrimSpace(v[0])) {
		case "", "1", "true", "yes", "on":
		case "0", "false", "no", "off":
			include = false
		default:
			return "", false, ops.Errorf(ops.CodeInvalidField, "include_events must be true or false")
		}
	}
	return q.Get("host"), include, nil
}

// serveStream writes sub's beats as server-sent events until the client
// leaves, the hub closes (shutdown), or the stream's time is up.
func serveStream(w http.ResponseWriter, r *http.Request, sub *heartbeatstream.Subscription, include bool, o StreamOptions) {
	ctx := r.Context()
	log := loggerFrom(ctx)
	rc := http.NewResponseController(w)
	// The server's read deadline (ReadTimeout) would end the request's
	// context once it passes (net/http's background read fails): a stream
	// has no body left to read, so clear it.
	if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		log.DebugContext(ctx, "stream: read deadline not cleared", "err", err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx/openresty: pass each event on at once
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)

	var end <-chan time.Time
	if d, ok := streamTime(ctx.Deadline, o); ok {
		t := time.NewTimer(d)
		defer t.Stop()
		end = t.C
	}
	keep := time.NewTicker(o.KeepAlive)
	defer keep.Stop()
	write := func(b []byte) bool {
		if err := rc.SetWriteDeadline(time.Now().Add(streamWriteWindow)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return false
		}
		if _, err := w.Write(b); err != nil {
			return false
		}
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return false
		}
		return true
	}
	if !write(fmt.Appendf(nil, "retry: %d\n\n", streamRetryMs)) {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.Done():
			return
		case <-end:
			return
		case <-keep.C:
			if !write([]byte(": keep-alive\n\n")) {
				return
			}
		case u := <-sub.Updates():
			if !write(eventOf(r, u, include)) {
				return
			}
		}
	}
}

// streamTime is how long a stream may last: until EndMargin before the
// context's deadline (Lambda), at most MaxDuration; false: unbounded.
func streamTime(deadline func() (time.Time, bool), o StreamOptions) (time.Duration, bool) {
	var d time.Duration
	bounded := false
	if dl, ok := deadline(); ok {
		d, bounded = time.Until(dl)-o.EndMargin, true
		if d <= 0 {
			d = time.Until(dl) / 2 // a short invocation: still end before it does
		}
	}
	if o.MaxDuration > 0 && (!bounded || o.MaxDuration < d) {
		d, bounded = o.MaxDuration, true
	}
	return d, bounded
}

// eventOf is the SSE text of one beat.
func eventOf(r *http.Request, u heartbeatstream.Update, include bool) []byte {
	var name string
	var data []byte
	var err error
	if u.Err != nil {
		name = "error"
		data, err = json.Marshal(streamError{errorBody: contractOf(r, u.Err), Host: u.Host})
	} else {
		name = "heartbeat"
		ev := streamEvent{PollResponse: u.Response, Source: "poll"}
		if u.Stored {
			ev.Source = "stored"
		}
		if !include {
			ev.LastEvent = json.RawMessage("null")
		}
		data, err = json.Marshal(ev)
	}
	if err != nil {
		// A station document that is not valid JSON never gets here (the
		// parser refused it); keep the stream's framing whatever happens.
		name = "error"
		data, _ = json.Marshal(streamError{errorBody: contractOf(r, err), Host: u.Host})
	}
	// json.Marshal writes no raw newline, so one data: line holds it all.
	return fmt.Appendf(nil, "event: %s\ndata: %s\n\n", name, data)
}

// contractOf is the error contract of err as writeError would answer it
// (an *ops.Error's message and code; anything else the internal error).
func contractOf(r *http.Request, err error) errorBody {
	body := errorBody{RequestID: requestIDFrom(r.Context()), Error: internalMessage, Code: ops.CodeInternal}
	var oe *ops.Error
	if errors.As(err, &oe) && oe.Code != ops.CodeInternal {
		body.Error, body.Code = oe.Message, oe.Code
	}
	return body
}

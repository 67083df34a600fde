package api

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ops-worker/ops-worker/internal/ops"
)

// DefaultHealthCacheTTL is how long the open GET /health answers one probe's
// result (Options.HealthCacheTTL). Every probe pings the database, reads the
// quarantines and sends the relay a signed request, which holds one of the
// relay's replay-cache slots for about 60 s: answering anonymous callers
// from a probe at most this old bounds that cost to one probe per period,
// however many call, while a monitor still sees a change within seconds.
const DefaultHealthCacheTTL = 5 * time.Second

// healthCache answers GET /health from the last probe younger than ttl;
// an older one is refreshed by one caller at a time (the others wait for
// its result), so a flood costs one probe per period.
type healthCache struct {
	probe func(context.Context) ops.HealthResponse
	ttl   time.Duration
	now   func() time.Time

	mu     sync.Mutex
	last   ops.HealthResponse
	at     time.Time
	valid  bool
	flight *healthFlight // the refresh under way, nil when none
	// gen counts invalidations: a refresh begun before one does not
	// make its result the cached one.
	gen uint64
}

// healthFlight is one refresh: done is closed once v is set.
type healthFlight struct {
	done chan struct{}
	v    ops.HealthResponse
}

func newHealthCache(probe func(context.Context) ops.HealthResponse, ttl time.Duration) *healthCache {
	if ttl <= 0 {
		ttl = DefaultHealthCacheTTL
	}
	return &healthCache{probe: probe, ttl: ttl, now: time.Now}
}

// get returns a result at most ttl old, probing when there is none.
func (c *healthCache) get(ctx context.Context) ops.HealthResponse {
	c.mu.Lock()
	if c.valid && c.now().Sub(c.at) < c.ttl {
		v := c.last
		c.mu.Unlock()
		return v
	}
	f := c.flight
	if f == nil {
		f = &healthFlight{done: make(chan struct{})}
		c.flight = f
		gen := c.gen
		c.mu.Unlock()
		// Not the caller's context: a caller that leaves must not cache
		// a cancelled probe for everyone (Health bounds its own time).
		f.v = c.probe(context.WithoutCancel(ctx))
		c.mu.Lock()
		c.last, c.at, c.valid, c.flight = f.v, c.now(), gen == c.gen, nil
		c.mu.Unlock()
		close(f.done)
		return f.v
	}
	last := c.last
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.v
	case <-ctx.Done():
		return last // the caller left; what it gets hardly matters
	}
}

// invalidating runs h, then drops the cached result: a quarantine or a
// reload through this instance shows in its next /health at once.
func (c *healthCache) invalidating(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		c.mu.Lock()
		c.valid = false
		c.gen++
		c.mu.Unlock()
	})
}

// degradedHealth is a degraded probe as a 503: the probe's fields with the
// error contract's, so a monitor reads either.
type degradedHealth struct {
	ops.HealthResponse
	Error     string   `json:"error"`
	Code      ops.Code `json:"code"`
	RequestID string   `json:"requestId"`
}

// ServeHTTP is GET /health: the (cached) probe, 200 when every configured
// part answers, else 503 naming the failing ones.
func (c *healthCache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v := c.get(r.Context())
	if !v.Degraded() {
		writeJSON(w, http.StatusOK, v)
		return
	}
	writeJSON(w, ops.CodeDegraded.Status(), degradedHealth{HealthResponse: v,
		Error: "Service degraded: not answering: " + strings.Join(v.Failing, ", "),
		Code:  ops.CodeDegraded, RequestID: requestIDFrom(r.Context())})
}

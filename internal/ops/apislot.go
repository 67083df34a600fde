package ops

import (
	"context"
	"sync"
)

// apiSlotsPerStation is how many station calls (WinRM commands and
// heartbeat reads) requests of the HTTP API may have in flight per station:
// one of the WinRM client's two per station (winrm.DefaultMaxPerHost), so
// that however long API calls run (a guard grace of up to
// OPS_MAX_GUARD_GRACE), the scheduler's flows and polls always find the
// other. Further API calls for that station wait their turn.
const apiSlotsPerStation = 1

type apiOriginKey struct{}

// WithAPIOrigin marks ctx as a request of the HTTP API (not scheduler work):
// its station calls take one of the station's API slots.
func WithAPIOrigin(ctx context.Context) context.Context {
	return context.WithValue(ctx, apiOriginKey{}, true)
}

// FromAPI tells whether ctx was marked by WithAPIOrigin.
func FromAPI(ctx context.Context) bool {
	v, _ := ctx.Value(apiOriginKey{}).(bool)
	return v
}

// stationGate holds the API slots of each station; its zero value is
// ready. A station's entry lives while some call holds or waits for it.
type stationGate struct {
	mu sync.Mutex
	m  map[string]*gateEntry
}

type gateEntry struct {
	slots chan struct{}
	refs  int
}

// apiSlot takes one of station's API slots when ctx is an API request, and
// returns its release (a no-op for scheduler work, or when ctx ended while
// waiting: the call that follows then fails on ctx itself). Use as
// `defer s.apiSlot(ctx, h.Name)()`.
func (s *Service) apiSlot(ctx context.Context, station string) func() {
	if !FromAPI(ctx) {
		return func() {}
	}
	g := &s.apiSlots
	g.mu.Lock()
	if g.m == nil {
		g.m = map[string]*gateEntry{}
	}
	e := g.m[station]
	if e == nil {
		e = &gateEntry{slots: make(chan struct{}, apiSlotsPerStation)}
		g.m[station] = e
	}
	e.refs++
	g.mu.Unlock()
	unref := func() {
		g.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(g.m, station)
		}
		g.mu.Unlock()
	}
	select {
	case e.slots <- struct{}{}:
		return func() { <-e.slots; unref() }
	case <-ctx.Done():
		unref()
		return func() {}
	}
}

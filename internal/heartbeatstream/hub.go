// Package heartbeatstream is the fan-out behind GET /api/heartbeat/stream:
// one poller per station, started by its first open stream and stopped
// when the last one leaves, hands each of its heartbeats (or errors) to
// every stream of that station. However many pages watch a station, it is
// asked at most once per interval by this process, and not at all while a
// heartbeat stored by anyone (another instance, the heartbeat tick) is
// newer than the interval.
//
// A slow subscriber never holds the poller up: each subscription is a
// latest-value slot (a channel of one), and a value the subscriber has not
// taken yet is replaced by the newer one. A heartbeat stream wants the
// station's state now, not its history.
package heartbeatstream

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/ops-worker/ops-worker/internal/ops"
)

// Defaults of Options.
const (
	DefaultInterval = 10 * time.Second
	DefaultMax      = 2000
)

// Source is what the hub needs of the use cases (*ops.Service has it).
type Source interface {
	// StreamHost checks a stream's host before it opens: the catalog's
	// name, or a 400/404 *ops.Error.
	StreamHost(ctx context.Context, name string) (string, error)
	// FreshHeartbeat answers a heartbeat stored after since, else polls
	// the station.
	FreshHeartbeat(ctx context.Context, host string, since time.Time) (ops.Fresh, error)
}

// Observer is told what the hub does (metrics). Its methods are called
// with the hub's lock held: they must be fast and must not call the hub.
type Observer interface {
	// StreamsOpen is the number of open subscriptions, after each change.
	StreamsOpen(n int)
	// HubFetch is one beat of a station's poller: stored when a stored
	// heartbeat was served (no station was asked), err when it failed.
	HubFetch(host string, stored bool, err error)
}

// Options configure New; the zero value of each field is usable.
type Options struct {
	// Interval between two beats of a station; 0: DefaultInterval.
	Interval time.Duration
	// Max open subscriptions in this process; 0: DefaultMax.
	Max int
	// Observer, when set, is told the open count and every beat.
	Observer Observer
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Update is one beat of a station: a heartbeat, or why there was none.
type Update struct {
	Host string
	// At is when the beat started.
	At time.Time
	// Response is the heartbeat (when Err is nil); Stored says whether it
	// was the stored one rather than a poll of the station.
	Response ops.PollResponse
	Stored   bool
	// Err is the beat's failure (an *ops.Error for the station's).
	Err error

	end time.Time // when the beat finished: the next one's "since"
}

// Hub is the set of pollers. Build it with New; Close ends it.
type Hub struct {
	src      Source
	interval time.Duration
	max      int
	obs      Observer
	log      *slog.Logger
	now      func() time.Time

	mu      sync.Mutex
	pollers map[string]*poller
	// last is each station's latest beat, kept after its poller stopped, so
	// that a stream reopened within the interval (a page reload, an
	// EventSource reconnect) gets it at once and its new poller waits for
	// the rest of the interval instead of asking the station again. At
	// most one entry per catalog host.
	last   map[string]Update
	open   int
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup
}

// New returns a hub reading through src.
func New(src Source, o Options) *Hub {
	h := &Hub{src: src, interval: o.Interval, max: o.Max, obs: o.Observer, log: o.Logger, now: o.Now,
		pollers: map[string]*poller{}, last: map[string]Update{}, done: make(chan struct{})}
	if h.interval <= 0 {
		h.interval = DefaultInterval
	}
	if h.max <= 0 {
		h.max = DefaultMax
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h
}

// Interval is the time between two beats of a station.
func (h *Hub) Interval() time.Duration { return h.interval }

// Open is the number of open subscriptions.
func (h *Hub) Open() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.open
}

// Pollers is the number of stations being polled.
func (h *Hub) Pollers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.pollers)
}

// poller is one station's loop and its subscribers (guarded by Hub.mu).
type poller struct {
	host   string
	cancel context.CancelFunc
	subs   map[*Subscription]struct{}
}

// Subscription is one open stream of a station.
type Subscription struct {
	hub  *Hub
	p    *poller
	c    chan Update
	once sync.Once
}

// Updates delivers the station's beats: the latest one when the
// subscription opens (if the station had one within the interval), then
// each new one. A beat not taken before the next arrives is replaced.
func (s *Subscription) Updates() <-chan Update { return s.c }

// Done is closed when the hub closes (the server is shutting down): the
// stream should end.
func (s *Subscription) Done() <-chan struct{} { return s.hub.done }

// Host is the catalog name of the subscription's station.
func (s *Subscription) Host() string { return s.p.host }

// Close ends the subscription; the station's poller stops with its last
// one. Safe to call more than once.
func (s *Subscription) Close() {
	s.once.Do(func() {
		h := s.hub
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(s.p.subs, s)
		h.open--
		if h.obs != nil {
			h.obs.StreamsOpen(h.open)
		}
		if len(s.p.subs) == 0 {
			s.p.cancel()
			if h.pollers[s.p.host] == s.p {
				delete(h.pollers, s.p.host)
			}
		}
	})
}

// offer puts u in the slot, replacing a value not yet taken. Only the
// holder of Hub.mu sends, so the drain and the send cannot race another
// sender.
func (s *Subscription) offer(u Update) {
	select {
	case s.c <- u:
		return
	default:
	}
	select {
	case <-s.c:
	default:
	}
	select {
	case s.c <- u:
	default:
	}
}

// Subscribe opens a stream of host: a 400 or 404 *ops.Error for a host the
// catalog does not have, a 503 (ops.CodeServiceBusy) past Options.Max open
// subscriptions or once the hub is closed. Close the subscription when the
// stream ends.
func (h *Hub) Subscribe(ctx context.Context, host string) (*Subscription, error) {
	name, err := h.src.StreamHost(ctx, host)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ops.Errorf(ops.CodeServiceBusy, "shutting down")
	}
	if h.open >= h.max {
		return nil, ops.Errorf(ops.CodeServiceBusy, "too many heartbeat streams open (at most %d per process); retry later", h.max)
	}
	p := h.pollers[name]
	if p == nil {
		// The hub's polls are API work: they take the station's API slot,
		// so streams never crowd out the scheduler's flows.
		ctx, cancel := context.WithCancel(ops.WithAPIOrigin(context.Background()))
		p = &poller{host: name, cancel: cancel, subs: map[*Subscription]struct{}{}}
		h.pollers[name] = p
		h.wg.Add(1)
		go h.run(ctx, p)
	}
	s := &Subscription{hub: h, p: p, c: make(chan Update, 1)}
	p.subs[s] = struct{}{}
	if u, ok := h.last[name]; ok && h.now().Sub(u.At) < h.interval {
		s.offer(u)
	}
	h.open++
	if h.obs != nil {
		h.obs.StreamsOpen(h.open)
	}
	return s, nil
}

// run is one station's poller: a beat every interval (start to start)
// until ctx ends.
func (h *Hub) run(ctx context.Context, p *poller) {
	defer h.wg.Done()
	now := h.now()
	next, since := now, time.Time{}
	h.mu.Lock()
	if u, ok := h.last[p.host]; ok && now.Sub(u.At) < h.interval {
		next, since = u.At.Add(h.interval), u.end // the previous poller's beat still holds
	}
	h.mu.Unlock()
	timer := time.NewTimer(next.Sub(now))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := h.now()
		// A heartbeat stored after our last beat and within the interval
		// is news from someone else: serve it instead of asking again.
		from := start.Add(-h.interval)
		if since.After(from) {
			from = since
		}
		fr, err := h.src.FreshHeartbeat(ctx, p.host, from)
		if ctx.Err() != nil {
			return // the last stream left (or the hub closed) mid-beat
		}
		u := Update{Host: p.host, At: start, Response: fr.Response, Stored: fr.Stored, Err: err, end: h.now()}
		since = u.end
		h.mu.Lock()
		h.last[p.host] = u
		for s := range p.subs {
			s.offer(u)
		}
		if h.obs != nil {
			h.obs.HubFetch(p.host, fr.Stored, err)
		}
		h.mu.Unlock()
		timer.Reset(start.Add(h.interval).Sub(h.now()))
	}
}

// Close ends the hub: every poller stops (a beat in progress is
// cancelled), every subscription's Done closes, Subscribe refuses. It
// waits for the pollers. Safe to call more than once.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.wg.Wait()
		return
	}
	h.closed = true
	for _, p := range h.pollers {
		p.cancel()
	}
	close(h.done)
	h.mu.Unlock()
	h.wg.Wait()
}

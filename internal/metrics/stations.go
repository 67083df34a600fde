package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ops-worker/ops-worker/internal/ops"
)

// station is what is known of one catalog host.
type station struct {
	heartbeat time.Time // the last heartbeat's own timestamp; zero: none read
	ready     bool
	stale     bool
	lastPoll  time.Time // zero: never polled by this process
	pollOK    bool
	backedOff bool
	failures  int
	until     time.Time
	// backoffKnown: the heartbeat tick has reported this station's
	// back-off state (failures and until are exported only then).
	backoffKnown bool
}

// stationCollector exposes the per-station gauges, computed at scrape time
// (the heartbeat age grows between polls).
type stationCollector struct {
	known func(string) bool
	now   func() time.Time

	mu       sync.Mutex
	stations map[string]*station

	age, ts, ready, stale, lastPoll, pollUp, backoff, failures, until *prometheus.Desc
	// count is the fleet-wide summary (no host label): cheap to alert on
	// whatever the catalog's size.
	count *prometheus.Desc
}

func newStationCollector(known func(string) bool, now func() time.Time) *stationCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "station", name), help, []string{"host"}, nil)
	}
	return &stationCollector{
		known: known, now: now, stations: map[string]*station{},
		age:      d("heartbeat_age_seconds", "Age of the station's last heartbeat read (now minus its own timestamp), at scrape time."),
		ts:       d("heartbeat_timestamp_seconds", "The station's last heartbeat's own timestamp (Unix seconds)."),
		ready:    d("ready", "1 when the station's last heartbeat said ready, else 0."),
		stale:    d("heartbeat_stale", "1 when the station's last heartbeat read was stale (older than OPS_HEARTBEAT_STALE_AFTER), else 0."),
		lastPoll: d("last_poll_timestamp_seconds", "When the station was last polled by this process (Unix seconds)."),
		pollUp:   d("poll_up", "1 when the station's last poll read its heartbeat, 0 when it failed."),
		backoff:  d("backoff", "1 while the heartbeat tick leaves the station out after repeated failures, else 0."),
		failures: d("consecutive_failures", "Consecutive failed heartbeat polls of the station, as the heartbeat tick counts them."),
		until:    d("backoff_until_timestamp_seconds", "Until when the station is backed off (Unix seconds); 0 when it is not."),
		count: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "stations"),
			"Catalog stations by state of what this process knows: ready (last heartbeat said ready), stale (last heartbeat read was stale), poll_failed (last poll failed), backoff (backed off).",
			[]string{"state"}, nil),
	}
}

// get returns host's entry, creating it; nil for a host outside the
// catalog. Call with mu held.
func (c *stationCollector) get(host string) *station {
	if host == "" || (c.known != nil && !c.known(host)) {
		return nil
	}
	s := c.stations[host]
	if s == nil {
		s = &station{}
		c.stations[host] = s
	}
	return s
}

func (c *stationCollector) poll(o ops.PollObservation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.get(o.Host)
	if s == nil {
		return
	}
	at := o.At
	if at.IsZero() {
		at = c.now()
	}
	s.lastPoll, s.pollOK = at, o.Err == nil
	if o.Err == nil {
		s.heartbeat, s.ready, s.stale = o.Timestamp, o.Ready, o.Stale
	}
}

func (c *stationCollector) seed(host string, ts time.Time, ready bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.get(host)
	if s == nil || ts.IsZero() || !s.heartbeat.IsZero() && !ts.After(s.heartbeat) {
		return
	}
	s.heartbeat, s.ready = ts, ready
}

func (c *stationCollector) setBackoff(host string, on bool, failures int, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.get(host)
	if s == nil {
		return
	}
	s.backedOff, s.failures, s.until, s.backoffKnown = on, failures, until, true
	if !on {
		s.until = time.Time{}
	}
}

func (c *stationCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.age, c.ts, c.ready, c.stale, c.lastPoll, c.pollUp, c.backoff, c.failures, c.until, c.count} {
		ch <- d
	}
}

func (c *stationCollector) Collect(ch chan<- prometheus.Metric) {
	// Copy under the lock, emit without it: a scrape of a large catalog
	// must not hold up the polls that report to it.
	type entry struct {
		host string
		s    station
	}
	c.mu.Lock()
	snap := make([]entry, 0, len(c.stations))
	for host, s := range c.stations {
		if c.known != nil && !c.known(host) {
			delete(c.stations, host) // removed from the catalog
			continue
		}
		snap = append(snap, entry{host, *s})
	}
	c.mu.Unlock()

	now := c.now()
	gauge := func(d *prometheus.Desc, v float64, host string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, host)
	}
	var nReady, nStale, nFailed, nBackoff int
	for _, e := range snap {
		host, s := e.host, e.s
		if !s.heartbeat.IsZero() {
			gauge(c.age, now.Sub(s.heartbeat).Seconds(), host)
			gauge(c.ts, unixSeconds(s.heartbeat), host)
			gauge(c.ready, b2f(s.ready), host)
			gauge(c.stale, b2f(s.stale), host)
			if s.ready {
				nReady++
			}
			if s.stale {
				nStale++
			}
		}
		if !s.lastPoll.IsZero() {
			gauge(c.lastPoll, unixSeconds(s.lastPoll), host)
			gauge(c.pollUp, b2f(s.pollOK), host)
			if !s.pollOK {
				nFailed++
			}
		}
		gauge(c.backoff, b2f(s.backedOff), host)
		if s.backedOff {
			nBackoff++
		}
		if s.backoffKnown {
			gauge(c.failures, float64(s.failures), host)
			until := 0.0
			if !s.until.IsZero() {
				until = unixSeconds(s.until)
			}
			gauge(c.until, until, host)
		}
	}
	for state, n := range map[string]int{"ready": nReady, "stale": nStale, "poll_failed": nFailed, "backoff": nBackoff} {
		ch <- prometheus.MustNewConstMetric(c.count, prometheus.GaugeValue, float64(n), state)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

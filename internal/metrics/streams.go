package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ops-worker/ops-worker/internal/heartbeatstream"
)

var _ heartbeatstream.Observer = (*Metrics)(nil)

// streamMetrics are the heartbeat streams': how many are open, and what
// their hub's pollers did (the WinRM load the streams put on the stations
// is hub_fetches_total{source="poll"}).
type streamMetrics struct {
	open    prometheus.Gauge
	fetches *prometheus.CounterVec
}

func newStreamMetrics(f func(prometheus.Collector)) streamMetrics {
	s := streamMetrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "heartbeat_stream", Name: "open",
			Help: "Heartbeat streams (GET /api/heartbeat/stream) open now."}),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "heartbeat_stream", Name: "hub_fetches_total",
			Help: "Beats of the heartbeat streams' per-station pollers, by source (poll: the station was asked; stored: a heartbeat stored within the interval was served) and outcome (ok, error)."},
			[]string{"source", "outcome"}),
	}
	f(s.open)
	f(s.fetches)
	return s
}

// StreamsOpen implements heartbeatstream.Observer.
func (m *Metrics) StreamsOpen(n int) { m.streams.open.Set(float64(n)) }

// HubFetch implements heartbeatstream.Observer.
func (m *Metrics) HubFetch(_ string, stored bool, err error) {
	source, outcome := "poll", "ok"
	if stored {
		source = "stored"
	}
	if err != nil {
		outcome = "error"
	}
	m.streams.fetches.WithLabelValues(source, outcome).Inc()
}

package metrics

import (
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ops-worker/ops-worker/internal/power"
	"github.com/ops-worker/ops-worker/internal/powerops"
)

var _ powerops.Observer = (*Metrics)(nil)

// MaxOutletSeries bounds the outlet state gauges: controllers and outlets
// come from the power catalog (operators edit it through the API), so
// past this many distinct (controller, outlet) pairs a new pair gets no
// series (the existing ones go on being updated).
const MaxOutletSeries = 1024

// powerResults are the result label's values: the step outcomes and the
// power error codes; anything else is "failed".
var powerResults = []string{powerops.ResultSuccess, powerops.ResultAlreadyInState, powerops.ResultDisabled, powerops.ResultFailed,
	power.CodeUnreachable, power.CodeAuth, power.CodeUnsupportedProfile, power.CodeOutletUnknown,
	power.CodeReadBackMismatch, power.CodeBadResponse, power.CodeConfig}

type powerMetrics struct {
	ops         *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	requiredBad *prometheus.CounterVec
	outlets     *prometheus.GaugeVec

	mu     sync.Mutex
	series map[[2]string]bool // the outlet gauges' label pairs
}

func newPowerMetrics(f func(prometheus.Collector)) *powerMetrics {
	p := &powerMetrics{series: map[[2]string]bool{},
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "power", Name: "operations_total",
			Help: "Power steps executed (manual commands, lab phase routes, reservation flows; an idempotent replay is not one), " +
				"by driver, action (on, off, cycle) and result: success, already_in_state, or the power error code " +
				"(unreachable, auth, unsupported-profile, outlet-unknown, read-back-mismatch, bad-response, config, disabled)."},
			[]string{"driver", "action", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "power", Name: "operation_duration_seconds",
			Help: "Duration of executed power steps (state read, switch, retries, read-back and delays), by driver and action.", Buckets: durationBuckets},
			[]string{"driver", "action"}),
		requiredBad: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "power", Name: "required_step_failures_total",
			Help: "Failed power steps marked required, by phase (pre_start, post_start, pre_end, post_end, ...; manual: an outlet command, always required)."},
			[]string{"phase"}),
		outlets: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "power", Name: "outlet_state",
			Help: "An outlet's state as last read: 1 on, 0 off, -1 unknown (read failed, or a switch failed). Catalog outlets only, at most 1024 series."},
			[]string{"controller", "outlet"}),
	}
	// Every phase's series exists from the start, so increase() sees the
	// first failure (a series born at 1 shows no increase).
	for _, ph := range power.Phases {
		p.requiredBad.WithLabelValues(ph)
	}
	f(p.ops)
	f(p.duration)
	f(p.requiredBad)
	f(p.outlets)
	return p
}

func oneOf(v string, set []string) string {
	if slices.Contains(set, v) {
		return v
	}
	return Other
}

// PowerOperation implements powerops.Observer.
func (m *Metrics) PowerOperation(ev powerops.OperationEvent) {
	driver := oneOf(ev.Driver, power.Drivers)
	action := oneOf(ev.Action, []string{power.ActionOn, power.ActionOff, power.ActionCycle})
	result := ev.Result
	if !slices.Contains(powerResults, result) {
		result = powerops.ResultFailed
	}
	m.power.ops.WithLabelValues(driver, action, result).Inc()
	m.power.duration.WithLabelValues(driver, action).Observe(ev.Duration.Seconds())
	if ev.Required && ev.Failed() {
		m.power.requiredBad.WithLabelValues(oneOf(ev.Phase, power.Phases)).Inc()
	}
}

// OutletState implements powerops.Observer.
func (m *Metrics) OutletState(controller, outlet, state string) {
	v := -1.0
	switch state {
	case power.StateOn:
		v = 1
	case power.StateOff:
		v = 0
	}
	p := m.power
	k := [2]string{controller, outlet}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.series[k] {
		if len(p.series) >= MaxOutletSeries || len(controller) > 128 || len(outlet) > 64 {
			return
		}
		p.series[k] = true
	}
	p.outlets.WithLabelValues(controller, outlet).Set(v)
}

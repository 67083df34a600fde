package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ops-worker/ops-worker/internal/notify"
)

func newNotificationCounter() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "notify", Name: "deliveries_total",
		Help: "Failure notifications and alerts, by target (notification-service, webhook) and outcome: sent, " +
			"failed (after the retries) or dropped (queue full, or shut down before sending)."},
		[]string{"target", "outcome"})
	// Every series exists from the start, so a rate() over a failure that
	// never happened yet is 0, not absent.
	for _, t := range []string{notify.TargetService, notify.TargetWebhook} {
		for _, o := range []string{notify.OutcomeSent, notify.OutcomeFailed, notify.OutcomeDropped} {
			c.WithLabelValues(t, o)
		}
	}
	return c
}

// ObserveNotification implements notify.Observer.
func (m *Metrics) ObserveNotification(target, outcome string) {
	switch target {
	case notify.TargetService, notify.TargetWebhook:
	default:
		target = Other
	}
	m.notifications.WithLabelValues(target, outcome).Inc()
}

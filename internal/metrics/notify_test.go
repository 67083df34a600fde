package metrics_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/metrics"
	"github.com/ops-worker/ops-worker/internal/notify"
)

// A real dispatcher counts into the metrics: the service sink takes it,
// the webhook's port is closed, and after Close an event is dropped.
func TestNotify_Deliveries(t *testing.T) {
	m := metrics.New(metrics.Options{NoRuntime: true})
	fams := scrape(t, m)
	want(t, fams, "ops_notify_deliveries_total", L{"target": "webhook", "outcome": "dropped"}, 0)

	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	d, err := notify.New(notify.Config{ServiceURL: srv.URL, WebhookURL: dead, RetryAttempts: -1, AlertThreshold: 10}, nil, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Notify(domain.Failure{Host: "lab-ws-01", Action: "wake", Flow: domain.FlowWake, Code: domain.FailureNoResponse})
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.Notify(domain.Failure{Host: "lab-ws-01", Action: "wake", Flow: domain.FlowWake, Code: domain.FailureNoResponse})

	fams = scrape(t, m)
	want(t, fams, "ops_notify_deliveries_total", L{"target": "notification-service", "outcome": "sent"}, 1)
	want(t, fams, "ops_notify_deliveries_total", L{"target": "webhook", "outcome": "failed"}, 1)
	want(t, fams, "ops_notify_deliveries_total", L{"target": "notification-service", "outcome": "dropped"}, 1)
	want(t, fams, "ops_notify_deliveries_total", L{"target": "webhook", "outcome": "dropped"}, 1)
}

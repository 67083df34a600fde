package app

import (
	"context"
	"fmt"
	"time"

	"github.com/ops-worker/ops-worker/internal/notify"
)

// notifyDrainTimeout bounds how long Close waits for the notifications
// still queued (one request's timeout and a retry or two at the
// defaults); what is left is dropped, each logged.
const notifyDrainTimeout = 15 * time.Second

// newNotifier starts the failure notifications when a target is
// configured (NOTIFICATION_SERVICE_URL, OPS_WEBHOOK_URL) and hands them to
// the use cases; each delivery is recorded through the database, when
// there is one.
func (a *App) newNotifier(o Options) error {
	if !a.cfg.NotifyEnabled() {
		return nil
	}
	nc := a.cfg.NotifyConfig()
	nc.Now = a.service.Now
	var rec notify.Recorder
	if a.store != nil {
		rec = a.store
	}
	d, err := notify.New(nc, rec, o.Observers.Notify, a.logger)
	if err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	a.notify = d
	a.service.Notifier = d
	var targets []string
	if nc.ServiceURL != "" {
		targets = append(targets, notify.TargetService)
		if len(nc.Recipients) == 0 {
			a.logger.Warn("NOTIFICATION_SERVICE_URL is set but NOTIFICATION_SERVICE_RECIPIENTS is empty: the service gets no recipients")
		}
	}
	if nc.WebhookURL != "" {
		targets = append(targets, notify.TargetWebhook)
	}
	a.logger.Info("failure notifications on", "targets", targets, "retry_attempts", a.cfg.NotificationRetryAttempts,
		"alert_threshold", nc.AlertThreshold, "alert_window", nc.AlertWindow.String())
	return nil
}

// FlushNotifications waits until the notifications queued so far are sent
// and recorded, or ctx ends (what is left stays queued). A Lambda
// invocation calls it before it answers: the process is frozen after the
// answer. nil when no target is configured.
func (a *App) FlushNotifications(ctx context.Context) error {
	if a.notify == nil {
		return nil
	}
	return a.notify.Flush(ctx)
}

// Notifier is the failure notifications' dispatcher, nil without a target.
func (a *App) Notifier() *notify.Dispatcher { return a.notify }

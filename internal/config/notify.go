package config

import (
	"fmt"
	"time"

	"github.com/ops-worker/ops-worker/internal/notify"
)

// Failure notifications (issue 16). NOTIFICATION_SERVICE_URL is the
// gateway's notification service (an e-mail relay, the gateway worker's
// variable names and defaults); OPS_WEBHOOK_URL a generic webhook. Either,
// both or neither: with neither nothing is sent. Unlike the gateway's
// worker, an unset NOTIFICATION_SERVICE_URL has no default address.

// validateNotify checks the notification settings: the URLs are http or
// https without user info (notify.CheckURL; the message never quotes them:
// a webhook URL's path is often its credential), counts and waits in range.
func (c Config) validateNotify() error {
	for _, u := range []struct{ name, v string }{
		{"NOTIFICATION_SERVICE_URL", c.NotificationURL},
		{"OPS_WEBHOOK_URL", c.WebhookURL},
	} {
		if u.v == "" {
			continue
		}
		if _, err := notify.CheckURL(u.v); err != nil {
			return fmt.Errorf("%s: %w", u.name, err)
		}
	}
	if c.WebhookSecret != "" && c.WebhookURL == "" {
		return fmt.Errorf("OPS_WEBHOOK_SECRET: set without OPS_WEBHOOK_URL")
	}
	for _, p := range []struct {
		name   string
		v, min int
	}{
		{"NOTIFICATION_SERVICE_RETRY_ATTEMPTS", c.NotificationRetryAttempts, 0},
		{"NOTIFICATION_SERVICE_RETRY_BACKOFF_SECONDS", c.NotificationRetryBackoffSec, 1},
		{"OPS_ALERT_FAILURE_THRESHOLD", c.AlertThreshold, 1},
		{"OPS_ALERT_WINDOW_SECONDS", c.AlertWindowSec, 1},
		{"OPS_ALERT_COOLDOWN_SECONDS", c.AlertCooldownSec, 1},
		{"OPS_NOTIFY_TIMEOUT", c.NotifyTimeoutSec, 1},
		{"OPS_NOTIFY_QUEUE_SIZE", c.NotifyQueueSize, 1},
		{"OPS_NOTIFY_FLUSH_WAIT", c.NotifyFlushWaitSec, 0},
	} {
		if p.v < p.min {
			return fmt.Errorf("%s: must be at least %d, got %d", p.name, p.min, p.v)
		}
	}
	// A retry loop longer than an hour is a typo, and would hold the queue.
	if c.NotificationRetryAttempts > 10 {
		return fmt.Errorf("NOTIFICATION_SERVICE_RETRY_ATTEMPTS: at most 10, got %d", c.NotificationRetryAttempts)
	}
	if c.NotificationRetryBackoffSec > 300 {
		return fmt.Errorf("NOTIFICATION_SERVICE_RETRY_BACKOFF_SECONDS: at most 300, got %d", c.NotificationRetryBackoffSec)
	}
	return nil
}

// NotifyEnabled reports whether any notification target is configured.
func (c Config) NotifyEnabled() bool {
	return (c.NotificationEnabled && c.NotificationURL != "") || c.WebhookURL != ""
}

// NotifyConfig is the notification sender's configuration (internal/app
// adds the clock).
func (c Config) NotifyConfig() notify.Config {
	n := notify.Config{
		Recipients: append([]string(nil), c.NotificationRecipients...), Token: c.NotificationToken,
		TokenHeader: c.NotificationTokenHeader, WebhookURL: c.WebhookURL, WebhookSecret: c.WebhookSecret,
		RetryAttempts: c.NotificationRetryAttempts, RetryBackoff: sec(c.NotificationRetryBackoffSec),
		Timeout: sec(c.NotifyTimeoutSec), QueueSize: c.NotifyQueueSize, AlertThreshold: c.AlertThreshold,
		AlertWindow: sec(c.AlertWindowSec), AlertCooldown: sec(c.AlertCooldownSec),
	}
	if n.RetryAttempts == 0 {
		n.RetryAttempts = -1 // notify's zero is its default; 0 here means none
	}
	if c.NotificationEnabled {
		n.ServiceURL = c.NotificationURL
	}
	return n
}

// NotifyFlushWait is OPS_NOTIFY_FLUSH_WAIT: how long a Lambda invocation
// waits at its end for its notifications to be sent.
func (c Config) NotifyFlushWait() time.Duration { return sec(c.NotifyFlushWaitSec) }

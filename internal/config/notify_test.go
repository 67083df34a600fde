package config_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/config"
)

func TestLoad_Notify(t *testing.T) {
	ctx := context.Background()
	c, err := config.LoadMap(ctx, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.NotifyEnabled() {
		t.Error("notifications on with nothing configured")
	}
	n := c.NotifyConfig()
	if n.RetryAttempts != 3 || n.RetryBackoff != 5*time.Second || n.AlertThreshold != 3 ||
		n.AlertWindow != 300*time.Second || n.AlertCooldown != 900*time.Second || n.Timeout != 10*time.Second ||
		n.TokenHeader != "X-Access-Token" || c.NotifyFlushWait() != 5*time.Second {
		t.Errorf("defaults %+v", n)
	}

	c, err = config.LoadMap(ctx, map[string]string{
		"NOTIFICATION_SERVICE_URL":            "https://mail.lab.example/billing/admin/notifications/send",
		"NOTIFICATION_SERVICE_RECIPIENTS":     " ops@lab.example, ,it@lab.example ",
		"NOTIFICATION_SERVICE_RETRY_ATTEMPTS": "0",
		"NOTIFICATION_SERVICE_ACCESS_TOKEN":   "tok-secret-1",
		"OPS_WEBHOOK_URL":                     "https://hooks.example/services/T0/B0/PATHSECRET",
		"OPS_WEBHOOK_SECRET":                  "hmac-secret-2",
	})
	if err != nil {
		t.Fatal(err)
	}
	n = c.NotifyConfig()
	if !c.NotifyEnabled() || n.ServiceURL == "" || len(n.Recipients) != 2 || n.Recipients[1] != "it@lab.example" ||
		n.RetryAttempts != -1 {
		t.Errorf("config %+v", n)
	}
	// The token, the webhook URL (its path is a chat's credential) and the
	// webhook secret never print.
	for _, out := range []string{c.String(), fmt.Sprintf("%#v", c)} {
		for _, s := range []string{"tok-secret-1", "PATHSECRET", "hmac-secret-2"} {
			if strings.Contains(out, s) {
				t.Errorf("%q printed: %s", s, out)
			}
		}
	}

	c, err = config.LoadMap(ctx, map[string]string{"NOTIFICATION_SERVICE_URL": "https://mail.example/x",
		"NOTIFICATION_SERVICE_ENABLED": "false"})
	if err != nil || c.NotifyEnabled() {
		t.Errorf("NOTIFICATION_SERVICE_ENABLED=false: enabled %v, %v", c.NotifyEnabled(), err)
	}
}

func TestLoad_NotifyInvalid(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"NOTIFICATION_SERVICE_URL": "smtp://mail.example"}, "NOTIFICATION_SERVICE_URL: not an http"},
		{map[string]string{"OPS_WEBHOOK_URL": "https://bot:pa55word@chat.example/hook"}, "OPS_WEBHOOK_URL: user info"},
		{map[string]string{"OPS_WEBHOOK_SECRET": "s"}, "OPS_WEBHOOK_SECRET: set without OPS_WEBHOOK_URL"},
		{map[string]string{"NOTIFICATION_SERVICE_RETRY_ATTEMPTS": "-1"}, "NOTIFICATION_SERVICE_RETRY_ATTEMPTS: must be at least 0"},
		{map[string]string{"NOTIFICATION_SERVICE_RETRY_ATTEMPTS": "50"}, "NOTIFICATION_SERVICE_RETRY_ATTEMPTS: at most 10"},
		{map[string]string{"NOTIFICATION_SERVICE_RETRY_BACKOFF_SECONDS": "0"}, "NOTIFICATION_SERVICE_RETRY_BACKOFF_SECONDS: must be at least 1"},
		{map[string]string{"OPS_ALERT_FAILURE_THRESHOLD": "0"}, "OPS_ALERT_FAILURE_THRESHOLD"},
		{map[string]string{"OPS_NOTIFY_QUEUE_SIZE": "0"}, "OPS_NOTIFY_QUEUE_SIZE"},
		{map[string]string{"OPS_NOTIFY_TIMEOUT": "x"}, "OPS_NOTIFY_TIMEOUT: \"x\" is not a whole number"},
	} {
		_, err := config.LoadMap(context.Background(), c.env)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.env, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "pa55word") {
			t.Errorf("error quotes the URL: %v", err)
		}
	}
}

package config_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/config"
)

func TestLoad_InternalAuth(t *testing.T) {
	c, err := config.LoadMap(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.InternalAuthHeader != config.DefaultInternalAuthHeader || c.InternalAuthToken != "" {
		t.Errorf("defaults: header %q token set %v", c.InternalAuthHeader, c.InternalAuthToken != "")
	}
	c, err = config.LoadMap(context.Background(), map[string]string{"OPS_INTERNAL_AUTH_HEADER": " x-gw-service ", "OPS_INTERNAL_AUTH_TOKEN": "svc"})
	if err != nil {
		t.Fatal(err)
	}
	if c.InternalAuthHeader != "X-Gw-Service" || c.InternalAuthToken != "svc" {
		t.Errorf("header %q", c.InternalAuthHeader)
	}
	for _, bad := range []string{"", "X Ops", "X-Ops:", "Ünïcode", "x-lab-manager-token", "AUTHORIZATION", "cookie", strings.Repeat("x", 129)} {
		_, err := config.LoadMap(context.Background(), map[string]string{"OPS_INTERNAL_AUTH_HEADER": bad})
		if err == nil || !strings.Contains(err.Error(), "OPS_INTERNAL_AUTH_HEADER") {
			t.Errorf("header %q: err %v", bad, err)
		}
	}
}

func TestConfig_InternalTokenNotInOutput(t *testing.T) {
	const token = "iNt3rnalS3cret"
	c, err := config.LoadMap(context.Background(), map[string]string{"OPS_INTERNAL_AUTH_TOKEN": token})
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range secretOutputs(t, c) {
		if strings.Contains(out, token) {
			t.Errorf("%s holds the internal token: %s", name, out)
		}
	}
}

package config_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/ops"
)

func TestLoad_MaxGuardGrace(t *testing.T) {
	c, err := config.LoadMap(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxGuardGrace() != time.Hour || c.MaxGuardGrace() != ops.DefaultMaxGuardGrace {
		t.Errorf("default MaxGuardGrace = %v, want 1h (ops.DefaultMaxGuardGrace)", c.MaxGuardGrace())
	}
	c, err = config.LoadMap(context.Background(), map[string]string{"OPS_MAX_GUARD_GRACE": "600"})
	if err != nil || c.MaxGuardGrace() != 10*time.Minute {
		t.Errorf("OPS_MAX_GUARD_GRACE=600: %v, %v", c.MaxGuardGrace(), err)
	}
	for _, v := range []string{"0", "-1", "hour"} {
		_, err := config.LoadMap(context.Background(), map[string]string{"OPS_MAX_GUARD_GRACE": v})
		if err == nil || !strings.Contains(err.Error(), "OPS_MAX_GUARD_GRACE") {
			t.Errorf("OPS_MAX_GUARD_GRACE=%s: %v, want an error naming it", v, err)
		}
	}
}

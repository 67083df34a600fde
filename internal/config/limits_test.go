package config_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/app"
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
	c, err = config.LoadMap(context.Background(), map[string]string{"OPS_MAX_GUARD_GRACE": "600", "OPS_STATION_CIDRS": "10.1.2.0/24"})
	if err != nil || c.MaxGuardGrace() != 10*time.Minute {
		t.Errorf("OPS_MAX_GUARD_GRACE=600: %v, %v", c.MaxGuardGrace(), err)
	}
	// What the use cases are given.
	if s := app.Settings(c); s.MaxGuardGrace != 10*time.Minute || len(s.StationPrefixes) != 1 || s.StationPrefixes[0].String() != "10.1.2.0/24" {
		t.Errorf("app.Settings: MaxGuardGrace %v, StationPrefixes %v", s.MaxGuardGrace, s.StationPrefixes)
	}
	for _, v := range []string{"0", "-1", "hour"} {
		_, err := config.LoadMap(context.Background(), map[string]string{"OPS_MAX_GUARD_GRACE": v})
		if err == nil || !strings.Contains(err.Error(), "OPS_MAX_GUARD_GRACE") {
			t.Errorf("OPS_MAX_GUARD_GRACE=%s: %v, want an error naming it", v, err)
		}
	}
}

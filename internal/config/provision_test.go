package config_test

import (
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/config"
)

func TestProvisionDefaults(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  string // "" = accepted
	}{
		{"", ""},
		{`{"broadcast": "10.1.2.255", "wake_check": "tcp"}`, ""},
		{`["broadcast"]`, "one JSON object"},
		{`null`, "one JSON object"},
		{`{"broadcast": `, "one JSON object"},
		{`{"winrm_pass": "x", "name": "a"}`, `["name" "winrm_pass"]`},
	} {
		cfg, err := config.LoadMap(t.Context(), map[string]string{"OPS_PROVISION_DEFAULTS": tc.value})
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.value, err)
				continue
			}
			m, err := cfg.ProvisionDefaults()
			if err != nil || (tc.value != "" && m["broadcast"] == nil) {
				t.Errorf("%q: %v %v", tc.value, m, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "OPS_PROVISION_DEFAULTS") {
			t.Errorf("%q: err = %v, want one naming OPS_PROVISION_DEFAULTS and %s", tc.value, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), `"x"`) {
			t.Errorf("%q: the error repeats a value: %v", tc.value, err)
		}
	}
}

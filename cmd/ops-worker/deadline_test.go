package main

import (
	"context"
	"testing"

	"github.com/ops-worker/ops-worker/internal/app"
	"github.com/ops-worker/ops-worker/internal/config"
)

// The HTTP write deadline comes from the flow budget: a flow (the tick's
// end flow with its power-off wait, or a guard command that runs past a
// short OPS_WINRM_COMMAND_TIMEOUT) never outlives its answer. It was 2 x
// command + 2 min, under the flow's deadline as soon as a power-off wait
// was set or the command timeout was under the guard's run time.
func TestWriteDeadlineCoversTheFlow(t *testing.T) {
	for _, env := range []map[string]string{
		{},
		{"OPS_RESERVATION_POWER_OFF_WAIT": "600"},
		{"OPS_WINRM_COMMAND_TIMEOUT": "30"},
		{"OPS_WINRM_COMMAND_TIMEOUT": "1800", "OPS_RESERVATION_POWER_OFF_WAIT": "0"},
	} {
		cfg, err := config.LoadMap(context.Background(), env)
		if err != nil {
			t.Fatal(err)
		}
		if w, f := writeTimeout(cfg), app.FlowTimeout(cfg); w < f {
			t.Errorf("%v: write deadline %v < flow deadline %v", env, w, f)
		}
	}
}

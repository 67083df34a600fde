package winrm_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ops-worker/ops-worker/internal/winrm"
)

// masterzen writes the command line inside <![CDATA[...]]> unescaped: a
// line holding "]]>" is refused before anything is sent (issue 15), on
// every transport; the same line without it runs.
func TestRun_RefusesCDATAEnd(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	c := newClient(winrm.Config{})
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h.ResetReceived()
			before := len(h.Commands())
			_, err := c.Run(context.Background(), target(sim, h, m), `C:\LabStation\LabStation.exe status ]]><x/>`, winrm.RunOptions{})
			var we *winrm.Error
			if !errors.Is(err, winrm.ErrArgument) || !errors.As(err, &we) || we.Op != "run" {
				t.Fatalf("err = %v, want a *winrm.Error of op run, ErrArgument", err)
			}
			if got := h.Received(); len(got) != 0 {
				t.Errorf("the station received %d requests, want none", len(got))
			}
			if len(h.Commands()) != before {
				t.Error("a command ran")
			}
			if _, err := c.Run(context.Background(), target(sim, h, m), `C:\LabStation\LabStation.exe status ]]`, winrm.RunOptions{}); errors.Is(err, winrm.ErrArgument) {
				t.Errorf("a line with \"]]\" alone was refused: %v", err)
			}
		})
	}
}

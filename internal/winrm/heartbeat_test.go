package winrm_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

func TestReadHeartbeat(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	c := newClient(winrm.Config{})
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			before := len(h.Commands())
			raw, line, evErr, err := c.ReadHeartbeat(context.Background(), target(sim, h, m), labsim.HeartbeatPath, labsim.EventsPath, true)
			if err != nil || evErr != nil {
				t.Fatalf("ReadHeartbeat: %v, events: %v", err, evErr)
			}
			recs := h.Commands()
			if got := len(recs) - before; got != 1 {
				t.Errorf("poll cost %d WinRM commands, want 1", got)
			}
			if cl := recs[len(recs)-1].CommandLine; !strings.HasPrefix(cl, "powershell.exe -EncodedCommand ") {
				t.Errorf("command line %q is not an encoded PowerShell script", cl)
			}
			hb, err := labstation.ParseHeartbeat(raw)
			if err != nil {
				t.Fatalf("ParseHeartbeat(%q): %v", raw, err)
			}
			if hb.SchemaVersion != "1.0.0" || hb.Timestamp.IsZero() {
				t.Errorf("heartbeat = %+v", hb)
			}
			ev, err := labstation.ParseLastEvent(line)
			if err != nil || ev == nil {
				t.Fatalf("ParseLastEvent(%q) = %v, %v", line, ev, err)
			}
			if strings.Contains(string(line), "\n") {
				t.Errorf("last event line holds more than one line: %q", line)
			}
		})
	}
}

func TestReadHeartbeat_Faults(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	c := newClient(winrm.Config{})
	tg := target(sim, h, modes[0])
	ctx := context.Background()

	t.Run("empty events log", func(t *testing.T) {
		h.SetFaults(labsim.Faults{EmptyEventsLog: true})
		defer h.SetFaults(labsim.Faults{})
		raw, line, evErr, err := c.ReadHeartbeat(ctx, tg, labsim.HeartbeatPath, labsim.EventsPath, true)
		if err != nil || evErr != nil {
			t.Fatalf("err = %v, events err = %v", err, evErr)
		}
		if line != nil {
			t.Errorf("last event line = %q, want nil", line)
		}
		if _, err := labstation.ParseHeartbeat(raw); err != nil {
			t.Errorf("heartbeat: %v", err)
		}
	})
	t.Run("unreadable events log", func(t *testing.T) {
		raw, line, evErr, err := c.ReadHeartbeat(ctx, tg, labsim.HeartbeatPath, `C:\LabStation\missing\it's-gone.jsonl`, true)
		if err != nil {
			t.Fatalf("err = %v", err)
		}
		if !errors.Is(evErr, winrm.ErrEventsUnreadable) || line != nil {
			t.Errorf("events = %q, %v; want nil, ErrEventsUnreadable", line, evErr)
		}
		if _, err := labstation.ParseHeartbeat(raw); err != nil {
			t.Errorf("heartbeat: %v", err)
		}
	})
	t.Run("events not asked", func(t *testing.T) {
		raw, line, evErr, err := c.ReadHeartbeat(ctx, tg, labsim.HeartbeatPath, labsim.EventsPath, false)
		if err != nil || evErr != nil || line != nil {
			t.Fatalf("= %q, %v, %v", line, evErr, err)
		}
		if _, err := labstation.ParseHeartbeat(raw); err != nil {
			t.Errorf("heartbeat: %v", err)
		}
	})
	t.Run("missing heartbeat", func(t *testing.T) {
		_, _, _, err := c.ReadHeartbeat(ctx, tg, `C:\nope\heartbeat.json`, labsim.EventsPath, true)
		if !errors.Is(err, winrm.ErrRemote) {
			t.Errorf("err = %v, want ErrRemote", err)
		}
	})
	t.Run("path refused before sending", func(t *testing.T) {
		before := h.HTTPRequests()
		_, _, _, err := c.ReadHeartbeat(ctx, tg, "C:\\x\r\nWrite-Output 'pwned'", labsim.EventsPath, true)
		if !errors.Is(err, winrm.ErrArgument) {
			t.Errorf("err = %v, want ErrArgument", err)
		}
		if got := h.HTTPRequests(); got != before {
			t.Errorf("%d requests sent for a refused path", got-before)
		}
	})
	for _, f := range []struct {
		name   string
		faults labsim.Faults
		want   error
	}{
		{"truncated", labsim.Faults{TruncatedOutput: true}, labstation.ErrTruncated},
		{"schema 2.0.0", labsim.Faults{SchemaVersion: "2.0.0"}, labstation.ErrSchemaVersion},
	} {
		t.Run(f.name, func(t *testing.T) {
			h.SetFaults(f.faults)
			defer h.SetFaults(labsim.Faults{})
			raw, _, _, err := c.ReadHeartbeat(ctx, tg, labsim.HeartbeatPath, labsim.EventsPath, true)
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if _, err := labstation.ParseHeartbeat(raw); !errors.Is(err, f.want) {
				t.Errorf("ParseHeartbeat err = %v, want %v", err, f.want)
			}
		})
	}
	t.Run("stale", func(t *testing.T) {
		h.SetFaults(labsim.Faults{StaleHeartbeat: true})
		defer h.SetFaults(labsim.Faults{})
		raw, _, _, err := c.ReadHeartbeat(ctx, tg, labsim.HeartbeatPath, labsim.EventsPath, true)
		if err != nil {
			t.Fatalf("err = %v", err)
		}
		hb, err := labstation.ParseHeartbeat(raw)
		if err != nil {
			t.Fatalf("ParseHeartbeat: %v", err)
		}
		if !hb.Stale(time.Now(), 5*time.Minute) {
			t.Errorf("heartbeat of %v not stale", hb.Timestamp)
		}
	})
}

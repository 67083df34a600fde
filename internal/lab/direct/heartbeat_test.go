package direct_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// One poll is one encoded PowerShell command, in each way a station can be
// reached.
func TestDirect_ReadHeartbeat_EveryMode(t *testing.T) {
	sim := labsimtest.Start(t, labsim.HostOptions{Name: "lab-ws-01", AllowBasic: true})
	sh := sim.Host("lab-ws-01")
	d := newDirect(winrm.Config{})
	defer d.WinRM.Close()
	modes := map[string]func(*hosts.Host){
		"https-ntlm":          func(*hosts.Host) {},
		"https-basic":         func(h *hosts.Host) { h.WinRMTransport = winrm.TransportBasic },
		"http-ntlm-encrypted": func(h *hosts.Host) { h.WinRMUseSSL, h.WinRMPort = false, sh.HTTPPort() },
	}
	for name, set := range modes {
		t.Run(name, func(t *testing.T) {
			h := catalogHost(sim, sh)
			set(&h)
			before := len(sh.Commands())
			r, err := d.ReadHeartbeat(context.Background(), h, true)
			if err != nil || r.EventsErr != nil {
				t.Fatalf("ReadHeartbeat: %v, events: %v", err, r.EventsErr)
			}
			recs := sh.Commands()
			if got := len(recs) - before; got != 1 {
				t.Errorf("poll cost %d WinRM commands, want 1", got)
			}
			if cl := recs[len(recs)-1].CommandLine; !strings.HasPrefix(cl, "powershell.exe -EncodedCommand ") {
				t.Errorf("command line %q is not an encoded PowerShell script", cl)
			}
			if r.Heartbeat == nil || r.Heartbeat.SchemaVersion != "1.0.0" || r.Heartbeat.Timestamp.IsZero() {
				t.Errorf("heartbeat = %+v", r.Heartbeat)
			}
			if r.LastEvent == nil || r.LastEvent.Timestamp.IsZero() {
				t.Errorf("last event = %+v", r.LastEvent)
			}
		})
	}
}

// The host entry's paths reach the station verbatim or not at all.
func TestDirect_ReadHeartbeat_Paths(t *testing.T) {
	sim := labsimtest.Start(t, labsim.HostOptions{Name: "lab-ws-01"})
	sh := sim.Host("lab-ws-01")
	d := newDirect(winrm.Config{})
	defer d.WinRM.Close()
	ctx := context.Background()
	with := func(hb, ev string) hosts.Host {
		h := catalogHost(sim, sh)
		h.HeartbeatPath, h.EventsPath = hb, ev
		return h
	}

	t.Run("unreadable events log, quote in its path", func(t *testing.T) {
		r, err := d.ReadHeartbeat(ctx, with(labsim.HeartbeatPath, `C:\LabStation\missing\it's-gone.jsonl`), true)
		if err != nil || r.Heartbeat == nil || r.LastEvent != nil || !errors.Is(r.EventsErr, lab.ErrEventsUnreadable) {
			t.Errorf("= %+v, %v; want heartbeat, no event, ErrEventsUnreadable", r, err)
		}
	})
	t.Run("events not asked", func(t *testing.T) {
		r, err := d.ReadHeartbeat(ctx, with(labsim.HeartbeatPath, "bad\npath never checked"), false)
		if err != nil || r.Heartbeat == nil || r.LastEvent != nil || r.EventsErr != nil {
			t.Errorf("= %+v, %v; want heartbeat only", r, err)
		}
	})
	t.Run("missing heartbeat", func(t *testing.T) {
		_, err := d.ReadHeartbeat(ctx, with(`C:\nope\heartbeat.json`, labsim.EventsPath), true)
		if !errors.Is(err, lab.ErrRemote) {
			t.Errorf("err = %v, want ErrRemote", err)
		}
	})
	t.Run("path refused before sending", func(t *testing.T) {
		before := sh.HTTPRequests()
		_, err := d.ReadHeartbeat(ctx, with("C:\\x\r\nWrite-Output 'pwned'", labsim.EventsPath), true)
		if !errors.Is(err, lab.ErrArgument) {
			t.Errorf("err = %v, want ErrArgument", err)
		}
		if got := sh.HTTPRequests(); got != before {
			t.Errorf("%d requests sent for a refused path", got-before)
		}
	})
}

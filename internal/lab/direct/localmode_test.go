package direct_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// The flag goes on and off on the station, the next heartbeat says so,
// and clearing an absent flag succeeds.
func TestDirect_SetLocalMode(t *testing.T) {
	sim := labsimtest.Start(t, labsim.HostOptions{Name: "lab-ws-01"})
	sh := sim.Host("lab-ws-01")
	h := catalogHost(sim, sh)
	d := newDirect(winrm.Config{})
	ctx := context.Background()
	localMode := func() bool {
		t.Helper()
		hb, err := d.ReadHeartbeat(ctx, h, false)
		if err != nil {
			t.Fatal(err)
		}
		return hb.Heartbeat.LocalModeEnabled
	}

	for _, step := range []bool{true, true, false, false} {
		if err := d.SetLocalMode(ctx, h, step); err != nil {
			t.Fatalf("SetLocalMode(%v): %v", step, err)
		}
		if got := localMode(); got != step || sh.LocalMode() != step {
			t.Errorf("after SetLocalMode(%v): heartbeat localModeEnabled %v, station flag %v", step, got, sh.LocalMode())
		}
	}

	t.Run("no such folder", func(t *testing.T) {
		h := h
		h.LocalModeFlagPath = `C:\Lab Station\data\local-mode.flag`
		err := d.SetLocalMode(ctx, h, true)
		if !errors.Is(err, lab.ErrRemote) || !strings.Contains(err.Error(), "Could not find a part of the path") {
			t.Errorf("err = %v, want lab.ErrRemote with the station's message", err)
		}
	})
	t.Run("access denied", func(t *testing.T) {
		sh.SetFaults(labsim.Faults{DeniedPaths: []string{labsim.LocalModeFlagPath}})
		defer sh.SetFaults(labsim.Faults{})
		for _, on := range []bool{true, false} {
			if !on {
				sh.SetFile(labsim.LocalModeFlagPath, []byte("1"))
			}
			err := d.SetLocalMode(ctx, h, on)
			if !errors.Is(err, lab.ErrRemote) || !strings.Contains(err.Error(), "is denied") {
				t.Errorf("SetLocalMode(%v): err = %v, want lab.ErrRemote, access denied", on, err)
			}
		}
		sh.SetFile(labsim.LocalModeFlagPath, nil)
	})
	t.Run("hostile path refused before sending", func(t *testing.T) {
		h := h
		h.LocalModeFlagPath = "C:\\x'\n; Remove-Item C:\\ -Recurse; '"
		before := len(sh.Commands())
		err := d.SetLocalMode(ctx, h, true)
		if !errors.Is(err, lab.ErrArgument) {
			t.Errorf("err = %v, want lab.ErrArgument", err)
		}
		if n := len(sh.Commands()) - before; n != 0 {
			t.Errorf("%d commands reached the station", n)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		h := h
		h.WinRMPass = "wrong-S3cret"
		err := d.SetLocalMode(ctx, h, true)
		if !errors.Is(err, lab.ErrUnauthorized) || strings.Contains(err.Error(), "wrong-S3cret") {
			t.Errorf("err = %v, want lab.ErrUnauthorized without the password", err)
		}
	})
}

// BenchmarkSetLocalMode is one flag change (one PowerShell command over
// WinRM, HTTPS with NTLM) against labsim on loopback, and the WS-Management
// requests it takes.
//
//	go test -run '^$' -bench SetLocalMode ./internal/lab/direct/
func BenchmarkSetLocalMode(b *testing.B) {
	sim := labsimtest.Start(b, labsim.HostOptions{Name: "lab-ws-01"})
	sh := sim.Host("lab-ws-01")
	h := catalogHost(sim, sh)
	d := newDirect(winrm.Config{})
	ctx := context.Background()
	before := sh.HTTPRequests()
	on := false
	for b.Loop() {
		on = !on
		if err := d.SetLocalMode(ctx, h, on); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(sh.HTTPRequests()-before)/float64(b.N), "wsman-requests/op")
}

package direct_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/wake"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// closedPort returns a loopback TCP port with nothing listening.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestDirect_UnreachableDiagnosis(t *testing.T) {
	// Refusing at once, to test the probe after a refused connection
	// quickly; a blackholed sleeping host: station_test.go.
	sim := labsimtest.Start(t, labsim.HostOptions{Name: "lab-ws-01", Asleep: true, SleepMode: labsim.SleepRefuse})
	ctx := context.Background()

	t.Run("sleeping host", func(t *testing.T) {
		d := newDirect(winrm.Config{})
		d.DiagnoseWait = 300 * time.Millisecond
		h := catalogHost(sim, sim.Host("lab-ws-01")) // wake_check tcp, as labsim's hosts.json has it
		for name, call := range map[string]func() error{
			"command":   func() error { _, err := d.RunCommand(ctx, h, "status", nil, lab.CommandOptions{}); return err },
			"heartbeat": func() error { _, err := d.ReadHeartbeat(ctx, h, true); return err },
		} {
			err := call()
			t.Logf("%s: %v", name, err)
			if !errors.Is(err, lab.ErrHostDown) || !errors.Is(err, winrm.ErrUnreachable) || errors.Is(err, lab.ErrWinRMClosed) {
				t.Errorf("%s: err = %v, want ErrHostDown (and winrm.ErrUnreachable)", name, err)
			}
		}
	})

	t.Run("closed WinRM port on a host that answers ping", func(t *testing.T) {
		d := newDirect(winrm.Config{})
		d.Waker = &wake.Waker{} // ICMP as this process may
		if mode := d.Waker.ICMPMode(); strings.HasPrefix(mode, "skipped") {
			t.Skipf("ICMP not available to this process (%s): requires root or ping_group_range", mode)
		}
		d.DiagnoseWait = time.Second
		h := catalogHost(sim, sim.Host("lab-ws-01"))
		h.WakeCheck = "" // ping and TCP
		h.WinRMPort = closedPort(t)
		_, err := d.RunCommand(ctx, h, "status", nil, lab.CommandOptions{})
		t.Logf("closed port: %v", err)
		if !errors.Is(err, lab.ErrWinRMClosed) || !errors.Is(err, winrm.ErrUnreachable) || errors.Is(err, lab.ErrHostDown) {
			t.Errorf("err = %v, want ErrWinRMClosed (and winrm.ErrUnreachable)", err)
		}
	})

	t.Run("no probe when switched off", func(t *testing.T) {
		d := newDirect(winrm.Config{})
		d.DiagnoseWait = -1
		h := catalogHost(sim, sim.Host("lab-ws-01"))
		_, err := d.RunCommand(ctx, h, "status", nil, lab.CommandOptions{})
		if !errors.Is(err, winrm.ErrUnreachable) || errors.Is(err, lab.ErrHostDown) || errors.Is(err, lab.ErrWinRMClosed) {
			t.Errorf("err = %v, want the bare winrm.ErrUnreachable", err)
		}
	})
}

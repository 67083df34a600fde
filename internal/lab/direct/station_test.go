package direct_test

// How the worker reports the Windows behaviours labsim has by default.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	mzwinrm "github.com/masterzen/winrm"

	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

const (
	testDialTimeout  = 400 * time.Millisecond
	testDiagnoseWait = 300 * time.Millisecond
	// slack covers the TLS/NTLM exchanges and a loaded machine.
	slack = 1500 * time.Millisecond
)

// A sleeping station ignores the SYN (labsim's default, as Windows): the
// worker says "host not answering" within the dial timeout plus the probe
// wait, not "timed out" at the call's limit.
func TestDirect_BlackholedSleepingHostIsDown(t *testing.T) {
	sim := labsimtest.Start(t, labsim.HostOptions{Name: "lab-ws-01", Asleep: true})
	d := newDirect(winrm.Config{OperationTimeout: 20 * time.Second, DialTimeout: testDialTimeout})
	defer d.WinRM.Close()
	d.DiagnoseWait = testDiagnoseWait
	h := catalogHost(sim, sim.Host("lab-ws-01"))
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"command":   func() error { _, err := d.RunCommand(ctx, h, "status", nil, lab.CommandOptions{}); return err },
		"heartbeat": func() error { _, err := d.ReadHeartbeat(ctx, h, true); return err },
	} {
		start := time.Now()
		err := call()
		took := time.Since(start)
		t.Logf("%s: %v after %v", name, err, took)
		if !errors.Is(err, lab.ErrHostDown) || !errors.Is(err, winrm.ErrUnreachable) {
			t.Errorf("%s: err = %v, want ErrHostDown (and winrm.ErrUnreachable)", name, err)
		}
		if took < testDialTimeout || took > testDialTimeout+testDiagnoseWait+slack {
			t.Errorf("%s: reported after %v, want within dial timeout %v + probe wait %v", name, took, testDialTimeout, testDiagnoseWait)
		}
	}
}

// The default dial timeout stays under the call's limit, so a short
// operation timeout still reports a sleeping host as down, not timed out.
func TestDirect_BlackholedHostWithShortOperationTimeout(t *testing.T) {
	sim := labsimtest.Start(t, labsim.HostOptions{Name: "lab-ws-01", Asleep: true})
	d := newDirect(winrm.Config{OperationTimeout: time.Second}) // DialTimeout default (10s) is cut to 500ms
	defer d.WinRM.Close()
	d.DiagnoseWait = testDiagnoseWait
	h := catalogHost(sim, sim.Host("lab-ws-01"))
	_, err := d.RunCommand(context.Background(), h, "status", nil, lab.CommandOptions{})
	if !errors.Is(err, lab.ErrHostDown) || errors.Is(err, winrm.ErrTimeout) {
		t.Errorf("err = %v, want ErrHostDown, not a timeout", err)
	}
}

// cmd.exe answers 9009 for a program that does not exist: a failed
// command with cmd's message, never a success.
func TestDirect_WrongLabStationPath(t *testing.T) {
	sim := labsimtest.Start(t, labsim.HostOptions{Name: "lab-ws-01"})
	d := newDirect(winrm.Config{})
	defer d.WinRM.Close()
	h := catalogHost(sim, sim.Host("lab-ws-01"))
	h.LabStationExe = `C:\Wrong\LabStation.exe`
	res, err := d.RunCommand(context.Background(), h, "status", nil, lab.CommandOptions{})
	if err != nil {
		t.Fatalf("RunCommand: %v", err)
	}
	want := "'C:\\Wrong\\LabStation.exe' is not recognized as an internal or external command,\r\noperable program or batch file."
	if res.Outcome != labstation.OutcomeFailed || res.ExitCode != 9009 || !strings.Contains(res.Stderr, want) {
		t.Errorf("result = %+v, want Outcome failed, exit 9009, stderr %q", res, want)
	}
}

// A station whose 30 shells for the account are taken (leaked by other
// clients) refuses new ones: ErrQuota with the station's own message.
func TestDirect_ShellsExhausted(t *testing.T) {
	// The leaking client is masterzen's own NTLM, which sends no channel
	// binding: this station does not check it.
	sim := labsimtest.Start(t, labsim.HostOptions{Name: "lab-ws-01", CBT: labsim.CBTNone})
	sh := sim.Host("lab-ws-01")
	ep := mzwinrm.NewEndpoint("127.0.0.1", sh.HTTPSPort(), true, false, sim.CACertPEM(), nil, nil, 5*time.Second)
	params := mzwinrm.NewParameters("PT5S", "en-US", 153600)
	params.TransportDecorator = func() mzwinrm.Transporter { return &mzwinrm.ClientNTLM{} }
	mz, err := mzwinrm.NewClientWithParameters(ep, sh.User(), sh.Password(), params)
	if err != nil {
		t.Fatal(err)
	}
	var leaked []*mzwinrm.Shell
	for i := 0; i < 30; i++ {
		s, err := mz.CreateShell()
		if err != nil {
			t.Fatalf("shell %d: %v", i+1, err)
		}
		leaked = append(leaked, s)
	}
	d := newDirect(winrm.Config{})
	defer d.WinRM.Close()
	h := catalogHost(sim, sh)
	_, err = d.RunCommand(context.Background(), h, "status", nil, lab.CommandOptions{})
	t.Logf("exhausted: %v", err)
	if !errors.Is(err, winrm.ErrQuota) || !strings.Contains(err.Error(), "maximum number of 30 concurrent shells") ||
		strings.Contains(err.Error(), "<s:Envelope") {
		t.Errorf("err = %v, want winrm.ErrQuota with the station's message (not the raw envelope)", err)
	}
	if err := leaked[0].Close(); err != nil {
		t.Fatal(err)
	}
	if res, err := d.RunCommand(context.Background(), h, "status", nil, lab.CommandOptions{}); err != nil || res.ExitCode != 0 {
		t.Errorf("after one shell closed: %+v, %v", res, err)
	}
}

// A station that dies while the worker waits for output: a typed error at
// once (then diagnosed as down), not a hang until the time limit.
func TestDirect_HostDiesMidCall(t *testing.T) {
	sim := labsimtest.Start(t, labsim.HostOptions{Name: "blackhole"}, labsim.HostOptions{Name: "refuse", SleepMode: labsim.SleepRefuse})
	d := newDirect(winrm.Config{OperationTimeout: 20 * time.Second, DialTimeout: testDialTimeout})
	defer d.WinRM.Close()
	d.DiagnoseWait = testDiagnoseWait
	for _, sh := range sim.Hosts() {
		sh.SetFaults(labsim.Faults{DieMidCall: true})
		h := catalogHost(sim, sh)
		start := time.Now()
		_, err := d.RunCommand(context.Background(), h, "status", nil, lab.CommandOptions{})
		took := time.Since(start)
		t.Logf("%s: %v after %v", sh.Name(), err, took)
		if !errors.Is(err, winrm.ErrUnreachable) || !errors.Is(err, lab.ErrHostDown) {
			t.Errorf("%s: err = %v, want winrm.ErrUnreachable diagnosed as ErrHostDown", sh.Name(), err)
		}
		if took > testDiagnoseWait+slack {
			t.Errorf("%s: reported after %v", sh.Name(), took)
		}
		if !sh.Asleep() {
			t.Errorf("%s: not asleep after DieMidCall", sh.Name())
		}
	}
}

package direct_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/lab/direct"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/leakcheck"
	"github.com/ops-worker/ops-worker/internal/wake"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// TestMain fails the run when goroutines of ours or of the libraries we
// drive are left running after the suite.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m, 5*time.Second)) }

// catalogHost is the hosts.json entry of a simulated station.
func catalogHost(sim *labsim.Sim, h *labsim.Host) hosts.Host {
	return hosts.Host{
		Name: h.Name(), Address: "127.0.0.1", MAC: h.MAC(),
		WinRMUser: h.User(), WinRMPass: h.Password(), WinRMTransport: "ntlm",
		WinRMPort: h.HTTPSPort(), WinRMUseSSL: true, WinRMCAFile: sim.CAFile(),
		HeartbeatPath: labsim.HeartbeatPath, EventsPath: labsim.EventsPath, LabStationExe: labsim.DefaultLabStationExe,
		LocalModeFlagPath: labsim.LocalModeFlagPath,
		Broadcast:         "127.0.0.1", WOLPort: h.WakePort(), WakeCheck: "tcp", Labs: []string{"1"},
	}
}

func newDirect(cfg winrm.Config) *direct.Direct {
	if cfg.OperationTimeout == 0 {
		cfg.OperationTimeout = 5 * time.Second
	}
	return &direct.Direct{
		WinRM:           winrm.New(cfg),
		Waker:           &wake.Waker{ICMP: "off"},
		Policy:          direct.Policy{AllowedTransports: []string{"ntlm", "basic"}},
		AllowedCommands: labstation.DefaultAllowList(),
	}
}

func TestDirect_WakeSleepingHost(t *testing.T) {
	sim := labsimtest.Start(t, labsim.HostOptions{Name: "lab-ws-01", Asleep: true, BootDelay: 300 * time.Millisecond})
	sh := sim.Host("lab-ws-01")
	h := catalogHost(sim, sh)
	d := newDirect(winrm.Config{DialTimeout: 500 * time.Millisecond}) // the sleeping host ignores the SYN
	ctx := context.Background()

	if _, err := d.Reachable(ctx, h, 300*time.Millisecond); !errors.Is(err, lab.ErrUnreachable) {
		t.Fatalf("Reachable of a sleeping host: err = %v, want ErrUnreachable", err)
	}
	if _, err := d.RunCommand(ctx, h, "status", nil, lab.CommandOptions{}); !errors.Is(err, winrm.ErrUnreachable) {
		t.Fatalf("RunCommand on a sleeping host: err = %v, want winrm.ErrUnreachable", err)
	}
	res, err := d.Wake(ctx, h, lab.WakeOptions{PingTimeout: 3 * time.Second, Attempts: 3})
	if err != nil {
		t.Fatalf("Wake: %v", err)
	}
	if !res.Success || res.ReachedBy != "tcp" || res.AttemptsUsed != 1 || res.PingTarget != "127.0.0.1" {
		t.Errorf("Wake = %+v, want success by tcp on the first attempt", res)
	}
	by, err := d.Reachable(ctx, h, time.Second)
	if err != nil || by != "tcp" {
		t.Errorf("Reachable = %q, %v; want tcp", by, err)
	}
	hb, err := d.ReadHeartbeat(ctx, h, true)
	if err != nil {
		t.Fatalf("ReadHeartbeat after wake: %v", err)
	}
	if hb.Heartbeat == nil || hb.LastEvent == nil {
		t.Errorf("heartbeat read = %+v", hb)
	}
}

func TestDirect_WakeWrongMAC(t *testing.T) {
	sim := labsimtest.Start(t, labsim.HostOptions{Name: "lab-ws-01", Asleep: true})
	sh := sim.Host("lab-ws-01")
	h := catalogHost(sim, sh)
	d := newDirect(winrm.Config{})
	start := time.Now()
	res, err := d.Wake(context.Background(), h, lab.WakeOptions{MAC: "02:00:00:00:99:99", PingTimeout: 200 * time.Millisecond, Attempts: 2})
	if err != nil {
		t.Fatalf("Wake: %v", err)
	}
	if res.Success || res.AttemptsUsed != 2 || res.ReachedBy != "" {
		t.Errorf("Wake = %+v, want failure after 2 attempts", res)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("gave up after %v, before the attempts' waits", d)
	}
	if !sh.Asleep() {
		t.Error("host woke for another MAC")
	}
	noMAC := h
	noMAC.MAC = ""
	if _, err := d.Wake(context.Background(), noMAC, lab.WakeOptions{}); !errors.Is(err, lab.ErrMACRequired) {
		t.Errorf("no MAC: err = %v, want ErrMACRequired", err)
	}
}

func TestDirect_RunCommand(t *testing.T) {
	sim := labsimtest.Start(t, labsim.HostOptions{Name: "lab-ws-01", AllowBasic: true}) // "basic override allowed"
	sh := sim.Host("lab-ws-01")
	h := catalogHost(sim, sh)
	d := newDirect(winrm.Config{})
	ctx := context.Background()

	args := []string{"--user=student", "--guard-grace=90", "--guard-message=Session starts & ends \"soon\""}
	res, err := d.RunCommand(ctx, h, "prepare-session", args, lab.CommandOptions{})
	if err != nil {
		t.Fatalf("RunCommand: %v", err)
	}
	if res.ExitCode != 0 || res.Outcome != labstation.OutcomeCompleted {
		t.Errorf("result = %+v", res)
	}
	recs := sh.Commands()
	if want := append([]string{h.LabStationExe, "prepare-session"}, args...); !slices.Equal(recs[len(recs)-1].Args, want) {
		t.Errorf("argv = %q, want %q", recs[len(recs)-1].Args, want)
	}

	t.Run("forced exit code 1 is warnings", func(t *testing.T) {
		sh.SetFaults(labsim.Faults{ExitCodes: map[string]int{"status": 1}})
		defer sh.SetFaults(labsim.Faults{})
		res, err := d.RunCommand(ctx, h, "status", nil, lab.CommandOptions{})
		if err != nil || res.ExitCode != 1 || res.Outcome != labstation.OutcomeWarnings {
			t.Errorf("= %+v, %v", res, err)
		}
	})
	refused := []struct {
		name    string
		command string
		o       lab.CommandOptions
		want    error
	}{
		{"downgrade", "status", lab.CommandOptions{UseSSL: ptr(false)}, lab.ErrPolicy},
		{"transport", "status", lab.CommandOptions{Transport: "kerberos"}, lab.ErrPolicy},
		{"weaker transport", "status", lab.CommandOptions{Transport: "basic"}, lab.ErrPolicy},
		{"port", "status", lab.CommandOptions{Port: 5985}, lab.ErrPolicy},
		{"credentials", "status", lab.CommandOptions{User: "Administrator", Password: "x"}, lab.ErrPolicy},
		{"command", "format-disk", lab.CommandOptions{}, lab.ErrCommandNotAllowed},
	}
	for _, tt := range refused {
		t.Run("refused "+tt.name, func(t *testing.T) {
			before := sh.HTTPRequests()
			_, err := d.RunCommand(ctx, h, tt.command, nil, tt.o)
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if got := sh.HTTPRequests(); got != before {
				t.Errorf("%d requests reached the station", got-before)
			}
		})
	}
}

// The command deadline of a session-guard command is never below its grace
// period + 60 s (labstation.MinRunTime), whatever CommandTimeout says; and
// an argument that cannot reach the program verbatim is refused before
// anything is sent.
func TestDirect_RunCommand_DeadlineCoversGuardGrace(t *testing.T) {
	sim := labsimtest.Start(t, labsim.HostOptions{Name: "lab-ws-01", LocalUser: "student"}) // real time
	sh := sim.Host("lab-ws-01")
	h := catalogHost(sim, sh)
	d := newDirect(winrm.Config{OperationTimeout: 500 * time.Millisecond, CommandTimeout: time.Second})
	defer d.WinRM.Close()
	res, err := d.RunCommand(context.Background(), h, "session", []string{"guard", "--grace=2"}, lab.CommandOptions{})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("session guard --grace=2 with a 1 s CommandTimeout: %v (exit %d)", err, res.ExitCode)
	}
	if u := sh.LocalUser(); u != "" {
		t.Errorf("local user %q still signed in", u)
	}
	before := sh.HTTPRequests()
	if _, err := d.RunCommand(context.Background(), h, "status", []string{"a\nb"}, lab.CommandOptions{}); !errors.Is(err, lab.ErrArgument) {
		t.Errorf("newline in an argument: err = %v, want ErrArgument", err)
	}
	if got := sh.HTTPRequests(); got != before {
		t.Errorf("%d requests sent for a refused argument", got-before)
	}
}

func TestDirect_ReadHeartbeat(t *testing.T) {
	sim := labsimtest.Start(t, labsim.HostOptions{Name: "lab-ws-01"})
	sh := sim.Host("lab-ws-01")
	h := catalogHost(sim, sh)
	d := newDirect(winrm.Config{})
	ctx := context.Background()

	before := len(sh.Commands())
	got, err := d.ReadHeartbeat(ctx, h, true)
	if err != nil {
		t.Fatalf("ReadHeartbeat: %v", err)
	}
	if n := len(sh.Commands()) - before; n != 1 {
		t.Errorf("poll cost %d WinRM commands, want 1", n)
	}
	if got.Heartbeat == nil || got.Heartbeat.SchemaVersion != "1.0.0" || got.Stale || got.EventsErr != nil {
		t.Errorf("read = %+v", got)
	}
	if got.LastEvent == nil || got.LastEvent.Timestamp.IsZero() {
		t.Errorf("last event = %+v", got.LastEvent)
	}

	tests := []struct {
		name   string
		faults labsim.Faults
		check  func(t *testing.T, r lab.HeartbeatRead, err error)
	}{
		{"empty events log", labsim.Faults{EmptyEventsLog: true}, func(t *testing.T, r lab.HeartbeatRead, err error) {
			if err != nil || r.Heartbeat == nil || r.LastEvent != nil || r.EventsErr != nil {
				t.Errorf("= %+v, %v; want heartbeat and no event", r, err)
			}
		}},
		{"truncated", labsim.Faults{TruncatedOutput: true}, func(t *testing.T, r lab.HeartbeatRead, err error) {
			if !errors.Is(err, labstation.ErrTruncated) {
				t.Errorf("err = %v, want ErrTruncated", err)
			}
		}},
		{"schema 2.0.0", labsim.Faults{SchemaVersion: "2.0.0"}, func(t *testing.T, r lab.HeartbeatRead, err error) {
			if !errors.Is(err, labstation.ErrSchemaVersion) {
				t.Errorf("err = %v, want ErrSchemaVersion", err)
			}
		}},
		{"garbage output", labsim.Faults{GarbageOutput: true}, func(t *testing.T, r lab.HeartbeatRead, err error) {
			if !errors.Is(err, lab.ErrRemote) || r.Heartbeat != nil {
				t.Errorf("= %+v, %v; want ErrRemote", r, err)
			}
		}},
		{"station error", labsim.Faults{FailureRate: 1}, func(t *testing.T, r lab.HeartbeatRead, err error) {
			if !errors.Is(err, lab.ErrRemote) || r.Heartbeat != nil {
				t.Errorf("= %+v, %v; want ErrRemote", r, err)
			}
		}},
		{"stale", labsim.Faults{StaleHeartbeat: true}, func(t *testing.T, r lab.HeartbeatRead, err error) {
			if err != nil || !r.Stale {
				t.Errorf("= %+v, %v; want stale", r, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sh.SetFaults(tt.faults)
			defer sh.SetFaults(labsim.Faults{})
			r, err := d.ReadHeartbeat(ctx, h, true)
			tt.check(t, r, err)
		})
	}
}

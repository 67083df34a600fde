package winrm_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// Calls that hang, are cancelled, run out of time, run side by side, or
// lose their station mid-command.

// A hung command is polled through its OperationTimeouts and abandoned at
// the command deadline, not at the first OperationTimeout; its shell is
// deleted.
func TestRun_HungCommandAbandoned(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	h.SetFaults(labsim.Faults{Hang: true})
	c := winrm.New(winrm.Config{OperationTimeout: 300 * time.Millisecond, CommandTimeout: 1500 * time.Millisecond})
	defer c.Close()
	for _, m := range modes {
		timedOut := h.TimedOutReceives()
		start := time.Now()
		_, err := runLabStation(context.Background(), c, target(sim, h, m), "status", nil)
		d := time.Since(start)
		if !errors.Is(err, winrm.ErrTimeout) {
			t.Fatalf("%s: err = %v, want ErrTimeout", m.name, err)
		}
		if d < 1400*time.Millisecond || d > 5*time.Second {
			t.Errorf("%s: abandoned after %v, want about the 1.5 s command deadline", m.name, d)
		}
		if n := h.TimedOutReceives() - timedOut; n < 2 {
			t.Errorf("%s: %d Receives ended in the OperationTimeout fault, want several before the deadline", m.name, n)
		}
	}
	// The abandoned shells were deleted in the background: the station's
	// 2 command slots are free again.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	h.SetFaults(labsim.Faults{})
	for range 3 {
		if _, err := runLabStation(context.Background(), c, target(sim, h, modes[0]), "status", nil); err != nil {
			t.Fatalf("after abandoned commands: %v", err)
		}
	}
}

func TestRun_CancelStopsAtOnce(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	h.SetFaults(labsim.Faults{Hang: true})
	c := winrm.New(winrm.Config{OperationTimeout: 30 * time.Second})
	defer c.Close()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx, cancelled := cancelAfter(300 * time.Millisecond)
			_, err := runLabStation(ctx, c, target(sim, h, m), "status", nil)
			at := cancelled()
			// "At once" against a 30 s operation timeout; the margin is for
			// a loaded CI machine running the race detector, not a goal.
			if d := time.Since(at); d > 2*time.Second {
				t.Errorf("returned %v after cancel, want at once", d)
			} else {
				t.Logf("returned %v after cancel", d)
			}
			if !errors.Is(err, winrm.ErrCanceled) || !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want ErrCanceled wrapping context.Canceled", err)
			}
		})
	}
}

func TestRun_DeadlineOfCaller(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	h.SetFaults(labsim.Faults{Hang: true})
	c := winrm.New(winrm.Config{OperationTimeout: 30 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Run(ctx, target(sim, h, modes[0]), "LabStation.exe status", winrm.RunOptions{})
	if !errors.Is(err, winrm.ErrTimeout) {
		t.Errorf("err = %v, want ErrTimeout", err)
	}
}

func TestRun_ConcurrentCallsShareNothing(t *testing.T) {
	sim := startSim(t, labsim.HostOptions{Name: "a"}, labsim.HostOptions{Name: "b"}, labsim.HostOptions{Name: "c"})
	c := newClient(winrm.Config{})
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range 30 {
		h := sim.Hosts()[i%3]
		m := modes[i%len(modes)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := runLabStation(context.Background(), c, target(sim, h, m), "status", nil)
			if err == nil && res.ExitCode != 0 {
				err = errors.New("exit code " + strconv.Itoa(res.ExitCode))
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A station that goes to sleep in the middle of a command ends the call
// soon, not at the command's time limit. When its ports refuse, the
// connection is reset: ErrUnreachable at once. When it blackholes (labsim's
// default, as a sleeping Windows host: no FIN, no RST, the connection just
// stops answering), a request sent after the power-down gets no answer:
// ErrTimeout after ReadTimeout. The shell is deleted in the background, where the dial may
// wait.
func TestRun_HostSleepsMidCommand(t *testing.T) {
	sim := startSim(t, labsim.HostOptions{Name: "blackhole"}, labsim.HostOptions{Name: "refuse", SleepMode: labsim.SleepRefuse})
	const readTimeout = 1500 * time.Millisecond
	c := winrm.New(winrm.Config{OperationTimeout: time.Second, ReadTimeout: readTimeout, DialTimeout: 500 * time.Millisecond})
	defer c.Close()
	for _, h := range sim.Hosts() {
		h.SetFaults(labsim.Faults{Hang: true})
	}
	for _, h := range sim.Hosts() {
		for _, m := range modes {
			t.Run(h.Name()+"/"+m.name, func(t *testing.T) {
				h.Wake()
				n := len(h.Commands())
				go func() {
					// Once the command runs (its Receive is then waiting).
					for len(h.Commands()) == n {
						time.Sleep(5 * time.Millisecond)
					}
					time.Sleep(50 * time.Millisecond)
					h.Sleep()
				}()
				start := time.Now()
				res, err := runLabStation(context.Background(), c, target(sim, h, m), "status", nil)
				ok, limit := errors.Is(err, winrm.ErrUnreachable), 2*time.Second
				if h.Name() == "blackhole" {
					// The Receive in flight is dropped (ErrUnreachable); one
					// sent after the power-down gets no answer (ErrTimeout).
					ok = ok || errors.Is(err, winrm.ErrTimeout)
					limit = readTimeout + 2*time.Second
				}
				if !ok {
					t.Errorf("err = %v (result %+v), want ErrUnreachable (or ErrTimeout when blackholed)", err, res)
				}
				if d := time.Since(start); d > limit {
					t.Errorf("took %v after the station dropped, want at most %v", d, limit)
				}
			})
		}
	}
}

// RunPowerShell sends the script encoded (powershell.exe -EncodedCommand),
// so what cmd.exe would interpret reaches PowerShell as written, in one
// command, in every mode.
func TestRunPowerShell(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	c := newClient(winrm.Config{})
	defer c.Close()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			before := len(h.Commands())
			res, err := c.RunPowerShell(context.Background(), target(sim, h, m), "Write-Output 'a&b|c^d \"%PATH%\"'\nWrite-Output 'two'", winrm.RunOptions{})
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("RunPowerShell: %v (exit %d, stderr %q)", err, res.ExitCode, res.Stderr)
			}
			if got, want := strings.ReplaceAll(res.Stdout, "\r\n", "\n"), "a&b|c^d \"%PATH%\"\ntwo\n"; got != want {
				t.Errorf("stdout %q, want %q", got, want)
			}
			recs := h.Commands()
			if n := len(recs) - before; n != 1 {
				t.Errorf("%d commands, want 1", n)
			}
			if cl := recs[len(recs)-1].CommandLine; !strings.HasPrefix(cl, "powershell.exe -EncodedCommand ") {
				t.Errorf("command line %q is not an encoded PowerShell script", cl)
			}
		})
	}
}

package winrm_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// prepare-session with someone at the console runs for its guard grace
// period, longer than the operation timeout: the client keeps issuing
// Receives through the OperationTimeout faults until the command is done.
func TestRun_LabStationGuardOutlastsOperationTimeout(t *testing.T) {
	// --guard-grace=100 takes 2 s; each Receive waits at most 500 ms.
	sim := startSim(t, labsim.HostOptions{Name: "lab-ws-01", TimeScale: 0.02})
	h := sim.Host("lab-ws-01")
	c := winrm.New(winrm.Config{OperationTimeout: 500 * time.Millisecond, CommandTimeout: 30 * time.Second})
	defer c.Close()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h.SetLocalUser("student")
			timedOut := h.TimedOutReceives()
			tg := target(sim, h, m)
			res, err := runLabStation(context.Background(), c, tg, "prepare-session", []string{"--user=labuser", "--guard-grace=100"})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.ExitCode != 0 {
				t.Errorf("exit code %d, stderr %q", res.ExitCode, res.Stderr)
			}
			for _, want := range []string{`notified LAB-WS-01\student`, `logged off LAB-WS-01\student after 100 s grace`, "Temp files of labuser wiped."} {
				if !strings.Contains(res.Stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, res.Stdout)
				}
			}
			if res.Duration < 1500*time.Millisecond {
				t.Errorf("took %v, want the 2 s grace period", res.Duration)
			}
			if n := h.TimedOutReceives() - timedOut; n < 2 {
				t.Errorf("%d Receives ended in the OperationTimeout fault, want several during the grace period", n)
			}
			if u := h.LocalUser(); u != "" {
				t.Errorf("local user %q still signed in", u)
			}
			last, err := c.RunPowerShell(context.Background(), tg, "Get-Content -LiteralPath '"+labsim.EventsPath+"' -Tail 1 -Encoding UTF8", winrm.RunOptions{})
			if err != nil || last.ExitCode != 0 {
				t.Fatalf("RunPowerShell: %v (exit %d, stderr %q)", err, last.ExitCode, last.Stderr)
			}
			line := []byte(strings.TrimSpace(last.Stdout))
			var ev map[string]any
			if err := json.Unmarshal(line, &ev); err != nil || ev["action"] != "logoff" || ev["user"] != `LAB-WS-01\student` {
				t.Errorf("last event %s (%v), want the forced logoff of the student", line, err)
			}
		})
	}
}

// RunOptions.Timeout is the call's command deadline, above CommandTimeout
// when the caller asks (lab gives a session-guard command its grace period
// + 60 s): a 2 s guard runs through with a 1 s CommandTimeout.
func TestRun_TimeoutOptionOverCommandTimeout(t *testing.T) {
	sim := startSim(t, labsim.HostOptions{Name: "lab-ws-01", LocalUser: "student"}) // real time
	h := sim.Host("lab-ws-01")
	c := winrm.New(winrm.Config{OperationTimeout: 500 * time.Millisecond, CommandTimeout: time.Second})
	defer c.Close()
	line, err := labstation.CommandLine(exe, "session", []string{"guard", "--grace=2"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Run(context.Background(), target(sim, h, modes[0]), line, winrm.RunOptions{Timeout: 10 * time.Second})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("session guard --grace=2 with a 1 s CommandTimeout and a 10 s Timeout: %v (exit %d)", err, res.ExitCode)
	}
	if u := h.LocalUser(); u != "" {
		t.Errorf("local user %q still signed in", u)
	}
	// Without it, CommandTimeout ends the same command.
	h.SetLocalUser("student")
	if _, err := c.Run(context.Background(), target(sim, h, modes[0]), line, winrm.RunOptions{}); !errors.Is(err, winrm.ErrTimeout) {
		t.Errorf("without Timeout: err = %v, want ErrTimeout after CommandTimeout", err)
	}
}

// Cancelling while the guard waits returns at once, and the shell is
// deleted, which ends the guard before it evicts anyone.
func TestRun_LabStationCancelDuringGuard(t *testing.T) {
	sim := startSim(t, labsim.HostOptions{Name: "lab-ws-01", LocalUser: "student", TimeScale: 0.01})
	h := sim.Host("lab-ws-01")
	c := winrm.New(winrm.Config{OperationTimeout: 30 * time.Second})
	ctx, cancelled := cancelAfter(300 * time.Millisecond)
	// --guard-grace=100 takes 1 s.
	_, err := runLabStation(ctx, c, target(sim, h, modes[0]), "prepare-session", []string{"--guard-grace=100"})
	at := cancelled()
	// "At once" against a 30 s operation timeout; the bound is generous for a
	// loaded machine running the race detector, not a goal.
	if d := time.Since(at); d > 500*time.Millisecond {
		t.Errorf("returned %v after cancel, want at once", d)
	}
	if !errors.Is(err, winrm.ErrCanceled) || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want ErrCanceled wrapping context.Canceled", err)
	}
	if err := c.Close(); err != nil { // waits for the shell's deletion
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond) // past the grace period
	if u := h.LocalUser(); u != "student" {
		t.Errorf("local user %q, want the student still there: the abandoned guard must not evict", u)
	}
}

// cancelAfter returns a context cancelled after d, and a function that
// tells when that happened.
func cancelAfter(d time.Duration) (context.Context, func() time.Time) {
	ctx, cancel := context.WithCancel(context.Background())
	at := make(chan time.Time, 1)
	go func() {
		time.Sleep(d)
		at <- time.Now()
		cancel()
	}()
	return ctx, func() time.Time { return <-at }
}

// A station that goes down after the client has gone through several
// OperationTimeout faults ends the call with ErrUnreachable at once: no
// hang, no exit code made up from the dropped connection (masterzen's loop
// reports 16001).
func TestRun_HostSleepsAfterSeveralReceives(t *testing.T) {
	// Asleep, this station refuses connections: the shell each case leaves
	// is deleted in the background while holding a slot, and against a
	// blackholed port that waits for the dial timeout, which would hold
	// the next case's call back. The drop itself (connections closed
	// mid-Receive) is the same in both sleep modes.
	sim := startSim(t, labsim.HostOptions{Name: "lab-ws-01", SleepMode: labsim.SleepRefuse})
	h := sim.Host("lab-ws-01")
	h.SetFaults(labsim.Faults{Hang: true})
	c := winrm.New(winrm.Config{OperationTimeout: 200 * time.Millisecond, CommandTimeout: time.Minute})
	defer c.Close()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h.Wake()
			timedOut := h.TimedOutReceives()
			go func() {
				time.Sleep(500 * time.Millisecond)
				if h.TimedOutReceives()-timedOut < 1 {
					t.Error("no Receive ended in the OperationTimeout fault before the station went down")
				}
				h.Sleep()
			}()
			start := time.Now()
			res, err := runLabStation(context.Background(), c, target(sim, h, m), "status", nil)
			if !errors.Is(err, winrm.ErrUnreachable) {
				t.Errorf("err = %v, want ErrUnreachable", err)
			}
			if res.ExitCode != 0 {
				t.Errorf("exit code %d from a dropped connection, want none", res.ExitCode)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v after the station dropped", d)
			}
			t.Logf("%v", err)
		})
	}
}

// A station answering every Receive with a fault other than the
// OperationTimeout one (even one whose text names OperationTimeout) ends
// the call with ErrProtocol at once, and the shell is still deleted.
func TestRun_ReceiveFaultEndsCall(t *testing.T) {
	var deletes atomic.Int32
	f := newShellStation(t, func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:InvalidParameter</s:Value></s:Subcode></s:Code><s:Reason><s:Text>bad OperationTimeout</s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2150858854"><f:Message>bad OperationTimeout</f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>`)
	}, func() { deletes.Add(1) })
	c := newClient(winrm.Config{})
	start := time.Now()
	_, err := c.Run(context.Background(), f.target(winrm.TransportBasic), "LabStation.exe status", winrm.RunOptions{})
	if !errors.Is(err, winrm.ErrProtocol) || !strings.Contains(err.Error(), "w:InvalidParameter") {
		t.Errorf("err = %v, want ErrProtocol naming the fault", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v: the fault was taken for a running command", d)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n := deletes.Load(); n != 1 {
		t.Errorf("%d shell deletions, want 1", n)
	}
}

// A station that answers the OperationTimeout fault at once (Windows waits
// the OperationTimeout first) is polled at a bounded pace, not back to
// back, and the command's output still arrives when it is done.
func TestRun_InstantTimedOutFaultsArePaced(t *testing.T) {
	var receives atomic.Int32
	start := time.Now()
	f := newShellStation(t, func(w http.ResponseWriter) {
		receives.Add(1)
		if time.Since(start) < time.Second {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:TimedOut</s:Value></s:Subcode></s:Code><s:Reason><s:Text>The WS-Management service cannot complete the operation within the time specified in OperationTimeout.</s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2150858793"/></s:Detail></s:Fault></s:Body></s:Envelope>`)
			return
		}
		_, _ = io.WriteString(w, `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Body><rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="CMD-1">ZG9uZQ==</rsp:Stream><rsp:Stream Name="stdout" CommandId="CMD-1" End="true"></rsp:Stream><rsp:CommandState CommandId="CMD-1" State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"><rsp:ExitCode>0</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse></s:Body></s:Envelope>`)
	}, func() {})
	res, err := newClient(winrm.Config{}).Run(context.Background(), f.target(winrm.TransportBasic), "LabStation.exe status", winrm.RunOptions{})
	if err != nil || res.Stdout != "done" || res.ExitCode != 0 {
		t.Fatalf("Run = %+v, %v; want the output once done", res, err)
	}
	// About 10 at a 100 ms pace; back to back it would be thousands.
	if n := receives.Load(); n > 50 {
		t.Errorf("%d Receives in about 1 s of instant TimedOut faults, want a bounded pace", n)
	}
}

// newShellStation is a fake HTTPS station that creates shell SHELL-1, starts
// command CMD-1, answers each Receive with receive and calls deleted on each
// shell deletion.
func newShellStation(t *testing.T, receive func(w http.ResponseWriter), deleted func()) *fakeStation {
	var f *fakeStation
	f = newFakeStation(t, true, func(w http.ResponseWriter, r *http.Request) {
		_, bodies := f.seen()
		body := bodies[len(bodies)-1]
		w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
		switch {
		case strings.Contains(body, "transfer/Create"):
			_, _ = io.WriteString(w, `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Body><w:Selector Name="ShellId">SHELL-1</w:Selector></s:Body></s:Envelope>`)
		case strings.Contains(body, "shell/Command"):
			_, _ = io.WriteString(w, `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Header><a:Action>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandResponse</a:Action></s:Header><s:Body><rsp:CommandResponse><rsp:CommandId>CMD-1</rsp:CommandId></rsp:CommandResponse></s:Body></s:Envelope>`)
		case strings.Contains(body, "shell/Receive"):
			receive(w)
		default:
			if strings.Contains(body, "transfer/Delete") {
				deleted()
			}
			_, _ = io.WriteString(w, `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>`)
		}
	})
	return f
}

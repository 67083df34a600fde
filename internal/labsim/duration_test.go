package labsim_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
)

// The session guard with someone at the console runs for its grace period:
// the notice comes in the first Receive, Receives in between end with the
// TimedOut fault, and the eviction and the rest come at the end.
func TestSessionGuard_RunsForItsGracePeriod(t *testing.T) {
	// --guard-grace=100 takes 2.5 s; each Receive waits at most 1 s.
	sim := mustStart(t, labsim.HostOptions{Name: "lab-ws-01", LocalUser: "student", TimeScale: 0.025})
	h := sim.Hosts()[0]
	c := newClient(t, sim, h, httpsNTLM, h.Password(), "PT1S")
	shell, err := c.CreateShell()
	if err != nil {
		t.Fatal(err)
	}
	defer shell.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	cmd, err := shell.ExecuteWithContext(ctx, labStation+" prepare-session --user=labuser --guard-grace=100")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, cmd.Stderr) }()
	out := bufio.NewReader(cmd.Stdout)
	var first strings.Builder
	for !strings.Contains(first.String(), "Forced logoff in 100 s") {
		line, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the notice: %v (so far %q)", err, first.String())
		}
		first.WriteString(line)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("notice came after %v, want it before the grace period ends", d)
	}
	if u := h.LocalUser(); u != "student" {
		t.Errorf("during the grace period the local user is %q, want student", u)
	}
	rest, err := io.ReadAll(out)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	d := time.Since(start)
	if cmd.ExitCode() != 0 {
		t.Errorf("exit code %d, want 0", cmd.ExitCode())
	}
	if !strings.Contains(string(rest), `Session guard: logged off LAB-WS-01\student after 100 s grace.`) ||
		!strings.Contains(string(rest), "Temp files of labuser wiped.") {
		t.Errorf("output after the grace period: %q", rest)
	}
	if d < 2*time.Second {
		t.Errorf("finished after %v, want the 2.5 s grace period", d)
	}
	if n := h.TimedOutReceives(); n < 1 {
		t.Errorf("TimedOut Receives = %d, want at least 1 during the grace period", n)
	}
	if u := h.LocalUser(); u != "" {
		t.Errorf("local user after the guard: %q, want none", u)
	}
	last, _, code, err := runPS(t, c, "Get-Content -LiteralPath '"+labsim.EventsPath+"' -Tail 1")
	if err != nil || code != 0 {
		t.Fatalf("events log: code %d err %v", code, err)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(last), &ev); err != nil || ev["action"] != "logoff" || ev["graceSeconds"] != float64(100) {
		t.Errorf("last event %q (%v), want the forced logoff", last, err)
	}
}

// A guard command ended before its grace period is over (signal, shell
// deleted) evicts nobody.
func TestSessionGuard_TerminatedEvictsNobody(t *testing.T) {
	sim := mustStart(t, labsim.HostOptions{Name: "lab-ws-01", LocalUser: "student", TimeScale: 0.01})
	h := sim.Hosts()[0]
	c := newClient(t, sim, h, httpsBasic, h.Password(), "PT1S")
	shell, err := c.CreateShell()
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := shell.ExecuteWithContext(context.Background(), labStation+" session guard --grace=30")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, cmd.Stderr) }()
	go func() { _, _ = io.Copy(io.Discard, cmd.Stdout) }()
	time.Sleep(50 * time.Millisecond)
	if err := shell.Close(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	time.Sleep(500 * time.Millisecond) // past the 0.3 s grace period
	if u := h.LocalUser(); u != "student" {
		t.Errorf("local user after the guard was ended: %q, want student still there", u)
	}
	recs := h.Commands()
	if got := recs[len(recs)-1].ExitCode; got == 0 || got == -1 {
		t.Errorf("recorded exit code %d, want the terminated one", got)
	}
}

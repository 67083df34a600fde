package labsim_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/masterzen/winrm"

	"github.com/ops-worker/ops-worker/internal/labsim"
)

func TestFaults_HangTimesOut(t *testing.T) {
	sim := mustStart(t)
	h := sim.Hosts()[0]
	h.SetFaults(labsim.Faults{Hang: true})
	for _, tr := range []transport{httpsNTLM, httpNTLMEncrypted} {
		t.Run(tr.String(), func(t *testing.T) {
			c := newClient(t, sim, h, tr, h.Password(), "PT0.3S")
			before := h.HTTPRequests()
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, _, _, err := c.RunCmdWithContext(ctx, labStation+" status")
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("hung command: got %v, want context.DeadlineExceeded", err)
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("returned after %v", el)
			}
			// Receive was answered with TimedOut faults every 0.3s, so the
			// client polled several times before giving up.
			if n := h.HTTPRequests() - before; n < 5 {
				t.Errorf("requests during the hang: got %d, want >= 5", n)
			}
			recs := h.Commands()
			if got := recs[len(recs)-1].ExitCode; got != 3221225786 {
				t.Errorf("exit code after the signal: got %d, want STATUS_CONTROL_C_EXIT", got)
			}
		})
	}
}

func TestFaults_QuotaTwoInFlight(t *testing.T) {
	sim := mustStart(t)
	h := sim.Hosts()[0]
	h.SetFaults(labsim.Faults{Hang: true})
	c := newClient(t, sim, h, httpsBasic, h.Password(), "PT1S")
	sh, err := c.CreateShell()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd1, err := sh.ExecuteWithContext(ctx, labStation+" status")
	if err != nil {
		t.Fatal(err)
	}
	cmd2, err := sh.ExecuteWithContext(ctx, labStation+" status")
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []*winrm.Command{cmd1, cmd2} {
		go io.Copy(io.Discard, cmd.Stdout)
		go io.Copy(io.Discard, cmd.Stderr)
	}
	// masterzen/winrm hands a fault body to the response parser, which
	// reports it as an ExecuteCommandError carrying the body.
	_, err = sh.ExecuteWithContext(ctx, labStation+" status")
	var ece *winrm.ExecuteCommandError
	if !errors.As(err, &ece) || !strings.Contains(ece.Body, "maximum number of 2 concurrent operations") || !strings.Contains(ece.Body, `Code="2150859174"`) {
		t.Fatalf("third command: got %v, want the quota fault", err)
	}
	cancel()
	cmd1.Wait()
	cmd2.Wait()
	h.SetFaults(labsim.Faults{})
	cmd3, err := sh.ExecuteWithContext(context.Background(), labStation+" status")
	if err != nil {
		t.Fatalf("command after the others ended: %v", err)
	}
	var out strings.Builder
	go io.Copy(io.Discard, cmd3.Stderr)
	_, _ = io.Copy(&out, cmd3.Stdout)
	cmd3.Wait()
	if !strings.Contains(out.String(), "Ready: true") {
		t.Errorf("stdout: %q", out.String())
	}
	if cmd3.ExitCode() != 0 {
		t.Errorf("exit code: %d", cmd3.ExitCode())
	}
	if err := sh.Close(); err != nil {
		t.Errorf("shell close: %v", err)
	}
	_, err = sh.ExecuteWithContext(context.Background(), labStation+" status")
	if !errors.As(err, &ece) || !strings.Contains(ece.Body, "shell was not found") {
		t.Errorf("command on a deleted shell: got %v, want the unknown-shell fault", err)
	}
}

func TestFaults_Knobs(t *testing.T) {
	sim := mustStart(t)
	h := sim.Hosts()[0]
	c := newClient(t, sim, h, httpsBasic, h.Password(), "PT5S")
	hbScript := "Get-Content -LiteralPath '" + labsim.HeartbeatPath + "' -Raw"

	t.Run("failure rate 1", func(t *testing.T) {
		h.SetFaults(labsim.Faults{FailureRate: 1})
		_, errOut, code, _ := run(t, c, labStation+" status")
		if code != 2 || !strings.Contains(errOut, "CategoryInfo") {
			t.Errorf("got exit %d stderr %q, want 2 and a PowerShell-like error", code, errOut)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		h.SetFaults(labsim.Faults{GarbageOutput: true})
		out, _, _, _ := run(t, c, labStation+" status-json")
		if json.Valid([]byte(out)) || out == "" {
			t.Errorf("garbage stdout is valid JSON or empty: %q", out)
		}
	})
	t.Run("truncated heartbeat", func(t *testing.T) {
		h.SetFaults(labsim.Faults{TruncatedOutput: true})
		out, _, code, _ := runPS(t, c, hbScript)
		if code != 0 || json.Valid([]byte(out)) || !strings.HasPrefix(out, "{") {
			t.Errorf("exit %d, output %q: want a cut JSON document", code, out)
		}
	})
	t.Run("forced exit code", func(t *testing.T) {
		h.SetFaults(labsim.Faults{ExitCodes: map[string]int{"prepare-session": 5, "power": 1}})
		if _, _, code, _ := run(t, c, labStation+" prepare-session"); code != 5 {
			t.Errorf("prepare-session: exit %d, want 5", code)
		}
		if _, _, code, _ := run(t, c, labStation+" power shutdown --delay=3600"); code != 1 {
			t.Errorf("power shutdown: exit %d, want 1", code)
		}
	})
	t.Run("stale heartbeat and schema", func(t *testing.T) {
		h.SetFaults(labsim.Faults{StaleHeartbeat: true, SchemaVersion: "2.0.0"})
		out, _, _, _ := runPS(t, c, hbScript)
		var doc struct {
			Timestamp     time.Time `json:"timestamp"`
			SchemaVersion string    `json:"schemaVersion"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		if age := time.Since(doc.Timestamp); age < 119*time.Minute || age > 121*time.Minute {
			t.Errorf("heartbeat age: got %v, want 2h", age)
		}
		if doc.SchemaVersion != "2.0.0" {
			t.Errorf("schemaVersion: got %q", doc.SchemaVersion)
		}
	})
	t.Run("empty events", func(t *testing.T) {
		h.SetFaults(labsim.Faults{EmptyEventsLog: true})
		out, _, code, _ := runPS(t, c, "Get-Content -LiteralPath '"+labsim.EventsPath+"' -Tail 1")
		if code != 0 || out != "" {
			t.Errorf("exit %d, output %q: want 0 and nothing", code, out)
		}
	})
	t.Run("latency", func(t *testing.T) {
		h.SetFaults(labsim.Faults{Latency: 100 * time.Millisecond})
		start := time.Now()
		run(t, c, labStation+" status")
		// Create, Command, Receive, Signal, Delete: five requests.
		if el := time.Since(start); el < 500*time.Millisecond {
			t.Errorf("elapsed %v, want >= 500ms", el)
		}
	})
	h.SetFaults(labsim.Faults{})
}

func TestHostsJSON(t *testing.T) {
	sim := mustStart(t, labsim.HostOptions{Name: "lab-ws-01"}, labsim.HostOptions{Name: "lab-ws-02", MAC: "AA-BB-CC-DD-EE-FF"})
	b, err := sim.HostsJSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Hosts []map[string]any `json:"hosts"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Hosts) != 2 {
		t.Fatalf("hosts: got %d", len(doc.Hosts))
	}
	h2 := doc.Hosts[1]
	want := map[string]any{
		"name": "lab-ws-02", "address": "127.0.0.1", "mac": "aa:bb:cc:dd:ee:ff", "winrm_port": float64(sim.Host("lab-ws-02").HTTPSPort()),
		"winrm_use_ssl": true, "winrm_ca_file": sim.CAFile(), "broadcast": "127.0.0.1", "wol_port": float64(sim.Host("lab-ws-02").WakePort()),
		"wake_check": "tcp", "winrm_user": labsim.DefaultUser, "winrm_pass": labsim.DefaultPassword,
	}
	for k, v := range want {
		if h2[k] != v {
			t.Errorf("%s: got %v, want %v", k, h2[k], v)
		}
	}
	if labs := h2["labs"].([]any); len(labs) != 1 || labs[0] != "2" {
		t.Errorf("labs: got %v, want [2]", labs)
	}
	if sim.Hosts()[0].MAC() != "02:00:00:00:00:01" {
		t.Errorf("default MAC: got %s", sim.Hosts()[0].MAC())
	}
}

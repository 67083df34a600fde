package labsim_test

import (
	"bytes"
	"encoding/json"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/masterzen/winrm"
	"github.com/mdlayher/wol"

	"github.com/ops-worker/ops-worker/internal/labsim"
)

func magicPacket(t *testing.T, mac string) []byte {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	p := bytes.Repeat([]byte{0xff}, 6)
	for i := 0; i < 16; i++ {
		p = append(p, hw...)
	}
	return p
}

func sendUDP(t *testing.T, port int, p []byte) {
	t.Helper()
	c, err := net.Dial("udp4", net.JoinHostPort("127.0.0.1", itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(p); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

func TestSleepWake_MagicPacket(t *testing.T) {
	sim := mustStart(t, labsim.HostOptions{Name: "lab-ws-01", Asleep: true, BootDelay: 150 * time.Millisecond, SleepMode: labsim.SleepRefuse},
		labsim.HostOptions{Name: "lab-ws-02", Asleep: true})
	h := sim.Host("LAB-WS-01")
	if !h.Asleep() {
		t.Fatal("Asleep: got false, want true")
	}
	if !dialRefused(h.HTTPSPort()) || !dialRefused(h.HTTPPort()) {
		t.Fatal("asleep host: WinRM ports accept connections, want refused")
	}
	c := newClient(t, sim, h, httpsNTLM, h.Password(), "PT5S")
	if _, _, _, err := run(t, c, labStation+" status"); err == nil || !isRefused(err) {
		t.Fatalf("run on an asleep host: got %v, want connection refused", err)
	}

	t.Run("wrong MAC is ignored", func(t *testing.T) {
		sendUDP(t, h.WakePort(), magicPacket(t, sim.Host("lab-ws-02").MAC()))
		sendUDP(t, h.WakePort(), []byte("not a magic packet"))
		time.Sleep(400 * time.Millisecond)
		if !h.Asleep() || !dialRefused(h.HTTPSPort()) {
			t.Fatal("host woke on a packet for another MAC")
		}
	})

	t.Run("own MAC wakes after the boot delay", func(t *testing.T) {
		httpsPort := h.HTTPSPort()
		wc, err := wol.NewClient()
		if err != nil {
			t.Fatal(err)
		}
		defer wc.Close()
		hw, _ := net.ParseMAC(h.MAC())
		start := time.Now()
		if err := wc.Wake(net.JoinHostPort("127.0.0.1", itoa(h.WakePort())), hw); err != nil {
			t.Fatal(err)
		}
		if !waitFor(t, 3*time.Second, func() bool { return !h.Asleep() }) {
			t.Fatal("host did not wake")
		}
		if el := time.Since(start); el < 100*time.Millisecond {
			t.Errorf("woke after %v, want about the 150ms boot delay", el)
		}
		if h.HTTPSPort() != httpsPort {
			t.Errorf("HTTPS port after wake: got %d, want %d", h.HTTPSPort(), httpsPort)
		}
		_, errOut, code, err := run(t, c, labStation+" status")
		if err != nil || code != 0 {
			t.Fatalf("run after wake: code %d err %v stderr %q", code, err, errOut)
		}
	})
	if !sim.Host("lab-ws-02").Asleep() {
		t.Error("lab-ws-02 woke although no packet was for it")
	}
}

func TestPower_ShutdownSleepsAndRebootWakes(t *testing.T) {
	sim := mustStart(t, labsim.HostOptions{BootDelay: 100 * time.Millisecond})
	h := sim.Hosts()[0]
	c := newClient(t, sim, h, httpsNTLM, h.Password(), "PT5S")
	out, errOut, code, err := run(t, c, labStation+` power hibernate "--reason=end of slot"`)
	if err != nil || code != 0 {
		t.Fatalf("power hibernate: code %d err %v stderr %q", code, err, errOut)
	}
	if !strings.Contains(out, "Scheduled hibernate in 0 s") {
		t.Errorf("stdout: %q", out)
	}
	if !waitFor(t, 3*time.Second, h.Asleep) {
		t.Fatal("host still awake after power hibernate")
	}
	if !dialNoAnswer(h.HTTPSPort()) {
		t.Fatal("asleep after hibernate: HTTPS port answers")
	}
	h.Wake()
	hb := readHeartbeat(t, sim, h)
	ops := hb["operations"].(map[string]any)
	if got := ops["lastPowerAction"].(map[string]any)["mode"]; got != "hibernate" {
		t.Errorf("lastPowerAction.mode: got %v, want hibernate", got)
	}

	_, errOut, code, err = run(t, c, labStation+" release-session --reboot --user=labuser")
	if err != nil || code != 0 {
		t.Fatalf("release-session --reboot: code %d err %v stderr %q", code, err, errOut)
	}
	if !waitFor(t, 3*time.Second, h.Asleep) {
		t.Fatal("host did not go down for the reboot")
	}
	if !waitFor(t, 3*time.Second, func() bool { return !h.Asleep() }) {
		t.Fatal("host did not come back after the reboot")
	}
}

func readHeartbeat(t *testing.T, sim *labsim.Sim, h *labsim.Host) map[string]any {
	t.Helper()
	c := newClient(t, sim, h, httpsNTLM, h.Password(), "PT5S")
	out, errOut, code, err := runPS(t, c, "$ErrorActionPreference = 'Stop'; [Console]::OutputEncoding = [System.Text.Encoding]::UTF8; Get-Content -LiteralPath '"+labsim.HeartbeatPath+"' -Raw -Encoding UTF8")
	if err != nil || code != 0 {
		t.Fatalf("Get-Content heartbeat: code %d err %v stderr %q", code, err, errOut)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("heartbeat JSON: %v in %q", err, out)
	}
	return doc
}

func runPS(t *testing.T, c *winrm.Client, script string) (string, string, int, error) {
	t.Helper()
	return run(t, c, winrm.Powershell(script))
}

func TestPrepareSession_EvictsLocalUser(t *testing.T) {
	// The guard waits its 30 s grace period in 0.3 s.
	sim := mustStart(t, labsim.HostOptions{Name: "lab-ws-07", LocalUser: "student", TimeScale: 0.01})
	h := sim.Hosts()[0]
	c := newClient(t, sim, h, httpsBasic, h.Password(), "PT5S")

	hb := readHeartbeat(t, sim, h)
	if hb["summary"].(map[string]any)["ready"] != false {
		t.Errorf("summary.ready with a local user: got %v, want false", hb["summary"])
	}
	_, errOut, code, err := run(t, c, labStation+" prepare-session --user=labuser --guard-grace=30")
	if err != nil || code != 0 {
		t.Fatalf("prepare-session: code %d err %v stderr %q", code, err, errOut)
	}
	out, _, code, err := runPS(t, c, "Get-Content -LiteralPath '"+labsim.EventsPath+"' -Tail 1")
	if err != nil || code != 0 {
		t.Fatalf("Get-Content -Tail 1: code %d err %v", code, err)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(out), &ev); err != nil {
		t.Fatalf("last event: %v in %q", err, out)
	}
	if ev["action"] != "logoff" || ev["user"] != `LAB-WS-07\student` || ev["graceSeconds"] != float64(30) {
		t.Errorf("last event: got %v", ev)
	}
	hb = readHeartbeat(t, sim, h)
	if hb["summary"].(map[string]any)["ready"] != true {
		t.Errorf("summary.ready after eviction: got %v, want true", hb["summary"])
	}
	lf := hb["operations"].(map[string]any)["lastForcedLogoff"].(map[string]any)
	if lf["user"] != `LAB-WS-07\student` {
		t.Errorf("lastForcedLogoff: got %v", lf)
	}

	h.SetProfileMissing(true)
	_, _, code, _ = run(t, c, labStation+" prepare-session --user=labuser")
	if code != 1 {
		t.Errorf("prepare-session with a missing profile: exit %d, want 1", code)
	}
}

func TestLabStation_ExitCodes(t *testing.T) {
	sim := mustStart(t)
	h := sim.Hosts()[0]
	c := newClient(t, sim, h, httpsBasic, h.Password(), "PT5S")
	tests := []struct {
		line string
		want int
	}{
		{labStation + " status-json", 0},
		{`c:\labstation\LABSTATION.EXE wol`, 0},
		{labStation + " prepare-session --user=labuser --no-guard", 0},
		{labStation + " frobnicate", 2},
		{labStation, 2},
		{labStation + " power", 2},
		{labStation + " power shutdown --delay=soon", 2},
		{labStation + " power shutdown --bogus", 2},
		{labStation + " power shutdown --repair-wake=maybe", 2},
		{labStation + " prepare-session --no-guard=yes", 2},
		{labStation + " prepare-session --user", 2},
		{labStation + " status-json relative.json", 2},
		{labStation + " recovery reboot-if-needed", 0},
		{`notepad.exe`, 9009},
		{`C:\Wrong\LabStation.exe status`, 9009},
		{labStation + " status & whoami", 1},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			_, _, code, err := run(t, c, tc.line)
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.want {
				t.Errorf("exit code: got %d, want %d", code, tc.want)
			}
		})
	}
	out, _, _, _ := run(t, c, labStation+" status-json")
	var st map[string]any
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Errorf("status-json stdout is not JSON: %v", err)
	}
	if _, _, code, _ := run(t, c, labStation+` status-json C:\Temp\st.json`); code != 0 {
		t.Fatalf("status-json <path>: exit %d", code)
	}
	out, _, code, _ := runPS(t, c, `Get-Content -LiteralPath 'C:\Temp\st.json' -Raw`)
	if code != 0 || !json.Valid([]byte(out)) {
		t.Errorf("written status: exit %d, JSON valid %v", code, json.Valid([]byte(out)))
	}
	recs := h.Commands()
	if last := recs[len(recs)-1]; last.Args == nil || last.Args[0] != "powershell.exe" {
		t.Errorf("last record args: %q", last.Args)
	}
	for _, r := range recs {
		if r.CommandLine == labStation+" status & whoami" && r.Args != nil {
			t.Errorf("a line cmd.exe would split: Args %q, want nil", r.Args)
		}
	}
}

func TestPowerShell_Subset(t *testing.T) {
	sim := mustStart(t)
	h := sim.Hosts()[0]
	c := newClient(t, sim, h, httpsNTLM, h.Password(), "PT5S")
	tests := []struct {
		name, script     string
		wantOut, wantErr string
		wantCode         int
	}{
		{"heartbeat raw", "Get-Content -LiteralPath '" + labsim.HeartbeatPath + "' -Raw", `"schemaVersion": "1.0.0"`, "", 0},
		{"case-insensitive path", `Get-Content -LiteralPath 'c:\labstation\LABSTATION\data\telemetry\heartbeat.json' -Raw`, `"schemaVersion"`, "", 0},
		{"missing file", `Get-Content -LiteralPath 'C:\nope.json' -Raw`, "", "Cannot find path 'C:\\nope.json' because it does not exist.", 1},
		{"missing file in try with Stop", `$ErrorActionPreference = 'Stop'; try { Get-Content -LiteralPath 'C:\nope.json' -Raw } catch { Write-Output 'MISSING' }`, "MISSING\r\n", "", 0},
		{"quote escape", `Write-Output 'it''s'`, "it's\r\n", "", 0},
		{"unknown term", `Get-Foo`, "", "The term 'Get-Foo' is not recognized", 1},
		{"unknown term caught", "try {\n Get-Foo\n} catch {\n Write-Output 'caught'\n}", "caught\r\n", "", 0},
		{"exit", `Write-Output 'a'; exit 3`, "a\r\n", "", 3},
		{"tail 2", "Get-Content -LiteralPath '" + labsim.EventsPath + "' -Tail 2", `"action":"warn"`, "", 0},
		{"semicolon in string", `Write-Output 'a;b'`, "a;b\r\n", "", 0},
		{"pipeline refused", `Get-Content -LiteralPath 'C:\x' | Select-Object -Last 1`, "", "pipelines", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code, err := runPS(t, c, tc.script)
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode {
				t.Errorf("exit code: got %d, want %d (stderr %q)", code, tc.wantCode, errOut)
			}
			if tc.wantOut != "" && !strings.Contains(out, tc.wantOut) {
				t.Errorf("stdout: got %q, want it to contain %q", out, tc.wantOut)
			}
			if tc.wantErr == "" && errOut != "" {
				t.Errorf("stderr: got %q, want empty", errOut)
			}
			if tc.wantErr != "" {
				if !strings.HasPrefix(errOut, "#< CLIXML") || !strings.Contains(errOut, tc.wantErr) {
					t.Errorf("stderr: got %q, want CLIXML containing %q", errOut, tc.wantErr)
				}
			}
		})
	}
}

func TestHeartbeat_TimestampMoves(t *testing.T) {
	now := time.Date(2026, 11, 27, 8, 0, 30, 0, time.UTC)
	clock := func() time.Time { return now }
	sim, err := labsim.Start(t.Context(), labsim.Options{Hosts: []labsim.HostOptions{{HeartbeatInterval: time.Minute, CBT: labsim.CBTNone}}, Now: func() time.Time { return clock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	h := sim.Hosts()[0]
	first := readHeartbeat(t, sim, h)["timestamp"]
	if first != "2026-11-27T08:00:30Z" {
		t.Errorf("first timestamp: got %v", first)
	}
	now = now.Add(59 * time.Second)
	if got := readHeartbeat(t, sim, h)["timestamp"]; got != first {
		t.Errorf("timestamp within the interval: got %v, want %v", got, first)
	}
	now = now.Add(2 * time.Second)
	if got := readHeartbeat(t, sim, h)["timestamp"]; got != "2026-11-27T08:01:30Z" {
		t.Errorf("timestamp after the interval: got %v", got)
	}
}

func TestClose_NoGoroutineLeft(t *testing.T) {
	before := runtime.NumGoroutine()
	sim, err := labsim.Start(t.Context(), labsim.Options{Hosts: []labsim.HostOptions{{CBT: labsim.CBTNone}, {Asleep: true}}})
	if err != nil {
		t.Fatal(err)
	}
	h := sim.Hosts()[0]
	h.SetFaults(labsim.Faults{Hang: true})
	c := newClient(t, sim, h, httpsNTLM, h.Password(), "PT30S")
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _, _, _ = c.RunCmdWithContext(t.Context(), labStation+" status")
	}()
	time.Sleep(200 * time.Millisecond)
	sendUDP(t, sim.Hosts()[1].WakePort(), magicPacket(t, sim.Hosts()[1].MAC()))
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
	ok := waitFor(t, 5*time.Second, func() bool {
		runtime.GC()
		return runtime.NumGoroutine() <= before
	})
	if !ok {
		buf := make([]byte, 1<<16)
		n := runtime.Stack(buf, true)
		t.Fatalf("goroutines after Close: got %d, want <= %d\n%s", runtime.NumGoroutine(), before, buf[:n])
	}
}

//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/logtest"
)

// The README's curl lines are written for `make run`'s defaults.
const (
	readmeAddr      = "127.0.0.1:8081"
	readmeLabsimTCP = 29500 // RUN_BASE_PORT: lab-ws-01's HTTPS port
)

// readmeCurlLines returns the lines between the curl-lines markers of
// README.md, without the code fence.
func readmeCurlLines(t *testing.T, root string) []string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	b, e := strings.Index(s, "<!-- curl-lines:begin -->"), strings.Index(s, "<!-- curl-lines:end -->")
	if b < 0 || e < b {
		t.Fatal("README.md has no <!-- curl-lines:begin --> ... <!-- curl-lines:end --> block")
	}
	var lines []string
	for _, l := range strings.Split(s[b:e], "\n")[1:] {
		if strings.HasPrefix(l, "```") || strings.TrimSpace(l) == "" {
			continue
		}
		lines = append(lines, l)
	}
	return lines
}

// readmeChecks check each curl line's answer, by the path it calls.
var readmeChecks = map[string]func(t *testing.T, b map[string]any){
	"/health": func(t *testing.T, b map[string]any) {
		if b["status"] != "ok" || b["db_kind"] != "embedded-memory" || b["hosts_loaded"] != 3.0 {
			t.Errorf("health: %v", b)
		}
	},
	"/api/hosts": func(t *testing.T, b map[string]any) {
		if hs, _ := b["hosts"].([]any); len(hs) != 3 {
			t.Errorf("hosts: %v", b)
		}
	},
	"/api/wol": func(t *testing.T, b map[string]any) {
		if b["success"] != true || b["ping_target"] != "127.0.0.1" {
			t.Errorf("wol: %v", b)
		}
	},
	"/api/winrm": func(t *testing.T, b map[string]any) {
		if b["exit_code"] != 0.0 || !strings.Contains(fmt.Sprint(b["stdout"]), "LabStation status") {
			t.Errorf("winrm: %v", b)
		}
	},
	"/api/heartbeat/poll": func(t *testing.T, b map[string]any) {
		if b["host"] != "lab-ws-01" || b["stored"] != true {
			t.Errorf("poll: %v", b)
		}
		if _, ok := b["heartbeat"].(map[string]any); !ok {
			t.Errorf("poll without a heartbeat: %v", b)
		}
	},
	"/api/reservations/start": func(t *testing.T, b map[string]any) {
		if b["success"] != true || b["reservationId"] != "demo-1" || stepActions(b) != "wake,prepare" {
			t.Errorf("start: %v", b)
		}
	},
	"/api/reservations/timeline": func(t *testing.T, b map[string]any) {
		res, _ := b["reservation"].(map[string]any)
		ops, _ := b["operations"].([]any)
		if res["reservationId"] != "demo-1" || res["labId"] != "1" || len(ops) != 2 {
			t.Errorf("timeline: %v", b)
		}
	},
	"/api/reservations/end": func(t *testing.T, b map[string]any) {
		if b["success"] != true || stepActions(b) != "release,power:shutdown" {
			t.Errorf("end: %v", b)
		}
	},
	"/api/operations/recent": func(t *testing.T, b map[string]any) {
		ops, _ := b["operations"].([]any)
		p, _ := b["pagination"].(map[string]any)
		if len(ops) != 4 || p["limit"] != 10.0 || p["total"] != 4.0 {
			t.Errorf("recent: %v", b)
		}
	},
	"/api/hosts/quarantine": func(t *testing.T, b map[string]any) {
		if b["host"] != "lab-ws-03" || b["quarantined"] != true {
			t.Errorf("quarantine: %v", b)
		}
	},
	"/api/hosts/reload": func(t *testing.T, b map[string]any) {
		if b["reloaded"] != true || b["hosts"] != 3.0 {
			t.Errorf("reload: %v", b)
		}
	},
	"/api/hosts/winrm-credentials": func(t *testing.T, b map[string]any) {
		if b["saved"] != true || b["credentialRef"] != "localhost" {
			t.Errorf("winrm-credentials: %v", b)
		}
	},
	"/api/hosts/discover": func(t *testing.T, b map[string]any) {
		d, _ := b["opsHostDraft"].(map[string]any)
		if b["status"] != "labstation-detected" || d["mac"] != "02:00:00:00:00:04" {
			t.Errorf("discover: %v", b)
		}
	},
	"/api/hosts/provision": func(t *testing.T, b map[string]any) {
		h, _ := b["host"].(map[string]any)
		if b["provisioned"] != true || b["hosts"] != 4.0 || h["name"] != "lab-ws-04" || h["source"] != "database" || h["winrmConfigured"] != true {
			t.Errorf("provision: %v", b)
		}
	},
	"/api/openapi.json": func(t *testing.T, b map[string]any) {
		if v, _ := b["openapi"].(string); !strings.HasPrefix(v, "3.1") {
			t.Errorf("openapi: %.200v", b)
		}
	},
}

func stepActions(b map[string]any) string {
	var out []string
	steps, _ := b["steps"].([]any)
	for _, s := range steps {
		m, _ := s.(map[string]any)
		out = append(out, fmt.Sprint(m["action"]))
	}
	return strings.Join(out, ",")
}

var curlPath = regexp.MustCompile(`localhost:8081(/[^\s"?]*)`)

// TestE2E_ReadmeCurlLines starts `make run` and runs the README's curl
// lines against it exactly as printed, as one bash script (the T= line
// sets the header for the others), then checks every answer, that
// lab-ws-01 is asleep after the reservation end, and that SIGINT to make's
// process group leaves no process behind. It builds the binaries: about a
// minute on a cold build cache; -short skips it.
func TestE2E_ReadmeCurlLines(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not building and running `make run`")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed: the README's curl lines cannot run")
	}
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Fatal("make is not installed: `make run` cannot start")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	lines := readmeCurlLines(t, root)

	// Build the script: every line as printed, a delimiter before each
	// curl line so the answers can be told apart.
	var script strings.Builder
	script.WriteString("set -u\n")
	var paths []string
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "curl ") {
			m := curlPath.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("README curl line calls no localhost:8081 path: %s", l)
			}
			if readmeChecks[m[1]] == nil {
				t.Errorf("README curl line for %s has no check in this test: add one", m[1])
			}
			fmt.Fprintf(&script, "printf '\\n@@@ %d\\n'\n", len(paths))
			paths = append(paths, m[1])
		}
		script.WriteString(l + "\n")
	}
	for p := range readmeChecks {
		if !strings.Contains(script.String(), "localhost:8081"+p) {
			t.Errorf("no README curl line calls %s", p)
		}
	}

	// The README's lines name port 8081: it must be free (and labsim's).
	for _, addr := range []string{readmeAddr, fmt.Sprintf("127.0.0.1:%d", readmeLabsimTCP)} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s is taken (%v): `make run` cannot serve the README's curl lines as printed; stop whatever listens there", addr, err)
		}
		ln.Close()
	}

	// make run, in its own process group, with make's defaults (no RUN_*
	// from the caller's environment).
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RUN_") && !strings.HasPrefix(kv, "MAKEFLAGS=") && !strings.HasPrefix(kv, "MFLAGS=") && !strings.HasPrefix(kv, "MAKELEVEL=") {
			env = append(env, kv)
		}
	}
	var out logtest.Buffer
	cmd := exec.Command(makeBin, "--no-print-directory", "run")
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = root, env, &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = syscall.Kill(-pgid, syscall.SIGINT)
		select {
		case err := <-exited:
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Errorf("make run: %v", err)
			}
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-exited
			t.Errorf("make run did not stop within 30 s of SIGINT:\n%s", out.String())
		}
		// No process of the group is left.
		deadline := time.Now().Add(5 * time.Second)
		for syscall.Kill(-pgid, 0) == nil {
			if time.Now().After(deadline) {
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				t.Errorf("processes of make run's group are still running 5 s after it stopped:\n%s", out.String())
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if c, err := net.DialTimeout("tcp", readmeAddr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still answers after make run stopped", readmeAddr)
		}
	}
	t.Cleanup(stop)

	// Wait for /health (the first build of the embedded database engine
	// is slow).
	deadline := time.Now().Add(5 * time.Minute)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		res, err := client.Get("http://" + readmeAddr + "/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("make run exited before serving (%v):\n%s", err, out.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("make run did not answer /health within 5 minutes:\n%s", out.String())
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sh := exec.CommandContext(ctx, "bash", "-c", script.String())
	sh.Dir = t.TempDir()
	var stderr bytes.Buffer
	sh.Stderr = &stderr
	got, err := sh.Output()
	if err != nil {
		t.Fatalf("the curl lines: %v\n%s\n%s", err, got, stderr.String())
	}
	parts := strings.Split(string(got), "\n@@@ ")
	if len(parts)-1 != len(paths) {
		t.Fatalf("%d answers for %d curl lines:\n%s", len(parts)-1, len(paths), got)
	}
	for i, p := range parts[1:] {
		_, answer, _ := strings.Cut(p, "\n")
		var body map[string]any
		if err := json.Unmarshal([]byte(answer), &body); err != nil {
			t.Errorf("curl line %d (%s): not one JSON object: %.300q", i+1, paths[i], answer)
			continue
		}
		if _, isErr := body["error"]; isErr {
			t.Errorf("curl line %d (%s): error answer %v", i+1, paths[i], body)
			continue
		}
		t.Run(strings.TrimPrefix(paths[i], "/"), func(t *testing.T) { readmeChecks[paths[i]](t, body) })
	}

	// After the end's power shutdown, lab-ws-01 (labsim port 29500) sleeps:
	// its WinRM port no longer answers.
	asleep := false
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", readmeLabsimTCP), 300*time.Millisecond)
		if err != nil {
			asleep = true
			break
		}
		c.Close()
	}
	if !asleep {
		t.Errorf("lab-ws-01's WinRM port still accepts connections after the reservation end's power shutdown")
	}

	// The automation demo is announced, by the banner and by the server
	// with its times (the tick itself is tested in internal/scheduler).
	for _, want := range []string{"Automation demo: reservation demo-2", `msg="demo: reservation demo-2 (lab 2 on lab-ws-02)`,
		"reservationId=demo-2"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("make run's output lacks %q:\n%s", want, out.String())
		}
	}

	stop()
	if !strings.Contains(out.String(), "stopped") {
		t.Errorf("the server did not log a graceful stop:\n%s", out.String())
	}
	// No secret in an answer or a log line of the server (the Makefile's
	// own banner prints the demo token on purpose).
	if !strings.Contains(out.String(), "\ntime=") {
		t.Errorf("no server log line (time=...) in make run's output:\n%s", out.String())
	}
	for _, secret := range []string{"dev-token", labsim.DefaultPassword} {
		if strings.Contains(string(got), secret) {
			t.Errorf("%q in a curl answer", secret)
		}
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(line, "time=") && strings.Contains(line, secret) {
				t.Errorf("%q in a server log line: %s", secret, line)
			}
		}
	}
}

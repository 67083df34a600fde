//go:build unix

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/logtest"
)

// buildWorker builds this command into a temporary directory and returns
// the binary's path. It is built without -race whatever the test binary
// is (the three servers stay fast on two cores), with the container
// image's noembeddeddb tag: the servers run on MariaDB, as a deployment
// does.
func buildWorker(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		// go test puts its own go tool first on PATH: missing, it is a broken set-up, not a reason to skip.
		t.Fatalf("go tool not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "ops-worker")
	t0 := time.Now()
	out, err := exec.Command(goTool, "build", "-tags", "noembeddeddb", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/ops-worker: %v\n%s", err, out)
	}
	t.Logf("built %s in %v", bin, time.Since(t0).Round(time.Millisecond))
	return bin
}

// workerProc is one ops-worker process.
type workerProc struct {
	name   string
	cmd    *exec.Cmd
	base   string          // http://127.0.0.1:port, from its "listening" line
	stderr *logtest.Buffer // its whole log (JSON lines)
	done   chan struct{}   // closed when it has exited; waitErr is then set
	// waitErr is what Wait returned (nil: exit status 0).
	waitErr  error
	stopOnce sync.Once
}

// startWorker runs bin on 127.0.0.1 (a free port) with env and nothing
// else of this process's environment but PATH and HOME (no OPS_*,
// MYSQL_DSN, proxy or token of ours), and waits for it to listen. It is
// stopped (SIGTERM) at the end of the test at the latest; when the test
// has failed, its log goes into the test's.
func startWorker(t *testing.T, bin, name string, env map[string]string) *workerProc {
	t.Helper()
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-log-format", "json", "-shutdown-timeout", "10s")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &workerProc{name: name, cmd: cmd, stderr: &logtest.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	// Should the test process die, so does the server.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("log of %s (pid %d):\n%s", p.name, cmd.Process.Pid, logDigest(p.stderr.String()))
		}
	})

	deadline := time.Now().Add(60 * time.Second)
	for {
		if addr := listeningAddr(p.stderr.String()); addr != "" {
			p.base = "http://" + addr
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before listening (%v)", name, p.waitErr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening after 60 s", name)
		}
	}
}

// stop ends the process gracefully (SIGTERM, then at most 30 s), else
// with SIGKILL. The error (of the first call only) says it had to be
// killed, did not exit 0, or had ended before.
func (p *workerProc) stop() (err error) {
	p.stopOnce.Do(func() { err = p.terminate() })
	return err
}

func (p *workerProc) terminate() error {
	select {
	case <-p.done:
		if p.waitErr != nil {
			return fmt.Errorf("%s ended on its own: %v", p.name, p.waitErr)
		}
		return fmt.Errorf("%s ended on its own (exit status 0)", p.name)
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("SIGTERM %s: %w (killed)", p.name, err)
	}
	select {
	case <-p.done:
		if p.waitErr != nil {
			return fmt.Errorf("%s after SIGTERM: %v", p.name, p.waitErr)
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within 30 s of SIGTERM: killed", p.name)
	}
}

// logLine is the part of a JSON log line these tests read.
type logLine struct {
	Msg         string `json:"msg"`
	Addr        string `json:"addr"`
	Reservation string `json:"reservation"`
	Action      string `json:"action"`
}

// logLines calls f with every JSON line of log.
func logLines(log string, f func(l logLine)) {
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			f(l)
		}
	}
}

// listeningAddr is the address of the "listening" line of log ("" before it).
func listeningAddr(log string) string {
	addr := ""
	logLines(log, func(l logLine) {
		if l.Msg == "listening" && addr == "" {
			addr = l.Addr
		}
	})
	return addr
}

// logDigest is what of a server's log a failure report needs: the first
// 20 lines, every warning and error (the first 100), the last 50 lines.
func logDigest(log string) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if len(lines) <= 200 {
		return log
	}
	var b strings.Builder
	fmt.Fprintf(&b, "(%d lines) first 20:\n%s\n", len(lines), strings.Join(lines[:20], "\n"))
	var warn []string
	for _, l := range lines {
		if strings.Contains(l, `"level":"WARN`) || strings.Contains(l, `"level":"ERROR"`) || !strings.HasPrefix(l, "{") {
			warn = append(warn, l)
		}
	}
	fmt.Fprintf(&b, "warnings, errors and non-JSON lines (%d, the first 100):\n%s\n", len(warn), strings.Join(warn[:min(len(warn), 100)], "\n"))
	fmt.Fprintf(&b, "last 50:\n%s", strings.Join(lines[len(lines)-50:], "\n"))
	return b.String()
}

// checkLoopbackCatalog fails the test unless every station of the
// hosts.json at path, its ping target and its Wake-on-LAN broadcast are
// on loopback: the servers then send nothing off this machine.
func checkLoopbackCatalog(t *testing.T, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cat struct {
		Hosts []struct {
			Name, Address, Broadcast string
			PingTarget               string `json:"ping_target"`
		}
	}
	if err := json.Unmarshal(raw, &cat); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(cat.Hosts) == 0 {
		t.Fatalf("%s has no hosts", path)
	}
	for _, h := range cat.Hosts {
		for field, v := range map[string]string{"address": h.Address, "broadcast": h.Broadcast, "ping_target": h.PingTarget} {
			if v == "" && field == "ping_target" {
				continue // the address is pinged
			}
			if a, err := netip.ParseAddr(v); err != nil || !a.IsLoopback() {
				t.Fatalf("%s: %s %s %q is not a loopback address", path, h.Name, field, v)
			}
		}
	}
}

// tickAll calls POST /api/ticks/reservations on every server at once
// (each its own connection) and returns what each tick's start phase did
// ("candidates/claimed").
func tickAll(t *testing.T, procs []*workerProc, token string) []string {
	t.Helper()
	claimed := make([]string, len(procs))
	errs := make([]error, len(procs))
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequest(http.MethodPost, p.base+"/api/ticks/reservations", nil)
			if err != nil {
				errs[i] = err
				return
			}
			req.Header.Set("X-Lab-Manager-Token", token)
			<-start
			res, err := client.Do(req)
			if err != nil {
				errs[i] = fmt.Errorf("%s: POST /api/ticks/reservations: %w", p.name, err)
				return
			}
			defer res.Body.Close()
			var sum struct {
				Start struct{ Candidates, Claimed int }
			}
			raw, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusOK || json.Unmarshal(raw, &sum) != nil {
				errs[i] = fmt.Errorf("%s: POST /api/ticks/reservations: %d %.300s", p.name, res.StatusCode, raw)
				return
			}
			claimed[i] = fmt.Sprintf("%d/%d", sum.Start.Candidates, sum.Start.Claimed)
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	return claimed
}

// Issue 9 with three local servers as separate processes of the built
// binary (TestMain_ThreeServersExactlyOnce runs them inside this one):
// each on its own loopback port with the automation on (a 1 s scan),
// sharing one MariaDB database, over 1,000 due bookings on 100 labsim
// stations served by this process. Every booking ends ACTIVE, labsim
// received exactly one prepare-session per booking, the database holds
// one prepare and one scheduler:start record per booking, and the
// servers' own logs show each booking prepared once, by one of them.
// OPS_TEST_TICK_REPS repeats it (make test-ticks: 10).
func TestMain_ThreeServersSeparateProcessesExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	bin := buildWorker(t)
	for rep := range tickReps() {
		t.Run(fmt.Sprint("rep", rep+1), func(t *testing.T) {
			w := newTickWorld(t, onceStations, nil)
			checkLoopbackCatalog(t, w.path)
			env := map[string]string{"OPS_CONFIG": w.path, "MYSQL_DSN": w.dsn, "LAB_MANAGER_TOKEN": "e2e-token",
				// Stations only on loopback (the catalog refuses any other address).
				"OPS_STATION_CIDRS":           "127.0.0.0/8",
				"OPS_WINRM_OPERATION_TIMEOUT": "5", "OPS_WINRM_READ_TIMEOUT": "10", "OPS_WINRM_COMMAND_TIMEOUT": "30",
				// At most 100 claims a tick: the 1,000 bookings take many
				// ticks, which the three servers share and race for (with
				// 1,000 the first tick after the booking claims them all).
				"OPS_RESERVATION_AUTOMATION": "true", "OPS_RESERVATION_SCAN_INTERVAL": "1", "OPS_RESERVATION_MAX_BATCH": "100"}
			var procs []*workerProc
			for i := range 3 {
				procs = append(procs, startWorker(t, bin, fmt.Sprintf("ops-worker-%d", i+1), env))
			}
			t0 := time.Now()
			w.bookDue(t, onceBookings, onceStations)
			// Besides their timers, one tick of each server at once (the
			// tick route, as a cron calls it; a server runs its ticks one
			// at a time): three ticks scan the same candidates together.
			claimed := tickAll(t, procs, "e2e-token")
			w.waitAllActive(t, 3*time.Minute, onceBookings)
			active := time.Since(t0).Round(time.Millisecond)
			// Stopped before counting: a late duplicate is counted too.
			var wg sync.WaitGroup
			for _, p := range procs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := p.stop(); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			w.checkExactlyOnce(t, onceBookings, onceStations)

			// Each server's own account: its "reservation step" lines.
			prepared := map[string]int{}
			var per []string
			for _, p := range procs {
				n := 0
				logLines(p.stderr.String(), func(l logLine) {
					if l.Msg == "reservation step" && l.Action == "prepare" {
						prepared[l.Reservation]++
						n++
					}
				})
				per = append(per, fmt.Sprintf("%s %d", p.name, n))
				if n == 0 {
					// Exactly once by one server alone says nothing of three.
					t.Errorf("%s prepared no booking: the three servers did not share the work", p.name)
				}
			}
			wrong := 0
			for i := range onceBookings {
				if n := prepared[bookingID(i)]; n != 1 {
					if wrong++; wrong <= 5 {
						t.Errorf("the servers' logs show %s prepared %d times", bookingID(i), n)
					}
				}
			}
			if wrong > 0 || len(prepared) != onceBookings {
				t.Errorf("the servers' logs: %d bookings prepared, %d of %d not exactly once", len(prepared), wrong, onceBookings)
			}
			t.Logf("3 server processes, %d bookings, %d stations: all ACTIVE in %v; the ticks fired at once (candidates/claimed) %v; prepared by %s",
				onceBookings, onceStations, active, claimed, strings.Join(per, ", "))
		})
	}
}

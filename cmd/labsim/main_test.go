package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startMain parses args and runs Main in the background; cancel stops it
// and done then yields Run's error.
func startMain(t *testing.T, args ...string) (*Main, *syncBuf, context.CancelFunc, chan error) {
	t.Helper()
	m := &Main{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := m.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	stdout := &syncBuf{}
	m.Stdout = stdout
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	return m, stdout, cancel, done
}

func TestMain_RunWritesHostsJSON(t *testing.T) {
	out := filepath.Join(t.TempDir(), "hosts.json")
	m, stdout, cancel, done := startMain(t, "-hosts", "3", "-asleep", "-out", out)

	var doc struct {
		Hosts []struct {
			Name        string `json:"name"`
			WinRMCAFile string `json:"winrm_ca_file"`
		} `json:"hosts"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(out)
		if err == nil && json.Unmarshal(b, &doc) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hosts.json not written: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(doc.Hosts) != 3 || doc.Hosts[2].Name != "lab-ws-03" {
		t.Errorf("hosts: got %+v", doc.Hosts)
	}
	if _, err := os.Stat(doc.Hosts[0].WinRMCAFile); err != nil {
		t.Errorf("CA file: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !strings.Contains(stdout.String(), "Lab Station health: lab-ws-03 http://127.0.0.1:") {
		t.Errorf("stdout lacks the health URLs: %q", stdout.String())
	}
	if !strings.Contains(stdout.String(), "CA file: ") {
		t.Errorf("stdout: %q", stdout.String())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(doc.Hosts[0].WinRMCAFile); !os.IsNotExist(err) {
		t.Errorf("CA file after Close: %v, want removed", err)
	}
}

func TestMain_ParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string // "" = accepted
	}{
		{[]string{"-hosts", "0"}, "-hosts must be 1..5000"},
		{[]string{"-base-port", "65533"}, ""},
		{[]string{"-base-port", "65534"}, "needs ports 65534..65536"},
		{[]string{"-hosts", "2", "-base-port", "65530"}, ""},
		{[]string{"-hosts", "2", "-base-port", "65531"}, "needs ports 65531..65536"},
		{[]string{"-hosts", "5000", "-base-port", "50536"}, ""},
		{[]string{"-hosts", "5000", "-base-port", "50537"}, "needs ports 50537..65536"},
		{[]string{"-base-port", "1024"}, ""},
		{[]string{"-base-port", "1023"}, "needs ports 1023..1025"},
		{[]string{"-base-port", "-5"}, "needs ports -5..-3"},
		{[]string{"-base-port", "0", "-ca-dir", "/tmp/x"}, ""},
		{[]string{"-hosts", "3", "-base-port", "29500", "-health-base-port", "29700"}, ""},
		{[]string{"-hosts", "3", "-base-port", "29500", "-health-base-port", "29508"}, "overlaps -base-port's 29500..29508"},
		{[]string{"-hosts", "3", "-base-port", "29500", "-health-base-port", "29498"}, "overlaps"},
		{[]string{"-hosts", "2", "-health-base-port", "65535"}, "needs ports 65535..65536"},
		{[]string{"-health-base-port", "80"}, "needs ports 80..80"},
		{[]string{"-sleep", "refuse", "-max-shells", "-1", "-idle-timeout", "-1s", "-max-envelope", "-1", "-codepage", "65001"}, ""},
		{[]string{"-sleep", "blackhole", "-max-shells", "5", "-idle-timeout", "1m", "-max-envelope", "153600", "-codepage", "850"}, ""},
		{[]string{"-sleep", "nap"}, "-sleep must be blackhole or refuse"},
		{[]string{"-codepage", "1252"}, "-codepage must be 437, 850 or 65001"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			m := &Main{}
			err := m.ParseFlags(tt.args)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got %v, want accepted", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("got accepted, want an error containing %q", tt.wantErr)
			case err != nil && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("error %q: want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// freeRange finds base with TCP base, base+1 and UDP base+2 free on
// 127.0.0.1 (checked, then released).
func freeRange(t *testing.T) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := ln.Addr().(*net.TCPAddr).Port
		ok := base >= 1024 && base+2 <= 65535
		if ok {
			ln2, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+1)))
			ok = err == nil
			if ok {
				_ = ln2.Close()
				pc, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+2)))
				ok = err == nil
				if ok {
					_ = pc.Close()
				}
			}
		}
		_ = ln.Close()
		if ok {
			return base
		}
	}
	t.Fatal("no 3 consecutive free ports found")
	return 0
}

func TestMain_RunFixedPortsAndCADir(t *testing.T) {
	base := freeRange(t)
	caDir := filepath.Join(t.TempDir(), "ca")
	m, stdout, cancel, done := startMain(t, "-base-port", strconv.Itoa(base), "-ca-dir", caDir)

	var doc struct {
		Hosts []struct {
			WinRMPort   int    `json:"winrm_port"`
			WOLPort     int    `json:"wol_port"`
			WinRMCAFile string `json:"winrm_ca_file"`
		} `json:"hosts"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := stdout.String()
		if i := strings.Index(s, "{"); i >= 0 && json.Unmarshal([]byte(s[i:]), &doc) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hosts.json not printed: %q", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if len(doc.Hosts) != 1 {
		t.Fatalf("hosts: got %d, want 1", len(doc.Hosts))
	}
	got := doc.Hosts[0]
	if got.WinRMPort != base || got.WOLPort != base+2 {
		t.Errorf("ports: got winrm %d wol %d, want %d and %d", got.WinRMPort, got.WOLPort, base, base+2)
	}
	if want := filepath.Join(caDir, "labsim-ca.pem"); got.WinRMCAFile != want {
		t.Errorf("winrm_ca_file: got %s, want %s", got.WinRMCAFile, want)
	}
	if _, err := os.Stat(got.WinRMCAFile); err != nil {
		t.Errorf("CA file after Close: %v, want kept", err)
	}
}

// -sleep reaches the hosts: a sleeping host ignores the SYN by default and
// refuses with -sleep refuse.
func TestMain_SleepFlag(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		refused bool
	}{{nil, false}, {[]string{"-sleep", "refuse"}, true}} {
		base := freeRange(t)
		m, stdout, cancel, done := startMain(t, append([]string{"-asleep", "-base-port", strconv.Itoa(base)}, tc.args...)...)
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(stdout.String(), "CA file: ") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		c, err := net.DialTimeout("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(base)), 300*time.Millisecond)
		if err == nil {
			_ = c.Close()
		}
		var ne net.Error
		timedOut := errors.As(err, &ne) && ne.Timeout()
		if refused := err != nil && !timedOut; refused != tc.refused || err == nil {
			t.Errorf("%v: dial a sleeping host: %v, want refused %v", tc.args, err, tc.refused)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// -asleep-hosts puts only the named stations to sleep (make run's demo
// reservation wakes lab-ws-02); an unknown name stops start-up.
func TestMain_AsleepHosts(t *testing.T) {
	m, stdout, cancel, done := startMain(t, "-hosts", "2", "-asleep-hosts", "lab-ws-02")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(stdout.String(), "CA file: ") { // written once m.sim is set
		if time.Now().After(deadline) {
			t.Fatal("labsim did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if m.sim.Host("lab-ws-01").Asleep() || !m.sim.Host("lab-ws-02").Asleep() {
		t.Errorf("asleep: lab-ws-01 %v, lab-ws-02 %v; want false, true",
			m.sim.Host("lab-ws-01").Asleep(), m.sim.Host("lab-ws-02").Asleep())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_ = m.Close()

	bad := &Main{Hosts: 2, AsleepHosts: []string{"lab-ws-03"}, Stdout: io.Discard, Logger: slog.New(slog.DiscardHandler)}
	if err := bad.Run(context.Background()); err == nil || !strings.Contains(err.Error(), `no host "lab-ws-03"`) {
		t.Errorf("unknown host: %v", err)
	}
}

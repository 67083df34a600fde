package main

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkIdleRSS builds ops-relay as released (make relay-bin), starts
// it with a 500-host catalog on loopback, waits until it listens and 2 s
// more, and reports its resident memory (issue 10's goal: at most 20 MB).
func BenchmarkIdleRSS(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads /proc")
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "ops-relay")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	var sb strings.Builder
	sb.WriteString(`{"hosts":[`)
	for i := range 500 {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(`{"name":"lab-ws-` + strconv.Itoa(i) + `","address":"10.1.2.` + strconv.Itoa(1+i%250) + `","mac":"02:00:00:00:` + strconv.Itoa(10+i/100) + `:` + strconv.Itoa(10+i%90) + `","winrm_user":"svc","winrm_pass":"pw","labs":["` + strconv.Itoa(i) + `"]}`)
	}
	sb.WriteString("]}")
	cat := filepath.Join(dir, "hosts.json")
	if err := os.WriteFile(cat, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	for b.Loop() {
		cmd := exec.Command(bin, "-listen", addr, "-hosts", cat)
		cmd.Env = []string{"RELAY_SECRETS=" + testSecret, "RELAY_SUBNETS=10.1.2.0/24"}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				b.Fatal("ops-relay did not listen")
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(2 * time.Second)
		kb := vmRSS(b, cmd.Process.Pid)
		cmd.Process.Kill()
		cmd.Wait()
		b.ReportMetric(float64(kb)/1024, "rss-MB")
	}
}

func vmRSS(b *testing.B, pid int) int {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

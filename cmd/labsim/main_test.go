package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
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

func TestMain_RunWritesHostsJSON(t *testing.T) {
	out := filepath.Join(t.TempDir(), "hosts.json")
	m := &Main{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := m.ParseFlags([]string{"-hosts", "3", "-asleep", "-out", out}); err != nil {
		t.Fatal(err)
	}
	var stdout syncBuf
	m.Stdout = &stdout
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

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

func TestMain_BadFlags(t *testing.T) {
	m := &Main{}
	if err := m.ParseFlags([]string{"-hosts", "0"}); err == nil {
		t.Error("-hosts 0: got no error")
	}
}

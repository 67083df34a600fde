package main

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/relayclient"
)

// runMain runs ops-relay on loopback over labsim's catalog with env.
func runMain(t *testing.T, env map[string]string) (*Main, *labsim.Sim) {
	t.Helper()
	sim := labsimtest.Start(t, labsim.HostOptions{Name: "lab-ws-01"})
	doc, err := sim.HostsJSON()
	if err != nil {
		t.Fatal(err)
	}
	path := labsimtest.WriteHostsFile(t, doc)
	full := map[string]string{"RELAY_SECRETS": testSecret, "RELAY_SUBNETS": "127.0.0.0/8", "RELAY_ICMP": "off"}
	for k, v := range env {
		full[k] = v
	}
	m := &Main{Getenv: func(k string) string { return full[k] }, LogOutput: io.Discard}
	if err := m.ParseFlags([]string{"-listen", "127.0.0.1:0", "-hosts", path}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m, sim
}

// RELAY_ALLOWED_COMMANDS: the relay runs only its list; anything else is
// the worker's ErrCommandNotAllowed, with nothing sent to the station.
func TestMain_AllowedCommands(t *testing.T) {
	m, sim := runMain(t, map[string]string{"RELAY_ALLOWED_COMMANDS": "status, status-json"})
	c := &relayclient.Client{URL: "http://" + m.Addr(), Secret: []byte(testSecret)}
	ctx := context.Background()
	for _, cmd := range []string{"power", "prepare-session", "account"} {
		if _, err := c.RunCommand(ctx, hosts1(), cmd, nil, lab.CommandOptions{}); !errors.Is(err, lab.ErrCommandNotAllowed) {
			t.Errorf("%s: %v, want ErrCommandNotAllowed", cmd, err)
		}
	}
	if n := sim.Host("lab-ws-01").HTTPRequests(); n != 0 {
		t.Errorf("labsim received %d WinRM requests for refused commands", n)
	}
	if _, err := c.RunCommand(ctx, hosts1(), "status", nil, lab.CommandOptions{}); err != nil {
		t.Errorf("status: %v", err)
	}
}

func TestMain_ParseFlagsRefusesRelayKnobs(t *testing.T) {
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"unknown command":    {map[string]string{"RELAY_ALLOWED_COMMANDS": "status,format-c"}, "RELAY_ALLOWED_COMMANDS"},
		"empty command list": {map[string]string{"RELAY_ALLOWED_COMMANDS": " , "}, "RELAY_ALLOWED_COMMANDS"},
		"relay id with port": {map[string]string{"RELAY_ID": "relay.lab.example:8740"}, "RELAY_ID"},
		"relay id upper":     {map[string]string{"RELAY_ID": "Relay.lab.example"}, "RELAY_ID"},
		"max conns":          {map[string]string{"RELAY_MAX_CONNS": "0"}, "RELAY_MAX_CONNS"},
		"max conns word":     {map[string]string{"RELAY_MAX_CONNS": "many"}, "RELAY_MAX_CONNS"},
		"local mode word":    {map[string]string{"RELAY_LOCAL_MODE": "maybe"}, "RELAY_LOCAL_MODE"},
	} {
		env := map[string]string{"RELAY_SECRETS": testSecret, "RELAY_SUBNETS": "10.1.2.0/24"}
		for k, v := range tc.env {
			env[k] = v
		}
		m := &Main{Getenv: func(k string) string { return env[k] }}
		if err := m.ParseFlags(nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s", name, err, tc.want)
		}
	}
	env := map[string]string{"RELAY_SECRETS": testSecret, "RELAY_SUBNETS": "10.1.2.0/24", "RELAY_ID": "relay-a.lab.example, 10.1.2.5"}
	m := &Main{Getenv: func(k string) string { return env[k] }}
	if err := m.ParseFlags(nil); err != nil || strings.Join(m.Config.Relays, ",") != "relay-a.lab.example,10.1.2.5" || m.Config.MaxConns != 512 {
		t.Errorf("RELAY_ID: %v, %q, max conns %d", err, m.Config.Relays, m.Config.MaxConns)
	}
}

// RELAY_LOCAL_MODE=false: the relay writes no station's flag, and says
// why, with nothing sent to the station.
func TestMain_LocalModeOff(t *testing.T) {
	m, sim := runMain(t, map[string]string{"RELAY_LOCAL_MODE": "false"})
	c := &relayclient.Client{URL: "http://" + m.Addr(), Secret: []byte(testSecret)}
	err := c.SetLocalMode(context.Background(), hosts1(), true)
	if !errors.Is(err, lab.ErrPolicy) || !strings.Contains(err.Error(), "RELAY_LOCAL_MODE") {
		t.Errorf("err = %v, want lab.ErrPolicy naming RELAY_LOCAL_MODE", err)
	}
	if n := sim.Host("lab-ws-01").HTTPRequests(); n != 0 || sim.Host("lab-ws-01").LocalMode() {
		t.Errorf("labsim received %d WinRM requests; flag %v", n, sim.Host("lab-ws-01").LocalMode())
	}
}

// RELAY_ID: a relay that answers to another name refuses what the worker
// signs for 127.0.0.1.
func TestMain_RelayID(t *testing.T) {
	m, _ := runMain(t, map[string]string{"RELAY_ID": "relay-b.lab.example"})
	c := &relayclient.Client{URL: "http://" + m.Addr(), Secret: []byte(testSecret)}
	if err := c.Ping(context.Background()); !errors.Is(err, lab.ErrConfig) || !strings.Contains(err.Error(), "relay-b.lab.example") {
		t.Errorf("Ping: %v, want a refusal naming the relay's identity", err)
	}
}

// Issue 15 item 5: RELAY_MAX_CONNS caps the connections served at once;
// one more waits until a connection closes.
func TestMain_MaxConns(t *testing.T) {
	m, _ := runMain(t, map[string]string{"RELAY_MAX_CONNS": "2"})
	c := &relayclient.Client{URL: "http://" + m.Addr(), Secret: []byte(testSecret)}
	var idle []net.Conn
	for range 2 {
		conn, err := net.Dial("tcp", m.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		idle = append(idle, conn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx); err == nil {
		t.Fatalf("a third connection was served while two were open")
	}
	idle[0].Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := c.Ping(ctx2); err != nil {
		t.Errorf("after one closed: %v", err)
	}
}

// hosts1 is the worker's view of labsim's station: its name only.
func hosts1() hosts.Host { return hosts.Host{Name: "lab-ws-01"} }

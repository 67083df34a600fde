package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/relayclient"
)

const testSecret = "main-test-secret-0123456789abcdefghij"

func TestMain_RunPingClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts.json")
	if err := os.WriteFile(path, []byte(`{"hosts":[{"name":"lab-ws-01","address":"10.1.2.11","mac":"02:00:00:00:00:01","labs":["1"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"RELAY_SECRETS": testSecret + ",old-secret-0123456789abcdefghijklmn", "RELAY_SUBNETS": "10.1.2.0/24"}
	m := &Main{Getenv: func(k string) string { return env[k] }, LogOutput: io.Discard}
	if err := m.ParseFlags([]string{"-listen", "127.0.0.1:0", "-hosts", path}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := &relayclient.Client{URL: "http://" + m.Addr(), Secret: []byte(testSecret)}
	if err := c.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestMain_ParseFlagsRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"plain HTTP off loopback": {[]string{"-listen", "0.0.0.0:8740"}, map[string]string{"RELAY_SECRETS": testSecret, "RELAY_SUBNETS": "10.1.2.0/24"}, "loopback"},
		"no secret":               {nil, map[string]string{"RELAY_SUBNETS": "10.1.2.0/24"}, "RELAY_SECRETS"},
		"no subnets":              {nil, map[string]string{"RELAY_SECRETS": testSecret}, "RELAY_SUBNETS"},
		"bad subnet":              {[]string{"-subnets", "10.1.2.0/33"}, map[string]string{"RELAY_SECRETS": testSecret}, "subnet"},
	} {
		m := &Main{Getenv: func(k string) string { return tc.env[k] }}
		err := m.ParseFlags(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s", name, err, tc.want)
		}
	}
}

package drivers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/power"
	"github.com/ops-worker/ops-worker/internal/power/apcsnmp"
	"github.com/ops-worker/ops-worker/internal/power/mock"
	"github.com/ops-worker/ops-worker/internal/power/netio"
)

func TestNew(t *testing.T) {
	f := false
	dir := t.TempDir()
	d, err := New(APC, "127.0.0.1", 0, Config{Profile: "legacy", SNMPVersion: "v2c", TimeoutSeconds: 3}, "snmpv2c", map[string]string{"community": "Secret-C"}, Options{})
	if _, ok := d.(*apcsnmp.Driver); err != nil || !ok {
		t.Fatalf("apc: %T, %v", d, err)
	}
	if s := fmt.Sprintf("%v %#v", d, d); strings.Contains(s, "Secret-C") {
		t.Fatalf("apc driver print: %s", s)
	}
	d, err = New(NETIO, "127.0.0.1", 0, Config{UseHTTPS: true, VerifyTLS: &f}, "", nil, Options{})
	if _, ok := d.(*netio.Driver); err != nil || !ok {
		t.Fatalf("netio: %T, %v", d, err)
	}
	d, err = New(Mock, "../../etc/x", 1, Config{}, "", nil, Options{MockStateDir: dir, MockOutlets: 3})
	if _, ok := d.(*mock.Driver); err != nil || !ok {
		t.Fatalf("mock: %T, %v", d, err)
	}
	if _, err := d.Set(context.Background(), "3", power.StateOn); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "mock-.._.._etc_x-1.json")); err != nil {
		t.Fatalf("mock state file not in its dir: %v", err)
	}
	for _, tc := range []struct {
		driver string
		cfg    Config
		typ    string
		creds  map[string]string
	}{
		{"ipmi", Config{}, "", nil},
		{APC, Config{SNMPVersion: "v3"}, "snmpv2c", map[string]string{"community": "Secret-C"}},
		{APC, Config{TimeoutSeconds: 99}, "snmpv2c", map[string]string{"community": "Secret-C"}},
		{APC, Config{}, "netio-http-basic", map[string]string{"username": "u", "password": "Secret-C"}},
		{NETIO, Config{}, "snmpv2c", map[string]string{"community": "Secret-C"}},
	} {
		_, err := New(tc.driver, "127.0.0.1", 0, tc.cfg, tc.typ, tc.creds, Options{})
		if power.CodeOf(err) != power.CodeConfig || strings.Contains(err.Error(), "Secret-C") {
			t.Errorf("New(%s, %+v, %s): %v", tc.driver, tc.cfg, tc.typ, err)
		}
	}
}

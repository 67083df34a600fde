package legacyimport_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ops-worker/ops-worker/internal/fernet"
	"github.com/ops-worker/ops-worker/internal/legacyimport"
)

// Import prints one line per reference and host, and never a secret.
func ExampleImport() {
	dir, _ := os.MkdirTemp("", "legacyimport")
	defer os.RemoveAll(dir)
	key, _ := fernet.ParseKey("cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=")
	token, _ := fernet.Encrypt(key, []byte(`{"user": "admin", "password": "S3cret"}`), fakeNow, make([]byte, 16))
	winrm := filepath.Join(dir, "winrm-credentials.json")
	_ = os.WriteFile(winrm, []byte(`{"credentials": {"Lab-WS-01.lab": {"token": "`+token+`"}}}`), 0o600)
	hostsFile := filepath.Join(dir, "hosts.json")
	_ = os.WriteFile(hostsFile, []byte(`{"hosts": [{"name": "lab-ws-09", "address": "10.0.0.9"}]}`), 0o600)

	creds := &memCreds{winrm: map[string]string{}, power: map[string]string{}}
	hosts := &memHosts{entries: map[string]json.RawMessage{}}
	src := legacyimport.Sources{WinRMPath: winrm, DynamicHostsPath: hostsFile, Key: key}
	for run := 1; run <= 2; run++ {
		fmt.Println("run", run)
		if _, err := legacyimport.Import(context.Background(), src, creds, hosts, nil, os.Stdout); err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// run 1
	// winrm credential lab-ws-01.lab: stored
	// host lab-ws-09: added
	// run 2
	// winrm credential lab-ws-01.lab: updated
	// host lab-ws-09: exists
}

// Package labsimtest is the test set-up every package's tests share: a
// labsim started for one test and closed after it, and a hosts.json
// written into the test's temporary directory.
package labsimtest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ops-worker/ops-worker/internal/labsim"
)

// Start runs a labsim with hosts for the length of tb; a Close error fails
// tb (a station left running is a leak the next test would trip over).
func Start(tb testing.TB, hosts ...labsim.HostOptions) *labsim.Sim {
	tb.Helper()
	return StartWith(tb, labsim.Options{Hosts: hosts})
}

// StartWith is Start with every labsim option.
func StartWith(tb testing.TB, opts labsim.Options) *labsim.Sim {
	tb.Helper()
	sim, err := labsim.Start(context.Background(), opts)
	if err != nil {
		tb.Fatalf("labsim: %v", err)
	}
	tb.Cleanup(func() {
		if err := sim.Close(); err != nil {
			tb.Errorf("labsim close: %v", err)
		}
	})
	return sim
}

// WriteHostsFile writes catalog as hosts.json in a temporary directory of
// tb and returns its path. A []map[string]any (or any other slice) is the
// list of entries, wrapped as {"hosts": [...]}; []byte and string are
// written as they are (for malformed catalogs); anything else is
// marshalled whole.
func WriteHostsFile(tb testing.TB, catalog any) string {
	tb.Helper()
	var body []byte
	switch c := catalog.(type) {
	case []byte:
		body = c
	case string:
		body = []byte(c)
	case []map[string]any:
		body = mustJSON(tb, map[string]any{"hosts": c})
	default:
		body = mustJSON(tb, c)
	}
	path := filepath.Join(tb.TempDir(), "hosts.json")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		tb.Fatalf("write hosts.json: %v", err)
	}
	return path
}

// WriteSimHosts writes the catalog labsim itself gives for sim's stations
// and returns its path.
func WriteSimHosts(tb testing.TB, sim *labsim.Sim) string {
	tb.Helper()
	body, err := sim.HostsJSON()
	if err != nil {
		tb.Fatalf("labsim hosts.json: %v", err)
	}
	return WriteHostsFile(tb, body)
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatalf("marshal hosts.json: %v", err)
	}
	return b
}

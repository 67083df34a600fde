// Package relaytest runs a relay (relay.Server, the server of ops-relay)
// on loopback over a host catalog document, for the tests and benchmarks
// that drive labsim through a relay.
package relaytest

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/logtest"
	"github.com/ops-worker/ops-worker/relay"
)

// Relay is a relay listening on loopback. Its subnet is 127.0.0.0/8 (the
// labsim catalog's broadcast address is 127.0.0.1) and its ICMP probes are
// off (loopback always answers a ping).
type Relay struct {
	URL  string
	Logs *logtest.Buffer // the audit lines, JSON

	server atomic.Pointer[relay.Server]
}

// Server is the relay's server, nil until Load.
func (r *Relay) Server() *relay.Server { return r.server.Load() }

// Listen starts listening; the relay answers 503 until Load.
func Listen(tb testing.TB) *Relay {
	tb.Helper()
	r := &Relay{Logs: &logtest.Buffer{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s := r.server.Load()
		if s == nil {
			http.Error(w, "relay not loaded", http.StatusServiceUnavailable)
			return
		}
		s.ServeHTTP(w, req)
	}))
	tb.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// Load builds the relay over catalog (a hosts.json document, credentials
// included) accepting secrets.
func (r *Relay) Load(tb testing.TB, catalog []byte, secrets ...string) {
	tb.Helper()
	r.LoadWithPower(tb, catalog, nil, secrets...)
}

// LoadWithPower is Load with the relay's power controllers (a
// RELAY_POWER_CONFIG document; nil: none).
func (r *Relay) LoadWithPower(tb testing.TB, catalog, powerDoc []byte, secrets ...string) {
	tb.Helper()
	dir := tb.TempDir()
	path := filepath.Join(dir, "relay-hosts.json")
	if err := os.WriteFile(path, catalog, 0o600); err != nil {
		tb.Fatal(err)
	}
	var powerPath string
	if powerDoc != nil {
		powerPath = filepath.Join(dir, "relay-power.json")
		if err := os.WriteFile(powerPath, powerDoc, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	subnets, err := relay.ParseSubnets("127.0.0.0/8")
	if err != nil {
		tb.Fatal(err)
	}
	s, client, err := relay.New(relay.Config{Listen: "127.0.0.1:0", Secrets: secrets, HostsPath: path, PowerPath: powerPath,
		Subnets: subnets, ICMP: "off", OperationTimeout: 20 * time.Second}, slog.New(slog.NewJSONHandler(r.Logs, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = client.Close() })
	r.server.Store(s)
}

// Start is Listen and Load.
func Start(tb testing.TB, catalog []byte, secrets ...string) *Relay {
	tb.Helper()
	r := Listen(tb)
	r.Load(tb, catalog, secrets...)
	return r
}

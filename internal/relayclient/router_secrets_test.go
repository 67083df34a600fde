package relayclient_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/relayclient"
	"github.com/ops-worker/ops-worker/internal/relayproto"
	"github.com/ops-worker/ops-worker/relay"
)

// Issue 15 item 4: the router signs each relay's requests with that
// relay's OPS_RELAY_SECRETS entry, and the others with OPS_RELAY_SECRET.
func TestRelayRouter_SecretPerRelay(t *testing.T) {
	cat, _, err := hosts.Parse([]byte(`{"hosts":[{"name":"a1","address":"10.1.2.1","labs":["1"]},{"name":"b1","address":"10.1.2.2","labs":["2"]}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	secretA, secretB := strings.Repeat("A", 40), strings.Repeat("B", 40)
	stub := func(secret string) *httptest.Server {
		s := &relay.Server{Catalog: cat, Lab: &seenLab{}, Logger: slog.New(slog.DiscardHandler),
			Verifier: &relayproto.Verifier{Secrets: [][]byte{[]byte(secret)}, Replay: &relayproto.ReplayCache{}}}
		srv := httptest.NewServer(s)
		t.Cleanup(srv.Close)
		return srv
	}
	relayA, relayB := stub(secretA), stub(secretB)
	a1, _ := cat.Get("a1")
	b1, _ := cat.Get("b1")
	a1.Relay, b1.Relay = relayA.URL, relayB.URL
	cfg, err := config.LoadMap(context.Background(), map[string]string{
		"OPS_RELAY_SECRETS": `{"` + relayA.URL + `/": "` + secretA + `"}`,
		"OPS_RELAY_SECRET":  secretB,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := relayclient.NewRouter(&seenLab{}, cfg.RelayURL, cfg.RelaySecretFor, cfg.HeartbeatStaleAfter())
	ctx := context.Background()
	for _, h := range []hosts.Host{a1, b1} {
		if _, err := r.RunCommand(ctx, h, "status", nil, lab.CommandOptions{}); err != nil {
			t.Errorf("%s through its relay: %v", h.Name, err)
		}
	}
	// The fallback alone does not sign for relay A.
	cfg.RelaySecrets = ""
	r = relayclient.NewRouter(&seenLab{}, cfg.RelayURL, cfg.RelaySecretFor, cfg.HeartbeatStaleAfter())
	if _, err := r.RunCommand(ctx, a1, "status", nil, lab.CommandOptions{}); !errors.Is(err, lab.ErrConfig) {
		t.Errorf("relay A with B's secret: %v, want a signature refusal", err)
	}
}

package relayclient_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/fixtures"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/relayclient"
	"github.com/ops-worker/ops-worker/internal/relayproto"
	"github.com/ops-worker/ops-worker/relay"
)

const routerSecret = "router-secret-0123456789abcdefghijklmn"

// seenLab answers every heartbeat read with the fixture and records the
// hosts it was asked about.
type seenLab struct {
	mu   sync.Mutex
	seen []string
}

func (l *seenLab) saw(h hosts.Host) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, h.Name)
}

func (l *seenLab) Wake(_ context.Context, h hosts.Host, _ lab.WakeOptions) (lab.WakeResult, error) {
	l.saw(h)
	return lab.WakeResult{Success: true}, nil
}
func (l *seenLab) Reachable(_ context.Context, h hosts.Host, _ time.Duration) (string, error) {
	l.saw(h)
	return "tcp", nil
}
func (l *seenLab) RunCommand(_ context.Context, h hosts.Host, _ string, _ []string, _ lab.CommandOptions) (lab.CommandResult, error) {
	l.saw(h)
	return lab.CommandResult{}, nil
}
func (l *seenLab) ReadHeartbeat(_ context.Context, h hosts.Host, _ bool) (lab.HeartbeatRead, error) {
	l.saw(h)
	raw, err := fixtures.Read("heartbeat.json")
	if err != nil {
		return lab.HeartbeatRead{}, err
	}
	hb, err := labstation.ParseHeartbeat(raw)
	return lab.HeartbeatRead{Heartbeat: hb}, err
}
func (l *seenLab) SetLocalMode(_ context.Context, h hosts.Host, _ bool) error {
	l.saw(h)
	return nil
}

// stubRelay is a relay over a seenLab, counting requests per path.
func stubRelay(t *testing.T, cat *hosts.Catalog) (*httptest.Server, *seenLab, map[string]int) {
	l := &seenLab{}
	s := &relay.Server{Catalog: cat, Lab: l, Logger: slog.New(slog.DiscardHandler),
		Verifier: &relayproto.Verifier{Secrets: [][]byte{[]byte(routerSecret)}, Replay: &relayproto.ReplayCache{}}}
	var mu sync.Mutex
	paths := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths[r.URL.Path]++
		mu.Unlock()
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, l, paths
}

func TestRelayRouter_PicksAndBatches(t *testing.T) {
	cat, _, err := hosts.Parse([]byte(`{"hosts":[
		{"name":"a1","address":"10.1.2.1","mac":"02:00:00:00:00:01","labs":["1"]},
		{"name":"b1","address":"10.1.2.2","mac":"02:00:00:00:00:02","labs":["2"]},
		{"name":"a2","address":"10.1.2.3","mac":"02:00:00:00:00:03","labs":["3"]}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	relayA, labA, pathsA := stubRelay(t, cat)
	relayB, labB, pathsB := stubRelay(t, cat)
	direct := &seenLab{}
	a1, _ := cat.Get("a1")
	b1, _ := cat.Get("b1")
	a2, _ := cat.Get("a2")
	b1.Relay = relayB.URL

	ctx := context.Background()
	r := relayclient.NewRouter(direct, relayA.URL, fixedSecret(routerSecret), 0)
	res := lab.ReadHeartbeats(ctx, r, []hosts.Host{a1, b1, a2}, true, 0)
	for i, want := range []string{"a1", "b1", "a2"} {
		if res[i].Host != want || res[i].Err != nil || res[i].Read.Heartbeat == nil {
			t.Errorf("result %d: %+v", i, res[i])
		}
	}
	if strings.Join(labA.seen, ",") != "a1,a2" && strings.Join(labA.seen, ",") != "a2,a1" || strings.Join(labB.seen, ",") != "b1" || len(direct.seen) != 0 {
		t.Errorf("relay A saw %v, relay B %v, direct %v", labA.seen, labB.seen, direct.seen)
	}
	if pathsA[relayproto.PathHeartbeats] != 1 || pathsA[relayproto.PathHeartbeat] != 0 || pathsB[relayproto.PathHeartbeats] != 1 {
		t.Errorf("requests: A %v, B %v; want one batch each", pathsA, pathsB)
	}
	if err := r.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}

	// No OPS_RELAY_URL: only the host naming a relay goes through one.
	r = relayclient.NewRouter(direct, "", fixedSecret(routerSecret), 0)
	if _, err := r.RunCommand(ctx, a1, "status", nil, lab.CommandOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.RunCommand(ctx, b1, "status", nil, lab.CommandOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(direct.seen) != 1 || direct.seen[0] != "a1" || labB.seen[len(labB.seen)-1] != "b1" {
		t.Errorf("direct saw %v, relay B %v", direct.seen, labB.seen)
	}

	// A wrong secret: the relay's refusal, not "unreachable".
	r = relayclient.NewRouter(direct, relayA.URL, fixedSecret(strings.Repeat("w", 40)), 0)
	if err := r.Ping(ctx); !errors.Is(err, lab.ErrConfig) || errors.Is(err, lab.ErrRelayUnreachable) {
		t.Errorf("wrong secret: %v", err)
	}
}

// fixedSecret signs for every relay with one secret.
func fixedSecret(secret string) func(string) string {
	return func(string) string { return secret }
}

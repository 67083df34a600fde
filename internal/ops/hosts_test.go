package ops_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/store"
)

// countingStore counts the heartbeat reads of GET /api/hosts; perHost
// makes LatestHeartbeats the per-host loop Hosts ran before (the
// reference its answer must equal).
type countingStore struct {
	*store.Store
	perHost      bool
	single, many int
}

func (c *countingStore) LatestHeartbeat(ctx context.Context, host string) (*store.StoredHeartbeat, error) {
	c.single++
	return c.Store.LatestHeartbeat(ctx, host)
}

func (c *countingStore) LatestHeartbeats(ctx context.Context, hosts []string) (map[string]*store.StoredHeartbeat, error) {
	c.many++
	if !c.perHost {
		return c.Store.LatestHeartbeats(ctx, hosts)
	}
	out := map[string]*store.StoredHeartbeat{}
	for _, h := range hosts {
		hb, err := c.LatestHeartbeat(ctx, h)
		if err == store.ErrNotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[hb.Host] = hb
	}
	return out, nil
}

// GET /api/hosts reads every host's latest heartbeat with one query, and
// answers byte for byte what reading them host by host answered.
func TestHosts_OneHeartbeatQuery(t *testing.T) {
	t.Parallel()
	// The first host's catalog name in capitals: the store keeps names in
	// lower case.
	f := newFixture(t, fixtureOpts{db: true, labs: map[string][]string{"lab-ws-01": {"1"}, "lab-ws-02": {"2"}, "lab-ws-03": {"3"}},
		entries: func(e []map[string]any) { e[0]["name"] = "LAB-WS-01" }},
		labsim.HostOptions{Name: "lab-ws-01"}, labsim.HostOptions{Name: "lab-ws-02", LocalUser: "student"},
		labsim.HostOptions{Name: "lab-ws-03"})
	ctx := context.Background()
	for _, h := range []string{"LAB-WS-01", "lab-ws-02"} {
		if _, err := f.svc.PollHeartbeat(ctx, ops.PollRequest{Host: h}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	f.svc.Now = func() time.Time { return now }

	batched := &countingStore{Store: f.store}
	f.svc.Store = batched
	got, err := f.svc.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if batched.many != 1 || batched.single != 0 {
		t.Errorf("heartbeat reads: %d batched, %d single; want 1 batched", batched.many, batched.single)
	}
	if len(got.Hosts) != 3 {
		t.Fatalf("hosts = %+v", got.Hosts)
	}
	for i, want := range []struct{ ready, local bool }{{true, false}, {false, true}} {
		hb := got.Hosts[i].Heartbeat
		if hb == nil || hb.Ready == nil || *hb.Ready != want.ready || hb.LocalSession == nil || *hb.LocalSession != want.local || hb.Stale {
			t.Errorf("%s heartbeat = %+v, want ready %v local session %v", got.Hosts[i].Name, hb, want.ready, want.local)
		}
	}
	if got.Hosts[2].Heartbeat != nil {
		t.Errorf("lab-ws-03 (never polled) heartbeat = %+v", got.Hosts[2].Heartbeat)
	}

	perHost := &countingStore{Store: f.store, perHost: true}
	f.svc.Store = perHost
	want, err := f.svc.Hosts(ctx)
	if err != nil || perHost.single != 3 {
		t.Fatalf("reference: %v, %d single reads", err, perHost.single)
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if !bytes.Equal(gb, wb) {
		t.Errorf("GET /api/hosts differs from the per-host reads:\n got %s\nwant %s", gb, wb)
	}
}

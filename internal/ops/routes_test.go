package ops_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/ops-worker/ops-worker/internal/fixtures"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/ops"
)

// readLab answers heartbeat reads with the fixture and counts them; as a
// batch reader when batch is set.
type readLab struct {
	errLab
	t       *testing.T
	reads   atomic.Int32
	batches atomic.Int32
}

func (l *readLab) ReadHeartbeat(context.Context, hosts.Host, bool) (lab.HeartbeatRead, error) {
	l.reads.Add(1)
	raw, err := fixtures.Read("heartbeat.json")
	if err != nil {
		l.t.Fatal(err)
	}
	hb, err := labstation.ParseHeartbeat(raw)
	return lab.HeartbeatRead{Heartbeat: hb}, err
}

type batchLab struct{ *readLab }

func (l batchLab) ReadHeartbeats(ctx context.Context, hs []hosts.Host, include bool) []lab.HeartbeatResult {
	l.batches.Add(1)
	out := make([]lab.HeartbeatResult, len(hs))
	for i, h := range hs {
		r, err := l.readLab.ReadHeartbeat(ctx, h, include)
		out[i] = lab.HeartbeatResult{Host: h.Name, Read: r, Err: err}
	}
	return out
}

// routerLab splits hosts "r*" to a relay and the others to direct; any
// read through the router itself is a second routing.
type routerLab struct {
	errLab
	t             *testing.T
	routes        atomic.Int32
	relay, direct *readLab
}

func (l *routerLab) ReadHeartbeat(context.Context, hosts.Host, bool) (lab.HeartbeatRead, error) {
	l.t.Error("a read went through the router again")
	return lab.HeartbeatRead{}, nil
}

func (l *routerLab) Routes(hs []hosts.Host) []lab.Route {
	l.routes.Add(1)
	rel := lab.Route{Relayed: true, Lab: batchLab{l.relay}}
	dir := lab.Route{Lab: l.direct}
	for i, h := range hs {
		if h.Name[0] == 'r' {
			rel.Hosts, rel.Index = append(rel.Hosts, h), append(rel.Index, i)
		} else {
			dir.Hosts, dir.Index = append(dir.Hosts, h), append(dir.Index, i)
		}
	}
	return []lab.Route{rel, dir}
}

// A heartbeat tick's read is routed once: the routes are asked for once,
// then each route is read through its own Lab (a relay's in one batch),
// never through the router again.
func TestHeartbeatRoutesOnce(t *testing.T) {
	t.Parallel()
	cat, _, err := hosts.Parse([]byte(`{"hosts":[
		{"name":"r1","address":"10.0.0.1","mac":"02:00:00:00:00:01","labs":["1"]},
		{"name":"d1","address":"10.0.0.2","mac":"02:00:00:00:00:02","labs":["2"]},
		{"name":"r2","address":"10.0.0.3","mac":"02:00:00:00:00:03","labs":["3"]}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	rl := &routerLab{t: t, relay: &readLab{t: t}, direct: &readLab{t: t}}
	s := &ops.Service{Registry: hosts.NewStaticRegistry(cat), Lab: rl}
	routes := s.HeartbeatRoutes(cat.Hosts())
	if rl.routes.Load() != 1 || len(routes) != 2 || len(routes[0].Hosts) != 2 || len(routes[1].Hosts) != 1 {
		t.Fatalf("routes %+v (asked %d times)", routes, rl.routes.Load())
	}
	for _, p := range s.PollHeartbeats(context.Background(), routes[0]) {
		if p.Err != nil || len(p.Response.Heartbeat) == 0 {
			t.Errorf("%s: %+v", p.Host, p)
		}
	}
	if _, err := s.PollRouted(context.Background(), routes[1], routes[1].Hosts[0]); err != nil {
		t.Fatal(err)
	}
	if rl.relay.batches.Load() != 1 || rl.relay.reads.Load() != 2 || rl.direct.reads.Load() != 1 || rl.routes.Load() != 1 {
		t.Errorf("relay batches %d reads %d, direct reads %d, routes asked %d", rl.relay.batches.Load(),
			rl.relay.reads.Load(), rl.direct.reads.Load(), rl.routes.Load())
	}
}

package relay_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/discovery"
	"github.com/ops-worker/ops-worker/internal/lab"
)

func TestRelay_Discover(t *testing.T) {
	e := start(t, secretNew)
	h := e.sim.Host("lab-ws-01")
	var dials atomic.Int64
	e.relay.Discovery = discovery.Config{Timeout: 500 * time.Millisecond, WinRMPort: h.HTTPSPort(),
		LabStationPorts: []int{h.HealthPort()},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}
	c := e.client(secretNew)
	ctx := context.Background()

	res, err := c.Discover(ctx, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if got := discovery.Status(res, false); got != discovery.StatusDetected {
		t.Fatalf("status %q: %+v", got, res)
	}
	if m := res.LabStationHTTP.SuggestedMAC; m == nil || m.MAC != h.MAC() {
		t.Errorf("suggested MAC %+v, want %s", m, h.MAC())
	}
	// The heartbeat read through the relay carries the NIC data too.
	hb, err := c.ReadHeartbeat(ctx, worker("lab-ws-01"), false)
	if err != nil {
		t.Fatal(err)
	}
	if m := discovery.SuggestMAC(hb.Heartbeat.Raw); m == nil || m.MAC != h.MAC() {
		t.Errorf("heartbeat MAC %+v, want %s", m, h.MAC())
	}

	// Outside the relay's subnets (127.0.0.0/8): refused, nothing dialled.
	before := dials.Load()
	res, err = c.Discover(ctx, "192.0.2.10")
	if err != nil {
		t.Fatal(err)
	}
	if res.Refused == "" || res.LabStationHTTP.Checked || res.WinRMReachable() || dials.Load() != before {
		t.Errorf("outside the subnets: %+v, %d dials", res, dials.Load()-before)
	}
	if got := discovery.Status(res, false); got != discovery.StatusHostResolves {
		t.Errorf("status %q", got)
	}

	// A hostile name is refused before any look-up.
	if _, err := c.Discover(ctx, "x;calc.exe"); !errors.Is(err, lab.ErrArgument) || dials.Load() != before {
		t.Errorf("hostile name: %v", err)
	}
	// Unsigned with another secret: refused.
	if _, err := e.client(secretOld).Discover(ctx, "127.0.0.1"); !errors.Is(err, lab.ErrConfig) {
		t.Errorf("wrong secret: %v", err)
	}
}

package ops_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/ops"
)

// With OPS_STATION_CIDRS set, a wake request's broadcast and ping_target
// overrides must be IP literals inside it: others are a 400 before any
// packet leaves (a listener on the refused address hears nothing), on
// /api/wol and in a reservation start's wakeOptions alike.
func TestWake_OverridesInsideStationCIDRs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{db: true}, labsim.HostOptions{Name: "lab-ws-01", Asleep: true, BootDelay: 100 * time.Millisecond})
	f.svc.Settings.StationPrefixes = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	sh := f.sim.Host("lab-ws-01")
	ctx := context.Background()

	// A loopback address outside the prefixes, listened on: a magic
	// packet aimed there would arrive.
	pc, err := net.ListenPacket("udp4", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 on this machine: %v", err)
	}
	defer pc.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port

	for _, req := range []ops.WakeRequest{
		{Host: "lab-ws-01", Broadcast: "127.0.0.2", Port: ptr(port), Attempts: ptr(1), PingTimeout: ptr(1)},
		{Host: "lab-ws-01", Broadcast: "localhost", Port: ptr(port), Attempts: ptr(1), PingTimeout: ptr(1)},
		{MAC: sh.MAC(), Broadcast: "127.0.0.1", PingTarget: "127.0.0.2", Port: ptr(port), Attempts: ptr(1), PingTimeout: ptr(1)},
		{MAC: sh.MAC(), PingTarget: "localhost", Attempts: ptr(1), PingTimeout: ptr(1)},
	} {
		_, err := f.svc.Wake(ctx, req)
		wantCode(t, err, ops.CodeBadRequest, "")
	}
	_, err = f.svc.StartReservation(ctx, ops.StartRequest{ReservationID: "r-aim", Host: "lab-ws-01",
		WakeOptions: ops.WakeOptions{Broadcast: "127.0.0.2", Port: ptr(port), Attempts: ptr(1), PingTimeout: ptr(1)}})
	wantCode(t, err, ops.CodeBadRequest, "")
	if _, total, err := f.store.ListOperations(ctx, "r-aim", 10, 0); err != nil || total != 0 {
		t.Errorf("refused start recorded %d steps (%v)", total, err)
	}
	_ = pc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, from, err := pc.ReadFrom(make([]byte, 256)); err == nil {
		t.Errorf("a %d-byte packet from %v reached the refused address", n, from)
	}
	if !sh.Asleep() {
		t.Error("the station was woken by a refused request")
	}

	// Inside the prefixes (and the catalog's own values): as before.
	res, err := f.svc.Wake(ctx, ops.WakeRequest{Host: "lab-ws-01", Broadcast: "127.0.0.1", PingTarget: "127.0.0.1", PingTimeout: ptr(3)})
	if err != nil || !res.Success {
		t.Fatalf("wake inside the prefixes: %+v %v", res, err)
	}
}

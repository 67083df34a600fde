package relay_test

// Benchmarks of issue 10 (make bench-relay): the latency a relay adds to a
// command on loopback, and a batch heartbeat read of 500 stations through
// the relay against direct polling. The relay's idle memory is measured
// in relay/cmd/ops-relay.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/lab/direct"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/pdusim"
	"github.com/ops-worker/ops-worker/internal/power"
	"github.com/ops-worker/ops-worker/internal/power/drivers"
	"github.com/ops-worker/ops-worker/internal/relayclient"
	"github.com/ops-worker/ops-worker/internal/relayproto"
	"github.com/ops-worker/ops-worker/internal/relaytest"
	"github.com/ops-worker/ops-worker/relay"
)

// benchEnv is labsim with n hosts, a relay over its catalog on loopback,
// the relay's lab.Direct (the direct mode) and a relay client.
func benchEnv(b *testing.B, n int, latency time.Duration) (*labsim.Sim, *direct.Direct, *relayclient.Client, []hosts.Host) {
	b.Helper()
	opts := make([]labsim.HostOptions, n)
	for i := range opts {
		opts[i].CBT = labsim.CBTNone // masterzen's NTLM sends no channel binding
		opts[i].Latency = latency
	}
	sim := labsimtest.Start(b, opts...)
	doc, err := sim.HostsJSON()
	if err != nil {
		b.Fatal(err)
	}
	r := relaytest.Start(b, doc, secretNew)
	s := r.Server()
	names := make([]hosts.Host, 0, n)
	for _, h := range s.Catalog.Hosts() {
		names = append(names, h)
	}
	return sim, s.Lab.(*direct.Direct), &relayclient.Client{URL: r.URL, Secret: []byte(secretNew)}, names
}

func p(d []time.Duration, q float64) float64 {
	slices.Sort(d)
	return float64(d[min(len(d)-1, int(q*float64(len(d))))].Microseconds()) / 1000
}

// BenchmarkRelay_CommandLatency runs `status` on one station, directly and
// through the relay in turn, and reports both p50/p99 and the p99 the
// relay adds.
func BenchmarkRelay_CommandLatency(b *testing.B) {
	_, d, c, hs := benchEnv(b, 1, 0)
	ctx := context.Background()
	h := hs[0]
	var direct, viaRelay []time.Duration
	for range 5 { // warm: TLS sessions, the WinRM client's connections
		d.RunCommand(ctx, h, "status", nil, lab.CommandOptions{})
		c.RunCommand(ctx, hosts.Host{Name: h.Name}, "status", nil, lab.CommandOptions{})
	}
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if _, err := d.RunCommand(ctx, h, "status", nil, lab.CommandOptions{}); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := c.RunCommand(ctx, hosts.Host{Name: h.Name}, "status", nil, lab.CommandOptions{}); err != nil {
			b.Fatal(err)
		}
		direct, viaRelay = append(direct, t1.Sub(t0)), append(viaRelay, time.Since(t1))
	}
	b.StopTimer()
	dp50, dp99, rp50, rp99 := p(direct, .5), p(direct, .99), p(viaRelay, .5), p(viaRelay, .99)
	b.ReportMetric(dp50, "direct-p50-ms")
	b.ReportMetric(dp99, "direct-p99-ms")
	b.ReportMetric(rp50, "relay-p50-ms")
	b.ReportMetric(rp99, "relay-p99-ms")
	b.ReportMetric(rp99-dp99, "added-p99-ms")
	b.ReportMetric(rp50-dp50, "added-p50-ms")
}

// BenchmarkRelay_Batch500 reads the heartbeats of 500 stations: directly
// (32 polls in flight, as the worker's tick) and through the relay in one
// signed request. On loopback ("lan") both do the same WinRM work; "wan"
// puts rttWAN on each request that crosses from the worker to the lab: on
// every WinRM request (labsim's latency) directly, on the one relay
// request through the relay, as for a function in a cloud region.
func BenchmarkRelay_Batch500(b *testing.B) {
	const rttWAN = 30 * time.Millisecond
	for _, wan := range []bool{false, true} {
		var labLatency, relayLatency time.Duration
		name := "lan"
		if wan {
			name, labLatency, relayLatency = "wan30ms", rttWAN, rttWAN
		}
		ctx := context.Background()
		check := func(b *testing.B, res []lab.HeartbeatResult) {
			for _, r := range res {
				if r.Err != nil {
					b.Fatalf("%s: %v", r.Host, r.Err)
				}
			}
		}
		b.Run("direct-"+name, func(b *testing.B) {
			_, d, _, hs := benchEnv(b, 500, labLatency)
			for b.Loop() {
				check(b, lab.ReadHeartbeats(ctx, d, hs, true, 32))
			}
		})
		b.Run("relay-"+name, func(b *testing.B) {
			_, _, c, hs := benchEnv(b, 500, 0)
			c.HTTP = &http.Client{Transport: delayed{relayLatency}}
			names := make([]hosts.Host, len(hs))
			for i, h := range hs {
				names[i] = hosts.Host{Name: h.Name}
			}
			for b.Loop() {
				check(b, c.ReadHeartbeats(ctx, names, true))
			}
		})
	}
}

// delayed adds d before each request (a wide-area round trip).
type delayed struct{ d time.Duration }

func (t delayed) RoundTrip(r *http.Request) (*http.Response, error) {
	time.Sleep(t.d)
	return http.DefaultTransport.RoundTrip(r)
}

// nopLab answers at once: the relay's own cost, without a station.
type nopLab struct{}

func (nopLab) Wake(context.Context, hosts.Host, lab.WakeOptions) (lab.WakeResult, error) {
	return lab.WakeResult{}, nil
}
func (nopLab) Reachable(context.Context, hosts.Host, time.Duration) (string, error) {
	return "tcp", nil
}
func (nopLab) RunCommand(context.Context, hosts.Host, string, []string, lab.CommandOptions) (lab.CommandResult, error) {
	return lab.CommandResult{Stdout: "[+] LabStation status\r\nReady: true\r\n"}, nil
}
func (nopLab) ReadHeartbeat(context.Context, hosts.Host, bool) (lab.HeartbeatRead, error) {
	return lab.HeartbeatRead{}, nil
}
func (nopLab) SetLocalMode(context.Context, hosts.Host, bool) error { return nil }

// BenchmarkRelay_Overhead is the latency the relay itself adds to a
// command on loopback: signing, HTTP, verification, the replay cache,
// decoding and the audit line, around a Lab that answers at once.
func BenchmarkRelay_Overhead(b *testing.B) {
	cat, _, err := hosts.Parse([]byte(`{"hosts":[{"name":"lab-ws-01","address":"127.0.0.1","mac":"02:00:00:00:00:01","labs":["1"]}]}`), nil)
	if err != nil {
		b.Fatal(err)
	}
	s := &relay.Server{Catalog: cat, Lab: nopLab{}, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Verifier: &relayproto.Verifier{Secrets: [][]byte{[]byte(secretNew)}, Replay: &relayproto.ReplayCache{}}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := &relayclient.Client{URL: srv.URL, Secret: []byte(secretNew)}
	ctx := context.Background()
	h := hosts.Host{Name: "lab-ws-01"}
	var lat []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := c.RunCommand(ctx, h, "status", []string{"--json"}, lab.CommandOptions{}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.ReportMetric(p(lat, .5), "p50-ms")
	b.ReportMetric(p(lat, .99), "p99-ms")
}

// BenchmarkRelay_PowerSet switches an outlet of the PDU simulator (SNMP
// v2c SET and read-back on loopback) with the APC driver directly and
// through the relay in turn, and reports both p50/p99 and what the relay
// adds at p50.
func BenchmarkRelay_PowerSet(b *testing.B) {
	ctx := context.Background()
	dev, err := pdusim.NewDevice(pdusim.DeviceConfig{Outlets: 2})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { dev.Close() })
	ag, err := pdusim.StartAgent(ctx, pdusim.AgentConfig{Device: dev, Addr: "127.0.0.1:0", Tables: pdusim.TablesRPDU2,
		ReadCommunity: "Bench-Read-c0mm", WriteCommunity: pduCommunity})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ag.Close() })
	sim := labsimtest.Start(b, labsim.HostOptions{})
	doc, err := sim.HostsJSON()
	if err != nil {
		b.Fatal(err)
	}
	powerDoc := fmt.Sprintf(`{"controllers": [{"id": "pdu-b", "driver": "apc-powernet-snmp", "host": "127.0.0.1", "port": %d,
 "outlets": [{"outlet": "1"}], "credential": {"type": "snmpv2c", "community": %q}}]}`, ag.Port(), pduCommunity)
	r := relaytest.Listen(b)
	r.LoadWithPower(b, doc, []byte(powerDoc), secretNew)
	relayed := relayclient.PowerDriver{Client: &relayclient.Client{URL: r.URL, Secret: []byte(secretNew)}, Controller: "pdu-b"}
	directDrv, err := drivers.New(drivers.APC, "127.0.0.1", ag.Port(), power.Config{}, "snmpv2c",
		map[string]string{"version": "v2c", "community": pduCommunity}, drivers.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var dDirect, dRelay []time.Duration
	states := []string{power.StateOn, power.StateOff}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for _, run := range []struct {
			d   power.Driver
			out *[]time.Duration
		}{{directDrv, &dDirect}, {relayed, &dRelay}} {
			t0 := time.Now()
			if _, err := run.d.Set(ctx, "1", states[i%2]); err != nil {
				b.Fatal(err)
			}
			*run.out = append(*run.out, time.Since(t0))
		}
	}
	b.ReportMetric(p(dDirect, 0.5), "direct-p50-ms")
	b.ReportMetric(p(dDirect, 0.99), "direct-p99-ms")
	b.ReportMetric(p(dRelay, 0.5), "relay-p50-ms")
	b.ReportMetric(p(dRelay, 0.99), "relay-p99-ms")
	b.ReportMetric(p(dRelay, 0.5)-p(dDirect, 0.5), "added-p50-ms")
}

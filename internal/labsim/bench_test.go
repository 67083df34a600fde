package labsim_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/masterzen/winrm"

	"github.com/ops-worker/ops-worker/internal/labsim"
)

// BenchmarkSim_200Hosts reads heartbeat.json over HTTPS+NTLM from 200
// simulated hosts, round robin, with one client per host and caller.
func BenchmarkSim_200Hosts(b *testing.B) {
	const n = 200
	hosts := make([]labsim.HostOptions, n)
	for i := range hosts {
		hosts[i].CBT = labsim.CBTNone // masterzen's NTLM sends no channel binding
	}
	start := time.Now()
	sim, err := labsim.Start(context.Background(), labsim.Options{Hosts: hosts})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	b.Logf("started %d hosts in %v", n, time.Since(start))
	all := sim.Hosts()
	script := winrm.Powershell("$ErrorActionPreference = 'Stop'; Get-Content -LiteralPath '" + labsim.HeartbeatPath + "' -Raw")
	var next atomic.Int64
	var before int64
	for _, h := range all {
		before += h.HTTPRequests()
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		clients := make(map[int]*winrm.Client)
		for pb.Next() {
			i := int(next.Add(1)) % n
			c := clients[i]
			if c == nil {
				c = newClient(b, sim, all[i], httpsNTLM, all[i].Password(), "PT20S")
				clients[i] = c
			}
			out, _, code, err := c.RunCmdWithContext(context.Background(), script)
			if err != nil || code != 0 || !json.Valid([]byte(out)) {
				b.Errorf("host %d: code %d err %v", i, code, err)
				return
			}
		}
	})
	b.StopTimer()
	var after int64
	for _, h := range all {
		after += h.HTTPRequests()
	}
	b.ReportMetric(float64(after-before)/float64(b.N), "http-req/op")
}

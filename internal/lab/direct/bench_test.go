package direct_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// BenchmarkHeartbeatPoll200 polls 200 simulated stations (20 ms added to
// every WinRM HTTP request) once each, 32 at a time, through Direct (WinRM
// over HTTPS with NTLM, parsing included), and compares the wall time with
// the ideal 200 x (one poll alone) / 32.
//
//	go test -run '^$' -bench HeartbeatPoll200 -benchtime=1x -count=3 ./internal/lab/
func BenchmarkHeartbeatPoll200(b *testing.B) {
	const (
		nHosts   = 200
		inFlight = 32
		latency  = 20 * time.Millisecond
	)
	opts := make([]labsim.HostOptions, nHosts)
	for i := range opts {
		opts[i] = labsim.HostOptions{Name: fmt.Sprintf("bench-%03d", i+1), Latency: latency}
	}
	sim := labsimtest.Start(b, opts...)
	var hs []hosts.Host
	var shs []*labsim.Host
	for _, sh := range sim.Hosts() {
		shs = append(shs, sh)
		hs = append(hs, catalogHost(sim, sh))
	}
	d := newDirect(winrm.Config{OperationTimeout: 20 * time.Second})
	ctx := context.Background()

	// One poll alone, on an otherwise idle simulator.
	const seqRuns = 10
	seqStart := time.Now()
	for i := range seqRuns {
		if _, err := d.ReadHeartbeat(ctx, hs[i], true); err != nil {
			b.Fatalf("poll %s: %v", hs[i].Name, err)
		}
	}
	seq := time.Since(seqStart) / seqRuns
	ideal := time.Duration(nHosts) * seq / inFlight

	requests := func() int64 {
		var n int64
		for _, sh := range shs {
			n += sh.HTTPRequests()
		}
		return n
	}
	var wallSum time.Duration
	var reqSum, mallocSum uint64
	var ms runtime.MemStats
	b.ResetTimer()
	for range b.N {
		reqBefore := requests()
		runtime.ReadMemStats(&ms)
		mallocBefore := ms.Mallocs
		start := time.Now()
		sem := make(chan struct{}, inFlight)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failures []error
		for _, h := range hs {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if _, err := d.ReadHeartbeat(ctx, h, true); err != nil {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		wallSum += time.Since(start)
		runtime.ReadMemStats(&ms)
		mallocSum += ms.Mallocs - mallocBefore
		reqSum += uint64(requests() - reqBefore)
		if len(failures) > 0 {
			b.Fatalf("%d polls failed, first: %v", len(failures), failures[0])
		}
	}
	b.StopTimer()
	wall := wallSum / time.Duration(b.N)
	b.ReportMetric(float64(wall)/float64(ideal), "x-ideal")
	b.ReportMetric(float64(wall.Milliseconds()), "wall-ms")
	b.ReportMetric(float64(ideal.Milliseconds()), "ideal-ms")
	b.ReportMetric(float64(seq.Milliseconds()), "seq-poll-ms")
	b.ReportMetric(float64(reqSum)/float64(b.N*nHosts), "http-req/poll")
	// Process-wide: includes the simulator's server side of each poll.
	b.ReportMetric(float64(mallocSum)/float64(b.N*nHosts), "mallocs/poll")
}

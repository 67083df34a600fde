package heartbeatstream_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/app"
	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
)

// BenchmarkStreams1000 (make bench-stream): 1,000 heartbeat streams over
// 100 labsim stations (10 each), through the whole worker (internal/app,
// the local server's construction, no database) on a loopback HTTP
// server, at a 1 s interval. It reports the station reads per interval
// (labsim's own record of commands: 100 is one per station, whatever the
// number of streams), the events each stream got per interval, and the
// heap and goroutines one open stream costs (client and server are one
// process here: each stream's figure includes its client's reader).
// Run with -benchtime 1x: one iteration is the whole scenario.
func BenchmarkStreams1000(b *testing.B) {
	const stations, perStation, intervals = 100, 10, 5
	opts := make([]labsim.HostOptions, stations)
	for i := range opts {
		opts[i] = labsim.HostOptions{Name: fmt.Sprintf("lab-ws-%03d", i+1)}
	}
	sim := labsimtest.Start(b, opts...)
	catalog, err := sim.HostsJSON()
	if err != nil {
		b.Fatal(err)
	}
	const token = "bench-stream-token-0123456789"
	cfg, err := config.LoadMap(context.Background(), map[string]string{
		"OPS_CONFIG": labsimtest.WriteHostsFile(b, catalog), "LAB_MANAGER_TOKEN": token,
		"OPS_HEARTBEAT_SSE_INTERVAL_SECONDS": "1", "OPS_LOG_LEVEL": "ERROR",
	})
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		a, err := app.New(context.Background(), cfg, app.Options{})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(a.Handler())
		tr := &http.Transport{MaxIdleConnsPerHost: -1}

		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()

		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var events, ready atomic.Int64
		for i := range stations * perStation {
			host := opts[i%stations].Name
			wg.Go(func() {
				req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/heartbeat/stream?host="+host+"&include_events=false", nil)
				req.Header.Set("X-Lab-Manager-Token", token)
				res, err := (&http.Client{Transport: tr}).Do(req)
				if err != nil {
					if ctx.Err() == nil {
						b.Error(err)
					}
					return
				}
				defer res.Body.Close()
				if res.StatusCode != 200 {
					b.Errorf("%s: %d", host, res.StatusCode)
					return
				}
				sc := bufio.NewScanner(res.Body)
				first := true
				for sc.Scan() {
					if strings.HasPrefix(sc.Text(), "event: heartbeat") {
						events.Add(1)
						if first {
							ready.Add(1)
							first = false
						}
					}
				}
			})
		}
		deadline := time.Now().Add(60 * time.Second)
		for ready.Load() < stations*perStation {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d streams got a heartbeat within 60 s", ready.Load(), stations*perStation)
			}
			time.Sleep(10 * time.Millisecond)
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		g1 := runtime.NumGoroutine()

		perHost0 := readsPerStation(sim)
		reads0, events0, start := stationReads(sim), events.Load(), time.Now()
		b.ResetTimer()
		time.Sleep(intervals * time.Second)
		b.StopTimer()
		reads, evs, took := stationReads(sim)-reads0, events.Load()-events0, time.Since(start)
		most := 0
		for name, n := range readsPerStation(sim) {
			most = max(most, n-perHost0[name])
		}

		cancel()
		wg.Wait()
		srv.Close()
		tr.CloseIdleConnections()
		if err := a.Close(); err != nil {
			b.Error(err)
		}

		n := float64(stations * perStation)
		per := took.Seconds()
		b.ReportMetric(float64(reads)/per, "station-reads/interval")
		b.ReportMetric(float64(evs)/per/n, "events/stream/interval")
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "heap-B/stream")
		b.ReportMetric(float64(g1-g0)/n, "goroutines/stream")
		// A window of k intervals holds k or k+1 beats of a 1 s poller.
		b.ReportMetric(float64(most), fmt.Sprintf("max-reads/station/%ds", intervals))
		if most > intervals+1 {
			b.Errorf("a station got %d reads in %d intervals with %d streams on it, want at most %d", most, intervals, perStation, intervals+1)
		}
		b.ReportMetric(0, "ns/op") // the scenario's time is fixed (intervals), not a measure
	}
}

// readsPerStation is stationReads per station name.
func readsPerStation(sim *labsim.Sim) map[string]int {
	out := map[string]int{}
	for _, h := range sim.Hosts() {
		for _, c := range h.Commands() {
			if strings.Contains(strings.ToLower(c.CommandLine), "powershell") {
				out[h.Name()]++
			}
		}
	}
	return out
}

// stationReads counts the heartbeat reads (the one PowerShell command of a
// poll) every station received.
func stationReads(sim *labsim.Sim) int {
	n := 0
	for _, h := range sim.Hosts() {
		for _, c := range h.Commands() {
			if strings.Contains(strings.ToLower(c.CommandLine), "powershell") {
				n++
			}
		}
	}
	return n
}

package metrics_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/metrics"
	"github.com/ops-worker/ops-worker/internal/ops"
)

// What a poll adds to the heartbeat path: a WinRM call and a poll observed.
func BenchmarkObservePoll(b *testing.B) {
	m := metrics.New(metrics.Options{NoRuntime: true})
	hosts := make([]string, 1000)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("lab-ws-%04d", i)
	}
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			h := hosts[i%len(hosts)]
			i++
			m.ObserveCall("heartbeat", nil, time.Millisecond)
			m.ObservePoll(ops.PollObservation{Host: h, At: now, Timestamp: now, Ready: true})
		}
	})
}

// A scrape with 10,000 stations known.
func BenchmarkScrape10kStations(b *testing.B) {
	m := metrics.New(metrics.Options{NoRuntime: true})
	now := time.Now()
	for i := range 10000 {
		m.ObservePoll(ops.PollObservation{Host: fmt.Sprintf("lab-ws-%05d", i), At: now, Timestamp: now, Ready: true})
	}
	b.ResetTimer()
	for range b.N {
		if _, err := m.Registry().Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

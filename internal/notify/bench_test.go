package notify_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab/direct"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/notify"
	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/wake"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// BenchmarkFailedReservation times a reservation start whose prepare
// fails (labsim's forced exit code) with no notifier, and with a notifier
// whose sink is down (closed port), slow (holds every request), or
// healthy. The flow hands the event to the queue and returns: the three
// must time as the first. The queue is large enough for b.N events
// (each held one stays queued: none is dropped), and alerts are off.
//
//	go test -run '^$' -bench FailedReservation -benchtime 200x ./internal/notify
func BenchmarkFailedReservation(b *testing.B) {
	sim := labsimtest.Start(b, labsim.HostOptions{Name: "lab-ws-01"})
	sim.Host("lab-ws-01").SetFaults(labsim.Faults{ExitCodes: map[string]int{"prepare-session": 2}})
	reg, _, err := hosts.NewRegistry(labsimtest.WriteSimHosts(b, sim), nil)
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	slow := newSink(b)
	slow.block = make(chan struct{})
	b.Cleanup(func() { close(slow.block) })
	healthy := newSink(b)

	for _, c := range []struct{ name, url string }{{"none", ""}, {"dead-sink", dead}, {"slow-sink", slow.srv.URL}, {"healthy-sink", healthy.srv.URL}} {
		b.Run(c.name, func(b *testing.B) {
			svc := &ops.Service{Registry: reg, Lab: &direct.Direct{
				WinRM:           winrm.New(winrm.Config{OperationTimeout: 5 * time.Second}),
				Waker:           &wake.Waker{ICMP: "off"},
				Policy:          direct.Policy{AllowedTransports: []string{"ntlm"}},
				AllowedCommands: labstation.DefaultAllowList(),
			}, Settings: ops.Settings{AllowedCommands: labstation.DefaultAllowList()}}
			if c.url != "" {
				d, err := notify.New(notify.Config{WebhookURL: c.url, QueueSize: b.N + 1, RetryAttempts: -1,
					Timeout: time.Minute, AlertThreshold: b.N + 10}, nil, nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer func() {
					ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
					defer cancel()
					_ = d.Close(ctx)
				}()
				svc.Notifier = d
			}
			req := ops.StartRequest{ReservationID: "bench", Host: "lab-ws-01", Wake: new(bool)}
			b.ResetTimer()
			for range b.N {
				res, err := svc.StartReservation(context.Background(), req)
				if err != nil || res.Success {
					b.Fatalf("start: %+v %v, want a failed prepare", res, err)
				}
			}
		})
	}
}

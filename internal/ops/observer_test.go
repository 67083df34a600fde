package ops_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/ops"
)

type pollRecorder struct {
	mu   sync.Mutex
	seen []ops.PollObservation
}

func (p *pollRecorder) ObservePoll(o ops.PollObservation) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, o)
}

// Service.Polls is told each poll's outcome: the heartbeat's timestamp and
// ready flag when read, the error when not; unknown hosts never reach it.
func TestPollObserver(t *testing.T) {
	f := newFixture(t, fixtureOpts{}, labsim.HostOptions{Name: "lab-ws-01"}, labsim.HostOptions{Name: "lab-ws-02", Asleep: true, SleepMode: labsim.SleepRefuse})
	rec := &pollRecorder{}
	f.svc.Polls = rec
	ctx := context.Background()
	before := time.Now()
	if _, err := f.svc.PollHeartbeat(ctx, ops.PollRequest{Host: "lab-ws-01"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.PollHeartbeat(ctx, ops.PollRequest{Host: "lab-ws-02"}); err == nil {
		t.Fatal("poll of a sleeping station succeeded")
	}
	if _, err := f.svc.PollHeartbeat(ctx, ops.PollRequest{Host: "nope"}); err == nil {
		t.Fatal("poll of an unknown host succeeded")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.seen) != 2 {
		t.Fatalf("observed %d polls, want 2: %+v", len(rec.seen), rec.seen)
	}
	ok, failed := rec.seen[0], rec.seen[1]
	if ok.Host != "lab-ws-01" || ok.Err != nil || ok.Timestamp.IsZero() || ok.At.Before(before) || ok.Stale {
		t.Errorf("successful poll observed as %+v", ok)
	}
	if failed.Host != "lab-ws-02" || failed.Err == nil || !failed.Timestamp.IsZero() || failed.Ready {
		t.Errorf("failed poll observed as %+v", failed)
	}
}

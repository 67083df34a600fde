package wake_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ops-worker/ops-worker/internal/wake"
)

type wakeRecorder struct {
	n   int
	res wake.Result
	err error
}

func (w *wakeRecorder) ObserveWake(res wake.Result, err error) { w.n, w.res, w.err = w.n+1, res, err }

// Waker.Observer sees every Wake, refused input included.
func TestObserver_SeesRefusedWake(t *testing.T) {
	rec := &wakeRecorder{}
	w := &wake.Waker{ICMP: "off", Observer: rec}
	_, err := w.Wake(context.Background(), wake.Request{MAC: "not-a-mac", Target: "127.0.0.1", TCPPort: 1})
	if !errors.Is(err, wake.ErrInvalidRequest) {
		t.Fatalf("Wake with a bad MAC: %v", err)
	}
	if rec.n != 1 || rec.err != err || rec.res.AttemptsUsed != 0 {
		t.Errorf("observed %d wakes, %+v, %v", rec.n, rec.res, rec.err)
	}
}

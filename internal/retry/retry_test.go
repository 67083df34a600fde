package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/retry"
)

var errLost = errors.New("connection lost")

func TestDo(t *testing.T) {
	ctx := context.Background()
	// Retried until it succeeds, the waits doubling up to the cap.
	var at []time.Time
	var failed []int
	p := retry.Policy{First: 10 * time.Millisecond, Max: 20 * time.Millisecond,
		Failed: func(n int, _ error) { failed = append(failed, n) }}
	n, err := p.Do(ctx, func(context.Context) error {
		at = append(at, time.Now())
		if len(at) < 4 {
			return errLost
		}
		return nil
	})
	if err != nil || n != 4 || len(failed) != 3 {
		t.Fatalf("attempts %d, err %v, failed %v", n, err, failed)
	}
	for i, min := range []time.Duration{10, 20, 20} {
		if d := at[i+1].Sub(at[i]); d < min*time.Millisecond {
			t.Errorf("wait %d: %v, want at least %vms", i, d, min)
		}
	}
	// An error the policy does not retry ends at once.
	p.Retry = func(err error) bool { return errors.Is(err, errLost) }
	refused := errors.New("statement failed")
	if n, err := p.Do(ctx, func(context.Context) error { return refused }); n != 1 || err != refused {
		t.Errorf("not retryable: %d %v", n, err)
	}
	// The context's end ends the loop with the last error.
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := p.Do(cctx, func(context.Context) error { return errLost }); err != errLost || cctx.Err() == nil {
		t.Errorf("deadline: %v", err)
	}
}

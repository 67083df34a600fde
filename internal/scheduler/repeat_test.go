package scheduler_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/scheduler"
)

func TestTicksPer(t *testing.T) {
	for _, c := range []struct {
		every time.Duration
		want  int
	}{{30 * time.Second, 2}, {15 * time.Second, 4}, {45 * time.Second, 1}, {time.Minute, 1}, {5 * time.Minute, 1}, {0, 1}} {
		if got := scheduler.TicksPer(scheduler.EventBridgeRate, c.every); got != c.want {
			t.Errorf("TicksPer(1m, %v) = %d, want %d", c.every, got, c.want)
		}
	}
}

func TestRepeat(t *testing.T) {
	var at []time.Duration
	t0 := time.Now()
	sums, err := scheduler.Repeat(context.Background(), 3, 40*time.Millisecond, func(context.Context) (int, error) {
		at = append(at, time.Since(t0))
		if len(at) == 2 {
			return 2, errors.New("second failed")
		}
		return len(at), nil
	})
	if len(sums) != 3 || err == nil || err.Error() != "second failed" {
		t.Fatalf("Repeat: %v %v", sums, err)
	}
	if at[2] < 80*time.Millisecond {
		t.Errorf("ticks not spaced: %v", at)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	sums, err = scheduler.Repeat(ctx, 10, time.Second, func(context.Context) (int, error) { return 1, nil })
	if len(sums) != 1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Repeat past its deadline: %v %v", sums, err)
	}
}

package scheduler

import (
	"context"
	"errors"
	"time"
)

// EventBridgeRate is the finest schedule EventBridge offers: rate(1 minute).
const EventBridgeRate = time.Minute

// TicksPer is how many ticks `every` apart one invocation fired once per
// `rate` runs so that the ticks come every `every`: a Lambda on
// rate(1 minute) with OPS_RESERVATION_SCAN_INTERVAL=30 runs 2, at +0 s and
// +30 s. At least 1 (an interval over the rate: one tick per invocation).
func TicksPer(rate, every time.Duration) int {
	if every <= 0 || every >= rate {
		return 1
	}
	return int(rate / every)
}

// Repeat runs tick n times, every apart (the first at once), and stops
// early when ctx ends (a Lambda's deadline). It returns the summaries of
// the ticks that ran and their errors joined. Ticks may overlap the next
// invocation's only if one runs longer than every: the claims keep that
// exactly-once.
func Repeat[S any](ctx context.Context, n int, every time.Duration, tick func(context.Context) (S, error)) ([]S, error) {
	var (
		out  []S
		errs []error
	)
	start := time.Now()
	for i := 0; i < max(n, 1); i++ {
		if i > 0 {
			wait := time.Until(start.Add(time.Duration(i) * every))
			select {
			case <-ctx.Done():
				return out, errors.Join(append(errs, context.Cause(ctx))...)
			case <-time.After(wait):
			}
		}
		s, err := tick(ctx)
		out = append(out, s)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

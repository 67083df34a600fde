// Package retry is the one retry loop of the worker's database writes made
// after a station acted (a step's record, a claim's finish): the waits
// double from a first one up to a cap, until the write succeeds, the
// caller's test says the error is not worth another try, or the context
// ends. The callers keep their own caps and deadlines.
package retry

import (
	"context"
	"time"
)

// Policy is one caller's loop: the first wait and the cap of the doubling
// waits, and which errors are tried again (nil: every one).
type Policy struct {
	First time.Duration
	Max   time.Duration
	Retry func(error) bool
	// Failed, when set, is told each failed attempt that will be tried
	// again (for the log).
	Failed func(attempt int, err error)
}

// Do runs fn until it returns nil, p.Retry refuses its error, or ctx ends
// (during a wait: the last error is returned). It returns the attempts
// made and the last error.
func (p Policy) Do(ctx context.Context, fn func(context.Context) error) (int, error) {
	wait := p.First
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return attempt, nil
		}
		if (p.Retry != nil && !p.Retry(err)) || ctx.Err() != nil {
			return attempt, err
		}
		if p.Failed != nil {
			p.Failed(attempt, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return attempt, err
		case <-t.C:
		}
		wait = min(2*wait, p.Max)
	}
}

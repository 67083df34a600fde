package scheduler

import (
	"context"
	"sync"
	"time"
)

// TimerOptions say which ticks the local server runs, and how often.
type TimerOptions struct {
	Heartbeats          bool          // OPS_POLL_ENABLED
	HeartbeatInterval   time.Duration // OPS_POLL_INTERVAL
	Reservations        bool          // OPS_RESERVATION_AUTOMATION
	ReservationInterval time.Duration // OPS_RESERVATION_SCAN_INTERVAL
}

// Timers fires the ticks of the local server on their intervals: the first
// at once, then one per interval counted from the previous one's start; a
// tick still running when the next is due makes that one wait (a tick never
// overlaps itself, and missed firings are not queued).
type Timers struct {
	stop     context.CancelFunc // stops firing
	cancel   context.CancelFunc // cancels the ticks running
	cancelHB context.CancelFunc // cancels a heartbeat tick running
	wg       sync.WaitGroup
	stopped  sync.Once
}

// StartTimers starts the timers of o. ctx is the parent of every tick's context
// (its values, e.g. a logger's); cancelling it cancels them like Stop's
// timeout does.
func (s *Scheduler) StartTimers(ctx context.Context, o TimerOptions) *Timers {
	loopCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	tickCtx, cancel := context.WithCancel(ctx)
	hbCtx, cancelHB := context.WithCancel(tickCtx)
	r := &Timers{stop: stop, cancel: cancel, cancelHB: cancelHB}
	if o.Heartbeats {
		r.loop(loopCtx, hbCtx, o.HeartbeatInterval, func(ctx context.Context) {
			_, _ = s.HeartbeatTick(ctx, Event{Source: "timer"})
		})
	}
	if o.Reservations {
		r.loop(loopCtx, tickCtx, o.ReservationInterval, func(ctx context.Context) {
			_, _ = s.ReservationTick(ctx, Event{Source: "timer"})
		})
	}
	return r
}

func (r *Timers) loop(loopCtx, tickCtx context.Context, every time.Duration, tick func(context.Context)) {
	if every <= 0 {
		every = time.Minute
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if loopCtx.Err() != nil || tickCtx.Err() != nil {
				return
			}
			tick(tickCtx)
			select {
			case <-loopCtx.Done():
				return
			case <-tickCtx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Stop fires no more ticks. A heartbeat tick running is cancelled at once
// (a poll cut short is only a missed poll); a reservation tick running may
// finish its flows until ctx ends, and is then cancelled (what it did is
// still recorded; what it claimed and did not start is given back). Stop
// returns once both have returned. Calling it again only waits.
func (r *Timers) Stop(ctx context.Context) {
	r.stopped.Do(r.stop)
	r.cancelHB()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		r.cancel()
		<-done
	}
	r.cancel()
}

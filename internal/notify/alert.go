package notify

import (
	"sync"
	"time"
)

// alertWindow counts each host's failures over a sliding window: the
// failure that brings a host to threshold within window triggers one
// alert, and the host then gets no other alert for cooldown (the
// gateway's worker: 3 failures in 300 s, 900 s cooldown).
//
// The counts live in the process. The local server sees every failure;
// a Lambda instance sees only the failures of the invocations it served,
// so on Lambda an alert needs the threshold's failures on one instance
// (the cooldown is per instance too).
type alertWindow struct {
	threshold int
	window    time.Duration
	cooldown  time.Duration

	mu        sync.Mutex
	failures  map[string][]time.Time // host -> failure times within the window, oldest first
	lastAlert map[string]time.Time
}

// add counts one failure of host at now; ok is true when it triggers an
// alert, n the failures in the window then.
func (a *alertWindow) add(host string, now time.Time) (n int, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sweep(now)
	times := a.failures[host]
	keep := times[:0]
	for _, t := range times {
		if now.Sub(t) < a.window {
			keep = append(keep, t)
		}
	}
	keep = append(keep, now)
	// A host that keeps failing must not grow its slice without bound.
	if len(keep) > a.threshold {
		keep = keep[len(keep)-a.threshold:]
	}
	a.failures[host] = keep
	if last, seen := a.lastAlert[host]; seen && now.Sub(last) < a.cooldown {
		return len(keep), false
	}
	if len(keep) < a.threshold {
		return len(keep), false
	}
	a.lastAlert[host] = now
	return len(keep), true
}

// maxTrackedHosts bounds the hosts tracked: /api/wol without a host names
// a MAC, which a caller chooses. Past it, hosts with no recent failure
// and no alert in cooldown are forgotten.
const maxTrackedHosts = 4096

// sweep forgets what no longer matters at now; called with mu held.
func (a *alertWindow) sweep(now time.Time) {
	if len(a.failures) <= maxTrackedHosts && len(a.lastAlert) <= maxTrackedHosts {
		return
	}
	for h, times := range a.failures {
		if len(times) == 0 || now.Sub(times[len(times)-1]) >= a.window {
			delete(a.failures, h)
		}
	}
	for h, t := range a.lastAlert {
		if now.Sub(t) >= a.cooldown {
			delete(a.lastAlert, h)
		}
	}
}

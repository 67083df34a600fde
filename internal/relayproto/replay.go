package relayproto

import (
	"fmt"
	"sync"
	"time"
)

// DefaultReplaySize bounds the replay cache: at 1000 signed requests a
// second, a nonce lives two windows at most, well under it.
const DefaultReplaySize = 200_000

// MaxAhead is the furthest in the future an expiry given to Add may be: a
// request's timestamp is within Window of now and its nonce lives Window
// past it.
const MaxAhead = 2*Window + time.Second

// replaySlots is the ring's length in seconds: every expiry Add accepts
// falls within it, so the slot of a second holds that second's nonces
// only (and, after a clock step back, a few of an earlier turn).
const replaySlots = int64(MaxAhead/time.Second) + 1

// ReplayCache remembers each nonce until its request's timestamp leaves
// the window, and holds at most Size of them.
//
// The nonces sit in a ring of one slot per second of expiry, so expired
// ones are dropped in expiry order as the clock passes their second: each
// Add costs O(1) amortised, whatever the cache holds. Full of live nonces,
// it evicts the earliest-expiring second to make room and remembers that
// second as its horizon: a request expiring at or before the horizon is
// refused (ErrCacheFull), since its nonce may have been forgotten. So a
// flood at capacity shortens the window the relay accepts (the oldest
// timestamps go first) instead of refusing fresh requests, and a replay is
// never accepted.
type ReplayCache struct {
	Size int // 0: DefaultReplaySize

	mu      sync.Mutex
	expires map[string]int64 // nonce -> expiry, Unix seconds (rounded up)
	ring    [replaySlots][]string
	swept   int64 // every slot up to this second has been cleared
	low     int64 // no live nonce expires before this second
	horizon int64 // the latest expiry evicted while live; 0: none
}

// Add records nonce until expires, or says it is already there
// (ErrReplayed), or that the cache can no longer tell (ErrCacheFull).
func (c *ReplayCache) Add(nonce string, expires, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	nowSec := now.Unix()
	if c.expires == nil {
		c.expires = map[string]int64{}
		c.swept, c.low = nowSec, nowSec+1
	}
	c.sweep(nowSec)
	if exp, ok := c.expires[nonce]; ok && now.Before(time.Unix(exp, 0)) {
		return ErrReplayed
	}
	if !now.Before(expires) {
		return nil // already past its window: a replay is refused by the timestamp
	}
	if expires.Sub(now) > MaxAhead {
		return fmt.Errorf("replay cache: expiry %s is more than %s ahead", expires.UTC().Format(time.RFC3339), MaxAhead)
	}
	exp := expires.Unix()
	if expires.After(time.Unix(exp, 0)) {
		exp++ // kept at least until expires
	}
	if exp <= c.horizon {
		return fmt.Errorf("%w: a request this old may repeat a nonce the cache has let go", ErrCacheFull)
	}
	size := c.Size
	if size <= 0 {
		size = DefaultReplaySize
	}
	for len(c.expires) >= size {
		s := c.earliest()
		if exp <= s {
			// The new nonce would be the first to go: refuse it rather
			// than evict nonces that live longer.
			return fmt.Errorf("%w: every nonce held expires after this request's", ErrCacheFull)
		}
		n := len(c.expires)
		c.clear(s, true)
		c.low = s + 1
		if len(c.expires) == n {
			return fmt.Errorf("%w: nothing to evict", ErrCacheFull) // cannot happen: every slot after the sweep holds its own second
		}
	}
	c.expires[nonce] = exp
	c.ring[exp%replaySlots] = append(c.ring[exp%replaySlots], nonce)
	c.low = min(c.low, exp)
	return nil
}

// sweep clears the slots of the seconds that passed since the last call.
func (c *ReplayCache) sweep(nowSec int64) {
	if nowSec <= c.swept {
		return // the same second, or the clock stepped back
	}
	from := max(c.swept+1, nowSec-replaySlots+1)
	for s := from; s <= nowSec; s++ {
		c.clear(s, false)
	}
	c.swept = nowSec
	c.low = max(c.low, nowSec+1)
}

// earliest is the first second after the sweep whose slot holds a nonce.
// The cache is not empty, so one does.
func (c *ReplayCache) earliest() int64 {
	s := max(c.low, c.swept+1)
	for i := int64(0); i < replaySlots && len(c.ring[s%replaySlots]) == 0; i++ {
		s++
	}
	return s
}

// clear drops the nonces of s's slot that expire by s; evict says they are
// still live, and raises the horizon. A nonce of a later turn of the ring
// (or met twice after being added again) stays.
func (c *ReplayCache) clear(s int64, evict bool) {
	i := s % replaySlots
	keep := c.ring[i][:0]
	for _, n := range c.ring[i] {
		exp, ok := c.expires[n]
		switch {
		case !ok:
		case exp <= s:
			delete(c.expires, n)
			if evict {
				c.horizon = max(c.horizon, exp)
			}
		default:
			keep = append(keep, n)
		}
	}
	clear(c.ring[i][len(keep):]) // let the dropped strings go
	if len(keep) == 0 && cap(keep) > 1024 {
		keep = nil // a burst's slot shrinks back
	}
	c.ring[i] = keep
}

// Len is the number of nonces held.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.expires)
}

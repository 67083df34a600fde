package relayproto

import (
	"sync"
	"time"
)

// DefaultReplaySize bounds the replay cache: at 1000 signed requests a
// second, a nonce lives two windows at most, well under it.
const DefaultReplaySize = 200_000

// ReplayCache remembers each nonce until its request's timestamp leaves
// the window, and holds at most Size of them. Full, it first drops the
// expired ones; still full, it refuses (ErrCacheFull) rather than forget a
// live nonce, which would let that request be replayed.
type ReplayCache struct {
	Size int // 0: DefaultReplaySize

	mu      sync.Mutex
	expires map[string]time.Time
	sweep   time.Time // the next time expired entries are swept
}

// Add records nonce until expires, or says it is already there.
func (c *ReplayCache) Add(nonce string, expires, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.expires == nil {
		c.expires = map[string]time.Time{}
	}
	if exp, ok := c.expires[nonce]; ok && now.Before(exp) {
		return ErrReplayed
	}
	size := c.Size
	if size <= 0 {
		size = DefaultReplaySize
	}
	if len(c.expires) >= size || now.After(c.sweep) {
		for n, exp := range c.expires {
			if !now.Before(exp) {
				delete(c.expires, n)
			}
		}
		c.sweep = now.Add(Window)
	}
	if len(c.expires) >= size {
		return ErrCacheFull
	}
	c.expires[nonce] = expires
	return nil
}

// Len is the number of nonces held.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.expires)
}

package winrm

import (
	"context"
)

// acquire takes one of the MaxPerHost slots of key. The map holds a key
// only while some call holds or waits for one of its slots (refs), so it
// does not grow with every host ever called.
func (c *Client) acquire(ctx context.Context, key string) (func(), error) {
	c.mu.Lock()
	s := c.sems[key]
	if s == nil {
		s = &hostSem{slots: make(chan struct{}, c.cfg.MaxPerHost)}
		c.sems[key] = s
	}
	s.refs++
	c.mu.Unlock()
	unref := func() {
		c.mu.Lock()
		if s.refs--; s.refs == 0 {
			delete(c.sems, key)
		}
		c.mu.Unlock()
	}
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots; unref() }, nil
	case <-ctx.Done():
		unref()
		return nil, ctx.Err()
	}
}

// hostSem is the slots of one host and how many calls hold or wait for one.
type hostSem struct {
	slots chan struct{}
	refs  int
}

package relayproto_test

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/relayproto"
)

// A cache full of expired nonces takes a new one, and drops the expired.
func TestReplayCache_FullOfExpiredAcceptsNew(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := &relayproto.ReplayCache{Size: 1000}
	for i := range 1000 {
		if err := c.Add("old-"+strconv.Itoa(i), now.Add(time.Duration(1+i%60)*time.Second), now); err != nil {
			t.Fatal(err)
		}
	}
	later := now.Add(61 * time.Second)
	if err := c.Add("fresh-nonce", later.Add(relayproto.Window), later); err != nil {
		t.Fatalf("a full cache of expired nonces refused a new one: %v", err)
	}
	if c.Len() != 1 {
		t.Errorf("Len = %d, want 1 (the expired ones dropped)", c.Len())
	}
	if err := c.Add("fresh-nonce", later.Add(relayproto.Window), later.Add(time.Second)); !errors.Is(err, relayproto.ErrReplayed) {
		t.Errorf("replay: %v, want ErrReplayed", err)
	}
}

// Full of live nonces, the cache evicts the earliest-expiring to take a
// fresher one, and then refuses whatever it can no longer tell from a
// replay: never accepts one.
func TestReplayCache_FullOfLiveEvictsEarliest(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := &relayproto.ReplayCache{Size: 3}
	for i, n := range []string{"a", "b", "c"} {
		if err := c.Add(n, now.Add(time.Duration(10+i)*time.Second), now); err != nil {
			t.Fatal(err)
		}
	}
	// "d" expires later than all: "a" (the earliest) goes.
	if err := c.Add("d", now.Add(30*time.Second), now); err != nil {
		t.Fatalf("full cache refused a fresher nonce: %v", err)
	}
	if c.Len() != 3 {
		t.Errorf("Len = %d, want 3", c.Len())
	}
	for _, tc := range []struct {
		nonce string
		exp   time.Duration
		want  error
	}{
		{"a", 10 * time.Second, relayproto.ErrCacheFull}, // evicted: its replay is refused by the horizon
		{"b", 11 * time.Second, relayproto.ErrReplayed},
		{"d", 30 * time.Second, relayproto.ErrReplayed},
		{"e", 9 * time.Second, relayproto.ErrCacheFull},  // older than the horizon
		{"f", 11 * time.Second, relayproto.ErrCacheFull}, // would be the first to go
	} {
		if err := c.Add(tc.nonce, now.Add(tc.exp), now); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.nonce, err, tc.want)
		}
	}
	// Once the clock passes the evicted second, fresh requests are all
	// taken again.
	later := now.Add(20 * time.Second)
	if err := c.Add("g", later.Add(relayproto.Window), later); err != nil {
		t.Errorf("after expiry: %v", err)
	}
}

// The cache never accepts a replay (the same nonce with the same
// timestamp: the signature covers both) within its window, whatever the
// order, the clock and the size: checked against a plain map of every
// accepted nonce.
func TestReplayCache_NeverAcceptsAReplay(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{1, 7, 100} {
		c := &relayproto.ReplayCache{Size: size}
		accepted := map[string]time.Time{}
		signedAt := map[string]time.Time{} // a pool nonce's timestamp, until it leaves the window
		now := time.Unix(1_800_000_000, 0)
		refused := 0
		for i := range 20000 {
			now = now.Add(time.Duration(rng.IntN(400)) * time.Millisecond)
			if rng.IntN(50) == 0 {
				now = now.Add(-time.Duration(rng.IntN(3)) * time.Second) // a clock step back
			}
			n := "n" + strconv.Itoa(rng.IntN(300))
			if rng.IntN(3) == 0 {
				n = "u" + strconv.Itoa(i)
			}
			ts, ok := signedAt[n]
			if !ok || now.Sub(ts) > 2*relayproto.Window {
				ts = now.Add(time.Duration(rng.IntN(121)-60) * time.Second).Truncate(time.Second)
				signedAt[n] = ts
				if prev, ok := accepted[n]; ok && now.Before(prev) {
					continue // a new timestamp for a live nonce is another request, not a replay
				}
				delete(accepted, n)
			}
			exp := ts.Add(relayproto.Window)
			err := c.Add(n, exp, now)
			if prev, ok := accepted[n]; ok && now.Before(prev) && err == nil {
				t.Fatalf("size %d, step %d: nonce %s accepted again before %v (now %v)", size, i, n, prev, now)
			}
			if err == nil {
				if now.Before(exp) {
					accepted[n] = exp
				}
			} else if !errors.Is(err, relayproto.ErrReplayed) && !errors.Is(err, relayproto.ErrCacheFull) {
				t.Fatalf("unexpected error %v", err)
			} else {
				refused++
			}
			if c.Len() > size {
				t.Fatalf("size %d: Len %d", size, c.Len())
			}
		}
		if refused == 20000 {
			t.Errorf("size %d: everything refused", size)
		}
	}
}

func TestReplayCache_FarExpiryRefused(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := &relayproto.ReplayCache{}
	if err := c.Add("x", now.Add(relayproto.MaxAhead+time.Second), now); err == nil {
		t.Errorf("an expiry past MaxAhead was accepted")
	}
}

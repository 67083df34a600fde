package relay_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/relayproto"
)

// Issue 15 item 2: a flood of distinct, validly signed requests fills the
// replay cache (here 300 nonces; 200,000 by default); the relay keeps
// serving the worker's fresh requests, and still refuses replays.
func TestRelay_ReplayFloodKeepsServing(t *testing.T) {
	e := start(t, secretNew)
	const size, flood = 300, 1200
	e.relay.Verifier.Replay = &relayproto.ReplayCache{Size: size}
	c := e.client(secretNew)
	ctx := context.Background()

	// Requests signed up to a minute ago (held back, or sent by someone
	// who has the secret), each with its own nonce.
	base := time.Now()
	type sent struct {
		ts    int64
		nonce string
	}
	early := make([]sent, 0, 20)
	var mu sync.Mutex
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range jobs {
				rq := rawReq{method: "GET", path: relayproto.PathHealth,
					ts: base.Add(-55*time.Second + time.Duration(i)*40*time.Second/flood).Unix(), nonce: relayproto.NewNonce()}
				if code, body := e.send(t, rq); code != http.StatusOK && code != http.StatusServiceUnavailable {
					t.Errorf("flood request %d: %d %s", i, code, body)
				}
				if i < 20 {
					mu.Lock()
					early = append(early, sent{rq.ts, rq.nonce})
					mu.Unlock()
				}
			}
		})
	}
	for i := range flood {
		jobs <- i
		if i%100 == 99 {
			if err := c.Ping(ctx); err != nil {
				t.Errorf("a valid request during the flood (after %d): %v", i+1, err)
			}
		}
	}
	close(jobs)
	wg.Wait()
	if n := e.relay.Verifier.Replay.Len(); n > size {
		t.Errorf("replay cache holds %d nonces, more than its %d", n, size)
	}
	if _, err := c.RunCommand(ctx, worker("lab-ws-01"), "status", nil, lab.CommandOptions{}); err != nil {
		t.Errorf("a command after the flood: %v", err)
	}
	// The earliest flood requests were evicted: sent again, they are
	// refused all the same.
	for _, s := range early {
		if code, body := e.send(t, rawReq{method: "GET", path: relayproto.PathHealth, ts: s.ts, nonce: s.nonce}); code == http.StatusOK {
			t.Fatalf("an evicted nonce was accepted again: %s", body)
		}
	}
	// And a request still in the cache, replayed, is refused.
	nonce := relayproto.NewNonce()
	rq := rawReq{method: "GET", path: relayproto.PathHealth, nonce: nonce, ts: time.Now().Unix()}
	if code, body := e.send(t, rq); code != http.StatusOK {
		t.Fatalf("fresh request: %d %s", code, body)
	}
	if code, _ := e.send(t, rq); code != http.StatusUnauthorized {
		t.Errorf("replay after the flood: %d, want 401", code)
	}
}

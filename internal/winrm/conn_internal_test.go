package winrm

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// pipeConn is a reusable wireConn over an in-memory pipe whose far end
// stays open (so connAlive finds nothing to read).
func pipeConn(t *testing.T, key poolKey) *wireConn {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return &wireConn{key: key, nc: a, br: bufio.NewReader(a), reusable: true}
}

func TestConnPool_Bounds(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	p := newConnPool(3, 2, time.Minute)
	p.now = func() time.Time { return now }
	k1, k2, k3 := poolKey{addr: "a:1"}, poolKey{addr: "b:1"}, poolKey{addr: "c:1"}

	// At most perKey idle per key: the third is closed, not kept.
	a1, a2, a3 := pipeConn(t, k1), pipeConn(t, k1), pipeConn(t, k1)
	p.put(a1)
	p.put(a2)
	p.put(a3)
	if n := p.idleCount(); n != 2 {
		t.Fatalf("%d idle after 3 puts of one key, want 2", n)
	}
	// At most max in all: the least recently used goes first.
	now = now.Add(time.Second)
	b1, c1 := pipeConn(t, k2), pipeConn(t, k3)
	p.put(b1)
	p.put(c1)
	if n := p.idleCount(); n != 3 {
		t.Fatalf("%d idle, want the bound 3", n)
	}
	if got := p.get(k1); got != a2 {
		t.Errorf("get(k1) = %p, want a2 %p (a1, the oldest, evicted)", got, a2)
	}
	if got := p.get(k1); got != nil {
		t.Errorf("a second get(k1) = %p, want nil", got)
	}
	// A connection idle for the timeout is not handed out.
	now = now.Add(time.Minute)
	if got := p.get(k2); got != nil {
		t.Errorf("get of an expired connection = %p, want nil", got)
	}
	// Not reusable (an answer not read to its end): closed, not kept.
	d := pipeConn(t, k3)
	d.reusable = false
	p.put(d)
	if got := p.get(k3); got != nil {
		t.Errorf("a connection put back not reusable was handed out")
	}
	p.closeIdle()
	if n := p.idleCount(); n != 0 {
		t.Errorf("%d idle after closeIdle", n)
	}
}

// A pool with max <= 0 keeps nothing (OPS_WINRM_MAX_IDLE_CONNS=-1).
func TestConnPool_Off(t *testing.T) {
	p := newConnPool(-1, 2, time.Minute)
	k := poolKey{addr: "a:1"}
	p.put(pipeConn(t, k))
	if p.idleCount() != 0 || p.get(k) != nil {
		t.Error("a pool turned off kept a connection")
	}
}

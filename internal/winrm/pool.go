package winrm

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// Connection reuse (issue 9). NTLM authenticates a connection, not a
// request: a poll on a new connection costs a TCP connect, a TLS handshake
// and an NTLM round trip before its first SOAP message. A Client therefore
// keeps the authenticated connections of finished calls and hands one to
// the next call with the same station, trust and credentials (poolKey).
//
// The connections are our own HTTP/1.1 (wireConn), not net/http's
// Transport: the NTLM legs must go out on one connection, which
// http.Transport does not promise, and a pooled connection must carry its
// authentication (and, on plain HTTP, its sealing session) with it.
//
// Rules: a connection serves one call at a time; it is pooled only after
// a call that succeeded, with its answers read to the end; any error, a
// cancelled or expired call, "Connection: close", an unread answer drop
// it. A connection idle for IdleConnTimeout, or closed by the station,
// is not used again.

// Defaults of Config.MaxIdleConns / Config.IdleConnTimeout.
const (
	// DefaultIdleConnTimeout is below HTTP.sys's 120 s keep-alive
	// (IdleConnectionTimeout), so the station rarely closes first, and
	// above the default poll interval (60 s), so one poll's connection
	// serves the next.
	DefaultIdleConnTimeout = 90 * time.Second
	// maxIdleConnsCap bounds the derived default of MaxIdleConns.
	maxIdleConnsCap = 16384
)

// poolKey is what a pooled connection may be reused for: the same endpoint
// and transport, the same TLS trust (sessionKey covers the CA bundle, the
// server name and skip-verify) and the same account and password. It is
// never logged; the password is held as its hash.
type poolKey struct {
	transport string
	https     bool
	addr      string
	trust     string
	user      string
	password  [sha256.Size]byte
}

func (t Target) poolKey(trust string) poolKey {
	return poolKey{
		transport: t.EffectiveTransport(), https: t.UseSSL, addr: t.String(), trust: trust,
		user: t.User, password: sha256.Sum256([]byte(t.Password)),
	}
}

// connPool holds idle connections by poolKey, at most max in all (least
// recently used dropped first) and at most perKey per key.
type connPool struct {
	mu          sync.Mutex
	idle        map[poolKey][]*wireConn
	lru         list.List // of *wireConn, most recently idle at the front
	max         int
	perKey      int
	idleTimeout time.Duration
	now         func() time.Time
}

func newConnPool(max, perKey int, idleTimeout time.Duration) *connPool {
	return &connPool{idle: map[poolKey][]*wireConn{}, max: max, perKey: perKey, idleTimeout: idleTimeout, now: time.Now}
}

// get returns an idle connection of key that is still open, or nil.
func (p *connPool) get(key poolKey) *wireConn {
	if p.max <= 0 {
		return nil
	}
	for {
		p.mu.Lock()
		conns := p.idle[key]
		if len(conns) == 0 {
			p.mu.Unlock()
			return nil
		}
		c := conns[len(conns)-1]
		p.removeLocked(c)
		p.mu.Unlock()
		if p.now().Sub(c.idleAt) < p.idleTimeout && c.br.Buffered() == 0 && connAlive(c.nc) {
			return c
		}
		c.close()
	}
}

// put keeps c for reuse, or closes it when it cannot be reused.
func (p *connPool) put(c *wireConn) {
	if p.max <= 0 || !c.reusable {
		c.close()
		return
	}
	now := p.now()
	c.idleAt = now
	var drop []*wireConn
	p.mu.Lock()
	if len(p.idle[c.key]) >= p.perKey {
		drop = append(drop, c)
	} else {
		p.idle[c.key] = append(p.idle[c.key], c)
		c.elem = p.lru.PushFront(c)
		// Over the bound, or expired: the oldest go first.
		for back := p.lru.Back(); back != nil; back = p.lru.Back() {
			old := back.Value.(*wireConn)
			if p.lru.Len() <= p.max && now.Sub(old.idleAt) < p.idleTimeout {
				break
			}
			p.removeLocked(old)
			drop = append(drop, old)
		}
	}
	p.mu.Unlock()
	for _, d := range drop {
		d.close()
	}
}

func (p *connPool) removeLocked(c *wireConn) {
	conns := p.idle[c.key]
	for i, x := range conns {
		if x == c {
			conns = append(conns[:i], conns[i+1:]...)
			break
		}
	}
	if len(conns) == 0 {
		delete(p.idle, c.key)
	} else {
		p.idle[c.key] = conns
	}
	if c.elem != nil {
		p.lru.Remove(c.elem)
		c.elem = nil
	}
}

// closeIdle closes every idle connection.
func (p *connPool) closeIdle() {
	p.mu.Lock()
	var all []*wireConn
	for _, conns := range p.idle {
		all = append(all, conns...)
	}
	clear(p.idle)
	p.lru.Init()
	p.mu.Unlock()
	for _, c := range all {
		c.elem = nil
		c.close()
	}
}

// idleCount is the number of idle connections (tests, metrics).
func (p *connPool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lru.Len()
}

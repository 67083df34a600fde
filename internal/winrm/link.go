package winrm

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"
)

// link is the connection of one call: taken from the pool or dialled when
// the first request goes out, replaced when it fails, and handed back to
// the pool by finish. When the call's context ends, the connection is
// closed at once: that is what stops a request in flight (masterzen's
// CreateShell, Execute and Close take no context).
type link struct {
	pool        *connPool
	key         poolKey
	addr        string
	tlsSet      *tlsSetup // nil: plain HTTP
	dialer      net.Dialer
	readTimeout time.Duration
	// reuseWait bounds the wait for the first answer on a kept
	// connection (see wireConn.roundTrip): DialTimeout, the time a new
	// connection would get to find a sleeping station.
	reuseWait time.Duration
	ctx       context.Context
	stop      func() bool

	mu     sync.Mutex
	conn   *wireConn
	closed bool // ctx ended: nothing more is dialled
	// pooled: conn came from the pool and has carried no request of this
	// call yet (a failure then may be a connection the station closed
	// while idle).
	pooled bool
}

func (c *Client) newLink(ctx context.Context, t Target, tlsSet *tlsSetup) *link {
	trust := ""
	if tlsSet != nil {
		trust = tlsSet.trust
	}
	l := &link{pool: c.pool, key: t.poolKey(trust), addr: t.String(), tlsSet: tlsSet,
		dialer: net.Dialer{Timeout: c.cfg.DialTimeout}, readTimeout: c.cfg.ReadTimeout,
		reuseWait: c.cfg.DialTimeout, ctx: ctx}
	l.stop = context.AfterFunc(ctx, l.abort)
	return l
}

func (l *link) abort() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.conn != nil {
		l.conn.close()
		l.conn = nil
	}
}

// finish ends the call's use of the link: its connection goes back to the
// pool when ok (the call succeeded) and the context did not end, else it
// is closed.
func (l *link) finish(ok bool) {
	stopped := l.stop()
	l.mu.Lock()
	c := l.conn
	l.conn = nil
	l.closed = true
	l.mu.Unlock()
	if c == nil {
		return
	}
	if ok && stopped && l.ctx.Err() == nil {
		l.pool.put(c)
		return
	}
	c.close()
}

// current returns the call's connection, from the pool or dialled.
func (l *link) current() (*wireConn, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, net.ErrClosed
	}
	if c := l.conn; c != nil {
		l.mu.Unlock()
		return c, nil
	}
	l.mu.Unlock()
	c, pooled := l.pool.get(l.key), true
	if c == nil {
		var err error
		if c, err = l.dial(); err != nil {
			return nil, err
		}
		pooled = false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.close()
		return nil, net.ErrClosed
	}
	l.conn, l.pooled = c, pooled
	return c, nil
}

func (l *link) dial() (*wireConn, error) {
	var cfg *tls.Config
	if l.tlsSet != nil {
		var err error
		if cfg, err = l.tlsSet.config(); err != nil {
			return nil, err
		}
	}
	nc, err := l.dialer.DialContext(l.ctx, "tcp", l.addr)
	if err != nil {
		return nil, err
	}
	c := &wireConn{key: l.key, nc: nc}
	if cfg != nil {
		tc := tls.Client(nc, cfg)
		hctx, cancel := context.WithTimeout(l.ctx, l.readTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			_ = nc.Close()
			return nil, err
		}
		st := tc.ConnectionState()
		c.nc, c.tlsState = tc, &st
	}
	c.budget.r = c.nc
	c.br = bufio.NewReaderSize(&c.budget, 8<<10)
	return c, nil
}

// drop closes the call's connection after a failure.
func (l *link) drop(c *wireConn) {
	c.close()
	l.mu.Lock()
	if l.conn == c {
		l.conn = nil
	}
	l.mu.Unlock()
}

// RoundTrip sends req on the call's connection. A failure closes the
// connection (the next request dials a new one); what the failure is, and
// whether the request may go out again, is lostRequest's (resend.go).
func (l *link) RoundTrip(req *http.Request) (*http.Response, error) {
	c, err := l.current()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	pooled := l.pooled
	l.pooled = false
	l.mu.Unlock()
	firstByte := l.readTimeout
	if pooled {
		firstByte = l.reuseWait
	}
	resp, err := c.roundTrip(req, firstByte, l.readTimeout)
	if err != nil {
		l.drop(c)
		return nil, lostRequest(l.ctx, err, pooled, l.reuseWait)
	}
	if resp.Close {
		// Read to its end, the answer still counts; the connection is not
		// used again (connBody leaves it not reusable).
		l.mu.Lock()
		if l.conn == c {
			l.conn = nil
		}
		l.mu.Unlock()
		resp.Body = closeAfter{resp.Body, c}
	}
	return resp, nil
}

// connOf returns the call's current connection, or nil.
func (l *link) connOf() *wireConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conn
}

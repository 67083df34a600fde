package winrm

import (
	"bufio"
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	bntlm "github.com/bodgit/ntlmssp"
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

// wireConn is one HTTP/1.1 connection to a station and what it has
// established: NTLM authentication, and on plain HTTP the sealing session.
type wireConn struct {
	key poolKey
	nc  net.Conn
	// budget sits between nc and br: it bounds what one answer may take
	// from the wire (answerBudget).
	budget answerBudget
	br     *bufio.Reader
	// wbuf holds one request, written with a single Write.
	wbuf bytes.Buffer
	// tlsState is the connection's TLS state (nil on HTTP): the NTLM
	// channel binding is to its certificate.
	tlsState *tls.ConnectionState
	authed   bool
	session  *bntlm.SecuritySession
	// reusable is false once an answer was not read to its end, the
	// station asked to close, or an I/O error happened.
	reusable bool
	idleAt   time.Time
	elem     *list.Element // in connPool.lru while idle
}

func (c *wireConn) close() { _ = c.nc.Close() }

// roundTrip writes req and reads the answer's header; the body is read by
// the caller (connBody) before the next request. Every byte is bounded by
// readTimeout from the request on (the Receive answer comes within the
// OperationTimeout, below it).
//
// firstByte, when shorter, bounds the wait for the answer's first byte: a
// kept connection to a station that went to sleep answers nothing (no
// FIN, no RST), and must not cost the whole readTimeout before a new
// connection finds the station asleep.
func (c *wireConn) roundTrip(req *http.Request, firstByte, readTimeout time.Duration) (*http.Response, error) {
	c.reusable = false
	start := time.Now()
	if err := c.nc.SetDeadline(start.Add(min(firstByte, readTimeout))); err != nil {
		return nil, err
	}
	c.wbuf.Reset()
	if err := req.Write(&c.wbuf); err != nil {
		return nil, fmt.Errorf("write request: %w", err)
	}
	if _, err := c.nc.Write(c.wbuf.Bytes()); err != nil {
		return nil, &noAnswerError{err}
	}
	if c.wbuf.Cap() > 64<<10 {
		c.wbuf = bytes.Buffer{} // not kept for an idle connection
	}
	c.budget.start()
	if _, err := c.br.Peek(1); err != nil {
		if closedByPeer(err) || (firstByte < readTimeout && isTimeout(err)) {
			return nil, &noAnswerError{err}
		}
		return nil, err
	}
	if firstByte < readTimeout {
		if err := c.nc.SetDeadline(start.Add(readTimeout)); err != nil {
			return nil, err
		}
	}
	resp, err := http.ReadResponse(c.br, req)
	if err != nil {
		return nil, err
	}
	resp.TLS = c.tlsState
	resp.Body = &connBody{ReadCloser: resp.Body, c: c, keep: !resp.Close}
	return resp, nil
}

// noAnswerError: the request failed before any byte of an answer came (it
// could not be written, or the connection was found closed).
type noAnswerError struct{ err error }

func (e *noAnswerError) Error() string { return e.err.Error() }
func (e *noAnswerError) Unwrap() error { return e.err }

// connBody is an answer's body. Read to its end, it leaves the connection
// reusable (unless the station asked to close); closed before that, it
// closes the connection rather than draining what a station may still
// send.
type connBody struct {
	io.ReadCloser
	c    *wireConn
	keep bool
	eof  bool
}

func (b *connBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.c.budget.credit(n)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *connBody) Close() error {
	if !b.eof {
		b.c.close()
		return b.ReadCloser.Close()
	}
	b.c.reusable = b.keep
	return b.ReadCloser.Close()
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
// connection (the next request dials a new one). When the connection came
// from the pool and its first request found it closed or reset before any
// answer, the error is a *staleConnError: the station closed the idle
// connection and never read the request, which may be sent again. When
// no answer came within reuseWait, the station most likely went to sleep
// (its connection then stays open and silent): ErrUnreachable, which the
// caller diagnoses as a failed dial would be.
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
		if l.ctx.Err() != nil {
			return nil, context.Cause(l.ctx)
		}
		var na *noAnswerError
		switch {
		case !pooled || !errors.As(err, &na):
			return nil, err
		case isTimeout(err):
			// Not sent again: a station that is merely slow would run it
			// twice (a Create twice leaks a shell towards its quota).
			return nil, &kindError{kind: ErrUnreachable, msg: fmt.Sprintf(
				"no answer on the kept connection within %v (station asleep or cut off?)", l.reuseWait)}
		default:
			return nil, &staleConnError{err}
		}
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

// closeAfter closes a connection the station asked to close once its
// answer's body is closed.
type closeAfter struct {
	io.ReadCloser
	c *wireConn
}

func (b closeAfter) Close() error {
	err := b.ReadCloser.Close()
	b.c.close()
	return err
}

// staleConnError: a pooled connection failed its first request before
// any answer came (see link.RoundTrip).
type staleConnError struct{ err error }

func (e *staleConnError) Error() string { return "reused connection: " + e.err.Error() }
func (e *staleConnError) Unwrap() error { return e.err }

// closedByPeer: the station closed or reset the connection (not a
// timeout: a silent station must not get the request twice).
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isStale(err error) bool {
	var s *staleConnError
	return errors.As(err, &s)
}

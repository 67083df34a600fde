package winrm

import (
	"bufio"
	"bytes"
	"container/list"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	bntlm "github.com/bodgit/ntlmssp"
)

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
	lent := b.c.budget.lend(len(p))
	n, err := b.ReadCloser.Read(p)
	b.c.budget.settle(lent, n)
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

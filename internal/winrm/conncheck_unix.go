//go:build linux || darwin || freebsd || netbsd || openbsd

package winrm

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// connAlive reports whether an idle connection is still open and has
// nothing unread: a non-blocking peek at its socket finds no data and no
// end of stream. (A read deadline in the past does not do: Go then fails
// the read without asking the socket.)
func connAlive(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Nothing to read yet: open. Data (a TLS alert, stray bytes) or
		// end of stream (no error, 0 bytes): not usable.
		alive = rerr != nil && (errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK))
		return true
	})
	return err == nil && alive
}

// defaultMaxIdleConns is a quarter of the open-file limit (Go raises the
// soft limit to the hard one at start-up), at most maxIdleConnsCap: idle
// connections must leave room for the calls, the database and the API.
func defaultMaxIdleConns() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 256
	}
	return int(min(rl.Cur/4, maxIdleConnsCap))
}

//go:build unix

package wake_test

import (
	"syscall"
	"testing"
)

// reserveTCPPort binds a TCP socket to 127.0.0.1 on a free port without
// listening: a connect there is refused, as with a sleeping host, and no
// other socket (another test's listener asking for a free port) can take
// the port meanwhile: without SO_REUSEADDR on this socket no later bind to
// the port succeeds. release frees it for the host to listen there.
func reserveTCPPort(t testing.TB) (port int, release func()) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	syscall.CloseOnExec(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		_ = syscall.Close(fd)
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		_ = syscall.Close(fd)
		t.Fatal(err)
	}
	closed := false
	release = func() {
		if !closed {
			closed = true
			_ = syscall.Close(fd)
		}
	}
	t.Cleanup(release)
	return sa.(*syscall.SockaddrInet4).Port, release
}

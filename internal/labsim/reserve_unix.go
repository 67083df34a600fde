//go:build unix

package labsim

import (
	"fmt"
	"io"
	"syscall"
)

type fdCloser int

func (f fdCloser) Close() error { return syscall.Close(int(f)) }

// reservePort binds 127.0.0.1:port without listening, so that while a host
// sleeps its WinRM port refuses connections (RST) yet no other listener
// that asks for an ephemeral port is handed it. SO_REUSEADDR lets the bind
// succeed over TIME_WAIT connections and lets the host listen there again.
func reservePort(port int) (io.Closer, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, fmt.Errorf("reserve port %d: %w", port, err)
	}
	syscall.CloseOnExec(fd)
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("reserve port %d: %w", port, err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("reserve port %d: %w", port, err)
	}
	return fdCloser(fd), nil
}

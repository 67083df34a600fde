//go:build unix

package labsim

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
)

type fdCloser int

func (f fdCloser) Close() error { return syscall.Close(int(f)) }

// boundSocket is a TCP socket bound to 127.0.0.1:port. SO_REUSEADDR lets
// the bind succeed over TIME_WAIT connections and lets the host listen
// there again once the socket is closed.
func boundSocket(port int) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return -1, err
	}
	syscall.CloseOnExec(fd)
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		_ = syscall.Close(fd)
		return -1, err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		_ = syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

// reservePort binds 127.0.0.1:port without listening, so that while a host
// sleeps its WinRM port refuses connections (RST) yet no other listener
// that asks for an ephemeral port is handed it.
func reservePort(port int) (io.Closer, error) {
	fd, err := boundSocket(port)
	if err != nil {
		return nil, fmt.Errorf("reserve port %d: %w", port, err)
	}
	return fdCloser(fd), nil
}

// blackholePort holds 127.0.0.1:port so that a dial there waits until its
// timeout, as with a sleeping host that ignores the SYN: a listening socket
// with a zero backlog whose one queue slot is taken by a connection of our
// own that is never accepted. Linux then drops further SYNs (the accept
// queue is full), so the client retransmits until it gives up. Close frees
// the port for the host's listeners again.
func blackholePort(port int) (io.Closer, error) {
	fd, err := boundSocket(port)
	if err == nil {
		if err = syscall.Listen(fd, 0); err != nil {
			_ = syscall.Close(fd)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("blackhole port %d: %w", port, err)
	}
	filler, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("blackhole port %d: fill the accept queue: %w", port, err)
	}
	return closers{filler, fdCloser(fd)}, nil
}

type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

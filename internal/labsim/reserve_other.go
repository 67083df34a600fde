//go:build !unix

package labsim

import "io"

// reservePort is a no-op where raw sockets are not at hand: a sleeping
// host's port may then be taken by another listener.
func reservePort(int) (io.Closer, error) { return nil, nil }

// blackholePort falls back to reservePort where raw sockets are not at
// hand: a sleeping host then refuses instead.
func blackholePort(port int) (io.Closer, error) { return reservePort(port) }

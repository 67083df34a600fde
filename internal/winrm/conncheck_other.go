//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package winrm

import "net"

// connAlive cannot peek at the socket here; a connection the station
// closed fails its first request, which is then sent again on a new one
// (lostRequest's staleConnError, resend.go).
func connAlive(net.Conn) bool { return true }

// defaultMaxIdleConns: no open-file limit to read here.
func defaultMaxIdleConns() int { return 4096 }

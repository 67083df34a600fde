//go:build !unix

package wake_test

import "testing"

// reserveTCPPort falls back to a port that was free a moment ago.
func reserveTCPPort(t testing.TB) (port int, release func()) {
	return freeTCPPort(t), func() {}
}

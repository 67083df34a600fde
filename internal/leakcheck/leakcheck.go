// Package leakcheck finds goroutines that a test suite left running. It is
// test support: only _test.go files import it.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// DefaultMarkers are stack fragments of goroutines that must not outlive a
// suite: ours, and those of the network libraries we drive.
var DefaultMarkers = []string{"ops-worker/internal/", "masterzen/", "net/http.", "net.(*", "pro-bing", "mdlayher/"}

// Main runs the package's tests and fails the run when goroutines matching
// markers (DefaultMarkers when none) are still running wait after the last
// test: use it as func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m, 5*time.Second)) }.
func Main(m *testing.M, wait time.Duration, markers ...string) int {
	code := m.Run()
	if code != 0 {
		return code
	}
	if leaked := Leaked(wait, markers...); leaked != "" {
		fmt.Fprintf(os.Stderr, "goroutine leak:\n%s\n", leaked)
		return 1
	}
	return 0
}

// Leaked waits up to wait for every goroutine whose stack mentions one of
// markers to end, and returns the stacks of those still running ("" when
// none). The calling goroutine is never counted.
func Leaked(wait time.Duration, markers ...string) string {
	if len(markers) == 0 {
		markers = DefaultMarkers
	}
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 4<<20)
		stacks := strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
		var leaked []string
		for _, g := range stacks[1:] { // stacks[0] is this goroutine
			for _, m := range markers {
				if strings.Contains(g, m) {
					leaked = append(leaked, g)
					break
				}
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

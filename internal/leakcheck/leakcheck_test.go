package leakcheck_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/leakcheck"
)

func parkForever(started, stop chan struct{}) {
	close(started)
	<-stop
}

func TestLeaked(t *testing.T) {
	started, stop := make(chan struct{}), make(chan struct{})
	go parkForever(started, stop)
	<-started
	got := leakcheck.Leaked(50*time.Millisecond, "leakcheck_test.parkForever")
	if !strings.Contains(got, "parkForever") {
		t.Errorf("a parked goroutine was not reported: %q", got)
	}
	close(stop)
	if got := leakcheck.Leaked(2*time.Second, "leakcheck_test.parkForever"); got != "" {
		t.Errorf("an ended goroutine was reported: %q", got)
	}
}

package winrm_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/winrm"
)

type callRecorder struct {
	op  string
	err error
	n   int
}

func (c *callRecorder) ObserveCall(op string, err error, d time.Duration) {
	c.op, c.err = op, err
	if d >= 0 {
		c.n++
	}
}

// Config.Observer sees every call, refused ones included, with its Op and
// the *Error the caller gets.
func TestObserver_SeesEveryCall(t *testing.T) {
	rec := &callRecorder{}
	c := winrm.New(winrm.Config{Observer: rec})
	_, err := c.Run(context.Background(), winrm.Target{}, "hostname", winrm.RunOptions{Op: "run status"})
	if !errors.Is(err, winrm.ErrConfig) {
		t.Fatalf("Run with an empty target: %v", err)
	}
	if rec.n != 1 || rec.op != "run status" || rec.err != err {
		t.Errorf("observed %d calls, op %q, err %v; want 1, run status, %v", rec.n, rec.op, rec.err, err)
	}
	c.RunPowerShell(context.Background(), winrm.Target{}, "Get-Date", winrm.RunOptions{})
	if rec.n != 2 || rec.op != "powershell" {
		t.Errorf("observed %d calls, op %q; want 2, powershell", rec.n, rec.op)
	}
}

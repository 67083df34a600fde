package direct

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/ops-worker/ops-worker/internal/lab"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/wake"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// DefaultDiagnoseWait bounds the probe that follows a failed connection.
const DefaultDiagnoseWait = 2 * time.Second

// diagnose turns a winrm.ErrUnreachable into lab.ErrHostDown or lab.ErrWinRMClosed
// by probing the host as its wake_check allows. lab.ErrUnreachable covers a
// refused connection, a dropped one, and a dial that timed out: a sleeping
// Windows host ignores the SYN, so its dial waits winrm.Config.DialTimeout
// (kept under the call's limit so that it is not reported as a timeout),
// and the report comes within DialTimeout + DiagnoseWait. A port that
// answers again by now (a station finishing its boot) keeps the original
// error.
func (d *Direct) diagnose(ctx context.Context, h hosts.Host, port int, err error) error {
	wait := d.DiagnoseWait
	if wait == 0 {
		wait = DefaultDiagnoseWait
	}
	if wait < 0 || d.Waker == nil || !errors.Is(err, winrm.ErrUnreachable) || ctx.Err() != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
		wait = time.Until(dl)
	}
	by, perr := d.Waker.Probe(ctx, cmp.Or(h.PingTarget, h.Address), port, h.WakeCheck, wait)
	switch {
	case perr != nil:
		return err
	case by == wake.ReachedICMP:
		return fmt.Errorf("%w: %w", lab.ErrWinRMClosed, err)
	case by == "":
		return fmt.Errorf("%w: %w", lab.ErrHostDown, err)
	}
	return err
}

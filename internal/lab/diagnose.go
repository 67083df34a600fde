package lab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/wake"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// Why a station's WinRM port could not be reached, told apart by a probe
// after the failure. Both wrap winrm.ErrUnreachable as well.
var (
	// ErrHostDown: no probe the host entry allows (ping and/or its WinRM
	// port) answered: the station is asleep, powered off or cut off.
	ErrHostDown = errors.New("host not answering (asleep, powered off or unreachable): wake it first")
	// ErrWinRMClosed: the station answers ping, but its WinRM port refuses
	// connections or ignores them: the WinRM service is stopped, a firewall
	// drops the port, or the port is wrong.
	ErrWinRMClosed = errors.New("host answers ping but its WinRM port does not accept connections (WinRM service stopped, port filtered or wrong port)")
)

// DefaultDiagnoseWait bounds the probe that follows a failed connection.
const DefaultDiagnoseWait = 2 * time.Second

// diagnose turns a winrm.ErrUnreachable into ErrHostDown or ErrWinRMClosed
// by probing the host as its wake_check allows. ErrUnreachable covers a
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
		return fmt.Errorf("%w: %w", ErrWinRMClosed, err)
	case by == "":
		return fmt.Errorf("%w: %w", ErrHostDown, err)
	}
	return err
}

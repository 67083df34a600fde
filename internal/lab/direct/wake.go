package direct

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/wake"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

var errNoWaker = errors.New("lab.Direct has no Waker")

// Wake sends magic packets for the host (overrides in o) and waits for it
// to answer. A host that never answers is Success false, not an error.
// The host entry's values are the catalog loader's (defaults filled); what
// is still zero (no broadcast in the entry) takes wake.Request's defaults.
// The worker's use cases hand in a checked plan (ops), which Resolve leaves
// as it is; the one check here is the MAC a packet cannot go without.
func (d *Direct) Wake(ctx context.Context, h hosts.Host, o lab.WakeOptions) (lab.WakeResult, error) {
	o = o.Resolve(h)
	req := wake.Request{
		MAC:       o.MAC,
		Broadcast: o.Broadcast,
		Port:      o.Port,
		Target:    o.PingTarget,
		TCPPort:   TargetFromHost(h, "").EffectivePort(),
		Attempts:  o.Attempts,
		Wait:      o.PingTimeout,
		Check:     h.WakeCheck,
	}
	if req.MAC == "" {
		return lab.WakeResult{}, hostErr("wake", h, lab.ErrMACRequired)
	}
	if d.Waker == nil {
		return lab.WakeResult{}, hostErr("wake", h, errNoWaker)
	}
	res, err := d.Waker.Wake(ctx, req)
	out := lab.WakeResult{Success: res.Success, AttemptsUsed: res.AttemptsUsed, Duration: res.Duration,
		PingTarget: req.Target, ReachedBy: res.ReachedBy}
	if err != nil {
		return out, hostErr("wake", h, err)
	}
	return out, nil
}

// Reachable probes the host (ICMP and/or TCP to its WinRM port, per its
// wake_check) for up to wait; lab.ErrUnreachable when nothing answered.
func (d *Direct) Reachable(ctx context.Context, h hosts.Host, wait time.Duration) (string, error) {
	if d.Waker == nil {
		return "", hostErr("probe", h, errNoWaker)
	}
	target := cmp.Or(h.PingTarget, h.Address)
	port := TargetFromHost(h, "").EffectivePort()
	by, err := d.Waker.Probe(ctx, target, port, h.WakeCheck, wait)
	if err != nil {
		return "", hostErr("probe", h, err)
	}
	if by == "" {
		return "", hostErr("probe", h, fmt.Errorf("%w within %v", lab.ErrUnreachable, wait))
	}
	return by, nil
}

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

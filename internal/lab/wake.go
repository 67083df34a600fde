package lab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/wake"
)

var errNoWaker = errors.New("lab.Direct has no Waker")

// Wake sends magic packets for the host (overrides in o) and waits for it
// to answer. A host that never answers is Success false, not an error.
// The host entry's values are the catalog loader's (defaults filled); what
// is still zero (no broadcast in the entry) takes wake.Request's defaults.
func (d *Direct) Wake(ctx context.Context, h hosts.Host, o WakeOptions) (WakeResult, error) {
	req := wake.Request{
		MAC:       cmp.Or(o.MAC, h.MAC),
		Broadcast: cmp.Or(o.Broadcast, h.Broadcast),
		Port:      cmp.Or(o.Port, h.WOLPort),
		Target:    cmp.Or(o.PingTarget, h.PingTarget, h.Address),
		TCPPort:   TargetFromHost(h, "").EffectivePort(),
		Attempts:  cmp.Or(o.Attempts, h.WakeAttempts),
		Wait:      o.PingTimeout,
		Check:     h.WakeCheck,
	}
	if req.MAC == "" {
		return WakeResult{}, hostErr("wake", h, ErrMACRequired)
	}
	if d.Waker == nil {
		return WakeResult{}, hostErr("wake", h, errNoWaker)
	}
	res, err := d.Waker.Wake(ctx, req)
	out := WakeResult{Success: res.Success, AttemptsUsed: res.AttemptsUsed, Duration: res.Duration,
		PingTarget: req.Target, ReachedBy: res.ReachedBy}
	if err != nil {
		return out, hostErr("wake", h, err)
	}
	return out, nil
}

// Reachable probes the host (ICMP and/or TCP to its WinRM port, per its
// wake_check) for up to wait; ErrUnreachable when nothing answered.
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
		return "", hostErr("probe", h, fmt.Errorf("%w within %v", ErrUnreachable, wait))
	}
	return by, nil
}

package lab

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/wake"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

var errNoWaker = errors.New("lab.Direct has no Waker")

// Wake sends magic packets for the host (overrides in o) and waits for it
// to answer. A host that never answers is Success false, not an error.
func (d *Direct) Wake(ctx context.Context, h hosts.Host, o WakeOptions) (WakeResult, error) {
	req := wake.Request{
		MAC:       first(o.MAC, h.MAC),
		Broadcast: first(o.Broadcast, h.Broadcast, hosts.DefaultBroadcast),
		Port:      firstInt(o.Port, h.WOLPort, hosts.DefaultWOLPort),
		Target:    first(o.PingTarget, h.PingTarget, h.Address),
		TCPPort:   winrm.TargetFromHost(h, "").EffectivePort(),
		Attempts:  firstInt(o.Attempts, h.WakeAttempts, hosts.DefaultWakeAttempts),
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
	target := first(h.PingTarget, h.Address)
	port := winrm.TargetFromHost(h, "").EffectivePort()
	by, err := d.Waker.Probe(ctx, target, port, h.WakeCheck, wait)
	if err != nil {
		return "", hostErr("probe", h, err)
	}
	if by == "" {
		return "", hostErr("probe", h, fmt.Errorf("%w within %v", ErrUnreachable, wait))
	}
	return by, nil
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func firstInt(vals ...int) int {
	for _, v := range vals {
		if v != 0 {
			return v
		}
	}
	return 0
}

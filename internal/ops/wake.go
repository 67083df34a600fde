package ops

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/netaddr"
	"github.com/ops-worker/ops-worker/internal/wakelimits"
)

// The defaults and bounds of a wake request (API.md "POST /api/wol") are
// package wakelimits': DefaultWait (ping_timeout 10 s), MaxAttempts, MaxWait
// (package wake enforces the same). The bounds keep one request from
// holding a worker for hours.

// wakePlan is a wake request resolved against the host entry and checked,
// before any packet is sent.
type wakePlan struct {
	host       hosts.Host
	opts       lab.WakeOptions
	mac        string
	broadcast  string
	port       int
	pingTarget string
	attempts   int
	wait       int // seconds
}

// planWake applies API.md's defaults (request, then host entry, then the
// built-in value) and checks the syntax of everything that will reach the
// network, in linear time.
func planWake(h hosts.Host, r WakeOptions) (wakePlan, *Error) {
	p := wakePlan{host: h}
	m := lab.WakeOptions{MAC: r.MAC, Broadcast: r.Broadcast, Port: deref(r.Port), PingTarget: r.PingTarget,
		Attempts: deref(r.Attempts)}.Resolve(h)
	p.mac = m.MAC
	if p.mac == "" {
		return p, Errorf(CodeBadRequest, "mac is required")
	}
	if _, err := netaddr.ParseMAC(p.mac); err != nil {
		return p, Wrap(CodeBadRequest, fmt.Sprintf("mac '%s' is not a MAC address", quoteName(p.mac)), err)
	}
	p.pingTarget = m.PingTarget
	if p.pingTarget == "" {
		return p, Errorf(CodeBadRequest, "ping_target is required when no host is given")
	}
	if err := netaddr.ValidHost(p.pingTarget); err != nil {
		return p, Wrap(CodeBadRequest, fmt.Sprintf("ping_target '%s' is not a plain IP address or host name", quoteName(p.pingTarget)), err)
	}
	p.broadcast = cmp.Or(m.Broadcast, hosts.DefaultBroadcast)
	if err := netaddr.ValidHost(p.broadcast); err != nil {
		return p, Wrap(CodeBadRequest, fmt.Sprintf("broadcast '%s' is not a plain IP address or host name", quoteName(p.broadcast)), err)
	}
	p.port = cmp.Or(m.Port, hosts.DefaultWOLPort)
	if r.Port != nil && (*r.Port < 1 || *r.Port > 65535) {
		return p, Errorf(CodeBadRequest, "port must be between 1 and 65535")
	}
	p.attempts = cmp.Or(m.Attempts, hosts.DefaultWakeAttempts)
	if r.Attempts != nil && (*r.Attempts < 1 || *r.Attempts > wakelimits.MaxAttempts) {
		return p, Errorf(CodeBadRequest, "attempts must be between 1 and %d", wakelimits.MaxAttempts)
	}
	p.wait = int(wakelimits.DefaultWait / time.Second)
	if r.PingTimeout != nil {
		if *r.PingTimeout < 1 || *r.PingTimeout > int(wakelimits.MaxWait/time.Second) {
			return p, Errorf(CodeBadRequest, "ping_timeout must be between 1 and %d seconds", int(wakelimits.MaxWait/time.Second))
		}
		p.wait = *r.PingTimeout
	}
	p.opts = lab.WakeOptions{MAC: p.mac, Broadcast: p.broadcast, Port: p.port, PingTarget: p.pingTarget,
		PingTimeout: time.Duration(p.wait) * time.Second, Attempts: p.attempts}
	return p, nil
}

// Wake is POST /api/wol: magic packets, then a wait for the host to
// answer. A host that never answers is a 200 with success false.
func (s *Service) Wake(ctx context.Context, r WakeRequest) (WakeResponse, error) {
	var h hosts.Host
	if r.Host != "" {
		var err *Error
		if h, err = s.host(ctx, r.Host, "host '%s' not found in config"); err != nil {
			return WakeResponse{}, err
		}
	}
	p, perr := planWake(h, WakeOptions{MAC: r.MAC, PingTarget: r.PingTarget, Attempts: r.Attempts,
		PingTimeout: r.PingTimeout, Broadcast: r.Broadcast, Port: r.Port})
	if perr == nil {
		perr = s.checkWakeTargets(WakeOptions{PingTarget: r.PingTarget, Broadcast: r.Broadcast})
	}
	if perr != nil {
		return WakeResponse{}, perr
	}
	if h.Name == "" {
		h = hosts.Host{Name: p.mac, Address: p.pingTarget}
	}
	res, err := s.Lab.Wake(ctx, h, p.opts)
	if err != nil {
		e := fromLab(h.Name, err)
		s.log().WarnContext(ctx, "wake failed", "host", h.Name, "code", e.Code, "err", err)
		s.notify(ctx, domain.Failure{Host: h.Name, LabID: firstLab(h), Flow: domain.FlowWake, Action: ActionWake,
			Code: string(e.Code), Message: e.Message}, err)
		return WakeResponse{}, e
	}
	if !res.Success {
		s.notify(ctx, domain.Failure{Host: h.Name, LabID: firstLab(h), Flow: domain.FlowWake, Action: ActionWake,
			Code: domain.FailureNoResponse, Message: "Host did not respond to ping",
			Details: map[string]any{"mac": p.mac, "pingTarget": p.pingTarget, "attemptsUsed": res.AttemptsUsed}}, nil)
	}
	s.log().InfoContext(ctx, "wake", "host", h.Name, "success", res.Success, "attempts_used", res.AttemptsUsed,
		"reached_by", res.ReachedBy, "duration_ms", res.Duration.Milliseconds())
	out := WakeResponse{Success: res.Success, AttemptsUsed: res.AttemptsUsed,
		DurationMs: res.Duration.Milliseconds(), PingTarget: res.PingTarget}
	if out.PingTarget == "" {
		out.PingTarget = p.pingTarget
	}
	if res.ReachedBy != "" {
		by := res.ReachedBy
		out.ReachedBy = &by
	}
	return out, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

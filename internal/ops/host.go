package ops

import (
	"context"
	"strings"
	"time"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
)

// maxReasonInMessage bounds the reload failure's reason in a message.
const maxReasonInMessage = 300

// QuarantineFlags is the effective quarantine flags of the catalog's hosts: the
// stored flag (POST /api/hosts/quarantine, shared by every instance) wins
// when one was set, else the catalog's "quarantined". This is the one
// merge; Hosts, Health, Timeline and the ticks use it. Without a database,
// or when it cannot be read (logged), the catalog flags alone apply.
func (s *Service) QuarantineFlags(ctx context.Context, c *hosts.Catalog) map[string]bool {
	var stored map[string]bool
	if s.Store != nil {
		var err error
		if stored, err = s.Store.Quarantines(ctx); err != nil {
			s.log().WarnContext(ctx, "stored quarantine flags unreadable; using the catalog's", "err", err)
		}
	}
	out := make(map[string]bool, c.Len())
	for _, h := range c.Hosts() {
		q, ok := stored[strings.ToLower(h.Name)]
		if !ok {
			q = h.Quarantined
		}
		out[h.Name] = q
	}
	return out
}

// HostForLab is the host serving a lab: the first non-quarantined one that
// claims it (the catalog's order), or false.
func (s *Service) HostForLab(ctx context.Context, labID string) (hosts.Host, bool) {
	c := s.Catalog(ctx)
	cands := c.ForLab(labID)
	if len(cands) == 0 {
		return hosts.Host{}, false
	}
	q := s.QuarantineFlags(ctx, c)
	for _, h := range cands {
		if !q[h.Name] {
			return h, true
		}
	}
	return hosts.Host{}, false
}

// ReloadHosts is POST /api/hosts/reload. An invalid file is refused with
// its reason and the catalog in force stays.
func (s *Service) ReloadHosts(ctx context.Context) (ReloadResponse, error) {
	c, warns, err := s.Registry.Reload(ctx)
	if err != nil {
		s.log().ErrorContext(ctx, "host catalog reload refused; previous catalog kept", "err", err)
		reason := oneLine(err.Error(), maxReasonInMessage)
		return ReloadResponse{}, Wrap(CodeConfigInvalid, "host catalog not reloaded (previous catalog kept): "+reason, err)
	}
	for _, w := range warns {
		s.log().WarnContext(ctx, "host catalog", "warning", w)
	}
	s.log().InfoContext(ctx, "host catalog reloaded", "hosts", c.Len())
	return ReloadResponse{Reloaded: true, Hosts: c.Len(), Warnings: warns}, nil
}

// SetQuarantine is POST /api/hosts/quarantine. The flag is stored, so it
// holds across instances and restarts; without a database it is refused
// (500 "Database not configured") rather than kept in one process's memory.
func (s *Service) SetQuarantine(ctx context.Context, r QuarantineRequest) (QuarantineResponse, error) {
	if r.Host == "" {
		return QuarantineResponse{}, Errorf(CodeBadRequest, "host is required")
	}
	h, herr := s.host(ctx, r.Host, "host '%s' not found in config")
	if herr != nil {
		return QuarantineResponse{}, herr
	}
	if s.Store == nil {
		return QuarantineResponse{}, Errorf(CodeDBNotConfigured, "Database not configured")
	}
	q := r.Quarantined == nil || *r.Quarantined
	if err := s.Store.SetQuarantine(ctx, h.Name, q); err != nil {
		return QuarantineResponse{}, internal(err)
	}
	s.log().InfoContext(ctx, "quarantine set", "host", h.Name, "quarantined", q)
	return QuarantineResponse{Host: h.Name, Quarantined: q}, nil
}

// Hosts is GET /api/hosts: the catalog without secrets, the merged
// quarantine flag, with a database the latest heartbeat in short, whether
// each host's WinRM credentials resolve, and its Guacamole link (an
// unreadable Guacamole database is said, never a failure of the list).
func (s *Service) Hosts(ctx context.Context) (HostsResponse, error) {
	c := s.Catalog(ctx)
	q := s.QuarantineFlags(ctx, c)
	staleAfter := s.Settings.HeartbeatStaleAfter
	if staleAfter <= 0 {
		staleAfter = lab.DefaultStaleAfter
	}
	polls, err := s.pollStates(ctx)
	if err != nil {
		return HostsResponse{}, internal(err)
	}
	now := s.now()
	// Every host's latest heartbeat in one query (keyed as the store keeps
	// names), not one query per host.
	var heartbeats map[string]*domain.StoredHeartbeat
	if s.Store != nil && c.Len() > 0 {
		names := make([]string, 0, c.Len())
		for _, h := range c.Hosts() {
			names = append(names, h.Name)
		}
		if heartbeats, err = s.Store.LatestHeartbeats(ctx, names); err != nil {
			return HostsResponse{}, internal(err)
		}
	}
	out := HostsResponse{Hosts: make([]HostSummary, 0, c.Len())}
	hs := c.Hosts()
	links := s.guacamole(ctx, hs, &out)
	creds := s.credentials()
	for i, h := range hs {
		sum := HostSummary{Public: h.Public(), CredentialRef: h.CredentialRef, Guacamole: links[i],
			WinRMConfigured: creds.WinRMConfigured(ctx, h), Source: h.Source}
		if h.MAC != "" {
			sum.MAC = &h.MAC
		}
		sum.Quarantined = q[h.Name]
		if p, ok := polls[strings.ToLower(h.Name)]; ok && (p.Failures > 0 || p.NextPollAt != nil) {
			sum.Poll = &PollBackoff{Failures: p.Failures, NextPollAt: utc(p.NextPollAt), LastError: p.LastError,
				LastFailureAt: utc(p.LastFailureAt), BackedOff: p.NextPollAt != nil && p.NextPollAt.After(now)}
		}
		if hb := heartbeats[strings.ToLower(strings.TrimSpace(h.Name))]; hb != nil {
			sum.Heartbeat = &HeartbeatSummary{Timestamp: utc(hb.Timestamp), Ready: hb.Ready,
				LocalMode: hb.LocalMode, LocalSession: hb.LocalSession, LastSeen: utc(hb.LastSeen),
				Stale: hb.Timestamp == nil || s.now().Sub(*hb.Timestamp) > staleAfter}
		}
		out.Hosts = append(out.Hosts, sum)
	}
	return out, nil
}

// PollStateReader is the optional part of Store that GET /api/hosts reads
// the heartbeat tick's back-off from (*store.Store has it; app checks).
type PollStateReader interface {
	PollStates(ctx context.Context) (map[string]domain.PollState, error)
}

// pollStates reads the stored back-offs; none without a database or with a
// store that keeps none.
func (s *Service) pollStates(ctx context.Context) (map[string]domain.PollState, error) {
	r, ok := s.Store.(PollStateReader)
	if !ok {
		return nil, nil
	}
	return r.PollStates(ctx)
}

// relayPingTimeout bounds the relay ping of Health.
const relayPingTimeout = 2 * time.Second

// healthTimeout bounds the database ping and flag read of Health.
const healthTimeout = 3 * time.Second

// Health is GET /health. It never fails: a configured database that does
// not answer is "db": false, status degraded and "failing": ["db"]; no
// database configured is not degraded.
func (s *Service) Health(ctx context.Context) HealthResponse {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	out := HealthResponse{Status: HealthOK, Version: s.Version, DBKind: s.DBKind, Failing: []string{}}
	if out.DBKind == "" {
		out.DBKind = "none"
	}
	if s.Store != nil {
		if err := s.Store.Ping(ctx); err != nil {
			s.log().WarnContext(ctx, "health: database ping failed", "err", err)
			out.Status, out.Failing = HealthDegraded, append(out.Failing, "db")
		} else {
			out.DB = true
		}
	}
	if s.Registry != nil {
		for _, quarantined := range s.QuarantineFlags(ctx, s.Catalog(ctx)) {
			if !quarantined {
				out.HostsLoaded++
			}
		}
	}
	if s.Settings.RelayConfigured {
		out.Relay = &Relay{Configured: true}
		if s.RelayPing != nil {
			pctx, pcancel := context.WithTimeout(ctx, relayPingTimeout)
			err := s.RelayPing(pctx)
			pcancel()
			if err != nil {
				s.log().WarnContext(ctx, "health: relay ping failed", "err", err)
			}
			out.Relay.Reachable = err == nil
		}
	}
	return out
}

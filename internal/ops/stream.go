package ops

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ops-worker/ops-worker/internal/lab"
)

// StreamHost is the check GET /api/heartbeat/stream makes before its stream
// starts: 400 "host is required", 404 for a host not in the catalog. It
// answers the catalog's own spelling of the name, so that every stream of
// one station shares one poller whatever case its caller wrote.
func (s *Service) StreamHost(ctx context.Context, name string) (string, error) {
	if name == "" {
		return "", Errorf(CodeBadRequest, "host is required")
	}
	h, herr := s.host(ctx, name, "host '%s' not found")
	if herr != nil {
		return "", herr
	}
	return h.Name, nil
}

// FreshHeartbeat is one beat of a heartbeat stream: a stored heartbeat of
// host when one was seen after since (another instance, the heartbeat tick
// or this one's earlier poll wrote it: no station is asked twice for the
// same news), else a poll through the Lab in force (direct or through the
// relay, as POST /api/heartbeat/poll), with its events. Stored is the
// heartbeat's source.
func (s *Service) FreshHeartbeat(ctx context.Context, host string, since time.Time) (Fresh, error) {
	h, herr := s.host(ctx, host, "host '%s' not found")
	if herr != nil {
		return Fresh{}, herr
	}
	if s.Store != nil {
		if hb, err := s.latestHeartbeat(ctx, h.Name); err != nil {
			// A database that does not answer must not stop the stream:
			// the station still can.
			s.log().WarnContext(ctx, "stream: stored heartbeat unreadable; polling", "host", h.Name, "err", err)
		} else if hb != nil && hb.LastSeen != nil && hb.LastSeen.After(since) && len(hb.Raw) > 0 {
			return Fresh{Response: s.storedResponse(h.Name, hb.Raw, hb.Timestamp), Stored: true}, nil
		}
	}
	resp, err := s.pollVia(ctx, s.Lab, h, true)
	return Fresh{Response: resp}, err
}

// Fresh is FreshHeartbeat's answer.
type Fresh struct {
	Response PollResponse
	// Stored: Response is the stored heartbeat (no station was asked);
	// its last_event is null and Stored true.
	Stored bool
}

// storedResponse is a poll answer made of a stored heartbeat document.
func (s *Service) storedResponse(host string, raw json.RawMessage, ts *time.Time) PollResponse {
	staleAfter := s.Settings.HeartbeatStaleAfter
	if staleAfter <= 0 {
		staleAfter = lab.DefaultStaleAfter
	}
	stale := true
	if ts != nil && !ts.IsZero() {
		age := s.now().Sub(*ts)
		stale = age > staleAfter || age < -staleAfter
	}
	return PollResponse{Heartbeat: raw, LastEvent: json.RawMessage("null"), Host: host, Stale: stale, Stored: true}
}

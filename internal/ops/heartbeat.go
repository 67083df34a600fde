package ops

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
)

// storeTimeout bounds a database write made after the station answered, on
// a context that outlives the caller's (a client that left must not make a
// finished step or poll go unrecorded).
const storeTimeout = 10 * time.Second

// detached is ctx without its cancellation, bounded by storeTimeout.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
}

// PollHeartbeat is POST /api/heartbeat/poll: read the station's heartbeat
// (and last event), store it when a database is configured, answer the
// station's document. A failed write is said in the answer (Stored false,
// StoreError) and in the log; the poll still answers the data.
func (s *Service) PollHeartbeat(ctx context.Context, r PollRequest) (PollResponse, error) {
	if r.Host == "" {
		return PollResponse{}, Errorf(CodeBadRequest, "host is required")
	}
	h, herr := s.host(ctx, r.Host, "host '%s' not found in config")
	if herr != nil {
		return PollResponse{}, herr
	}
	return s.pollVia(ctx, s.Lab, h, r.IncludeEvents == nil || *r.IncludeEvents)
}

// pollVia reads h's heartbeat through l and finishes the poll.
func (s *Service) pollVia(ctx context.Context, l lab.Lab, h hosts.Host, include bool) (PollResponse, error) {
	start := time.Now()
	release := s.apiSlot(ctx, h.Name)
	read, err := l.ReadHeartbeat(ctx, h, include)
	release()
	return s.finishPoll(ctx, h, start, read, err)
}

// BatchPoll is one host's part of PollHeartbeats.
type BatchPoll struct {
	Host     string
	Response PollResponse
	Err      error // an *Error, as PollHeartbeat returns
}

// HeartbeatRoutes splits catalog hosts by the way the Lab reaches them
// (lab.Routes): decided once, then each route is read through its own Lab
// (PollHeartbeats for a batch, PollRouted for one host of it).
func (s *Service) HeartbeatRoutes(hs []hosts.Host) []lab.Route { return lab.Routes(s.Lab, hs) }

// PollHeartbeats polls the hosts of route r in one lab.ReadHeartbeats call
// through r's Lab (one signed request for a relay's route), then stores
// and answers each as PollHeartbeat does. The results are in the order of
// r.Hosts.
func (s *Service) PollHeartbeats(ctx context.Context, r lab.Route) []BatchPoll {
	start := time.Now()
	reads := lab.ReadHeartbeats(ctx, r.Lab, r.Hosts, true, 0)
	out := make([]BatchPoll, len(r.Hosts))
	for i, h := range r.Hosts {
		resp, err := s.finishPoll(ctx, h, start, reads[i].Read, reads[i].Err)
		out[i] = BatchPoll{Host: h.Name, Response: resp, Err: err}
	}
	return out
}

// PollRouted polls one host of route r (with its events) through r's Lab,
// as PollHeartbeat does.
func (s *Service) PollRouted(ctx context.Context, r lab.Route, h hosts.Host) (PollResponse, error) {
	return s.pollVia(ctx, r.Lab, h, true)
}

// finishPoll observes, stores and answers one heartbeat read.
func (s *Service) finishPoll(ctx context.Context, h hosts.Host, start time.Time, read lab.HeartbeatRead, err error) (PollResponse, error) {
	if err == nil && read.Heartbeat == nil {
		err = &lab.Error{Op: "read heartbeat", Host: h.Name, Kind: lab.ErrProtocol, Err: errors.New("no heartbeat in a successful read")}
	}
	s.observePoll(h.Name, start, read, err)
	if err != nil {
		e := fromLab(h.Name, err)
		s.log().WarnContext(ctx, "heartbeat poll failed", "host", h.Name, "code", e.Code, "err", err)
		return PollResponse{}, e
	}
	if read.EventsErr != nil {
		s.log().InfoContext(ctx, "events log unreadable; last_event null", "host", h.Name, "err", read.EventsErr)
	}
	out := PollResponse{Heartbeat: read.Heartbeat.Raw, LastEvent: json.RawMessage("null"),
		Host: h.Name, Stale: read.Stale}
	if read.LastEvent != nil && len(read.LastEvent.Raw) > 0 {
		out.LastEvent = read.LastEvent.Raw
	}
	out.Stored, out.StoreError = s.saveHeartbeat(ctx, h, read)
	out.DurationMs = time.Since(start).Milliseconds()
	return out, nil
}

// saveHeartbeat stores a read heartbeat; it returns false and the reason
// shown to the caller when it was not stored.
func (s *Service) saveHeartbeat(ctx context.Context, h hosts.Host, read lab.HeartbeatRead) (bool, string) {
	if s.Store == nil {
		return false, ""
	}
	rec := domain.NewHeartbeatRecord(domain.HostRecord{Name: h.Name, Address: h.Address, MAC: h.MAC, Mode: h.Mode},
		read.Heartbeat, read.LastEvent)
	wctx, cancel := detached(ctx)
	defer cancel()
	if _, err := s.Store.SaveHeartbeat(wctx, rec); err != nil {
		s.log().ErrorContext(ctx, "heartbeat not stored", "host", h.Name, "err", err)
		return false, "not stored: database write failed"
	}
	return true, ""
}

// PollObservation is the outcome of one heartbeat poll of a catalog host.
type PollObservation struct {
	Host string    // catalog name
	At   time.Time // when the poll started
	// Err is why the station could not be read (nil: read). The fields
	// below are set only when it was.
	Err error
	// Timestamp is the heartbeat's own timestamp (UTC; zero when the
	// document has none).
	Timestamp time.Time
	Ready     bool
	Stale     bool
}

// PollObserver is told the outcome of every heartbeat poll (metrics):
// called once per poll, from the poll's goroutine, so it must be fast and
// safe for concurrent use.
type PollObserver interface {
	ObservePoll(PollObservation)
}

func (s *Service) observePoll(host string, at time.Time, read lab.HeartbeatRead, err error) {
	if s.Polls == nil {
		return
	}
	o := PollObservation{Host: host, At: at, Err: err}
	if err == nil {
		o.Stale = read.Stale
		if hb := read.Heartbeat; hb != nil {
			o.Timestamp, o.Ready = hb.Timestamp, hb.Ready
		}
	}
	s.Polls.ObservePoll(o)
}

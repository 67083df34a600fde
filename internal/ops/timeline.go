package ops

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/ops-worker/ops-worker/internal/domain"
)

// Defaults of the timeline settings when Settings leaves them zero.
const (
	defaultTimelineLimit  = 100
	defaultTimelineMaxOps = 500
	defaultPhaseLookback  = 500
)

// internal is the 500 of the error contract; the cause goes to the log.
func internal(err error) *Error { return Wrap(CodeInternal, "Internal server error", err) }

// page resolves limit and offset as API.md says: limit nil or below 1 takes
// the default, at most the maximum; offset nil or negative is 0, at most
// domain.MaxOffset (the deepest page the store serves).
func (s *Service) page(limit, offset *int) (int, int) {
	def, max := s.Settings.TimelineDefaultLimit, s.Settings.TimelineMaxOps
	if max <= 0 {
		max = defaultTimelineMaxOps
	}
	if def <= 0 {
		def = defaultTimelineLimit
	}
	l := def
	if limit != nil && *limit > 0 {
		l = *limit
	}
	l = min(l, max, domain.MaxPageSize)
	o := 0
	if offset != nil && *offset > 0 {
		o = min(*offset, domain.MaxOffset)
	}
	return l, o
}

func pagination(limit, offset, returned, total int) Pagination {
	p := Pagination{Limit: limit, Offset: offset, Page: offset/limit + 1, PageSize: limit,
		Returned: returned, Total: total, HasMore: offset+returned < total}
	if p.HasMore {
		next := offset + returned
		p.NextOffset = &next
	}
	return p
}

// Timeline is GET /api/reservations/timeline.
func (s *Service) Timeline(ctx context.Context, r TimelineRequest) (TimelineResponse, error) {
	if s.Store == nil {
		return TimelineResponse{}, Errorf(CodeDBNotConfigured, "Database not configured")
	}
	if r.ReservationID == "" {
		return TimelineResponse{}, Errorf(CodeBadRequest, "reservationId is required")
	}
	res, err := s.Store.GetReservation(ctx, r.ReservationID)
	if errors.Is(err, domain.ErrNotFound) {
		return TimelineResponse{}, Errorf(CodeReservationNotFound, "Reservation not found")
	}
	if err != nil {
		return TimelineResponse{}, internal(err)
	}
	limit, offset := s.page(r.Limit, r.Offset)
	ops, total, err := s.Store.ListOperations(ctx, r.ReservationID, limit, offset)
	if err != nil {
		return TimelineResponse{}, internal(err)
	}
	lookback := s.Settings.TimelinePhaseLookback
	if lookback <= 0 {
		lookback = defaultPhaseLookback
	}
	recent, _, err := s.Store.RecentOperations(ctx, domain.OperationFilter{ReservationID: r.ReservationID}, lookback, 0)
	if err != nil {
		return TimelineResponse{}, internal(err)
	}
	out := TimelineResponse{
		Reservation: ReservationView{ReservationID: res.ReservationID, LabID: res.LabID, Status: res.Status,
			Start: utc(res.Start), End: utc(res.End), WalletAddress: res.WalletAddress,
			CreatedAt: utc(res.CreatedAt), UpdatedAt: utc(res.UpdatedAt)},
		Operations: operationViews(ops),
		Pagination: pagination(limit, offset, len(ops), total),
	}
	latest := LatestPhases(recent)
	out.Phases = Phases{Wake: phaseView(latest, "wake"), Prepare: phaseView(latest, "prepare"),
		Release: phaseView(latest, "release"), Power: phaseView(latest, "power"),
		SchedulerEnd: phaseView(latest, "schedulerEnd")}
	if h, ok := s.HostForLab(ctx, res.LabID); ok {
		pub := h.Public()
		out.Host = &HostView{Name: h.Name, LabID: res.LabID, Config: &pub}
		hb, err := s.latestHeartbeat(ctx, h.Name)
		if err != nil {
			return TimelineResponse{}, internal(err)
		}
		if hb != nil {
			out.Heartbeat = heartbeatView(hb)
		}
	}
	return out, nil
}

// RecentOperations is GET /api/operations/recent: newest first, optionally
// for one reservation, one host, or both. A host not in the catalog is
// 404 (GATEWAY.md section 2); the filter uses the catalog's spelling of
// the name, as the operations record it.
func (s *Service) RecentOperations(ctx context.Context, r RecentRequest) (RecentResponse, error) {
	if s.Store == nil {
		return RecentResponse{}, Errorf(CodeDBNotConfigured, "Database not configured")
	}
	f := domain.OperationFilter{ReservationID: r.ReservationID}
	if r.Host != "" {
		h, herr := s.host(ctx, r.Host, "host '%s' not found")
		if herr != nil {
			return RecentResponse{}, herr
		}
		f.Host = h.Name
	}
	limit, offset := s.page(r.Limit, r.Offset)
	ops, total, err := s.Store.RecentOperations(ctx, f, limit, offset)
	if err != nil {
		return RecentResponse{}, internal(err)
	}
	return RecentResponse{Operations: operationViews(ops), Pagination: pagination(limit, offset, len(ops), total)}, nil
}

// latestHeartbeat is the host's newest stored heartbeat, nil when none.
func (s *Service) latestHeartbeat(ctx context.Context, host string) (*domain.StoredHeartbeat, error) {
	hb, err := s.Store.LatestHeartbeat(ctx, host)
	if errors.Is(err, domain.ErrNotFound) {
		return nil, nil
	}
	return hb, err
}

func operationViews(ops []domain.Operation) []OperationView {
	out := make([]OperationView, 0, len(ops))
	for _, op := range ops {
		out = append(out, operationView(op))
	}
	return out
}

func operationView(op domain.Operation) OperationView {
	payload := op.Payload
	if len(payload) == 0 {
		payload = json.RawMessage("null")
	}
	return OperationView{ID: op.ID, ReservationID: op.ReservationID, LabID: op.LabID, Host: op.Host,
		Action: op.Action, Status: op.Status, Success: op.Success, Message: op.Message, Payload: payload,
		ResponseCode: op.ResponseCode, DurationMs: op.DurationMs, CreatedAt: op.CreatedAt.UTC()}
}

func phaseView(latest map[string]domain.Operation, phase string) *OperationView {
	op, ok := latest[phase]
	if !ok {
		return nil
	}
	v := operationView(op)
	return &v
}

func heartbeatView(hb *domain.StoredHeartbeat) *HeartbeatView {
	raw := hb.Raw
	if len(raw) == 0 || !json.Valid(raw) {
		raw = json.RawMessage("null")
	}
	return &HeartbeatView{Timestamp: utc(hb.Timestamp), Ready: hb.Ready, LocalMode: hb.LocalMode,
		LocalSession:     hb.LocalSession,
		LastPower:        TimedValue{Timestamp: utc(hb.LastPowerActionAt), Mode: hb.LastPowerActionMode},
		LastForcedLogoff: TimedUser{Timestamp: utc(hb.LastForcedLogoffAt), User: hb.LastForcedLogoffUser},
		Raw:              raw}
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

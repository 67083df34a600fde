package ops

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/retry"
)

// ActionLocalMode is the operation recorded for each local-mode change.
const ActionLocalMode = "local-mode"

// SetLocalMode is POST /api/hosts/local-mode: writes (enabled) or removes
// the station's local-mode flag file, and records the attempt as a
// local-mode operation, success or failure. A quarantined host is not
// refused, as its commands are not: quarantine keeps the automation away
// from a station, and an operator working on one is who toggles this.
func (s *Service) SetLocalMode(ctx context.Context, r LocalModeRequest) (LocalModeResponse, error) {
	if r.Host == "" {
		return LocalModeResponse{}, Errorf(CodeBadRequest, "host is required")
	}
	if r.Enabled == nil {
		return LocalModeResponse{}, Errorf(CodeBadRequest, "enabled is required")
	}
	h, herr := s.host(ctx, r.Host, "host '%s' not found in config")
	if herr != nil {
		return LocalModeResponse{}, herr
	}
	enabled := *r.Enabled
	start := s.now()
	err := func() error {
		defer s.apiSlot(ctx, h.Name)()
		return s.Lab.SetLocalMode(ctx, h, enabled)
	}()
	elapsed := s.now().Sub(start)
	if err != nil {
		e := fromLab(h.Name, err)
		s.log().WarnContext(ctx, "local mode failed", "host", h.Name, "enabled", enabled, "code", e.Code, "err", err)
		s.recordHostOp(ctx, h, ActionLocalMode, false, e.Code.Status(), e.Message, elapsed, map[string]any{"enabled": enabled, "code": e.Code})
		return LocalModeResponse{}, e
	}
	s.log().InfoContext(ctx, "local mode", "host", h.Name, "enabled", enabled, "duration_ms", elapsed.Milliseconds())
	msg := "Local mode disabled"
	if enabled {
		msg = "Local mode enabled"
	}
	s.recordHostOp(ctx, h, ActionLocalMode, true, 200, msg, elapsed, map[string]any{"enabled": enabled})
	return LocalModeResponse{Host: h.Name, LocalModeEnabled: enabled}, nil
}

// recordHostOp records an operation on h itself (domain.HostScope).
// It never fails the request: the change is made on the station whatever
// the database says, and a write that fails is logged. Without a database
// nothing is recorded.
func (s *Service) recordHostOp(ctx context.Context, h hosts.Host, action string, success bool, code int, message string, elapsed time.Duration, payload map[string]any) {
	if s.Store == nil {
		return
	}
	data, err := json.Marshal(payload)
	if err != nil {
		s.log().ErrorContext(ctx, "operation not recorded: payload", "host", h.Name, "action", action, "err", err)
		return
	}
	status := StatusCompleted
	if !success {
		status = StatusFailed
	}
	dur := int(elapsed.Milliseconds())
	op := domain.Operation{ReservationID: domain.HostScope(h.Name), Host: h.Name, Action: action,
		Status: status, Success: success, ResponseCode: &code, DurationMs: &dur, Payload: data,
		Message: message, CreatedAt: s.now().UTC(), Key: domain.NewOperationKey()}
	wctx, cancel := detached(ctx)
	defer cancel()
	p := retry.Policy{First: 100 * time.Millisecond, Max: 2 * time.Second, Retry: s.Store.IsConnectionError}
	if _, err := p.Do(wctx, func(wctx context.Context) error {
		_, err := s.Store.RecordOperation(wctx, op)
		return err
	}); err != nil {
		s.log().ErrorContext(ctx, "operation not recorded", "host", h.Name, "action", action, "err", err)
	}
}

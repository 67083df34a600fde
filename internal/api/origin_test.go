package api

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/scheduler"
)

// originService records whether a use case saw the API's mark.
type originService struct {
	*fakeService
	fromAPI atomic.Int32 // 1: marked, 2: not
}

func (o *originService) RunCommand(ctx context.Context, r ops.CommandRequest) (ops.CommandResponse, error) {
	o.fromAPI.Store(map[bool]int32{true: 1, false: 2}[ops.FromAPI(ctx)])
	return o.fakeService.RunCommand(ctx, r)
}

type originTicks struct {
	fakeTicks
	fromAPI atomic.Int32
}

func (o *originTicks) ReservationTick(ctx context.Context, ev scheduler.Event) (scheduler.ReservationSummary, error) {
	o.fromAPI.Store(map[bool]int32{true: 1, false: 2}[ops.FromAPI(ctx)])
	return o.fakeTicks.ReservationTick(ctx, ev)
}

// The API's routes mark their requests (their station calls then take at
// most one of a station's slots); the tick routes run scheduler work and
// do not.
func TestRoutes_MarkAPIOrigin(t *testing.T) {
	svc := &originService{fakeService: &fakeService{}}
	ticks := &originTicks{}
	hs := newHarness(t, func(o *Options) { o.Service, o.Ticks = svc, ticks })
	if w := hs.do(t, "POST", "/api/winrm", `{"host":"lab-ws-01","command":"status"}`); w.Code != 200 || svc.fromAPI.Load() != 1 {
		t.Errorf("/api/winrm: %d, marked %d (want 1)", w.Code, svc.fromAPI.Load())
	}
	if w := hs.do(t, "POST", "/api/ticks/reservations", `{}`); w.Code != 200 || ticks.fromAPI.Load() != 2 {
		t.Errorf("/api/ticks/reservations: %d, marked %d (want 2: not marked)", w.Code, ticks.fromAPI.Load())
	}
}

package powerops

import (
	"context"
	"sync"
	"time"

	"github.com/ops-worker/ops-worker/internal/power"
)

// memDriver is the built-in "mock" driver when no DriverFactory is given:
// outlets in memory, starting at their default state, kept for the
// Service's life (the development default; the real mock driver with
// persisted state comes with the drivers' factory).
type memDriver struct {
	mu     sync.Mutex
	states map[string]string
	order  []string
	sleep  func(context.Context, time.Duration) error
}

func newMemDriver(c power.Controller, sleep func(context.Context, time.Duration) error) *memDriver {
	m := &memDriver{states: map[string]string{}, sleep: sleep}
	for _, o := range c.Outlets {
		m.states[o.Outlet] = o.DefaultState
		m.order = append(m.order, o.Outlet)
	}
	return m
}

func (m *memDriver) Describe(context.Context) (power.Description, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return power.Description{Driver: power.DriverMock, Model: "in-memory mock", Outlets: len(m.order)}, nil
}

func (m *memDriver) Outlets(context.Context) ([]power.OutletState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]power.OutletState, 0, len(m.order))
	for _, k := range m.order {
		out = append(out, power.OutletState{Outlet: k, State: m.states[k]})
	}
	return out, nil
}

func (m *memDriver) Set(_ context.Context, outlet, state string) (power.OutletState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.states[outlet]; !ok {
		return power.OutletState{}, power.Errorf(power.CodeOutletUnknown, "no outlet %s", outlet)
	}
	if state != power.StateOn && state != power.StateOff {
		return power.OutletState{}, power.Errorf(power.CodeConfig, "state must be on or off")
	}
	m.states[outlet] = state
	return power.OutletState{Outlet: outlet, State: state}, nil
}

func (m *memDriver) Cycle(ctx context.Context, outlet string, off time.Duration) (power.OutletState, error) {
	if _, err := m.Set(ctx, outlet, power.StateOff); err != nil {
		return power.OutletState{}, err
	}
	if err := m.sleep(ctx, off); err != nil {
		return power.OutletState{Outlet: outlet, State: power.StateOff}, power.Errorf(power.CodeUnreachable, "cycle interrupted")
	}
	return m.Set(ctx, outlet, power.StateOn)
}

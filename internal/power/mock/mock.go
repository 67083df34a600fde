// Package mock is the mock power driver: an in-process strip of N outlets
// for development, CI and the demo, its state kept in a JSON file (or in
// memory), with an optional delay and injectable faults.
package mock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ops-worker/ops-worker/internal/power"
)

// DriverName is the catalog's name of this driver.
const DriverName = "mock"

// Bounds.
const (
	DefaultOutlets = 8
	MaxOutlets     = 96
	maxStateFile   = 1 << 20
)

// Faults make operations fail, for tests and demos of failure paths.
type Faults struct {
	// Code is the power error code the matching operations fail with
	// ("" none).
	Code string
	// Ops limits the fault to these operations (describe, outlets, set,
	// cycle); empty means all.
	Ops []string
	// Outlets limits set and cycle faults to these outlets; empty means all.
	Outlets []string
	// Stuck makes commands succeed without changing the state (a
	// read-back mismatch).
	Stuck bool
}

// Config is one mock controller.
type Config struct {
	Outlets int // DefaultOutlets when 0
	// StatePath is the JSON file keeping the outlets' state across
	// restarts; empty keeps it in memory.
	StatePath string
	// Delay is added to every operation (bounded by ctx), to look like a
	// device on a network.
	Delay  time.Duration
	Faults Faults
}

// Driver is a mock strip; safe for concurrent use.
type Driver struct {
	cfg Config

	mu     sync.Mutex
	on     []bool
	faults Faults
}

type stateFile struct {
	Outlets map[string]string `json:"outlets"`
}

// New makes the strip, loading StatePath when it exists (outlets it does
// not list start off). All outlets start off otherwise.
func New(cfg Config) (*Driver, error) {
	if cfg.Outlets == 0 {
		cfg.Outlets = DefaultOutlets
	}
	if cfg.Outlets < 1 || cfg.Outlets > MaxOutlets {
		return nil, power.Errorf(power.CodeConfig, "mock outlets %d is invalid (1..%d)", cfg.Outlets, MaxOutlets)
	}
	if cfg.Delay < 0 || cfg.Delay > time.Minute {
		return nil, power.Errorf(power.CodeConfig, "mock delay %s is invalid", cfg.Delay)
	}
	if err := checkFaults(cfg.Faults); err != nil {
		return nil, err
	}
	d := &Driver{cfg: cfg, on: make([]bool, cfg.Outlets), faults: cfg.Faults}
	if cfg.StatePath == "" {
		return d, nil
	}
	raw, err := os.ReadFile(cfg.StatePath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return d, nil
	case err != nil:
		return nil, &power.Error{Code: power.CodeConfig, Message: "mock state file cannot be read", Err: err}
	case len(raw) > maxStateFile:
		return nil, power.Errorf(power.CodeConfig, "mock state file is larger than %d bytes", maxStateFile)
	}
	var sf stateFile
	if err := json.Unmarshal(raw, &sf); err != nil {
		return nil, &power.Error{Code: power.CodeConfig, Message: "mock state file is not valid JSON", Err: err}
	}
	for k, v := range sf.Outlets {
		n, err := strconv.Atoi(k)
		if err != nil || n < 1 || n > cfg.Outlets {
			continue // an outlet the strip no longer has
		}
		switch v {
		case power.StateOn:
			d.on[n-1] = true
		case power.StateOff:
		default:
			return nil, power.Errorf(power.CodeConfig, "mock state file: outlet %d has state %q", n, clean(v))
		}
	}
	return d, nil
}

func checkFaults(f Faults) error {
	switch f.Code {
	case "", power.CodeUnreachable, power.CodeAuth, power.CodeUnsupportedProfile, power.CodeOutletUnknown,
		power.CodeReadBackMismatch, power.CodeBadResponse, power.CodeConfig:
	default:
		return power.Errorf(power.CodeConfig, "mock fault code %q is unknown", clean(f.Code))
	}
	for _, op := range f.Ops {
		if !slices.Contains([]string{"describe", "outlets", "set", "cycle"}, op) {
			return power.Errorf(power.CodeConfig, "mock fault operation %q is unknown", clean(op))
		}
	}
	return nil
}

// SetFaults replaces the faults (a demo's switch).
func (d *Driver) SetFaults(f Faults) error {
	if err := checkFaults(f); err != nil {
		return err
	}
	d.mu.Lock()
	d.faults = f
	d.mu.Unlock()
	return nil
}

func clean(s string) string {
	if len(s) > 32 {
		s = s[:32]
	}
	return strings.ToValidUTF8(s, "?")
}

// begin waits the delay and applies the faults of op on outlet.
func (d *Driver) begin(ctx context.Context, op, outlet string) error {
	if d.cfg.Delay > 0 {
		t := time.NewTimer(d.cfg.Delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return &power.Error{Code: power.CodeUnreachable, Message: "mock " + op + " cancelled", Err: ctx.Err()}
		case <-t.C:
		}
	} else if err := ctx.Err(); err != nil {
		return &power.Error{Code: power.CodeUnreachable, Message: "mock " + op + " cancelled", Err: err}
	}
	d.mu.Lock()
	f := d.faults
	d.mu.Unlock()
	if f.Code == "" || (len(f.Ops) > 0 && !slices.Contains(f.Ops, op)) ||
		(outlet != "" && len(f.Outlets) > 0 && !slices.Contains(f.Outlets, outlet)) {
		return nil
	}
	return power.Errorf(f.Code, "mock fault on %s", op)
}

func state(on bool) string {
	if on {
		return power.StateOn
	}
	return power.StateOff
}

func (d *Driver) outlet(i int) power.OutletState {
	return power.OutletState{Outlet: strconv.Itoa(i + 1), Name: fmt.Sprintf("Mock outlet %d", i+1), State: state(d.on[i])}
}

// Describe implements power.Driver.
func (d *Driver) Describe(ctx context.Context) (power.Description, error) {
	if err := d.begin(ctx, "describe", ""); err != nil {
		return power.Description{}, err
	}
	return power.Description{Driver: DriverName, Model: "Mock PDU", Firmware: "1", Outlets: d.cfg.Outlets}, nil
}

// Outlets implements power.Driver.
func (d *Driver) Outlets(ctx context.Context) ([]power.OutletState, error) {
	if err := d.begin(ctx, "outlets", ""); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]power.OutletState, len(d.on))
	for i := range d.on {
		out[i] = d.outlet(i)
	}
	return out, nil
}

func (d *Driver) index(outlet string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(outlet))
	if err != nil || n < 1 || n > d.cfg.Outlets {
		return 0, power.Errorf(power.CodeOutletUnknown, "the mock strip has no outlet %q", clean(outlet))
	}
	return n - 1, nil
}

// Set implements power.Driver.
func (d *Driver) Set(ctx context.Context, outlet, st string) (power.OutletState, error) {
	if st != power.StateOn && st != power.StateOff {
		return power.OutletState{}, power.Errorf(power.CodeConfig, "state %q is not on or off", clean(st))
	}
	i, err := d.index(outlet)
	if err != nil {
		return power.OutletState{}, err
	}
	if err := d.begin(ctx, "set", outlet); err != nil {
		return power.OutletState{}, err
	}
	return d.apply(i, st == power.StateOn, st)
}

// Cycle implements power.Driver: off, wait off (bounded by ctx), on.
func (d *Driver) Cycle(ctx context.Context, outlet string, off time.Duration) (power.OutletState, error) {
	if off <= 0 {
		return power.OutletState{}, power.Errorf(power.CodeConfig, "cycle off time must be positive")
	}
	i, err := d.index(outlet)
	if err != nil {
		return power.OutletState{}, err
	}
	if err := d.begin(ctx, "cycle", outlet); err != nil {
		return power.OutletState{}, err
	}
	if _, err := d.apply(i, false, power.StateOff); err != nil {
		return power.OutletState{}, err
	}
	t := time.NewTimer(off)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return power.OutletState{}, &power.Error{Code: power.CodeUnreachable, Message: "mock cycle cancelled while off", Err: ctx.Err()}
	case <-t.C:
	}
	return d.apply(i, true, power.StateOn)
}

func (d *Driver) apply(i int, on bool, want string) (power.OutletState, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.faults.Stuck {
		prev := d.on[i]
		d.on[i] = on
		if err := d.save(); err != nil {
			d.on[i] = prev
			return power.OutletState{}, err
		}
	}
	got := d.outlet(i)
	if got.State != want {
		return got, power.Errorf(power.CodeReadBackMismatch, "mock outlet %d reads %s, want %s", i+1, got.State, want)
	}
	return got, nil
}

// save writes the state file atomically (d.mu held).
func (d *Driver) save() error {
	if d.cfg.StatePath == "" {
		return nil
	}
	sf := stateFile{Outlets: make(map[string]string, len(d.on))}
	for i, on := range d.on {
		sf.Outlets[strconv.Itoa(i+1)] = state(on)
	}
	raw, err := json.MarshalIndent(sf, "", "  ")
	if err != nil {
		return &power.Error{Code: power.CodeConfig, Message: "mock state cannot be encoded", Err: err}
	}
	tmp, err := os.CreateTemp(filepath.Dir(d.cfg.StatePath), ".mock-state-*")
	if err != nil {
		return &power.Error{Code: power.CodeConfig, Message: "mock state file cannot be written", Err: err}
	}
	_, werr := tmp.Write(append(raw, '\n'))
	cerr := tmp.Close()
	if werr == nil && cerr == nil {
		werr = os.Rename(tmp.Name(), d.cfg.StatePath)
	}
	if werr != nil || cerr != nil {
		_ = os.Remove(tmp.Name())
		return &power.Error{Code: power.CodeConfig, Message: "mock state file cannot be written", Err: errors.Join(werr, cerr)}
	}
	return nil
}

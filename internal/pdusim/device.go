// Package pdusim simulates networked power strips (PDUs) for tests and the
// demo: a Device holds outlets with state, a switching delay and faults; an
// Agent serves it as an APC switched PDU over SNMP v1, v2c and v3 (USM) on
// loopback UDP, and a NetioServer as a NETIO strip's /netio.json over HTTP
// or HTTPS. Every switching command is recorded, so tests can count what
// a driver really did. A labsim station can be plugged into an outlet.
package pdusim

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Action is a switching command as the device received it.
type Action string

// Actions.
const (
	ActionOn     Action = "on"
	ActionOff    Action = "off"
	ActionReboot Action = "reboot" // off, wait, on
	// ActionShortOn is NETIO's "short on": on, wait, off.
	ActionShortOn Action = "short-on"
	ActionToggle  Action = "toggle"
)

// Fault is what a device does wrong, for the driver's error paths.
type Fault int

// Faults.
const (
	FaultNone Fault = iota
	// FaultTimeout: requests get no answer at all.
	FaultTimeout
	// FaultRefuse: the SNMP socket is closed (the kernel answers ICMP
	// port unreachable); NETIO connections are closed without an answer.
	FaultRefuse
	// FaultWrongReadBack: commands are obeyed but the status shows the
	// opposite of each outlet's real state.
	FaultWrongReadBack
)

func (f Fault) String() string {
	switch f {
	case FaultNone:
		return "none"
	case FaultTimeout:
		return "timeout"
	case FaultRefuse:
		return "refuse"
	case FaultWrongReadBack:
		return "wrong-read-back"
	}
	return fmt.Sprintf("fault(%d)", int(f))
}

// Record is one switching command a device accepted.
type Record struct {
	At     time.Time
	Outlet int // 1-based
	Action Action
	// Protocol is "snmpv1", "snmpv2c", "snmpv3" or "netio".
	Protocol string
	// User is the SNMPv3 user or the NETIO Basic-auth user; empty for a
	// community (a community is a secret and is never recorded).
	User string
}

// Outlet is one outlet's state at a moment.
type Outlet struct {
	Index int // 1-based
	Name  string
	// On is the real state (what a plugged station sees).
	On bool
	// Reported is what the status tables show: On, or its opposite under
	// FaultWrongReadBack.
	Reported bool
	// Pending: a command was accepted and has not finished.
	Pending bool
}

// DeviceConfig configures a Device.
type DeviceConfig struct {
	// Outlets is the outlet count, 1 to 64.
	Outlets int
	// Names are the outlets' names; missing ones are "Outlet <n>".
	Names []string
	// InitiallyOn lists outlets (1-based) that start switched on.
	InitiallyOn []int
	// SwitchDelay: a command takes effect this long after it is accepted;
	// the status shows the old state meanwhile (as a real PDU's relay
	// sequencing does).
	SwitchDelay time.Duration
	// RebootOff is how long a reboot (or NETIO short off/on) keeps the
	// outlet in its transient state (1s when 0).
	RebootOff time.Duration
	// OnSwitch, if set, is called (outside the device's lock) whenever an
	// outlet's real state changes.
	OnSwitch func(outlet int, on bool)
}

// MaxOutlets bounds DeviceConfig.Outlets.
const MaxOutlets = 64

// Device is a simulated PDU's outlets. It is safe for concurrent use.
type Device struct {
	mu         sync.Mutex
	hookMu     sync.Mutex
	outlets    []outlet
	delay      time.Duration
	rebootOff  time.Duration
	fault      Fault
	records    []Record
	hooks      []func(outlet int, on bool)
	faultHooks []func(Fault)
	timers     map[*time.Timer]struct{}
	closed     bool
	now        func() time.Time
}

type outlet struct {
	name string
	on   bool
	// gen is bumped by every command: a scheduled step of an older
	// command that finds a newer gen does nothing.
	gen     uint64
	pending int // steps still scheduled
}

// NewDevice makes a device.
func NewDevice(cfg DeviceConfig) (*Device, error) {
	if cfg.Outlets < 1 || cfg.Outlets > MaxOutlets {
		return nil, fmt.Errorf("pdusim: outlet count %d out of 1..%d", cfg.Outlets, MaxOutlets)
	}
	if cfg.SwitchDelay < 0 || cfg.RebootOff < 0 {
		return nil, errors.New("pdusim: negative delay")
	}
	if len(cfg.Names) > cfg.Outlets {
		return nil, fmt.Errorf("pdusim: %d names for %d outlets", len(cfg.Names), cfg.Outlets)
	}
	d := &Device{
		outlets:   make([]outlet, cfg.Outlets),
		delay:     cfg.SwitchDelay,
		rebootOff: cfg.RebootOff,
		timers:    map[*time.Timer]struct{}{},
		now:       time.Now,
	}
	if d.rebootOff == 0 {
		d.rebootOff = time.Second
	}
	for i := range d.outlets {
		d.outlets[i].name = fmt.Sprintf("Outlet %d", i+1)
		if i < len(cfg.Names) && cfg.Names[i] != "" {
			d.outlets[i].name = cfg.Names[i]
		}
	}
	for _, n := range cfg.InitiallyOn {
		if n < 1 || n > cfg.Outlets {
			return nil, fmt.Errorf("pdusim: initially-on outlet %d out of 1..%d", n, cfg.Outlets)
		}
		d.outlets[n-1].on = true
	}
	if cfg.OnSwitch != nil {
		d.hooks = append(d.hooks, cfg.OnSwitch)
	}
	return d, nil
}

// Count is the number of outlets.
func (d *Device) Count() int { return len(d.outlets) }

// OnSwitch adds a hook called (outside the lock, in the goroutine that
// applied the change, in the order of the changes) whenever an outlet's
// real state changes. A hook must not switch outlets itself.
func (d *Device) OnSwitch(fn func(outlet int, on bool)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hooks = append(d.hooks, fn)
}

// onFault adds a hook called on every SetFault (the agent closes or
// reopens its socket for FaultRefuse).
func (d *Device) onFault(fn func(Fault)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.faultHooks = append(d.faultHooks, fn)
}

// SetFault sets the device's fault (FaultNone clears it).
func (d *Device) SetFault(f Fault) {
	d.mu.Lock()
	d.fault = f
	hooks := slices.Clone(d.faultHooks)
	d.mu.Unlock()
	for _, h := range hooks {
		h(f)
	}
}

// Fault returns the device's fault.
func (d *Device) Fault() Fault {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fault
}

// Outlets returns every outlet's state.
func (d *Device) Outlets() []Outlet {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Outlet, len(d.outlets))
	for i := range d.outlets {
		out[i] = d.snapshotLocked(i + 1)
	}
	return out
}

// Outlet returns one outlet's state (n is 1-based).
func (d *Device) Outlet(n int) (Outlet, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n < 1 || n > len(d.outlets) {
		return Outlet{}, fmt.Errorf("pdusim: no outlet %d (1..%d)", n, len(d.outlets))
	}
	return d.snapshotLocked(n), nil
}

func (d *Device) snapshotLocked(n int) Outlet {
	o := d.outlets[n-1]
	rep := o.on
	if d.fault == FaultWrongReadBack {
		rep = !rep
	}
	return Outlet{Index: n, Name: o.name, On: o.on, Reported: rep, Pending: o.pending > 0}
}

// Records returns every accepted switching command, oldest first.
func (d *Device) Records() []Record {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.records)
}

// ResetRecords forgets the records.
func (d *Device) ResetRecords() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.records = nil
}

// Command accepts a switching command as a protocol front end does:
// recorded now, applied after the switching delay. protocol and user go
// into the Record.
func (d *Device) Command(n int, a Action, protocol, user string) error {
	d.mu.Lock()
	if n < 1 || n > len(d.outlets) {
		d.mu.Unlock()
		return fmt.Errorf("pdusim: no outlet %d (1..%d)", n, len(d.outlets))
	}
	if d.closed {
		d.mu.Unlock()
		return errors.New("pdusim: device closed")
	}
	o := &d.outlets[n-1]
	o.gen++
	o.pending = 0
	gen := o.gen
	d.records = append(d.records, Record{At: d.now(), Outlet: n, Action: a, Protocol: protocol, User: user})
	// The steps: (delay, target state).
	type step struct {
		after time.Duration
		on    bool
	}
	var steps []step
	switch a {
	case ActionOn:
		steps = []step{{d.delay, true}}
	case ActionOff:
		steps = []step{{d.delay, false}}
	case ActionReboot:
		steps = []step{{d.delay, false}, {d.delay + d.rebootOff, true}}
	case ActionShortOn:
		steps = []step{{d.delay, true}, {d.delay + d.rebootOff, false}}
	case ActionToggle:
		steps = []step{{d.delay, !o.on}}
	default:
		d.records = d.records[:len(d.records)-1]
		d.mu.Unlock()
		return fmt.Errorf("pdusim: unknown action %q", a)
	}
	var now []step
	for _, s := range steps {
		if s.after == 0 {
			now = append(now, s)
			continue
		}
		o.pending++
		target := s.on
		var t *time.Timer
		t = time.AfterFunc(s.after, func() {
			d.mu.Lock()
			delete(d.timers, t)
			d.mu.Unlock()
			d.apply(n, gen, target, true)
		})
		d.timers[t] = struct{}{}
	}
	d.mu.Unlock()
	for _, s := range now {
		d.apply(n, gen, s.on, false)
	}
	return nil
}

// apply sets outlet n to on if no newer command superseded gen, and calls
// the hooks on a change.
func (d *Device) apply(n int, gen uint64, on, scheduled bool) {
	d.mu.Lock()
	o := &d.outlets[n-1]
	if o.gen != gen || d.closed {
		d.mu.Unlock()
		return
	}
	if scheduled && o.pending > 0 {
		o.pending--
	}
	changed := o.on != on
	o.on = on
	hooks := slices.Clone(d.hooks)
	// hookMu, taken before d.mu is released, keeps the hooks' calls in
	// the order of the changes (two timers may fire close together).
	d.hookMu.Lock()
	defer d.hookMu.Unlock()
	d.mu.Unlock()
	if changed {
		for _, h := range hooks {
			h(n, on)
		}
	}
}

// Close stops every scheduled step; later commands fail.
func (d *Device) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for t := range d.timers {
		t.Stop()
	}
	clear(d.timers)
}

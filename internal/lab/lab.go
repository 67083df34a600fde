// Package lab is the one interface through which the use cases act on a
// Lab Station (wake it, check it is up, run LabStation.exe, read its
// heartbeat), and Direct, its implementation that talks to the station
// itself (magic packets and WinRM). The relay client implements Lab too.
package lab

import (
	"cmp"
	"context"
	"errors"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/labstation"
)

// Lab is what can be done to a lab host.
type Lab interface {
	// Wake sends magic packets and waits until the host answers.
	Wake(ctx context.Context, h hosts.Host, o WakeOptions) (WakeResult, error)
	// Reachable probes the host (no magic packet) for up to wait and says
	// which probe answered ("icmp" or "tcp").
	Reachable(ctx context.Context, h hosts.Host, wait time.Duration) (reachedBy string, err error)
	// RunCommand runs `LabStation.exe command args...` on the host.
	RunCommand(ctx context.Context, h hosts.Host, command string, args []string, o CommandOptions) (CommandResult, error)
	// ReadHeartbeat reads and parses heartbeat.json and, when includeEvents,
	// the last event. An unreadable or unparsable events log leaves
	// LastEvent nil (EventsErr says why) and still returns the heartbeat.
	ReadHeartbeat(ctx context.Context, h hosts.Host, includeEvents bool) (HeartbeatRead, error)
	// SetLocalMode writes (enabled) or removes (disabled) the host's
	// local-mode flag file, the catalog's local_mode_flag_path; removing
	// an absent flag succeeds. The station's heartbeat then reports it.
	SetLocalMode(ctx context.Context, h hosts.Host, enabled bool) error
}

// WakeOptions are the per-request values of /api/wol; zero values take the
// host entry's, then the defaults.
type WakeOptions struct {
	MAC         string
	Broadcast   string
	Port        int
	PingTarget  string
	PingTimeout time.Duration // wait after each packet
	Attempts    int
}

// Resolve is o with what it leaves zero taken from the host entry: the one
// rule of which value wins, the request's then the entry's. ops plans a
// wake with it (then adds its defaults and checks every value); Direct
// applies it again for a caller that did not plan (the relay's requests),
// a no-op on a plan.
func (o WakeOptions) Resolve(h hosts.Host) WakeOptions {
	o.MAC = cmp.Or(o.MAC, h.MAC)
	o.Broadcast = cmp.Or(o.Broadcast, h.Broadcast)
	o.Port = cmp.Or(o.Port, h.WOLPort)
	o.PingTarget = cmp.Or(o.PingTarget, h.PingTarget, h.Address)
	o.Attempts = cmp.Or(o.Attempts, h.WakeAttempts)
	return o
}

// WakeResult is the answer of /api/wol.
type WakeResult struct {
	Success      bool
	AttemptsUsed int
	Duration     time.Duration
	PingTarget   string
	ReachedBy    string // "icmp", "tcp" or "" when nothing answered
}

// CommandOptions are the per-request overrides of /api/winrm; Policy
// refuses any that would weaken the host's policy.
type CommandOptions struct {
	Transport string
	UseSSL    *bool
	Port      int
	User      string
	Password  string // secret: String, GoString, LogValue and MarshalJSON mask it
}

// CommandResult is the answer of /api/winrm.
type CommandResult struct {
	ExitCode int
	Stdout   string
	Stderr   string
	Duration time.Duration
	Outcome  labstation.Outcome
}

// HeartbeatRead is one heartbeat poll.
type HeartbeatRead struct {
	Heartbeat *labstation.Heartbeat
	LastEvent *labstation.Event // nil: none, not asked, or unreadable
	EventsErr error             // why LastEvent is nil when the log was unreadable
	Stale     bool
	Duration  time.Duration
}

// DefaultStaleAfter flags a heartbeat older than this as stale (the station
// service rewrites it about every minute). It is the one home of the
// default of OPS_HEARTBEAT_STALE_AFTER (config's test checks its tag).
const DefaultStaleAfter = 5 * time.Minute

// ErrEventsUnreadable is HeartbeatRead.EventsErr when the events log could
// not be read; the heartbeat itself is still returned.
var ErrEventsUnreadable = errors.New("events log unreadable")

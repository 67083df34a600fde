package direct

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// Lazy is a Direct with its WinRM client built on the first call that
// needs one (a command or a heartbeat read). A function that only wakes
// hosts, or only reads the database, never builds it. The Waker decides its
// ICMP mode on first use too (its zero value does).
type Lazy struct {
	wakeOnly *Direct                      // Wake and Reachable: no WinRM
	full     func() *Direct               // sync.OnceValue
	client   atomic.Pointer[winrm.Client] // set once full has run
}

var _ lab.Lab = (*Lazy)(nil)

// NewLazy is base (whose WinRM field is ignored) with a client of cfg built
// on first need.
func NewLazy(base Direct, cfg winrm.Config, logger *slog.Logger) *Lazy {
	l := &Lazy{}
	wakeOnly := base
	wakeOnly.WinRM = nil
	l.wakeOnly = &wakeOnly
	l.full = sync.OnceValue(func() *Direct {
		c := winrm.New(cfg)
		l.client.Store(c)
		d := base
		d.WinRM = c
		logger.Debug("winrm client built")
		return &d
	})
	return l
}

func (l *Lazy) Wake(ctx context.Context, h hosts.Host, o lab.WakeOptions) (lab.WakeResult, error) {
	return l.wakeOnly.Wake(ctx, h, o)
}

func (l *Lazy) Reachable(ctx context.Context, h hosts.Host, wait time.Duration) (string, error) {
	return l.wakeOnly.Reachable(ctx, h, wait)
}

func (l *Lazy) RunCommand(ctx context.Context, h hosts.Host, command string, args []string, o lab.CommandOptions) (lab.CommandResult, error) {
	return l.full().RunCommand(ctx, h, command, args, o)
}

func (l *Lazy) ReadHeartbeat(ctx context.Context, h hosts.Host, includeEvents bool) (lab.HeartbeatRead, error) {
	return l.full().ReadHeartbeat(ctx, h, includeEvents)
}

func (l *Lazy) SetLocalMode(ctx context.Context, h hosts.Host, enabled bool) error {
	return l.full().SetLocalMode(ctx, h, enabled)
}

// IdleConnections is the number of station connections the WinRM client
// keeps for reuse (0 before it is built).
func (l *Lazy) IdleConnections() int {
	if c := l.client.Load(); c != nil {
		return c.IdleConnections()
	}
	return 0
}

// Built reports whether the WinRM client exists.
func (l *Lazy) Built() bool { return l.client.Load() != nil }

// Close waits for the background deletion of abandoned shells, if a
// client was ever built.
func (l *Lazy) Close() error {
	if c := l.client.Load(); c != nil {
		return c.Close()
	}
	return nil
}

package app

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/wake"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// lazyLab is lab.Direct with its WinRM client built on the first call that
// needs one (a command or a heartbeat read). A function that only wakes
// hosts, or only reads the database, never builds it. The Waker decides its
// ICMP mode on first use too (its zero value does).
type lazyLab struct {
	wakeOnly *lab.Direct                  // Wake and Reachable: no WinRM
	full     func() *lab.Direct           // sync.OnceValue
	client   atomic.Pointer[winrm.Client] // set once full has run
}

var _ lab.Lab = (*lazyLab)(nil)

func newLazyLab(cfg config.Config, logger *slog.Logger, obs Observers) *lazyLab {
	waker := &wake.Waker{Logger: logger, Observer: obs.Wake}
	base := lab.Direct{
		Waker:        waker,
		GlobalCAFile: cfg.WinRMCAFile,
		Policy: lab.Policy{
			// Non-nil (config refuses an empty list): exactly what
			// OPS_WINRM_ALLOWED_TRANSPORTS names.
			AllowedTransports:       append([]string{}, cfg.WinRMAllowedTransports...),
			AllowCredentialOverride: cfg.AllowCredentialOverride,
		},
		// No AllowedCommands: the use cases check OPS_ALLOWED_COMMANDS
		// once, before anything runs (lab.Direct.AllowedCommands).
		StaleAfter: cfg.HeartbeatStaleAfter(),
	}
	l := &lazyLab{}
	wakeOnly := base
	l.wakeOnly = &wakeOnly
	l.full = sync.OnceValue(func() *lab.Direct {
		wc := WinRMConfig(cfg, logger)
		wc.Observer = obs.WinRM
		c := winrm.New(wc)
		l.client.Store(c)
		d := base
		d.WinRM = c
		logger.Debug("winrm client built")
		return &d
	})
	return l
}

// WinRMConfig is the WinRM client configuration of cfg.
func WinRMConfig(cfg config.Config, logger *slog.Logger) winrm.Config {
	return winrm.Config{
		OperationTimeout: cfg.WinRMOperationTimeout(),
		ReadTimeout:      cfg.WinRMReadTimeout(),
		CommandTimeout:   cfg.WinRMCommandTimeout(),
		MaxIdleConns:     cfg.WinRMMaxIdleConns,
		Logger:           logger,
	}
}

func (l *lazyLab) Wake(ctx context.Context, h hosts.Host, o lab.WakeOptions) (lab.WakeResult, error) {
	return l.wakeOnly.Wake(ctx, h, o)
}

func (l *lazyLab) Reachable(ctx context.Context, h hosts.Host, wait time.Duration) (string, error) {
	return l.wakeOnly.Reachable(ctx, h, wait)
}

func (l *lazyLab) RunCommand(ctx context.Context, h hosts.Host, command string, args []string, o lab.CommandOptions) (lab.CommandResult, error) {
	return l.full().RunCommand(ctx, h, command, args, o)
}

func (l *lazyLab) ReadHeartbeat(ctx context.Context, h hosts.Host, includeEvents bool) (lab.HeartbeatRead, error) {
	return l.full().ReadHeartbeat(ctx, h, includeEvents)
}

// idleConnections is the number of station connections the WinRM client
// keeps for reuse (0 before it is built).
func (l *lazyLab) idleConnections() int {
	if c := l.client.Load(); c != nil {
		return c.IdleConnections()
	}
	return 0
}

// built reports whether the WinRM client exists.
func (l *lazyLab) built() bool { return l.client.Load() != nil }

// Close waits for the background deletion of abandoned shells, if a
// client was ever built.
func (l *lazyLab) Close() error {
	if c := l.client.Load(); c != nil {
		return c.Close()
	}
	return nil
}

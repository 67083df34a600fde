package app

import (
	"log/slog"

	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/lab/direct"
	"github.com/ops-worker/ops-worker/internal/wake"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// newLazyLab is the worker's direct.Lazy: Wake-on-LAN and WinRM as cfg
// says, the WinRM client built on first need.
func newLazyLab(cfg config.Config, logger *slog.Logger, obs Observers) *direct.Lazy {
	base := direct.Direct{
		Waker:        &wake.Waker{Logger: logger, Observer: obs.Wake},
		GlobalCAFile: cfg.WinRMCAFile,
		Policy: direct.Policy{
			// Non-nil (config refuses an empty list): exactly what
			// OPS_WINRM_ALLOWED_TRANSPORTS names.
			AllowedTransports:       append([]string{}, cfg.WinRMAllowedTransports...),
			AllowCredentialOverride: cfg.AllowCredentialOverride,
		},
		// No AllowedCommands: the use cases check OPS_ALLOWED_COMMANDS
		// once, before anything runs (direct.Direct.AllowedCommands).
		StaleAfter: cfg.HeartbeatStaleAfter(),
	}
	wc := WinRMConfig(cfg, logger)
	wc.Observer = obs.WinRM
	return direct.NewLazy(base, wc, logger)
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

package config

import (
	"fmt"
	"time"
)

// validateLimits checks the limits on what an API caller may ask.
func (c *Config) validateLimits() error {
	if c.MaxGuardGraceSec <= 0 {
		return fmt.Errorf("OPS_MAX_GUARD_GRACE: must be a positive number, got %d", c.MaxGuardGraceSec)
	}
	return nil
}

// MaxGuardGrace is OPS_MAX_GUARD_GRACE: the longest session-guard grace
// (--guard-grace, --grace, a reservation start's guardGrace) a request may
// give. A command's deadline is its grace + 60 s (labstation.MinRunTime), so
// an unbounded grace would let one call hold a station's WinRM slot for a
// day; the 1 h default is far above the contract's 90 s.
func (c Config) MaxGuardGrace() time.Duration { return sec(c.MaxGuardGraceSec) }

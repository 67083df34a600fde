package config

import (
	"fmt"
	"time"
)

// validateStream checks the heartbeat streams' settings.
func (c *Config) validateStream() error {
	for _, p := range []named{
		{"OPS_HEARTBEAT_SSE_INTERVAL_SECONDS", c.HeartbeatSSEIntervalSec},
		{"OPS_HEARTBEAT_STREAM_MAX", c.HeartbeatStreamMax},
	} {
		if p.v <= 0 {
			return fmt.Errorf("%s: must be a positive number, got %d", p.name, p.v)
		}
	}
	if c.HeartbeatStreamEndMarginSec < 0 {
		return fmt.Errorf("OPS_HEARTBEAT_STREAM_END_MARGIN: must not be negative, got %d", c.HeartbeatStreamEndMarginSec)
	}
	return nil
}

// HeartbeatSSEInterval is OPS_HEARTBEAT_SSE_INTERVAL_SECONDS: the time
// between two events of a heartbeat stream, and so the most often this
// process asks one station for its heartbeat on behalf of all its streams.
func (c Config) HeartbeatSSEInterval() time.Duration { return sec(c.HeartbeatSSEIntervalSec) }

// HeartbeatStreamEndMargin is OPS_HEARTBEAT_STREAM_END_MARGIN: how long
// before a Lambda invocation's deadline a stream ends by itself, so that
// the browser's EventSource reconnects rather than sees a cut.
func (c Config) HeartbeatStreamEndMargin() time.Duration { return sec(c.HeartbeatStreamEndMarginSec) }

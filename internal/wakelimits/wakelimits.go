// Package wakelimits holds the defaults and bounds of one Wake-on-LAN wake
// (API.md "POST /api/wol"): the catalog defaults a host with them (hosts),
// the use cases check a request against them (ops) and the sender
// enforces them (wake). A leaf, so that neither the catalog nor the use
// cases import the sender to know them.
package wakelimits

import "time"

const (
	// DefaultBroadcast, DefaultPort and DefaultAttempts are what a zero
	// broadcast, UDP port and attempt count mean.
	DefaultBroadcast = "255.255.255.255"
	DefaultPort      = 9
	DefaultAttempts  = 3
	// DefaultWait is the wait after each packet (ping_timeout 10 s).
	DefaultWait = 10 * time.Second
	// MaxAttempts and MaxWait bound one wake: one request must not hold
	// a worker for hours.
	MaxAttempts = 20
	MaxWait     = 5 * time.Minute
)

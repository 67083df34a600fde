// Package wakelimits holds the bounds of one Wake-on-LAN wake (API.md
// "POST /api/wol"): the use cases check a request against them (ops) and
// the sender enforces them (wake). A leaf, so that the use cases need not
// import the sender to know them.
package wakelimits

import "time"

const (
	// DefaultWait is the wait after each packet (ping_timeout 10 s).
	DefaultWait = 10 * time.Second
	// MaxAttempts and MaxWait bound one wake: one request must not hold
	// a worker for hours.
	MaxAttempts = 20
	MaxWait     = 5 * time.Minute
)

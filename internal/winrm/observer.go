package winrm

import "time"

// Observer is told the outcome of every Run and RunPowerShell call, for
// metrics. It is called once per call, after it ended, from the caller's
// goroutine: it must be fast and safe for concurrent use.
type Observer interface {
	// ObserveCall receives the call's Op (RunOptions.Op, or "run" /
	// "powershell"), its error (nil, or an *Error whose Kind is one of
	// the Err* values) and how long it took.
	ObserveCall(op string, err error, d time.Duration)
}

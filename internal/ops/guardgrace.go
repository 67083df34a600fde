package ops

import (
	"cmp"
	"time"

	"github.com/ops-worker/ops-worker/internal/labstation"
)

// DefaultMaxGuardGrace is Settings.MaxGuardGrace's default
// (OPS_MAX_GUARD_GRACE): far above the contract's 90 s, far below the day a
// request could otherwise ask for.
const DefaultMaxGuardGrace = time.Hour

// checkGuardGrace refuses a session-guard command (prepare-session,
// release-session, session guard) whose grace is over
// Settings.MaxGuardGrace: the command's deadline is its grace + 60 s
// (labstation.MinRunTime), so a long grace holds one of the station's
// WinRM slots that long.
func (s *Service) checkGuardGrace(command string, args []string) *Error {
	limit := cmp.Or(s.Settings.MaxGuardGrace, DefaultMaxGuardGrace)
	run := labstation.MinRunTime(command, args)
	if run == 0 || run-labstation.GuardMargin <= limit {
		return nil
	}
	return Errorf(CodeArgumentRefused, "guard grace %d s is over the limit of %d s (OPS_MAX_GUARD_GRACE)",
		int64((run-labstation.GuardMargin)/time.Second), int64(limit/time.Second))
}

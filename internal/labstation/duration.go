package labstation

import (
	"strconv"
	"strings"
	"time"
)

// GuardMargin is the time a session-guard command is given beyond its grace
// period: notifying the user, the forced logoff, and the rest of
// prepare-session / release-session (closing the controller, wiping temp
// files, logging the lab user off).
const GuardMargin = 60 * time.Second

// maxGuardGrace caps the grace read from the arguments, so an absurd value
// cannot overflow a time.Duration; the caller's context still bounds a call.
const maxGuardGrace = 24 * time.Hour

// MinRunTime is the least time a worker must give LabStation.exe command
// with args before abandoning it (LABSTATION.md "Durations"): the session
// guard, run by prepare-session and release-session unless --no-guard, and
// by session guard, waits its grace period (--guard-grace / --grace, 90 s
// by default) when someone is at the console, so those commands get grace +
// GuardMargin. Every other command gets 0: it returns once its action is
// scheduled (power --delay, release-session --reboot-timeout act later).
// An unparsable grace counts as the default; the station refuses it anyway.
func MinRunTime(command string, args []string) time.Duration {
	var option string
	switch command {
	case CmdPrepareSession, CmdReleaseSession:
		option = "--guard-grace="
	case CmdSession:
		if len(args) == 0 || !strings.EqualFold(args[0], SubGuard) {
			return 0
		}
		option, args = "--grace=", args[1:]
	default:
		return 0
	}
	grace := time.Duration(DefaultGuardGrace) * time.Second
	for _, a := range args {
		if option == "--guard-grace=" && strings.EqualFold(a, "--no-guard") {
			return 0
		}
		if len(a) < len(option) || !strings.EqualFold(a[:len(option)], option) {
			continue
		}
		n, err := strconv.ParseUint(a[len(option):], 10, 64)
		if err != nil {
			continue
		}
		grace = maxGuardGrace
		if n < uint64(maxGuardGrace/time.Second) {
			grace = time.Duration(n) * time.Second
		}
	}
	return grace + GuardMargin
}

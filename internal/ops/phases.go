package ops

import (
	"strings"

	"github.com/ops-worker/ops-worker/internal/domain"
)

// Action names recorded in reservation_operations (API.md). A command step
// is recorded under its step name ("prepare", "release", "power:<mode>").
const (
	ActionWake        = "wake"
	ActionPrepare     = "prepare"
	ActionRelease     = "release"
	ActionPowerPrefix = "power:"
	// ActionPowerOff is the end flow's wait for the station to go down
	// after its power step (EndRequest.PowerOffWait). It feeds no phase:
	// the power phase stays the power command's.
	ActionPowerOff       = "power-off"
	ActionSchedulerStart = "scheduler:start"
	ActionSchedulerEnd   = "scheduler:end"
)

// phaseRules are the timeline's phases in display order and the action
// prefixes that feed each (API.md "GET /api/reservations/timeline").
var phaseRules = []struct {
	phase    string
	prefixes []string
}{
	{"wake", []string{ActionWake, ActionSchedulerStart}},
	{"prepare", []string{ActionPrepare}},
	{"release", []string{ActionRelease}},
	{"power", []string{ActionPowerPrefix}},
	{"schedulerEnd", []string{ActionSchedulerEnd}},
}

// PhaseNames lists the timeline phases in display order.
func PhaseNames() []string {
	out := make([]string, len(phaseRules))
	for i, p := range phaseRules {
		out[i] = p.phase
	}
	return out
}

// PhaseOf returns the timeline phase an action feeds, or "".
func PhaseOf(action string) string {
	if isOutletAction(action) {
		return "" // an outlet of the lab's bench, not the station's power
	}
	for _, p := range phaseRules {
		for _, pre := range p.prefixes {
			if strings.HasPrefix(action, pre) {
				return p.phase
			}
		}
	}
	return ""
}

// LatestPhases picks, for each phase, the latest operation among recent,
// which is newest first (domain.RecentOperations' order). A phase with no
// operation is absent from the map.
func LatestPhases(recent []domain.Operation) map[string]domain.Operation {
	out := map[string]domain.Operation{}
	for _, op := range recent {
		if p := PhaseOf(op.Action); p != "" {
			if _, seen := out[p]; !seen {
				out[p] = op
			}
		}
	}
	return out
}

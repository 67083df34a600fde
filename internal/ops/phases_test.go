package ops

import (
	"testing"

	"github.com/ops-worker/ops-worker/internal/store"
)

func TestPhaseOf(t *testing.T) {
	for action, want := range map[string]string{
		"wake": "wake", "scheduler:start": "wake", "prepare": "prepare", "release": "release",
		"power:shutdown": "power", "power:hibernate": "power", "power": "", "scheduler:end": "schedulerEnd",
		"status": "", "": "",
	} {
		if got := PhaseOf(action); got != want {
			t.Errorf("PhaseOf(%q) = %q, want %q", action, got, want)
		}
	}
}

func TestLatestPhases_NewestWins(t *testing.T) {
	// Newest first, as store.RecentOperations returns them.
	recent := []store.Operation{
		{ID: 9, Action: "scheduler:end"},
		{ID: 8, Action: "power:shutdown"},
		{ID: 7, Action: "release", Status: "failed"},
		{ID: 6, Action: "release", Status: "completed"},
		{ID: 5, Action: "prepare"},
		{ID: 4, Action: "scheduler:start"},
		{ID: 3, Action: "wake"},
	}
	got := LatestPhases(recent)
	want := map[string]int64{"wake": 4, "prepare": 5, "release": 7, "power": 8, "schedulerEnd": 9}
	if len(got) != len(want) {
		t.Fatalf("got %d phases, want %d: %v", len(got), len(want), got)
	}
	for p, id := range want {
		if got[p].ID != id {
			t.Errorf("phase %s: got op %d, want %d", p, got[p].ID, id)
		}
	}
	if len(LatestPhases(nil)) != 0 {
		t.Error("phases out of nothing")
	}
	if names := PhaseNames(); len(names) != 5 || names[0] != "wake" || names[4] != "schedulerEnd" {
		t.Errorf("PhaseNames = %v", names)
	}
}

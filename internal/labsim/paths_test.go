package labsim_test

import (
	"testing"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/labsim"
)

// The simulated station keeps its files where a real one does, which is
// where the catalog's defaults point (labsim has its own constants: it
// stands for the station, not for the worker's assumptions about it).
func TestPaths_AreTheCatalogDefaults(t *testing.T) {
	for _, c := range []struct{ name, sim, catalog string }{
		{"LabStation.exe", labsim.DefaultLabStationExe, hosts.DefaultLabStationExe},
		{"heartbeat", labsim.HeartbeatPath, hosts.DefaultHeartbeatPath},
		{"events", labsim.EventsPath, hosts.DefaultEventsPath},
		{"local-mode flag", labsim.LocalModeFlagPath, hosts.DefaultLocalModeFlagPath},
	} {
		if c.sim != c.catalog {
			t.Errorf("%s: labsim %q, catalog default %q", c.name, c.sim, c.catalog)
		}
	}
}

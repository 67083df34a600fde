package labsim

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/ops-worker/ops-worker/internal/fixtures"
)

// Paths of the files the station's service keeps up to date.
const (
	HeartbeatPath = `C:\LabStation\labstation\data\telemetry\heartbeat.json`
	EventsPath    = `C:\LabStation\labstation\data\telemetry\session-guard-events.jsonl`
)

// The files a station starts with: the shared fixtures.
var (
	heartbeatFixture = mustFixture(fixtures.Heartbeat)
	eventsFixture    = string(mustFixture(fixtures.Events))
)

// mustFixture reads a fixture embedded in this binary: failing is a build
// mistake, caught by every test that starts a station.
func mustFixture(name string) []byte {
	b, err := fixtures.Read(name)
	if err != nil {
		panic("labsim: " + err.Error())
	}
	return b
}

func initialState(h *Host, o HostOptions) stationState {
	st := stationState{localUser: o.LocalUser, profileMissing: o.ProfileMissing}
	var doc map[string]any
	if err := json.Unmarshal(heartbeatFixture, &doc); err == nil {
		if ops, ok := doc["operations"].(map[string]any); ok {
			st.lastForcedLogoff, _ = ops["lastForcedLogoff"].(map[string]any)
			st.lastPowerAction, _ = ops["lastPowerAction"].(map[string]any)
		}
	}
	if st.lastForcedLogoff != nil {
		st.lastForcedLogoff["user"] = h.computerName() + `\student`
	}
	for _, line := range strings.Split(strings.TrimSpace(eventsFixture), "\n") {
		st.events = append(st.events, strings.ReplaceAll(line, `LAB-WS-01\\`, h.computerName()+`\\`))
	}
	return st
}

func normPath(p string) string { return strings.ToLower(strings.ReplaceAll(p, "/", `\`)) }

// readFileLocked returns a file of the station's disk as it would read now.
func (h *Host) readFileLocked(path string) ([]byte, bool) {
	switch normPath(path) {
	case normPath(HeartbeatPath):
		b := h.heartbeatLocked()
		if h.faults.TruncatedOutput {
			b = b[:len(b)/2]
		}
		return b, true
	case normPath(EventsPath):
		if h.faults.EmptyEventsLog || len(h.state.events) == 0 {
			return []byte{}, true
		}
		return []byte(strings.Join(h.state.events, "\n") + "\n"), true
	}
	b, ok := h.files[normPath(path)]
	return b, ok
}

// heartbeatTime is when the service last rewrote heartbeat.json: every
// interval since boot, as the real service does.
func (h *Host) heartbeatTime() time.Time {
	now := h.sim.now()
	if h.faults.StaleHeartbeat {
		return now.Add(-2 * time.Hour).UTC().Truncate(time.Second)
	}
	n := now.Sub(h.bootedAt) / h.hbEvery
	if n < 0 {
		n = 0
	}
	t := h.bootedAt.Add(n * h.hbEvery).UTC().Truncate(time.Second)
	if h.rewroteAt.After(t) {
		return h.rewroteAt // rewritten out of turn (flagChangedLocked)
	}
	return t
}

func (h *Host) heartbeatLocked() []byte {
	var doc map[string]any
	_ = json.Unmarshal(heartbeatFixture, &doc)
	doc["timestamp"] = h.heartbeatTime().Format(time.RFC3339)
	doc["host"] = h.computerName()
	if h.faults.SchemaVersion != "" {
		doc["schemaVersion"] = h.faults.SchemaVersion
	}
	wake, _ := doc["wake"].(map[string]any)
	if wake == nil {
		wake = map[string]any{}
	}
	wake["nicPower"] = h.nicPowerLocked()
	doc["wake"] = wake
	local := h.state.localUser != ""
	issues := []any{}
	if local {
		issues = append(issues, "A local user is signed in")
	}
	state := "ready"
	if len(issues) > 0 {
		state = "needs-action"
	}
	summary := map[string]any{"state": state, "ready": len(issues) == 0, "issues": issues}
	doc["summary"] = summary
	ops := map[string]any{"lastForcedLogoff": orEmpty(h.state.lastForcedLogoff), "lastPowerAction": orEmpty(h.state.lastPowerAction)}
	doc["operations"] = ops
	if st, ok := doc["status"].(map[string]any); ok {
		st["localSessionActive"] = local
		st["localModeEnabled"] = h.localModeLocked()
		if h.faults.SchemaVersion != "" {
			st["schemaVersion"] = h.faults.SchemaVersion
		}
		if s, ok := st["sessions"].(map[string]any); ok {
			s["localSessionActive"] = local
			s["hasOtherUsers"] = local
		}
		st["summary"] = summary
		st["wake"] = wake // the status part carries it too (status-json)
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	return append(b, '\n')
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// statusLocked is what status-json prints: the status part of the heartbeat.
func (h *Host) statusLocked() []byte {
	var doc map[string]any
	_ = json.Unmarshal(h.heartbeatLocked(), &doc)
	st, _ := doc["status"].(map[string]any)
	if st == nil {
		st = map[string]any{}
	}
	st["host"] = h.computerName()
	st["timestamp"] = h.sim.now().UTC().Format(time.RFC3339)
	st["operations"] = doc["operations"]
	b, _ := json.MarshalIndent(st, "", "  ")
	return append(b, '\n')
}

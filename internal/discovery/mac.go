package discovery

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/ops-worker/ops-worker/internal/netaddr"
)

// MACSuggestion is the network card a heartbeat suggests waking: the MAC
// in lower-case colon form (as internal/hosts stores it; the older worker
// answered upper case), the JSON path of the list it came from, and the
// adapter as the heartbeat described it.
type MACSuggestion struct {
	MAC     string  `json:"mac"`
	Source  string  `json:"source"`
	Adapter Adapter `json:"adapter"`
}

// Adapter is one entry of a heartbeat's wake.nicPower list.
type Adapter struct {
	MAC       string `json:"mac"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	WOLReady  bool   `json:"wolReady"`
	WakeArmed bool   `json:"wakeArmed"`
}

// The JSON paths SuggestMAC reads adapters from, in order.
const (
	SourceStatusWake = "status.wake.nicPower"
	SourceWake       = "wake.nicPower"
)

// SuggestMAC picks the network card to wake from a heartbeat (or a Lab
// Station health answer that embeds one): adapters of status.wake.nicPower
// and then of the top-level wake.nicPower (heartbeat.json has wake at the
// top), with a valid unicast MAC in macAddress, mac or physicalAddress.
// The best is WoL-ready first, then up, then wake-armed; among equals the
// first listed. nil when there is none or heartbeat is not a JSON object.
func SuggestMAC(heartbeat json.RawMessage) *MACSuggestion {
	var doc map[string]json.RawMessage
	if json.Unmarshal(heartbeat, &doc) != nil {
		return nil
	}
	var best *MACSuggestion
	bestScore := -1
	consider := func(source string, wake json.RawMessage) {
		for _, a := range adapters(wake) {
			if s := score(a); s > bestScore {
				best, bestScore = &MACSuggestion{MAC: a.MAC, Source: source, Adapter: a}, s
			}
		}
	}
	var status map[string]json.RawMessage
	if json.Unmarshal(doc["status"], &status) == nil {
		consider(SourceStatusWake, status["wake"])
	}
	consider(SourceWake, doc["wake"])
	return best
}

// score orders adapters as the older worker's choose_wol_mac did.
func score(a Adapter) int {
	s := 0
	if a.WOLReady {
		s += 4
	}
	if strings.EqualFold(strings.TrimSpace(a.Status), "up") {
		s += 2
	}
	if a.WakeArmed {
		s++
	}
	return s
}

// adapters reads a wake object's nicPower list, skipping entries that are
// not objects or have no valid MAC.
func adapters(wake json.RawMessage) []Adapter {
	var w map[string]json.RawMessage
	if json.Unmarshal(wake, &w) != nil {
		return nil
	}
	var list []json.RawMessage
	if json.Unmarshal(w["nicPower"], &list) != nil {
		return nil
	}
	var out []Adapter
	for _, raw := range list {
		var e map[string]json.RawMessage
		if json.Unmarshal(raw, &e) != nil {
			continue
		}
		mac := ""
		for _, k := range []string{"macAddress", "mac", "physicalAddress"} {
			if s := str(e[k]); s != "" {
				mac = s // the first non-empty one, as the older worker's "or"
				break
			}
		}
		hw, err := netaddr.ParseMAC(strings.TrimSpace(mac))
		if err != nil {
			continue
		}
		name := str(e["name"])
		if name == "" {
			name = str(e["interfaceAlias"])
		}
		out = append(out, Adapter{MAC: hw.String(), Name: name, Status: str(e["status"]),
			WOLReady: boolish(e["wolReady"]), WakeArmed: boolish(e["wakeArmed"])})
	}
	return out
}

// str is a JSON string's value, "" for anything else.
func str(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// boolish is the older worker's parse_boolish: true, or a string or
// number spelling 1, true, yes, on, enabled or up.
func boolish(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return false
		}
		return n.String() == "1" // Python's str(1); 1.0 is "1.0" there
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "on", "enabled", "up":
		return true
	}
	return false
}

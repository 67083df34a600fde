package netio

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/ops-worker/ops-worker/internal/power"
)

// status is a decoded /netio.json answer.
type status struct {
	Model, Firmware string
	Outputs         []power.OutletState
}

func (s status) find(id int) (power.OutletState, bool) {
	key := strconv.Itoa(id)
	for _, o := range s.Outputs {
		if o.Outlet == key {
			return o, true
		}
	}
	return power.OutletState{}, false
}

// decode checks the shape strictly: an object whose Outputs is an array
// (at most MaxOutputs) of objects with a positive integer ID (a number,
// or a string of digits as some firmware sends), unique, and a State of
// 0/1 (or a boolean). Agent's Model and Version are optional strings.
// Anything else is CodeBadResponse.
func decode(raw []byte) (status, error) {
	bad := func(msg string) (status, error) {
		return status{}, power.Errorf(power.CodeBadResponse, "NETIO answer: %s", msg)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var top map[string]json.RawMessage
	if err := dec.Decode(&top); err != nil || top == nil {
		return bad("not a JSON object")
	}
	if dec.More() {
		return bad("trailing data after the JSON object")
	}
	var st status
	if a, ok := top["Agent"]; ok && string(a) != "null" {
		var agent map[string]json.RawMessage
		if err := json.Unmarshal(a, &agent); err != nil {
			return bad("Agent is not an object")
		}
		st.Model = optString(agent["Model"])
		st.Firmware = optString(agent["Version"])
	}
	rawOuts, ok := top["Outputs"]
	if !ok {
		return bad("no Outputs")
	}
	var outs []json.RawMessage
	if err := json.Unmarshal(rawOuts, &outs); err != nil || outs == nil {
		return bad("Outputs is not an array")
	}
	if len(outs) > MaxOutputs {
		return bad("more than " + strconv.Itoa(MaxOutputs) + " outputs")
	}
	seen := map[int]bool{}
	for _, ro := range outs {
		var o map[string]json.RawMessage
		if err := json.Unmarshal(ro, &o); err != nil || o == nil {
			return bad("an output is not an object")
		}
		id, ok := intField(o["ID"])
		if !ok || id <= 0 || id > 1<<20 {
			return bad("an output's ID is not a positive integer")
		}
		if seen[id] {
			return bad("output " + strconv.Itoa(id) + " is listed twice")
		}
		seen[id] = true
		state, ok := stateField(o["State"])
		if !ok {
			return bad("output " + strconv.Itoa(id) + " has an invalid State")
		}
		st.Outputs = append(st.Outputs, power.OutletState{Outlet: strconv.Itoa(id), Name: optString(o["Name"]), State: state})
	}
	slices.SortFunc(st.Outputs, func(a, b power.OutletState) int {
		x, _ := strconv.Atoi(a.Outlet)
		y, _ := strconv.Atoi(b.Outlet)
		return x - y
	})
	return st, nil
}

func optString(r json.RawMessage) string {
	var s string
	if json.Unmarshal(r, &s) != nil {
		return ""
	}
	return clean(s, 64)
}

func intField(r json.RawMessage) (int, bool) {
	var n json.Number
	if err := json.Unmarshal(r, &n); err != nil {
		var s string
		if json.Unmarshal(r, &s) != nil {
			return 0, false
		}
		n = json.Number(strings.TrimSpace(s))
	}
	v, err := strconv.Atoi(string(n))
	return v, err == nil
}

func stateField(r json.RawMessage) (string, bool) {
	var b bool
	if json.Unmarshal(r, &b) == nil {
		if b {
			return power.StateOn, true
		}
		return power.StateOff, true
	}
	n, ok := intField(r)
	switch {
	case !ok:
		return "", false
	case n == 1:
		return power.StateOn, true
	case n == 0:
		return power.StateOff, true
	}
	return "", false
}

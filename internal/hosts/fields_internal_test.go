package hosts

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The field table is the list of known fields: it must name every field of
// Host's JSON contract (its struct tags) and no other.
func TestFieldTableMatchesHost(t *testing.T) {
	var tags []string
	for f := range reflect.TypeFor[Host]().Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" && f.Name == "WinRMPass" {
			name = "winrm_pass" // never marshalled, but a catalog field
		}
		if f.Name == "Source" {
			continue // where the entry came from, not one of its fields
		}
		tags = append(tags, name)
	}
	var names []string
	for _, f := range catalogFields {
		if slices.Contains(names, f.name) {
			t.Errorf("field %q is in the table twice", f.name)
		}
		names = append(names, f.name)
	}
	slices.Sort(tags)
	slices.Sort(names)
	if !slices.Equal(tags, names) {
		t.Errorf("table fields %v\nHost's JSON fields %v", names, tags)
	}
}

// Each table entry writes its own Host field: an entry with every field set
// to a distinct value reads back value for value.
func TestFieldTableDecodesEachField(t *testing.T) {
	doc := map[string]any{
		"name": "h1", "address": "10.0.0.1", "mac": "00:11:22:33:44:55", "mode": "hybrid",
		"winrm_user": "svc", "winrm_pass": "pw", "winrm_transport": "kerberos", "winrm_port": 5999,
		"winrm_use_ssl": false, "winrm_ca_file": "/ca.pem", "winrm_insecure_skip_verify": true,
		"winrm_tls_server_name": "tls.lab", "heartbeat_path": `C:\hb.json`, "events_path": `C:\ev.jsonl`,
		"local_mode_flag_path": `C:\Lab Station\local mode.flag`,
		"labstation_exe":       `C:\LS\LabStation.exe`, "ping_target": "10.0.0.2", "broadcast": "10.0.0.255",
		"wol_port": 7, "wake_attempts": 2, "wake_check": "tcp", "labs": []any{"1", "2"},
		"quarantined": true, "relay": "https://relay.lab:8443", "credential_ref": "lab-ws-01.admin",
	}
	if len(doc) != len(catalogFields) {
		t.Fatalf("the document sets %d fields, the table has %d: add the new one here", len(doc), len(catalogFields))
	}
	data, _ := json.Marshal(map[string]any{"hosts": []any{doc}})
	// Skip-verify needs OPS_STATION_CIDRS.
	c, _, err := ParseWith(data, Options{Env: func(string) (string, bool) { return "", false },
		StationPrefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := c.Get("h1")
	back, _ := json.Marshal(hostFields(h))
	var got map[string]any
	if err := json.Unmarshal(back, &got); err != nil {
		t.Fatal(err)
	}
	got["winrm_pass"] = h.WinRMPass
	want, _ := json.Marshal(doc)
	var wantMap map[string]any
	_ = json.Unmarshal(want, &wantMap)
	for k, v := range wantMap {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("field %s: got %v, want %v", k, got[k], v)
		}
	}
}

package hosts_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/labstation"
)

func env(m map[string]string) hosts.LookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParse_Sample(t *testing.T) {
	data, err := os.ReadFile("../../hosts.sample.json")
	if err != nil {
		t.Fatal(err)
	}
	c, warns, err := hosts.Parse(data, env(map[string]string{
		"WINRM_USER_LAB_WS_01": "LabGatewaySvc", "WINRM_PASS_LAB_WS_01": "pw1",
		"WINRM_USER_LAB_WS_02": "LabGatewaySvc", "WINRM_PASS_LAB_WS_02": "pw2",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	h, ok := c.Get("LAB-WS-02")
	if !ok {
		t.Fatal("case-insensitive lookup failed")
	}
	if _, ok := c.Get(" lab-ws-02\t"); !ok {
		t.Error("lookup with ASCII spaces around the name failed")
	}
	for _, near := range []string{"lab-ws-02\u2029", "\u00a0lab-ws-02", "lab-ws-02\u0085", "\u3000lab-ws-02", "lab-ws-0\u0032\u200b", "LAB-WS-02\u0130"} {
		if _, ok := c.Get(near); ok {
			t.Errorf("Get(%q) found a host: only ASCII spaces and letters may differ", near)
		}
	}
	if h.MAC != "00:11:22:33:44:66" || h.WinRMPass != "pw2" || h.WinRMPort != 5986 || !h.WinRMUseSSL || h.WinRMTransport != "ntlm" {
		t.Errorf("lab-ws-02 = %+v", h.Public())
	}
	if got := strings.Join(h.Labs, ","); got != "2,3" {
		t.Errorf("labs: got %q, want 2,3", got)
	}
	if h.LabStationExe != hosts.DefaultLabStationExe || h.WOLPort != 9 || h.WakeAttempts != 3 ||
		h.HeartbeatPath != hosts.DefaultHeartbeatPath || h.EventsPath != hosts.DefaultEventsPath {
		t.Errorf("defaults not applied: %+v", h.Public())
	}
	if got := c.ForLab("3"); len(got) != 1 || got[0].Name != "lab-ws-02" {
		t.Errorf("ForLab(3) = %v", got)
	}
	if got := c.ForLab("99"); len(got) != 0 {
		t.Errorf("ForLab(99) = %v", got)
	}
}

func TestParse_Errors(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string // every part must be in the error
	}{
		{"not json", `{"hosts": [`, []string{"JSON"}},
		{"no list", `{"servers": []}`, []string{"hosts"}},
		{"missing name", `{"hosts":[{"address":"a"}]}`, []string{"entry 0", "name", "required"}},
		{"missing address", `{"hosts":[{"name":"h1"}]}`, []string{`"h1"`, "address", "required"}},
		{"bad mac", `{"hosts":[{"name":"h1","address":"a","mac":"00:11:22:33:44"}]}`, []string{`"h1"`, "mac"}},
		{"bad mac chars", `{"hosts":[{"name":"h1","address":"a","mac":"zz:11:22:33:44:55"}]}`, []string{"mac"}},
		{"port range", `{"hosts":[{"name":"h1","address":"a","winrm_port":70000}]}`, []string{"winrm_port", "70000"}},
		{"wol port range", `{"hosts":[{"name":"h1","address":"a","wol_port":-1}]}`, []string{"wol_port"}},
		{"port type", `{"hosts":[{"name":"h1","address":"a","winrm_port":"x"}]}`, []string{"winrm_port"}},
		{"ssl type", `{"hosts":[{"name":"h1","address":"a","winrm_use_ssl":"yes"}]}`, []string{"winrm_use_ssl"}},
		{"transport", `{"hosts":[{"name":"h1","address":"a","winrm_transport":"credssp"}]}`, []string{"winrm_transport"}},
		{"duplicate", `{"hosts":[{"name":"h1","address":"a"},{"name":"H1","address":"b"}]}`, []string{"duplicate"}},
		{"missing env", `{"hosts":[{"name":"h1","address":"a","winrm_pass":"env:NOPE_PASS"}]}`, []string{`"h1"`, "winrm_pass", "NOPE_PASS"}},
		{"hostile address", `{"hosts":[{"name":"h1","address":"a; rm -rf /"}]}`, []string{"address"}},
		{"long label", `{"hosts":[{"name":"h1","address":"` + strings.Repeat("a", 64) + `.lab"}]}`, []string{"63"}},
		{"labs type", `{"hosts":[{"name":"h1","address":"a","labs":[{"id":1}]}]}`, []string{"labs"}},
		{"name quote", `{"hosts":[{"name":"h'1","address":"a"}]}`, []string{"name"}},
		// A program path cmd.exe would need quoted is refused at load.
		{"exe with space", `{"hosts":[{"name":"h1","address":"a","labstation_exe":"C:\\Program Files\\LabStation\\LabStation.exe"}]}`,
			[]string{`"h1"`, "labstation_exe", "a space", "8.3 short name"}},
		{"exe with semicolon", `{"hosts":[{"name":"h1","address":"a","labstation_exe":"C:\\a;b\\LabStation.exe"}]}`,
			[]string{`"h1"`, "labstation_exe", `";"`}},
		{"exe with ampersand", `{"hosts":[{"name":"h1","address":"a","labstation_exe":"D:\\R&D\\LabStation.exe"}]}`,
			[]string{`"h1"`, "labstation_exe", `"&"`}},
		{"exe with equals", `{"hosts":[{"name":"h1","address":"a","labstation_exe":"C:\\a=b\\LabStation.exe"}]}`, []string{"labstation_exe"}},
		{"exe with comma", `{"hosts":[{"name":"h1","address":"a","labstation_exe":"C:\\a,b\\LabStation.exe"}]}`, []string{"labstation_exe"}},
		{"exe with parenthesis", `{"hosts":[{"name":"h1","address":"a","labstation_exe":"C:\\x(86)\\LabStation.exe"}]}`, []string{"labstation_exe"}},
		{"exe with percent", `{"hosts":[{"name":"h1","address":"a","labstation_exe":"C:\\%TEMP%\\LabStation.exe"}]}`, []string{"labstation_exe"}},
		{"exe relative", `{"hosts":[{"name":"h1","address":"a","labstation_exe":"LabStation.exe"}]}`, []string{"labstation_exe", "absolute"}},
		// The paths quoted into PowerShell: refused at load what quoting
		// would refuse at the first call, and what is no Windows file path.
		{"flag with newline", `{"hosts":[{"name":"h1","address":"a","local_mode_flag_path":"C:\\x\n'; Remove-Item C:\\ -Recurse; '"}]}`,
			[]string{`"h1"`, "local_mode_flag_path", "control character"}},
		{"flag with typographic quote", `{"hosts":[{"name":"h1","address":"a","local_mode_flag_path":"C:\\x\u2019; calc; \u2019.flag"}]}`,
			[]string{"local_mode_flag_path", "typographic quote"}},
		{"flag relative", `{"hosts":[{"name":"h1","address":"a","local_mode_flag_path":"local-mode.flag"}]}`, []string{"local_mode_flag_path", "absolute"}},
		{"flag folder", `{"hosts":[{"name":"h1","address":"a","local_mode_flag_path":"C:\\data\\"}]}`, []string{"local_mode_flag_path", "folder"}},
		{"flag wildcard", `{"hosts":[{"name":"h1","address":"a","local_mode_flag_path":"C:\\data\\*.flag"}]}`, []string{"local_mode_flag_path", "cannot hold"}},
		{"flag type", `{"hosts":[{"name":"h1","address":"a","local_mode_flag_path":true}]}`, []string{"local_mode_flag_path", "string"}},
		{"heartbeat with tab", `{"hosts":[{"name":"h1","address":"a","heartbeat_path":"C:\\hb\t.json"}]}`, []string{"heartbeat_path", "control character"}},
		{"events relative", `{"hosts":[{"name":"h1","address":"a","events_path":"ev.jsonl"}]}`, []string{"events_path", "absolute"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := hosts.Parse([]byte(tt.doc), env(nil))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// The flag's default lies under the heartbeat's install root, as the Lab
// Station keeps it; a path with a quote in it is fine (it is quoted).
func TestParse_LocalModeFlagPath(t *testing.T) {
	tests := []struct{ name, entry, want string }{
		{"default", `{"name":"h1","address":"a"}`, hosts.DefaultLocalModeFlagPath},
		{"under the heartbeat's root", `{"name":"h1","address":"a","heartbeat_path":"D:\\Lab Station\\LabStation\\Data\\Telemetry\\heartbeat.json"}`,
			`D:\Lab Station\labstation\data\local-mode.flag`},
		{"heartbeat elsewhere", `{"name":"h1","address":"a","heartbeat_path":"C:\\hb.json"}`, hosts.DefaultLocalModeFlagPath},
		{"given", `{"name":"h1","address":"a","local_mode_flag_path":"C:\\O'Brien\\flag"}`, `C:\O'Brien\flag`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := hosts.Parse([]byte(`{"hosts":[`+tt.entry+`]}`), env(nil))
			if err != nil {
				t.Fatal(err)
			}
			h, _ := c.Get("h1")
			if got := h.LocalModeFlagPath; got != tt.want {
				t.Errorf("local_mode_flag_path = %q, want %q", got, tt.want)
			}
			if got := h.Public().LocalModeFlagPath; got != tt.want {
				t.Errorf("Public().LocalModeFlagPath = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParse_ShortExeAccepted(t *testing.T) {
	const exe = `C:\\PROGRA~1\\LABSTA~1\\LabStation.exe`
	c, _, err := hosts.Parse([]byte(`{"hosts":[{"name":"h1","address":"a","labstation_exe":"`+exe+`"}]}`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := c.Get("h1"); h.LabStationExe != `C:\PROGRA~1\LABSTA~1\LabStation.exe` {
		t.Errorf("exe = %q", h.LabStationExe)
	}
}

func TestParse_StationPrefixes(t *testing.T) {
	opts := hosts.Options{Env: env(nil), StationPrefixes: []netip.Prefix{
		netip.MustParsePrefix("10.1.2.0/24"), netip.MustParsePrefix("fd00:1::/64")}}
	doc := func(addr string) []byte {
		return []byte(`{"hosts":[{"name":"ok","address":"10.1.2.3"},{"name":"h2","address":"` + addr + `"}]}`)
	}
	for _, addr := range []string{"10.1.2.254", "fd00:1::7", "::ffff:10.1.2.9"} {
		if _, _, err := hosts.ParseWith(doc(addr), opts); err != nil {
			t.Errorf("address %s inside the allowlist refused: %v", addr, err)
		}
	}
	for _, addr := range []string{"10.1.3.1", "10.1.1.255", "192.168.1.1", "fd00:2::1", "lab-ws-02.lab.example", "localhost"} {
		_, _, err := hosts.ParseWith(doc(addr), opts)
		if err == nil {
			t.Errorf("address %s outside the allowlist accepted", addr)
			continue
		}
		for _, w := range []string{`"h2"`, "address", addr, "OPS_STATION_CIDRS"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q lacks %q", err, w)
			}
		}
	}
	// Without the option, names and any address load as before.
	if _, _, err := hosts.ParseWith(doc("lab-ws-02.lab.example"), hosts.Options{Env: env(nil)}); err != nil {
		t.Errorf("no allowlist: %v", err)
	}
	// A registry keeps the rule for its reloads.
	path := labsimtest.WriteHostsFile(t, doc("10.1.2.4"))
	r, _, err := hosts.NewRegistryWith(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, doc("10.9.9.9"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Reload(context.Background()); err == nil {
		t.Error("reload with an address outside the allowlist accepted")
	}
}

func TestParse_Warnings(t *testing.T) {
	doc := `{"hosts":[
	  {"name":"a","address":"10.0.0.1","labs":["1", 2],"colour":"red"},
	  {"name":"b","address":"10.0.0.2","labs":[1]}]}`
	c, warns, err := hosts.Parse([]byte(doc), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(warns, "\n")
	if !strings.Contains(all, `"colour"`) || !strings.Contains(all, `lab "1"`) {
		t.Errorf("warnings = %q", all)
	}
	got := c.ForLab("1")
	if len(got) != 2 || got[0].Name != "a" {
		t.Errorf("ForLab(1): the first host in the file must win, got %v", got)
	}
}

func TestParse_MACNotations(t *testing.T) {
	for _, in := range []string{"00:11:22:aa:BB:cc", "00-11-22-AA-BB-CC", "0011.22aa.bbcc", "001122AABBCC"} {
		c, _, err := hosts.Parse([]byte(`{"hosts":[{"name":"a","address":"10.0.0.1","mac":"`+in+`"}]}`), env(nil))
		if err != nil {
			t.Errorf("mac %q: %v", in, err)
			continue
		}
		if h, _ := c.Get("a"); h.MAC != "00:11:22:aa:bb:cc" {
			t.Errorf("mac %q normalised to %q", in, h.MAC)
		}
	}
}

func TestPublic_NoSecret(t *testing.T) {
	doc := `{"hosts":[{"name":"a","address":"10.0.0.1","winrm_user":"svc","winrm_pass":"env:P"}]}`
	c, _, err := hosts.Parse([]byte(doc), env(map[string]string{"P": "Tr0ub4dor&3"}))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := c.Get("a")
	if h.WinRMPass != "Tr0ub4dor&3" {
		t.Fatal("env secret not resolved")
	}
	pub, _ := json.Marshal(h.Public())
	whole, _ := json.Marshal(h)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "host", h)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "host", h)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "hosts", []hosts.Host{h}, "ptr", &h)
	fmtOut := fmt.Sprintf("%v|%+v|%#v|%s|%v|%#v|%+v", h, h, h, h, &h, &h, []hosts.Host{h})
	for name, out := range map[string]string{"public": string(pub), "host json": string(whole), "log": logs.String(), "fmt": fmtOut} {
		if strings.Contains(out, "Tr0ub4dor") {
			t.Errorf("%s leaks the password: %s", name, out)
		}
	}
	if !strings.Contains(fmt.Sprintf("%#v", h), `Name:"a"`) {
		t.Errorf("%%#v lost the non-secret fields: %#v", h)
	}
	if !strings.Contains(string(pub), `"winrm_user":"svc"`) {
		t.Errorf("public view lost a non-secret field: %s", pub)
	}
}

func TestRegistry_Reload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hosts.json")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"hosts":[{"name":"a","address":"10.0.0.1"}]}`)
	r, _, err := hosts.NewRegistry(path, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	write(`{"hosts":[{"name":"a","address":"10.0.0.1"},{"name":"b"}]}`)
	if _, _, err := r.Reload(context.Background()); err == nil {
		t.Fatal("invalid reload accepted")
	}
	if got := r.Catalog().Len(); got != 1 {
		t.Errorf("after a failed reload: %d hosts, want the previous 1", got)
	}
	write(`{"hosts":[{"name":"a","address":"10.0.0.1"},{"name":"b","address":"10.0.0.2"}]}`)
	c, _, err := r.Reload(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 2 || r.Catalog().Len() != 2 {
		t.Errorf("reload: %d hosts, want 2", r.Catalog().Len())
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"hosts":[{"name":"a","address":"10.0.0.1","mac":"00-11-22-33-44-55","labs":[1,"2"]}]}`))
	f.Add([]byte(`{"hosts":[{"name":"a","address":"a","winrm_port":"5985","winrm_use_ssl":false}]}`))
	f.Add([]byte(`{"hosts":[{"name":"a","address":"a","labstation_exe":"C:\\PROGRA~1\\x.exe"}]}`))
	f.Add([]byte(`{"hosts":[{"name":"a","address":"a","labstation_exe":"C:\\Program Files\\x.exe"}]}`))
	f.Add([]byte(`{"hosts":[{"name":"a","address":"a","winrm_insecure_skip_verify":true}]}`))
	f.Add([]byte(`{"hosts":[{"name":"a","address":"a","relay":"https://u:p@relay"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := hosts.Parse(data, env(nil))
		if err != nil {
			return
		}
		for _, h := range c.Hosts() {
			// Without OPS_STATION_CIDRS, skip-verify never loads.
			if h.WinRMInsecureSkipVerify {
				t.Fatalf("accepted winrm_insecure_skip_verify without OPS_STATION_CIDRS: %+v", h.Public())
			}
			if u, err := url.Parse(h.Relay); err == nil && u.User != nil {
				t.Fatalf("accepted a relay URL with user info")
			}
			if h.Name == "" || h.Address == "" || h.WinRMPort < 1 || h.WinRMPort > 65535 {
				t.Fatalf("accepted an invalid host: %+v", h.Public())
			}
			if err := labstation.CheckProgramPath(h.LabStationExe); err != nil {
				t.Fatalf("accepted labstation_exe %q: %v", h.LabStationExe, err)
			}
			if _, ok := c.Get(strings.ToUpper(h.Name)); !ok {
				t.Fatalf("lookup of %q failed", h.Name)
			}
		}
	})
}

// winrm_insecure_skip_verify must not hand a password to whoever answers:
// never with Basic, and only with OPS_STATION_CIDRS set (issue 15).
func TestParse_SkipVerifyRules(t *testing.T) {
	stations := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	doc := func(transport string) []byte {
		return []byte(`{"hosts":[{"name":"h1","address":"127.0.0.1","winrm_transport":"` + transport + `","winrm_insecure_skip_verify":true}]}`)
	}
	refused := []struct {
		name, transport string
		stations        []netip.Prefix
		want            []string
	}{
		{"basic", "basic", stations, []string{`"h1"`, "winrm_insecure_skip_verify", "basic", "password"}},
		{"basic upper case", "BASIC", stations, []string{`"h1"`, "winrm_insecure_skip_verify", "basic"}},
		{"basic without stations", "basic", nil, []string{`"h1"`, "winrm_insecure_skip_verify", "basic"}},
		{"ntlm without stations", "ntlm", nil, []string{`"h1"`, "winrm_insecure_skip_verify", "OPS_STATION_CIDRS"}},
		{"default transport without stations", "", nil, []string{`"h1"`, "winrm_insecure_skip_verify", "OPS_STATION_CIDRS"}},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := hosts.ParseWith(doc(tt.transport), hosts.Options{Env: env(nil), StationPrefixes: tt.stations})
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	for _, transport := range []string{"ntlm", "kerberos"} {
		c, warns, err := hosts.ParseWith(doc(transport), hosts.Options{Env: env(nil), StationPrefixes: stations})
		if err != nil {
			t.Errorf("%s with skip-verify inside OPS_STATION_CIDRS refused: %v", transport, err)
			continue
		}
		if h, _ := c.Get("h1"); !h.WinRMInsecureSkipVerify {
			t.Errorf("%s: skip-verify lost", transport)
		}
		if !strings.Contains(strings.Join(warns, "\n"), "NOT verified") {
			t.Errorf("%s: no warning: %q", transport, warns)
		}
	}
	// Basic with a verified certificate, and skip-verify off, load as before.
	for _, d := range []string{
		`{"hosts":[{"name":"h1","address":"a","winrm_transport":"basic"}]}`,
		`{"hosts":[{"name":"h1","address":"a","winrm_transport":"basic","winrm_insecure_skip_verify":false}]}`,
	} {
		if _, _, err := hosts.Parse([]byte(d), env(nil)); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
}

// A relay URL is logged and shown (/api/hosts, the timeline): user info in
// it is refused, and the refusal does not echo the password (issue 15).
func TestParse_RelayUserinfo(t *testing.T) {
	doc := func(relay string) []byte {
		b, _ := json.Marshal(map[string]any{"hosts": []any{map[string]any{"name": "h1", "address": "a", "relay": relay}}})
		return b
	}
	for _, relay := range []string{
		"https://svc:hunter2@relay.lab:8443",
		"https://svc@relay.lab",
		"https://svc:hunter2@127.0.0.1:8444/",
		"https://svc:hun#ter2@relay.lab", // does not parse: '#' cuts the host
		"https://svc:hun/ter2@relay.lab", // parses with "svc:hun" as the host
		"env:RELAY_WITH_PASSWORD",        // resolved first, then checked
	} {
		_, _, err := hosts.Parse(doc(relay), env(map[string]string{"RELAY_WITH_PASSWORD": "https://svc:hunter2@relay.lab"}))
		if err == nil {
			t.Errorf("relay %q accepted", relay)
			continue
		}
		for _, w := range []string{`"h1"`, "field relay", "user name or password"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("relay %q: error %q lacks %q", relay, err, w)
			}
		}
		for _, secret := range []string{"hunter2", "hun", "ter2", "svc"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("relay %q: error %q echoes %q", relay, err, secret)
			}
		}
	}
	for _, relay := range []string{"https://relay.lab:8443", "https://relay.lab/base/", "http://127.0.0.1:8444", "https://relay.lab/a@b"} {
		c, _, err := hosts.Parse(doc(relay), env(nil))
		if err != nil {
			t.Errorf("relay %q refused: %v", relay, err)
			continue
		}
		if h, _ := c.Get("h1"); h.Relay != relay {
			t.Errorf("relay = %q, want %q", h.Relay, relay)
		}
	}
}

package legacyimport_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/fernet"
	"github.com/ops-worker/ops-worker/internal/fernet/fernettest"
	"github.com/ops-worker/ops-worker/internal/legacyimport"
)

// olderWorker writes, in the directory argv[1], the files the older worker
// would have written, the way it wrote them (save_winrm_credentials,
// PowerCredentialStore.put, write_dynamic_config), plus damaged variants,
// and prints the keys.
const olderWorker = `
import json, os, sys
from cryptography.fernet import Fernet
d = sys.argv[1]
key = Fernet.generate_key(); f = Fernet(key)
other = Fernet.generate_key(); g = Fernet(other)

def winrm(fernet, user, password):
    return fernet.encrypt(json.dumps({"user": str(user).strip(), "password": str(password)}).encode("utf-8")).decode("ascii")

def power(fernet, value):
    return fernet.encrypt(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")).decode("ascii")

def write(name, data):
    with open(os.path.join(d, name), "w", encoding="utf-8") as h:
        json.dump(data, h, indent=2)
        h.write("\n")

write("winrm-credentials.json", {"credentials": {
    "lab-ws-01.lab": {"token": winrm(f, " LAB\\admin ", "S3cret-winrm-01 ")},
    "10.0.0.12": {"token": winrm(f, "admin", "p\u00e4ss-winrm-12")},
}})
write("power-credentials.json", {"credentials": {
    "pdu-1": {"type": "snmpv2c", "token": power(f, {"version": "v2c", "community": "S3cret-community"})},
    "pdu-2:v3": {"type": "snmpv3", "token": power(f, {"version": "v3", "username": "ops", "authProtocol": "SHA256",
        "privProtocol": "AES", "authPassword": "S3cret-auth", "privPassword": "S3cret-priv", "contextName": "ctx"})},
    "netio-lab-01": {"type": "netio-http-basic", "token": power(f, {"username": "netio", "password": "S3cret-netio"})},
}})
write("hosts.json", {"hosts": [
    {"name": "lab-ws-09", "address": "10.0.0.9", "credential_ref": "10.0.0.9", "winrm_transport": "ntlm",
     "winrm_use_ssl": True, "winrm_port": 5986, "heartbeat_path": "C:\\LabStation\\labstation\\data\\telemetry\\heartbeat.json",
     "events_path": "C:\\LabStation\\labstation\\data\\telemetry\\session-guard-events.jsonl", "labs": ["1"], "mac": "00:11:22:33:44:55"},
    {"name": "Lab-WS-10", "address": "10.0.0.10", "credential_ref": "10.0.0.10", "labs": []},
]})
# Written with another key: every token fails.
write("winrm-other-key.json", {"credentials": {
    "lab-ws-01.lab": {"token": winrm(g, "admin", "S3cret-other-1")},
    "lab-ws-02.lab": {"token": winrm(g, "admin", "S3cret-other-2")},
}})
# One token under another key among good ones: that one is "damaged".
write("winrm-mixed.json", {"credentials": {
    "lab-ws-01.lab": {"token": winrm(f, "admin", "S3cret-mixed-1")},
    "lab-ws-02.lab": {"token": winrm(g, "admin", "S3cret-mixed-2")},
}})
# Tokens that decrypt to the wrong thing.
write("winrm-bad-payload.json", {"credentials": {
    "not-json": {"token": f.encrypt(b"S3cret-notjson {").decode()},
    "a-list": {"token": f.encrypt(b'["S3cret-list"]').decode()},
    "no-user": {"token": f.encrypt(json.dumps({"user": " ", "password": "S3cret-nouser"}).encode()).decode()},
    "no-password": {"token": f.encrypt(json.dumps({"user": "admin"}).encode()).decode()},
    "number-password": {"token": f.encrypt(b'{"user": "admin", "password": 12345}').decode()},
}})
write("power-bad-payload.json", {"credentials": {
    "pdu-extra": {"type": "snmpv2c", "token": power(f, {"version": "v2c", "community": "S3cret-c", "S3cret-member": "x"})},
    "pdu-version": {"type": "snmpv1", "token": power(f, {"version": "v2c", "community": "S3cret-c"})},
    "pdu-priv": {"type": "snmpv3", "token": power(f, {"version": "v3", "username": "u", "authProtocol": "NONE", "privProtocol": "AES", "privPassword": "S3cret-p"})},
    "pdu-nopass": {"type": "snmpv3", "token": power(f, {"version": "v3", "username": "u", "authProtocol": "SHA", "privProtocol": "NONE"})},
    "pdu-type": {"type": "apc-ssh", "token": power(f, {"username": "u", "password": "S3cret-p"})},
    "pdu-notype": {"token": power(f, {"username": "u", "password": "S3cret-p"})},
    "netio-empty": {"type": "netio-http-basic", "token": power(f, {"username": "u", "password": ""})},
}})
print(json.dumps({"key": key.decode(), "other": other.decode()}))
`

type legacyFiles struct {
	dir        string
	key, other []byte
}

func (l legacyFiles) path(name string) string { return filepath.Join(l.dir, name) }

func writeLegacyFiles(t *testing.T) legacyFiles {
	t.Helper()
	dir := t.TempDir()
	var keys struct{ Key, Other string }
	if err := json.Unmarshal(fernettest.Run(t, olderWorker, dir), &keys); err != nil {
		t.Fatal(err)
	}
	key, err := fernet.ParseKey(keys.Key)
	if err != nil {
		t.Fatal(err)
	}
	other, err := fernet.ParseKey(keys.Other + "\n") // as a key file holds it
	if err != nil {
		t.Fatal(err)
	}
	return legacyFiles{dir: dir, key: key, other: other}
}

// noSecret fails when s holds any of the test's secret values.
func noSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range []string{"S3cret", "p\u00e4ss", "12345"} {
		if strings.Contains(s, secret) {
			t.Errorf("%s carries a secret (%q):\n%s", what, secret, s)
		}
	}
}

func TestRead_OlderWorkerFiles(t *testing.T) {
	l := writeLegacyFiles(t)

	winrm, err := legacyimport.ReadWinRMCredentials(l.path("winrm-credentials.json"), l.key)
	if err != nil {
		t.Fatal(err)
	}
	if len(winrm) != 2 {
		t.Fatalf("got %d WinRM credentials, want 2", len(winrm))
	}
	for i, want := range []struct{ ref, user, password string }{
		{"lab-ws-01.lab", `LAB\admin`, "S3cret-winrm-01 "},
		{"10.0.0.12", "admin", "p\u00e4ss-winrm-12"},
	} {
		c := winrm[i]
		if c.Ref != want.ref || c.User != want.user || c.Password.Reveal() != want.password {
			t.Errorf("credential %d: %s %s %q, want %s %s %q", i, c.Ref, c.User, c.Password.Reveal(), want.ref, want.user, want.password)
		}
	}

	power, err := legacyimport.ReadPowerCredentials(l.path("power-credentials.json"), l.key)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{}
	for _, c := range power {
		fields := map[string]string{"type": c.Type}
		for k, v := range c.Fields {
			fields[k] = v.Reveal()
		}
		got[c.Ref] = fields
	}
	want := map[string]map[string]string{
		"pdu-1": {"type": "snmpv2c", "version": "v2c", "community": "S3cret-community"},
		"pdu-2:v3": {"type": "snmpv3", "version": "v3", "username": "ops", "authProtocol": "SHA256", "privProtocol": "AES",
			"authPassword": "S3cret-auth", "privPassword": "S3cret-priv", "contextName": "ctx"},
		"netio-lab-01": {"type": "netio-http-basic", "username": "netio", "password": "S3cret-netio"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("power credentials:\n got %v\nwant %v", got, want)
	}

	hosts, err := legacyimport.ReadDynamicHosts(l.path("hosts.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 2 || !strings.Contains(string(hosts[0]), `"mac": "00:11:22:33:44:55"`) || !strings.Contains(string(hosts[1]), `"Lab-WS-10"`) {
		t.Errorf("hosts: %s", hosts)
	}

	// Printed whole, in every way, the records hold no secret.
	for _, v := range []any{winrm, power, winrm[0], &power[1]} {
		b, _ := json.Marshal(v)
		noSecret(t, "printed records", fmt.Sprintf("%v %+v %#v %s %q %x %s", v, v, v, v, v, v, b))
	}
}

func TestRead_WrongKeyAndDamagedToken(t *testing.T) {
	l := writeLegacyFiles(t)
	for _, tt := range []struct {
		file string
		key  []byte
		want []string
	}{
		{"winrm-credentials.json", l.other, []string{"cannot decrypt credential lab-ws-01.lab in " + l.path("winrm-credentials.json") + ": wrong OPS_SECRETS_KEY or the file was not written with it (none of its 2 tokens decrypts)"}},
		{"winrm-other-key.json", l.key, []string{"wrong OPS_SECRETS_KEY"}},
		{"winrm-mixed.json", l.key, []string{"cannot decrypt credential lab-ws-02.lab in " + l.path("winrm-mixed.json") + ": its token is damaged or was altered"}},
		{"power-credentials.json", l.other, []string{"cannot decrypt credential pdu-1 in", "wrong OPS_SECRETS_KEY"}},
	} {
		var err error
		var n int
		if strings.HasPrefix(tt.file, "power") {
			var got []legacyimport.PowerCredential
			got, err = legacyimport.ReadPowerCredentials(l.path(tt.file), tt.key)
			n = len(got)
		} else {
			var got []legacyimport.WinRMCredential
			got, err = legacyimport.ReadWinRMCredentials(l.path(tt.file), tt.key)
			n = len(got)
		}
		if err == nil || n != 0 {
			t.Errorf("%s: %d records, error %v; want none and an error", tt.file, n, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q, want %q", tt.file, err, w)
			}
		}
		noSecret(t, tt.file+" error", fmt.Sprintf("%v %+v", err, err))
	}
}

// A token altered by a character, and the file cut short.
func TestRead_TamperedAndTruncated(t *testing.T) {
	l := writeLegacyFiles(t)
	src, err := os.ReadFile(l.path("winrm-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Credentials map[string]struct{ Token string } `json:"credentials"`
	}
	if err := json.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	token := doc.Credentials["10.0.0.12"].Token
	i := len(token) / 2
	flipped := byte('A')
	if token[i] == 'A' {
		flipped = 'B'
	}
	tampered := strings.Replace(string(src), token, token[:i]+string(flipped)+token[i+1:], 1)
	write := func(name, s string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := write("tampered.json", tampered)
	got, err := legacyimport.ReadWinRMCredentials(p, l.key)
	if err == nil || got != nil || !strings.Contains(err.Error(), "cannot decrypt credential 10.0.0.12 in "+p+": its token is damaged") {
		t.Errorf("tampered: %d records, %v", len(got), err)
	}
	p = write("truncated.json", string(src[:len(src)/2]))
	got, err = legacyimport.ReadWinRMCredentials(p, l.key)
	if err == nil || got != nil || !strings.Contains(err.Error(), p+": not a JSON object (a truncated or damaged file?)") {
		t.Errorf("truncated: %d records, %v", len(got), err)
	}
	_, err = legacyimport.ReadWinRMCredentials(filepath.Join(l.dir, "absent.json"), l.key)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("absent file: %v, want fs.ErrNotExist", err)
	}
	_, err = legacyimport.ReadWinRMCredentials(l.path("winrm-credentials.json"), l.key[:16])
	if err == nil || !strings.Contains(err.Error(), "OPS_SECRETS_KEY") {
		t.Errorf("short key: %v", err)
	}
}

func TestRead_BadPayloads(t *testing.T) {
	l := writeLegacyFiles(t)
	winrm, err := legacyimport.ReadWinRMCredentials(l.path("winrm-bad-payload.json"), l.key)
	if err == nil || winrm != nil {
		t.Fatalf("got %d records, %v", len(winrm), err)
	}
	for _, w := range []string{
		"credential not-json: decrypts to something that is not the JSON object",
		"credential a-list: decrypts to something that is not the JSON object",
		"credential no-user: decrypts to an empty user",
		`credential no-password: decrypts to an object without "password"`,
		`credential number-password: decrypts to an object whose "password" is not a string`,
	} {
		if !strings.Contains(err.Error(), l.path("winrm-bad-payload.json")+": "+w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	noSecret(t, "WinRM payload errors", err.Error())

	power, err := legacyimport.ReadPowerCredentials(l.path("power-bad-payload.json"), l.key)
	if err == nil || power != nil {
		t.Fatalf("got %d records, %v", len(power), err)
	}
	for _, w := range []string{
		"credential pdu-extra (snmpv2c): decrypts to a snmpv2c credential with a member not one of version, community",
		`credential pdu-version (snmpv1): decrypts to a snmpv1 credential that does not have version "v1"`,
		"credential pdu-priv (snmpv3): decrypts to a snmpv3 credential that has privacy without authentication",
		"credential pdu-nopass (snmpv3): decrypts to a snmpv3 credential that has no authPassword",
		"credential pdu-type (apc-ssh): type is not one of",
		`credential pdu-notype (): has no "type"`,
		"credential netio-empty (netio-http-basic): decrypts to a netio-http-basic credential that has no password",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	noSecret(t, "power payload errors", err.Error())
}

// Documents of the wrong shape, references and names refused, each named.
func TestRead_Shapes(t *testing.T) {
	key := make([]byte, fernet.KeySize)
	token := func(plain string) string {
		tok, err := fernet.Encrypt(key, []byte(plain), fakeNow, make([]byte, 16))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := token(`{"user": "u", "password": "S3cret"}`)
	for _, tt := range []struct{ doc, want string }{
		{`[]`, "not a JSON object"},
		{`{}`, `no "credentials" object`},
		{`{"credentials": []}`, `"credentials" is not an object`},
		{`{"credentials": {"a": "x"}}`, `credential a: not an object with a "token" string`},
		{`{"credentials": {"a": {"token": 5}}}`, `credential a: not an object with a "token" string`},
		{`{"credentials": {"Bad Ref!": {"token": "` + good + `"}}}`, `credential "Bad Ref!": invalid reference`},
		{`{"credentials": {"-x": {"token": "` + good + `"}}}`, `credential "-x": invalid reference`},
		{`{"credentials": {"": {"token": "` + good + `"}}}`, `credential "": invalid reference`},
		{`{"credentials": {"` + strings.Repeat("a", 129) + `": {"token": "` + good + `"}}}`, "longer than 128"},
		{`{"credentials": {"Lab-WS-01": {"token": "` + good + `"}, " lab-ws-01": {"token": "` + good + `"}}}`, `credentials "Lab-WS-01" and " lab-ws-01" are the same reference lab-ws-01`},
		{`{"credentials": {"a": {"token": "` + good + `"}, "a": {"token": "` + good + `"}}}`, `credentials "a" and "a" are the same reference a`},
	} {
		p := filepath.Join(t.TempDir(), "c.json")
		if err := os.WriteFile(p, []byte(tt.doc), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := legacyimport.ReadWinRMCredentials(p, key)
		if err == nil || got != nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%.60s: %d records, error %v; want %q naming the file", tt.doc, len(got), err, tt.want)
		}
	}
	// The reference is normalised as the older worker did.
	p := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(p, []byte(`{"credentials": {" Lab-WS-01.Lab ": {"token": "`+good+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := legacyimport.ReadWinRMCredentials(p, key); err != nil || len(got) != 1 || got[0].Ref != "lab-ws-01.lab" {
		t.Errorf("normalised ref: %+v, %v", got, err)
	}

	for _, tt := range []struct{ doc, want string }{
		{`{"hosts": [`, "not a JSON object (a truncated or damaged file?)"},
		{`{}`, `no "hosts" array`},
		{`{"hosts": null}`, `no "hosts" array`},
		{`{"hosts": {}}`, `no "hosts" array`},
		{`{"hosts": [1]}`, "host entry 1: not a JSON object"},
		{`{"hosts": [{"address": "x"}]}`, `host entry 1: no "name" string`},
		{`{"hosts": [{"name": 7}]}`, `host entry 1: no "name" string`},
		{`{"hosts": [{"name": ""}]}`, "host entry 1: name must have 1 to 128"},
		{`{"hosts": [{"name": "a\nhost b: added"}]}`, `host entry 1: name "a\nhost b: added": use letters`},
		{`{"hosts": [{"name": "ws-1"}, {"name": "ws-2"}, {"name": "WS-1"}]}`, "host entries 1 and 3 are both named WS-1"},
	} {
		p := filepath.Join(t.TempDir(), "h.json")
		if err := os.WriteFile(p, []byte(tt.doc), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := legacyimport.ReadDynamicHosts(p)
		if err == nil || got != nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %d entries, error %v; want %q naming the file", tt.doc, len(got), err, tt.want)
		}
	}
	// Empty lists are fine: nothing to import.
	if err := os.WriteFile(p, []byte(`{"credentials": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := legacyimport.ReadWinRMCredentials(p, key); err != nil || len(got) != 0 {
		t.Errorf("empty credentials: %v, %v", got, err)
	}
}

func TestReadDynamicHosts_SizeBound(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.json")
	big := `{"hosts": [], "pad": "` + strings.Repeat("x", legacyimport.MaxFileSize) + `"}`
	if err := os.WriteFile(p, []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := legacyimport.ReadDynamicHosts(p); err == nil || !strings.Contains(err.Error(), "larger than 16 MiB") {
		t.Errorf("17 MiB file: %v", err)
	}
}

// Past maxProblems the rest are counted, not listed.
func TestRead_ManyProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"hosts": [`)
	for i := range 30 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"name": "bad name"}`)
	}
	b.WriteString("]}")
	p := filepath.Join(t.TempDir(), "h.json")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := legacyimport.ReadDynamicHosts(p)
	if err == nil || strings.Count(err.Error(), "host entry") != 20 || !strings.Contains(err.Error(), "and 10 more problems") {
		t.Errorf("error: %v", err)
	}
}

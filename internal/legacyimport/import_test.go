package legacyimport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/fernet"
	"github.com/ops-worker/ops-worker/internal/legacyimport"
	"github.com/ops-worker/ops-worker/internal/secrets"
)

var fakeNow = time.Unix(1_750_000_000, 0)

// memCreds is an in-memory CredentialSink.
type memCreds struct {
	winrm   map[string]string // ref -> user/password
	power   map[string]string // ref -> type + fields
	actors  []string
	failRef string
}

func (m *memCreds) SaveWinRM(_ context.Context, ref, user string, password secrets.Secret, actor string) (string, error) {
	if ref == m.failRef {
		return "", errors.New("store down")
	}
	_, had := m.winrm[ref]
	m.winrm[ref] = user + "/" + password.Reveal()
	m.actors = append(m.actors, actor)
	if had {
		return legacyimport.ResultUpdated, nil
	}
	return "k1", nil
}

func (m *memCreds) SavePower(_ context.Context, ref, typ string, creds map[string]any, overwrite bool, actor string) (any, bool, error) {
	_, had := m.power[ref]
	if had && !overwrite {
		return nil, false, errors.New("exists")
	}
	m.power[ref] = typ + fmt.Sprint(creds)
	m.actors = append(m.actors, actor)
	return nil, had, nil
}

// memHosts is an in-memory HostSink.
type memHosts struct{ entries map[string]json.RawMessage }

func (m *memHosts) Has(_ context.Context, name string) bool {
	_, ok := m.entries[strings.ToLower(name)]
	return ok
}

func (m *memHosts) Add(_ context.Context, entry json.RawMessage, _ string) (string, error) {
	var h struct{ Name string }
	if err := json.Unmarshal(entry, &h); err != nil {
		return "", err
	}
	if h.Name == "refused" {
		return "", errors.New("field mac: not a MAC address")
	}
	m.entries[strings.ToLower(h.Name)] = entry
	return h.Name, nil
}

type sources struct {
	legacyimport.Sources
	dir string
}

// writeSources writes the three files with Go's Fernet (Python's files are
// read_test.go's concern; here the subject is what Import does).
func writeSources(t *testing.T, hostsDoc string) sources {
	t.Helper()
	key := bytes.Repeat([]byte{9}, fernet.KeySize)
	tok := func(plain string) string {
		s, err := fernet.Encrypt(key, []byte(plain), fakeNow, []byte("0123456789abcdef"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	dir := t.TempDir()
	files := map[string]string{
		"winrm.json": `{"credentials": {"lab-ws-01.lab": {"token": "` + tok(`{"user":"admin","password":"S3cret-1"}`) + `"},
			"Lab-WS-02.lab": {"token": "` + tok(`{"user":"admin","password":"S3cret-2"}`) + `"}}}`,
		"power.json": `{"credentials": {"pdu-1": {"type": "snmpv2c", "token": "` + tok(`{"version":"v2c","community":"S3cret-c"}`) + `"}}}`,
		"hosts.json": hostsDoc,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return sources{Sources: legacyimport.Sources{
		WinRMPath: filepath.Join(dir, "winrm.json"), PowerPath: filepath.Join(dir, "power.json"),
		DynamicHostsPath: filepath.Join(dir, "hosts.json"), Key: key,
	}, dir: dir}
}

func TestImport_StoresThenIsIdempotent(t *testing.T) {
	src := writeSources(t, `{"hosts": [{"name": "lab-ws-09", "address": "10.0.0.9"}, {"name": "lab-ws-10", "address": "10.0.0.10"}]}`)
	creds := &memCreds{winrm: map[string]string{}, power: map[string]string{}}
	hosts := &memHosts{entries: map[string]json.RawMessage{"lab-ws-10": json.RawMessage(`{"name": "LAB-WS-10"}`)}}
	var out bytes.Buffer
	report, err := legacyimport.Import(context.Background(), src.Sources, creds, hosts, nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	want := "winrm credential lab-ws-01.lab: stored\nwinrm credential lab-ws-02.lab: stored\npower credential pdu-1: stored\nhost lab-ws-09: added\nhost lab-ws-10: exists\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	if got := creds.winrm["lab-ws-02.lab"]; got != "admin/S3cret-2" {
		t.Errorf("stored WinRM credential %q", got)
	}
	if got := creds.power["pdu-1"]; got != "snmpv2cmap[community:S3cret-c version:v2c]" {
		t.Errorf("stored power credential %q", got)
	}
	if !strings.Contains(string(hosts.entries["lab-ws-09"]), `"10.0.0.9"`) {
		t.Errorf("host entry %s", hosts.entries["lab-ws-09"])
	}
	if report.Count(legacyimport.KindWinRM, legacyimport.ResultStored) != 2 || report.Count(legacyimport.KindHost, legacyimport.ResultExists) != 1 {
		t.Errorf("report %+v", report)
	}
	for _, a := range creds.actors {
		if a != legacyimport.DefaultActor {
			t.Errorf("actor %q", a)
		}
	}

	out.Reset()
	src.Actor = "operator:alice"
	report, err = legacyimport.Import(context.Background(), src.Sources, creds, hosts, nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	want = "winrm credential lab-ws-01.lab: updated\nwinrm credential lab-ws-02.lab: updated\npower credential pdu-1: updated\nhost lab-ws-09: exists\nhost lab-ws-10: exists\n"
	if out.String() != want {
		t.Errorf("second run:\n%s\nwant:\n%s", out.String(), want)
	}
	if len(hosts.entries) != 2 || report.Count(legacyimport.KindHost, legacyimport.ResultAdded) != 0 {
		t.Errorf("second run added hosts: %v", report)
	}
	if creds.actors[len(creds.actors)-1] != "operator:alice" {
		t.Errorf("actor %q", creds.actors[len(creds.actors)-1])
	}
	noSecret(t, "output and report", out.String()+fmt.Sprintf("%v %+v", report, report))
}

// A problem in any file stores nothing at all, and every file's problems
// are listed.
func TestImport_AllOrNothing(t *testing.T) {
	src := writeSources(t, `{"hosts": [{"name": "ws-1"}, {"name": "WS-1"}]}`)
	if err := os.WriteFile(src.PowerPath, []byte(`{"credentials": {"pdu-1": {"type": "snmpv2c", "token": "gAAAA"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	creds := &memCreds{winrm: map[string]string{}, power: map[string]string{}}
	hosts := &memHosts{entries: map[string]json.RawMessage{}}
	var out bytes.Buffer
	report, err := legacyimport.Import(context.Background(), src.Sources, creds, hosts, nil, &out)
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{"nothing stored", "cannot decrypt credential pdu-1 in " + src.PowerPath, "host entries 1 and 2 are both named WS-1"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	if len(creds.winrm)+len(creds.power)+len(hosts.entries) != 0 || out.Len() != 0 || len(report.Items) != 0 {
		t.Errorf("stored %v %v %v, printed %q", creds.winrm, creds.power, hosts.entries, out.String())
	}

	// A wrong key: nothing stored either.
	src = writeSources(t, `{"hosts": []}`)
	src.Key = bytes.Repeat([]byte{8}, fernet.KeySize)
	if _, err := legacyimport.Import(context.Background(), src.Sources, creds, hosts, nil, &out); err == nil || !strings.Contains(err.Error(), "wrong OPS_SECRETS_KEY") {
		t.Errorf("wrong key: %v", err)
	}
	if len(creds.winrm)+len(creds.power) != 0 {
		t.Errorf("stored under a wrong key: %v %v", creds.winrm, creds.power)
	}
}

// A store failing midway: the error names the item and how far it got; the
// rerun finishes.
func TestImport_StoreFailsMidway(t *testing.T) {
	src := writeSources(t, `{"hosts": [{"name": "ok-1"}, {"name": "refused"}]}`)
	creds := &memCreds{winrm: map[string]string{}, power: map[string]string{}, failRef: "lab-ws-02.lab"}
	hosts := &memHosts{entries: map[string]json.RawMessage{}}
	var out bytes.Buffer
	report, err := legacyimport.Import(context.Background(), src.Sources, creds, hosts, nil, &out)
	if err == nil || !strings.Contains(err.Error(), "store winrm credential lab-ws-02.lab: store down (1 of 5 items done; running the import again is safe)") {
		t.Errorf("error %v", err)
	}
	if len(report.Items) != 1 || out.String() != "winrm credential lab-ws-01.lab: stored\n" {
		t.Errorf("report %v, output %q", report, out.String())
	}
	creds.failRef = ""
	out.Reset()
	_, err = legacyimport.Import(context.Background(), src.Sources, creds, hosts, nil, &out)
	if err == nil || !strings.Contains(err.Error(), "add host refused: field mac: not a MAC address (4 of 5 items done") {
		t.Errorf("error %v", err)
	}
	if !strings.Contains(out.String(), "winrm credential lab-ws-01.lab: updated\nwinrm credential lab-ws-02.lab: stored\n") {
		t.Errorf("output %q", out.String())
	}
}

func TestImport_Arguments(t *testing.T) {
	src := writeSources(t, `{"hosts": []}`)
	creds := &memCreds{winrm: map[string]string{}, power: map[string]string{}}
	ctx := context.Background()
	for _, tt := range []struct {
		src   legacyimport.Sources
		creds legacyimport.CredentialSink
		hosts legacyimport.HostSink
		want  string
	}{
		{legacyimport.Sources{}, creds, &memHosts{}, "nothing to import"},
		{legacyimport.Sources{WinRMPath: src.WinRMPath, Key: src.Key}, nil, nil, "no credential store"},
		{legacyimport.Sources{DynamicHostsPath: src.DynamicHostsPath}, creds, nil, "no catalog"},
		{legacyimport.Sources{WinRMPath: src.WinRMPath}, creds, nil, "OPS_SECRETS_KEY to read it with is missing"},
	} {
		if _, err := legacyimport.Import(ctx, tt.src, tt.creds, tt.hosts, nil, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.src.WinRMPath, err, tt.want)
		}
	}
	// Only the hosts file: no key needed; a nil writer prints nothing.
	hosts := &memHosts{entries: map[string]json.RawMessage{}}
	if err := os.WriteFile(src.DynamicHostsPath, []byte(`{"hosts": [{"name": "a"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if r, err := legacyimport.Import(ctx, legacyimport.Sources{DynamicHostsPath: src.DynamicHostsPath}, nil, hosts, nil, nil); err != nil || len(r.Items) != 1 {
		t.Errorf("hosts only: %v, %v", r, err)
	}
	// A cancelled context stops before storing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := legacyimport.Import(cctx, src.Sources, creds, hosts, nil, nil); !errors.Is(err, context.Canceled) || len(creds.winrm) != 0 {
		t.Errorf("cancelled: %v, stored %v", err, creds.winrm)
	}
}

func TestSecret_Redacts(t *testing.T) {
	s := secrets.NewSecret("S3cret-x")
	c := legacyimport.WinRMCredential{Ref: "r", User: "u", Password: s}
	p := legacyimport.PowerCredential{Ref: "r", Type: "netio-http-basic", Fields: map[string]secrets.Secret{"password": s}}
	j, _ := json.Marshal([]any{c, p, s})
	text := fmt.Sprintf("%v %+v %#v %s %q %x %X %d %v %#v", c, c, c, s, s, s, s, s, p, p) + string(j)
	noSecret(t, "formatted secret", text)
	if !strings.Contains(text, "[redacted]") {
		t.Errorf("no mask in %s", text)
	}
	if s.Reveal() != "S3cret-x" || s.IsZero() || !secrets.NewSecret("").IsZero() {
		t.Error("Reveal/IsZero")
	}
}

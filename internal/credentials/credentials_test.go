package credentials

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/logtest"
	"github.com/ops-worker/ops-worker/internal/secrets"
)

const pw = "Corr3ct-Horse-Battery"

func ring(t *testing.T, cur byte, prev ...byte) *secrets.Keyring {
	t.Helper()
	var ps [][]byte
	for _, p := range prev {
		ps = append(ps, bytes.Repeat([]byte{p}, 32))
	}
	r, err := secrets.NewKeyring(bytes.Repeat([]byte{cur}, 32), ps...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestSaveWinRM_Validation(t *testing.T) {
	ctx := context.Background()
	s := New(newMemStore(), ring(t, 1), Options{})
	for _, tt := range []struct {
		ref, user, pass, want string
	}{
		{"", "u", pw, "credentialRef is empty"},
		{"-bad", "u", pw, "credentialRef \"-bad\" is not a credential reference"},
		{"ws-01", " ", pw, "user is required"},
		{"ws-01", "u", "", "password is required"},
		{"ws-01", strings.Repeat("u", 257), pw, "user is longer"},
		{"ws-01", "u", strings.Repeat("p", 513), "password is longer"},
	} {
		_, err := s.SaveWinRM(ctx, tt.ref, tt.user, secrets.NewSecret(tt.pass), "op")
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v", tt, err)
		}
		if tt.pass != "" && err != nil && strings.Contains(err.Error(), tt.pass) {
			t.Errorf("error holds the password: %v", err)
		}
	}
	if _, err := New(newMemStore(), nil, Options{}).SaveWinRM(ctx, "ws-01", "u", secrets.NewSecret(pw), "op"); !errors.Is(err, ErrNoKey) ||
		!strings.Contains(err.Error(), "set OPS_SECRETS_KEY (or OPS_SECRETS_KEY_FILE)") {
		t.Errorf("no key: %v", err)
	}
	if _, err := New(nil, ring(t, 1), Options{}).SaveWinRM(ctx, "ws-01", "u", secrets.NewSecret(pw), "op"); !errors.Is(err, ErrNoDatabase) {
		t.Errorf("no database: %v", err)
	}
	// Without a key nothing resolves, and nothing fails.
	if _, _, found, err := New(newMemStore(), nil, Options{}).WinRM(ctx, "ws-01"); found || err != nil {
		t.Errorf("no key read: %v %v", found, err)
	}
}

func TestWinRM_RoundTripAndCache(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	clk := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	logs := &logtest.Buffer{}
	s := New(st, ring(t, 1), Options{CacheTTL: 5 * time.Second, Now: clk.now, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	other := New(st, ring(t, 1), Options{CacheTTL: 5 * time.Second, Now: clk.now}) // a second instance
	h := hosts.Host{Name: "ws-01", Address: "10.0.0.5", CredentialRef: "lab-ws-01"}

	// Not found is cached too.
	if s.WinRMConfigured(ctx, h) || other.WinRMConfigured(ctx, h) {
		t.Fatal("configured before the save")
	}
	ref, err := s.SaveWinRM(ctx, " Lab-WS-01 ", "labadmin", secrets.NewSecret(pw), "admin@gw")
	if err != nil || ref != "lab-ws-01" {
		t.Fatal(ref, err)
	}
	// The saving instance forgot its entry; the other sees it within the TTL.
	if !s.WinRMConfigured(ctx, h) {
		t.Fatal("saving instance still caches not-found")
	}
	if other.WinRMConfigured(ctx, h) {
		t.Fatal("other instance did not cache its not-found (cache not in use?)")
	}
	clk.t = clk.t.Add(6 * time.Second)
	user, pass, found, err := other.WinRM(ctx, "LAB-WS-01")
	if err != nil || !found || user != "labadmin" || pass.Reveal() != pw {
		t.Fatalf("other after TTL: %q %v %v", user, found, err)
	}
	gets := st.gets
	for range 3 {
		other.WinRM(ctx, "lab-ws-01")
	}
	if st.gets != gets {
		t.Fatalf("cached reads hit the store %d times", st.gets-gets)
	}
	// Errors are not cached.
	clk.t = clk.t.Add(6 * time.Second)
	st.fail = errors.New("db down")
	if _, _, _, err := other.WinRM(ctx, "lab-ws-01"); err == nil {
		t.Fatal("store error hidden")
	}
	st.fail = nil
	if _, _, found, err := other.WinRM(ctx, "lab-ws-01"); !found || err != nil {
		t.Fatalf("after the error: %v %v", found, err)
	}
	// No cache: every read is a query.
	nc := New(st, ring(t, 1), Options{})
	gets = st.gets
	nc.WinRM(ctx, "lab-ws-01")
	nc.WinRM(ctx, "lab-ws-01")
	if st.gets != gets+2 {
		t.Fatalf("CacheTTL 0 cached: %d queries", st.gets-gets)
	}
	meta, err := s.List(ctx, "winrm")
	if err != nil || len(meta) != 1 || meta[0].CredentialRef != "lab-ws-01" || meta[0].UpdatedBy != "admin@gw" || meta[0].KeyID != ring(t, 1).CurrentID() {
		t.Fatalf("list %+v %v", meta, err)
	}
	if _, err := s.List(ctx, "other"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("list kind: %v", err)
	}
	if strings.Contains(logs.String(), pw) || !strings.Contains(logs.String(), "lab-ws-01") {
		t.Fatalf("logs: %s", logs)
	}
}

func TestWinRM_RowBoundToItsReference(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	s := New(st, ring(t, 1), Options{})
	if _, err := s.SaveWinRM(ctx, "ws-a", "u", secrets.NewSecret(pw), "op"); err != nil {
		t.Fatal(err)
	}
	// A row copied to another reference does not open.
	row := st.rows["winrm/ws-a"]
	row.Ref = "ws-b"
	st.rows["winrm/ws-b"] = row
	_, _, found, err := s.WinRM(ctx, "ws-b")
	if err == nil || found || !errors.Is(err, secrets.ErrAuth) || !strings.Contains(err.Error(), "winrm/ws-b") {
		t.Fatalf("copied row: %v %v", found, err)
	}
	// A row under a key the keyring lacks names the key id.
	k9 := ring(t, 9)
	_, _ = New(st, k9, Options{}).SaveWinRM(ctx, "ws-c", "u", secrets.NewSecret(pw), "op")
	_, _, _, err = s.WinRM(ctx, "ws-c")
	if !errors.Is(err, secrets.ErrUnknownKey) || !strings.Contains(err.Error(), k9.CurrentID()) {
		t.Fatalf("unknown key: %v", err)
	}
	if s.WinRMConfigured(ctx, hosts.Host{Name: "c", CredentialRef: "ws-c"}) {
		t.Fatal("unopenable row counts as configured")
	}
	if strings.Contains(fmt.Sprint(err), pw) {
		t.Fatal("error holds the password")
	}
}

func TestPower(t *testing.T) {
	ctx := context.Background()
	s := New(newMemStore(), ring(t, 1), Options{})
	meta, rotated, err := s.SavePower(ctx, "PDU-1", "SNMPv2c", map[string]any{"community": " pr1vate "}, false, "op")
	if err != nil || rotated || meta.CredentialRef != "pdu-1" || meta.Type != "snmpv2c" {
		t.Fatal(meta, rotated, err)
	}
	if _, _, err := s.SavePower(ctx, "pdu-1", "snmpv1", map[string]any{"community": "x"}, false, "op"); !errors.Is(err, ErrExists) {
		t.Fatalf("no overwrite: %v", err)
	}
	if _, rotated, err := s.SavePower(ctx, "pdu-1", "snmpv1", map[string]any{"community": "x", "version": "V1"}, true, "op"); err != nil || !rotated {
		t.Fatalf("overwrite: %v %v", rotated, err)
	}
	typ, creds, err := s.Power(ctx, "pdu-1")
	if err != nil || typ != "snmpv1" || creds["community"] != "x" || creds["version"] != "v1" {
		t.Fatalf("read %q %v %v", typ, creds, err)
	}
	if _, _, err := s.Power(ctx, "pdu-2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("absent: %v", err)
	}
	if _, _, err := New(newMemStore(), nil, Options{}).Power(ctx, "pdu-1"); !errors.Is(err, ErrNoKey) {
		t.Fatalf("no key: %v", err)
	}
}

func TestValidatePower(t *testing.T) {
	const secret = "S3cretValue!"
	ok := []struct {
		typ   string
		in    map[string]any
		check map[string]string
	}{
		{"snmpv2c", map[string]any{"community": secret}, map[string]string{"version": "v2c", "community": secret}},
		{"snmpv3", map[string]any{"securityName": "ops", "authProtocol": "sha256", "authPassword": secret, "privProtocol": "aes", "privPassword": secret, "contextName": "c"},
			map[string]string{"version": "v3", "username": "ops", "authProtocol": "SHA256", "privProtocol": "AES", "authPassword": secret, "privPassword": secret, "contextName": "c"}},
		{"snmpv3", map[string]any{"username": "ops"}, map[string]string{"version": "v3", "username": "ops", "authProtocol": "NONE", "privProtocol": "NONE"}},
		{"Netio-HTTP-Basic", map[string]any{"username": "admin", "password": secret}, map[string]string{"username": "admin", "password": secret}},
	}
	for _, tt := range ok {
		_, got, err := ValidatePower(tt.typ, tt.in)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.check) {
			t.Errorf("%s %v: %v %v", tt.typ, tt.in, got, err)
		}
	}
	bad := []struct {
		typ  string
		in   map[string]any
		want string
	}{
		{"ipmi", map[string]any{"a": "b"}, "type \"ipmi\" is unsupported"},
		{"snmpv1", nil, "non-empty object"},
		{"snmpv1", map[string]any{"community": secret, "extra": 1}, "unsupported fields: extra"},
		{"snmpv1", map[string]any{"community": secret, "version": "2c"}, "does not match"},
		{"snmpv2c", map[string]any{"community": " "}, "community is required"},
		{"snmpv2c", map[string]any{"community": []any{secret}}, "community must be text"},
		{"snmpv3", map[string]any{"authProtocol": "SHA", "authPassword": secret}, "username is required"},
		{"snmpv3", map[string]any{"username": "u", "authProtocol": "SHA1"}, "authentication protocol \"SHA1\" is invalid"},
		{"snmpv3", map[string]any{"username": "u", "privProtocol": "3DES"}, "privacy protocol"},
		{"snmpv3", map[string]any{"username": "u", "privProtocol": "AES", "privPassword": secret}, "privacy requires authentication"},
		{"snmpv3", map[string]any{"username": "u", "authProtocol": "MD5"}, "authentication password is required"},
		{"snmpv3", map[string]any{"username": "u", "authProtocol": "MD5", "authPassword": secret, "privProtocol": "DES"}, "privacy password is required"},
		{"snmpv3", map[string]any{"username": "u", "version": "v2c"}, "must use version v3"},
		{"snmpv3", map[string]any{"username": "u", "engineId": secret}, "unsupported fields: engineId"},
		{"netio-http-basic", map[string]any{"username": "u"}, "password is required"},
		{"netio-http-basic", map[string]any{"username": "u", "password": strings.Repeat("p", 513)}, "password is too long"},
		{"netio-http-basic", map[string]any{"user": "u", "password": secret}, "unsupported fields: user"},
	}
	for _, tt := range bad {
		_, _, err := ValidatePower(tt.typ, tt.in)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %v: %v, want %q", tt.typ, tt.in, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("error holds a secret: %v", err)
		}
	}
}

func TestReseal_Fake(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	old := New(st, ring(t, 1), Options{})
	for i := range 250 { // more than one batch
		if _, err := old.SaveWinRM(ctx, fmt.Sprintf("ws-%03d", i), "u", secrets.NewSecret(pw), "op"); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = New(st, ring(t, 7), Options{}).SaveWinRM(ctx, "lost-key", "u", secrets.NewSecret(pw), "op") // a key nobody has
	cur := New(st, ring(t, 2, 1), Options{})
	// One row is rewritten between the read and the swap: it is skipped.
	done := false
	st.onCAS = func() {
		if !done {
			done = true
			if _, err := cur.SaveWinRM(ctx, "ws-000", "u2", secrets.NewSecret(pw), "op"); err != nil {
				t.Error(err)
			}
		}
	}
	rep, err := cur.Reseal(ctx)
	if err == nil || !strings.Contains(err.Error(), "winrm/lost-key") || !strings.Contains(err.Error(), ring(t, 7).CurrentID()) {
		t.Fatalf("reseal error %v", err)
	}
	if rep != (ResealReport{Checked: 251, Resealed: 249, Skipped: 1, Failed: 1}) {
		t.Fatalf("report %+v", rep)
	}
	for k, r := range st.rows {
		if k != "winrm/lost-key" && r.KeyID != ring(t, 2).CurrentID() {
			t.Fatalf("%s still under %s", k, r.KeyID)
		}
	}
	if u, _, _, _ := New(st, ring(t, 2), Options{}).WinRM(ctx, "ws-000"); u != "u2" {
		t.Fatalf("concurrent write lost: %q", u)
	}
	st.onCAS = nil
	rep, _ = cur.Reseal(ctx)
	if rep != (ResealReport{Checked: 1, Failed: 1}) {
		t.Fatalf("second run %+v", rep)
	}
	if _, err := New(st, nil, Options{}).Reseal(ctx); !errors.Is(err, ErrNoKey) {
		t.Fatalf("no key: %v", err)
	}
}

// hostRef of a host built outside the catalog loader is its address.
func TestHostRef(t *testing.T) {
	if hostRef(hosts.Host{Address: "PC-1.lab"}) != "pc-1.lab" || hostRef(hosts.Host{Address: "x", CredentialRef: "r"}) != "r" {
		t.Fatal("hostRef")
	}
	_ = domain.CredentialKindWinRM
}

func TestCleanActor(t *testing.T) {
	long := strings.Repeat("a", 127) + "é" + "tail"
	got := cleanActor("  " + long)
	if len(got) > maxActor || got != strings.Repeat("a", 127) {
		t.Fatalf("%q", got)
	}
}

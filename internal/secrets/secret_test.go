package secrets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const plain = "hunter2-Pl41n-Value"

// leaks reports where value appears in any of outs.
func leaks(value string, outs map[string]string) []string {
	var where []string
	for name, out := range outs {
		if strings.Contains(out, value) {
			where = append(where, name)
		}
	}
	return where
}

func secretOutputs(s Secret) map[string]string {
	type holder struct {
		User     string
		Password Secret
		Ptr      *Secret
	}
	h := holder{User: "u", Password: s, Ptr: &s}
	outs := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%T"} {
		outs["fmt "+verb] = fmt.Sprintf(verb, s)
		outs["fmt struct "+verb] = fmt.Sprintf(verb, h)
	}
	outs["Sprint"] = fmt.Sprint(s, &s)
	outs["error"] = fmt.Errorf("wrapped: %v", s).Error()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("msg", "password", s, "holder", h, slog.Any("any", s))
	var tbuf bytes.Buffer
	slog.New(slog.NewTextHandler(&tbuf, nil)).Info("msg", "password", s, "ptr", &s)
	outs["slog json"] = buf.String()
	outs["slog text"] = tbuf.String()
	j, err := json.Marshal(h)
	if err != nil {
		outs["json error"] = err.Error()
	}
	outs["json"] = string(j)
	m, _ := json.Marshal(map[string]Secret{"k": s})
	outs["json map"] = string(m)
	return outs
}

func TestSecret_NeverPrinted(t *testing.T) {
	s := NewSecret(plain)
	outs := secretOutputs(s)
	if where := leaks(plain, outs); len(where) > 0 {
		t.Fatalf("secret value printed by %v", where)
	}
	for _, name := range []string{"fmt %v", "fmt %#v", "slog json", "json"} {
		if !strings.Contains(outs[name], Redacted) {
			t.Errorf("%s: %q lacks %s", name, outs[name], Redacted)
		}
	}
	if s.Reveal() != plain || s.IsZero() || !NewSecret("").IsZero() {
		t.Fatal("Reveal/IsZero")
	}
}

// TestLeakCheck_CanFail proves leaks detects a planted plain value, so the
// test above cannot pass by checking nothing.
func TestLeakCheck_CanFail(t *testing.T) {
	outs := secretOutputs(NewSecret(plain))
	outs["planted"] = fmt.Sprintf("%v", struct{ P string }{plain})
	if where := leaks(plain, outs); len(where) != 1 || where[0] != "planted" {
		t.Fatalf("leak check found %v, want [planted]", where)
	}
	// And a plain string through the same paths does show: the paths print.
	if !strings.Contains(fmt.Sprintf("%#v", struct{ P string }{plain}), plain) {
		t.Fatal("a plain string printed by Sprintf is hidden: the check proves nothing")
	}
}

func TestParseKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfb}, 32) // 0xfb makes '-' / '+' and '_' / '/' differ
	texts := map[string]string{}
	texts["url padded"] = b64url(raw, true)
	texts["url raw"] = b64url(raw, false)
	texts["std padded"] = b64std(raw, true)
	texts["std raw"] = b64std(raw, false)
	texts["spaces"] = "  " + b64url(raw, true) + "\n"
	for name, text := range texts {
		got, err := ParseKey(text)
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("%s %q: %x, %v", name, text, got, err)
		}
	}
	if texts["url padded"] == texts["std padded"] {
		t.Fatal("test key does not tell the alphabets apart")
	}
	short := b64url(raw[:16], true)
	bad := "not*base64!secretish"
	for _, text := range []string{short, bad, "", b64url(append(raw, 1), true)} {
		_, err := ParseKey(text)
		if err == nil {
			t.Errorf("%q accepted", text)
			continue
		}
		if text != "" && strings.Contains(err.Error(), text) {
			t.Errorf("error %q holds the key text", err)
		}
	}
}

func TestKeyring_SealOpen(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	r1, err := NewKeyring(k1)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := NewKeyring(k2, k1, k2)
	if err != nil {
		t.Fatal(err)
	}
	if len(r1.CurrentID()) != 16 || r1.CurrentID() == r2.CurrentID() {
		t.Fatalf("ids %q %q", r1.CurrentID(), r2.CurrentID())
	}
	again, _ := NewKeyring(k1)
	if again.CurrentID() != r1.CurrentID() {
		t.Fatal("key id not stable")
	}
	if !r2.Has(r1.CurrentID()) || r1.Has(r2.CurrentID()) || len(r2.IDs()) != 2 || r2.IDs()[0] != r2.CurrentID() {
		t.Fatal("Has/IDs")
	}
	aad := []byte("ref-a")
	id, sealed, err := r1.Seal([]byte(plain), aad)
	if err != nil || id != r1.CurrentID() {
		t.Fatal(id, err)
	}
	if bytes.Contains(sealed, []byte(plain)) {
		t.Fatal("sealed holds the plain text")
	}
	_, sealed2, _ := r1.Seal([]byte(plain), aad)
	if bytes.Equal(sealed[:12], sealed2[:12]) {
		t.Fatal("nonce repeated")
	}
	got, err := r2.Open(id, sealed, aad)
	if err != nil || string(got) != plain {
		t.Fatalf("previous key open: %q %v", got, err)
	}
	if _, err := r2.Open(id, sealed, []byte("ref-b")); !errors.Is(err, ErrAuth) {
		t.Fatalf("other aad: %v", err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	if got, err := r1.Open(id, tampered, aad); !errors.Is(err, ErrAuth) || got != nil {
		t.Fatalf("tampered: %q %v", got, err)
	}
	_, err = r1.Open(r2.CurrentID(), sealed, aad)
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), r2.CurrentID()) || !strings.Contains(err.Error(), "OPS_SECRETS_PREVIOUS_KEYS") {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := NewKeyring(k1[:31]); err == nil {
		t.Fatal("short key accepted")
	}
	if _, err := NewKeyring(k1, k2[:3]); err == nil || !strings.Contains(err.Error(), "previous key 1") {
		t.Fatalf("short previous key: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	r, err := NewKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		f.Fatal(err)
	}
	_, sealed, _ := r.Seal([]byte("x"), nil)
	f.Add(sealed, []byte(nil))
	f.Add([]byte{}, []byte("a"))
	f.Add(make([]byte, 12), []byte{})
	f.Fuzz(func(t *testing.T, sealed, aad []byte) {
		got, err := r.Open(r.CurrentID(), sealed, aad)
		if err == nil && string(got) != "x" {
			t.Fatalf("random input opened to %q", got)
		}
		if err != nil && got != nil {
			t.Fatal("bytes returned with an error")
		}
	})
}

func BenchmarkSealOpen(b *testing.B) {
	r, err := NewKeyring(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		b.Fatal(err)
	}
	msg := []byte(`{"user":"labadmin","password":"correct horse battery staple"}`)
	aad := []byte("ops-worker/credential/v1\x00winrm\x00lab-ws-01\x00winrm")
	b.ReportAllocs()
	for b.Loop() {
		id, sealed, err := r.Seal(msg, aad)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Open(id, sealed, aad); err != nil {
			b.Fatal(err)
		}
	}
}

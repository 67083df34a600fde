package fernet_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/fernet"
)

// vector is one entry of the spec's generate.json, verify.json or
// invalid.json (testdata/README.md names their source).
type vector struct {
	Desc   string `json:"desc"`
	Token  string `json:"token"`
	Now    string `json:"now"`
	IV     []byte `json:"-"`
	IVInts []int  `json:"iv"`
	TTLSec int    `json:"ttl_sec"`
	Src    string `json:"src"`
	Secret string `json:"secret"`
}

func loadVectors(t *testing.T, name string) []vector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(vs) == 0 {
		t.Fatalf("%s: no vectors", name)
	}
	for i := range vs {
		for _, n := range vs[i].IVInts {
			vs[i].IV = append(vs[i].IV, byte(n))
		}
	}
	return vs
}

func (v vector) now(t *testing.T) time.Time {
	t.Helper()
	now, err := time.Parse(time.RFC3339, v.Now)
	if err != nil {
		t.Fatal(err)
	}
	return now
}

func (v vector) key(t *testing.T) []byte {
	t.Helper()
	key, err := fernet.ParseKey(v.Secret)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestEncrypt_SpecVectors(t *testing.T) {
	for _, v := range loadVectors(t, "generate.json") {
		got, err := fernet.Encrypt(v.key(t), []byte(v.Src), v.now(t), v.IV)
		if err != nil {
			t.Fatal(err)
		}
		if got != v.Token {
			t.Errorf("Encrypt(%q) = %s, want %s", v.Src, got, v.Token)
		}
	}
}

func TestDecrypt_SpecVectors(t *testing.T) {
	for _, v := range loadVectors(t, "verify.json") {
		got, err := fernet.Decrypt(v.key(t), v.Token, v.now(t), time.Duration(v.TTLSec)*time.Second)
		if err != nil {
			t.Fatalf("Decrypt: %v", err)
		}
		if string(got) != v.Src {
			t.Errorf("Decrypt = %q, want %q", got, v.Src)
		}
		// Without the padding, as some tools write tokens.
		got, err = fernet.Decrypt(v.key(t), strings.TrimRight(v.Token, "="), v.now(t), 0)
		if err != nil || string(got) != v.Src {
			t.Errorf("Decrypt(unpadded) = %q, %v, want %q", got, err, v.Src)
		}
	}
}

func TestDecrypt_SpecInvalid(t *testing.T) {
	for _, v := range loadVectors(t, "invalid.json") {
		t.Run(v.Desc, func(t *testing.T) {
			got, err := fernet.Decrypt(v.key(t), v.Token, v.now(t), time.Duration(v.TTLSec)*time.Second)
			if !errors.Is(err, fernet.ErrInvalidToken) || got != nil {
				t.Errorf("Decrypt = %q, %v, want nil, ErrInvalidToken", got, err)
			}
		})
	}
}

// The age check happens only with a ttl, at the spec's boundaries (a token
// exactly ttl old is still fresh; a minute of future skew is tolerated).
func TestDecrypt_TTL(t *testing.T) {
	key := bytes.Repeat([]byte{7}, fernet.KeySize)
	issued := time.Unix(1_700_000_000, 0)
	token, err := fernet.Encrypt(key, []byte("x"), issued, make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		now time.Time
		ttl time.Duration
		ok  bool
	}{
		{issued.Add(100 * 365 * 24 * time.Hour), 0, true},
		{issued.Add(-100 * 365 * 24 * time.Hour), 0, true},
		{issued.Add(60 * time.Second), 60 * time.Second, true},
		{issued.Add(60*time.Second + 999*time.Millisecond), 60 * time.Second, true}, // whole seconds
		{issued.Add(61 * time.Second), 60 * time.Second, false},
		{issued.Add(-60 * time.Second), time.Hour, true},
		{issued.Add(-61 * time.Second), time.Hour, false},
	} {
		_, err := fernet.Decrypt(key, token, tt.now, tt.ttl)
		if (err == nil) != tt.ok {
			t.Errorf("now issued%+v ttl %v: err %v, want ok=%v", tt.now.Sub(issued), tt.ttl, err, tt.ok)
		}
	}
}

// Round trips over the lengths around the block size, and every single-bit
// change of a token is refused.
func TestEncryptDecrypt_RoundTripAndTamper(t *testing.T) {
	key := bytes.Repeat([]byte{0xA5}, fernet.KeySize)
	now := time.Unix(1_800_000_000, 0)
	iv := []byte("0123456789abcdef")
	for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 1000} {
		plain := bytes.Repeat([]byte{'p'}, n)
		token, err := fernet.Encrypt(key, plain, now, iv)
		if err != nil {
			t.Fatal(err)
		}
		got, err := fernet.Decrypt(key, token, now, 0)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("len %d: Decrypt = %q, %v", n, got, err)
		}
		raw, _ := base64.URLEncoding.DecodeString(token)
		for i := range raw {
			for bit := 0; bit < 8; bit++ {
				bad := bytes.Clone(raw)
				bad[i] ^= 1 << bit
				if _, err := fernet.Decrypt(key, base64.URLEncoding.EncodeToString(bad), now, 0); !errors.Is(err, fernet.ErrInvalidToken) {
					t.Fatalf("len %d: byte %d bit %d flipped: err %v, want ErrInvalidToken", n, i, bit, err)
				}
			}
		}
		if _, err := fernet.Decrypt(key, token[:len(token)-4], now, 0); !errors.Is(err, fernet.ErrInvalidToken) {
			t.Errorf("len %d: truncated token: err %v", n, err)
		}
	}
}

// A wrong key is ErrInvalidToken, and no error carries the key or the
// plaintext.
func TestDecrypt_WrongKeyAndErrorText(t *testing.T) {
	key := bytes.Repeat([]byte{1}, fernet.KeySize)
	other := bytes.Repeat([]byte{2}, fernet.KeySize)
	now := time.Unix(1_800_000_000, 0)
	token, err := fernet.Encrypt(key, []byte("hunter2-plaintext"), now, make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	_, err = fernet.Decrypt(other, token, now, 0)
	if !errors.Is(err, fernet.ErrInvalidToken) {
		t.Fatalf("wrong key: %v", err)
	}
	text := fmt.Sprintf("%v %+v %#v", err, err, err)
	for _, leak := range []string{"hunter2", base64.URLEncoding.EncodeToString(key), base64.URLEncoding.EncodeToString(other), token} {
		if strings.Contains(text, leak) {
			t.Errorf("error %q carries %q", text, leak)
		}
	}
	for _, bad := range [][]byte{nil, make([]byte, 16), make([]byte, 33)} {
		if _, err := fernet.Decrypt(bad, token, now, 0); !errors.Is(err, fernet.ErrInvalidKey) {
			t.Errorf("key of %d bytes: %v, want ErrInvalidKey", len(bad), err)
		}
		if _, err := fernet.Encrypt(bad, nil, now, make([]byte, 16)); !errors.Is(err, fernet.ErrInvalidKey) {
			t.Errorf("Encrypt with key of %d bytes: %v, want ErrInvalidKey", len(bad), err)
		}
	}
	if _, err := fernet.Encrypt(key, nil, now, make([]byte, 15)); err == nil {
		t.Error("Encrypt with a 15-byte IV: no error")
	}
	if _, err := fernet.Encrypt(key, nil, time.Unix(-1, 0), make([]byte, 16)); err == nil {
		t.Error("Encrypt before 1970: no error")
	}
}

func TestParseKey(t *testing.T) {
	raw := []byte("0123456789abcdef0123456789ABCDEF")
	padded := base64.URLEncoding.EncodeToString(raw)
	for _, text := range []string{padded, strings.TrimRight(padded, "="), padded + "\n", "  " + padded + "\r\n"} {
		got, err := fernet.ParseKey(text)
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("ParseKey(%q) = %x, %v", text, got, err)
		}
	}
	short := base64.URLEncoding.EncodeToString(raw[:31])
	for _, text := range []string{"", "not base64 at all!", short, base64.URLEncoding.EncodeToString(append(raw, 'x')), "+" + padded[1:]} {
		if _, err := fernet.ParseKey(text); !errors.Is(err, fernet.ErrInvalidKey) || strings.Contains(err.Error(), text) && text != "" {
			t.Errorf("ParseKey(%q): %v, want ErrInvalidKey without the text", text, err)
		}
	}
}

// FuzzDecrypt: no input panics; a token that decrypts is a real one (it
// re-encrypts, with its own timestamp and IV, to the same bytes).
func FuzzDecrypt(f *testing.F) {
	for _, name := range []string{"generate.json", "verify.json", "invalid.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		var vs []vector
		if err := json.Unmarshal(b, &vs); err != nil {
			f.Fatal(err)
		}
		for _, v := range vs {
			f.Add(v.Token, int64(v.TTLSec))
		}
	}
	f.Add("", int64(0))
	f.Add("gA", int64(60))
	key, err := fernet.ParseKey("cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=")
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(1985, 10, 26, 8, 20, 1, 0, time.UTC)
	f.Fuzz(func(t *testing.T, token string, ttlSec int64) {
		ttl := time.Duration(ttlSec%(1<<20)) * time.Second
		plain, err := fernet.Decrypt(key, token, now, ttl)
		if err != nil {
			if !errors.Is(err, fernet.ErrInvalidToken) {
				t.Fatalf("error %v is not ErrInvalidToken", err)
			}
			return
		}
		raw, derr := base64.URLEncoding.DecodeString(token)
		if derr != nil {
			raw, derr = base64.RawURLEncoding.DecodeString(token)
		}
		if derr != nil {
			t.Fatalf("token decrypted but is not base64: %v", derr)
		}
		stamp := time.Unix(int64(uint64(raw[1])<<56|uint64(raw[2])<<48|uint64(raw[3])<<40|uint64(raw[4])<<32|
			uint64(raw[5])<<24|uint64(raw[6])<<16|uint64(raw[7])<<8|uint64(raw[8])), 0)
		again, err := fernet.Encrypt(key, plain, stamp, raw[9:25])
		if err != nil {
			return // a timestamp Encrypt cannot write (before 1970 as int64)
		}
		if want := base64.URLEncoding.EncodeToString(raw); again != want {
			t.Fatalf("re-encrypted %s, want %s", again, want)
		}
	})
}

// BenchmarkDecrypt: one WinRM credential's token (about 60 bytes of JSON).
func BenchmarkDecrypt(b *testing.B) {
	key := bytes.Repeat([]byte{1}, fernet.KeySize)
	now := time.Unix(1_800_000_000, 0)
	token, err := fernet.Encrypt(key, []byte(`{"user": "LAB\\admin", "password": "a-password-of-some-length"}`), now, make([]byte, 16))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fernet.Decrypt(key, token, now, 0); err != nil {
			b.Fatal(err)
		}
	}
}

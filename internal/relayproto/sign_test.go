package relayproto_test

import (
	"bytes"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/relayproto"
)

func signed(t *testing.T, secret string, now time.Time, body []byte) *http.Request {
	t.Helper()
	r, err := http.NewRequest("POST", "https://relay.example/v1/command?x=1", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	relayproto.Sign(r, []byte(secret), body, now)
	return r
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"host":"a"}`)
	v := &relayproto.Verifier{Secrets: [][]byte{[]byte("new-secret"), []byte("old-secret")},
		Replay: &relayproto.ReplayCache{}, Now: func() time.Time { return now }}
	for i, s := range []string{"new-secret", "old-secret"} {
		if got, err := v.Verify(signed(t, s, now, body), body); err != nil || got != i {
			t.Errorf("secret %d: key %d, %v", i, got, err)
		}
	}
	r := signed(t, "new-secret", now, body)
	if _, err := v.Verify(r, body); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(r, body); !errors.Is(err, relayproto.ErrReplayed) {
		t.Errorf("replay: %v", err)
	}
	for name, tc := range map[string]struct {
		r    *http.Request
		body []byte
		want error
	}{
		"wrong secret": {signed(t, "other", now, body), body, relayproto.ErrBadMAC},
		"old":          {signed(t, "new-secret", now.Add(-61*time.Second), body), body, relayproto.ErrExpired},
		"future":       {signed(t, "new-secret", now.Add(61*time.Second), body), body, relayproto.ErrExpired},
		"body":         {signed(t, "new-secret", now, body), []byte(`{"host":"b"}`), relayproto.ErrBadMAC},
		"unsigned":     {httptestReq(t), nil, relayproto.ErrMissing},
	} {
		if _, err := v.Verify(tc.r, tc.body); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func httptestReq(t *testing.T) *http.Request {
	r, err := http.NewRequest("GET", "https://relay.example/v1/health", nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReplayCache_Bounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := &relayproto.ReplayCache{Size: 2}
	for _, n := range []string{"a", "b"} {
		if err := c.Add(n, now.Add(time.Minute), now); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Add("c", now.Add(time.Minute), now); !errors.Is(err, relayproto.ErrCacheFull) {
		t.Errorf("full cache: %v", err)
	}
	later := now.Add(2 * time.Minute)
	if err := c.Add("c", later.Add(time.Minute), later); err != nil || c.Len() != 1 {
		t.Errorf("after expiry: %v, len %d", err, c.Len())
	}
	if err := c.Add("a", later.Add(time.Minute), later); err != nil {
		t.Errorf("an expired nonce is forgotten: %v", err)
	}
}

func FuzzParseHeaders(f *testing.F) {
	f.Add("1800000000", "0123456789abcdef0123", "v1="+string(bytes.Repeat([]byte("ab"), 32)))
	f.Add("", "", "")
	f.Add("-1", "x", "v1=zz")
	f.Fuzz(func(t *testing.T, ts, nonce, sig string) {
		s, err := relayproto.ParseHeaders(ts, nonce, sig)
		if err != nil {
			if !errors.Is(err, relayproto.ErrMissing) && !errors.Is(err, relayproto.ErrMalformed) {
				t.Fatalf("error %v is neither missing nor malformed", err)
			}
			return
		}
		if len(s.MAC) != 32 || s.Timestamp < 0 || len(s.Nonce) < 16 || len(s.Nonce) > 64 {
			t.Fatalf("accepted %+v", s)
		}
	})
}

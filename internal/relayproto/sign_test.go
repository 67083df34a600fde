package relayproto_test

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
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
	v := &relayproto.Verifier{Secrets: [][]byte{[]byte("new-secret"), []byte("old-secret")}, Relays: []string{"relay.example"},
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
	f.Add("relay.example", "1800000000", "0123456789abcdef0123", "v2="+string(bytes.Repeat([]byte("ab"), 32)))
	f.Add("", "", "", "")
	f.Add("x", "-1", "x", "v2=zz")
	f.Add("", "1800000000", "0123456789abcdef0123", "v1="+string(bytes.Repeat([]byte("ab"), 32)))
	f.Fuzz(func(t *testing.T, relay, ts, nonce, sig string) {
		s, err := relayproto.ParseHeaders(relay, ts, nonce, sig)
		if err != nil {
			if !errors.Is(err, relayproto.ErrMissing) && !errors.Is(err, relayproto.ErrMalformed) && !errors.Is(err, relayproto.ErrVersion) {
				t.Fatalf("error %v is neither missing, malformed nor the version", err)
			}
			return
		}
		if len(s.MAC) != 32 || s.Timestamp < 0 || len(s.Nonce) < 16 || len(s.Nonce) > 64 || relayproto.CheckRelayID(s.Relay) != nil {
			t.Fatalf("accepted %+v", s)
		}
	})
}

// Issue 15 item 4: the relay a request is signed for is in the signed
// string; a relay refuses a request signed for another, and one whose
// relay header was changed after signing.
func TestVerify_RelayIdentity(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"host":"a"}`)
	sign := func(url string) *http.Request {
		r, err := http.NewRequest("POST", url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		relayproto.Sign(r, []byte("shared-secret"), body, now)
		return r
	}
	a := &relayproto.Verifier{Secrets: [][]byte{[]byte("shared-secret")}, Relays: []string{"relay-a.lab.example", "10.1.2.5"}, Now: func() time.Time { return now }}
	b := &relayproto.Verifier{Secrets: [][]byte{[]byte("shared-secret")}, Relays: []string{"relay-b.lab.example"}, Now: func() time.Time { return now }}
	for _, u := range []string{"https://relay-a.lab.example:8740/v1/command", "https://RELAY-A.lab.example./v1/command", "https://10.1.2.5:8740/v1/command"} {
		r := sign(u)
		if _, err := a.Verify(r, body); err != nil {
			t.Errorf("%s at relay A: %v", u, err)
		}
		if _, err := b.Verify(r, body); !errors.Is(err, relayproto.ErrWrongRelay) || !strings.Contains(err.Error(), "relay-b.lab.example") {
			t.Errorf("%s at relay B: %v, want ErrWrongRelay naming B", u, err)
		}
	}
	// The header changed to B's name: the MAC covers it.
	r := sign("https://relay-a.lab.example/v1/command")
	r.Header.Set(relayproto.HeaderRelay, "relay-b.lab.example")
	if _, err := b.Verify(r, body); !errors.Is(err, relayproto.ErrBadMAC) {
		t.Errorf("relay header changed: %v, want ErrBadMAC", err)
	}
	// No identity configured: loopback names only.
	lo := &relayproto.Verifier{Secrets: [][]byte{[]byte("shared-secret")}, Now: func() time.Time { return now }}
	for u, ok := range map[string]bool{"http://127.0.0.1:8740/v1/health": true, "http://localhost/v1/health": true,
		"http://[::1]:1/v1/health": true, "https://relay-a.lab.example/v1/health": false} {
		if _, err := lo.Verify(sign(u), body); (err == nil) != ok {
			t.Errorf("no identity, %s: %v, want ok %v", u, err, ok)
		}
	}
}

// A version 1 signature is refused with a message that names the version.
func TestVerify_V1Refused(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	r := httptestReq(t)
	r.Header.Set(relayproto.HeaderTimestamp, "1800000000")
	r.Header.Set(relayproto.HeaderNonce, "0123456789abcdef0123")
	r.Header.Set(relayproto.HeaderSignature, "v1="+strings.Repeat("ab", 32))
	v := &relayproto.Verifier{Secrets: [][]byte{[]byte("s")}, Relays: []string{"relay.example"}, Now: func() time.Time { return now }}
	_, err := v.Verify(r, nil)
	if !errors.Is(err, relayproto.ErrVersion) || !strings.Contains(err.Error(), "v1") || !strings.Contains(err.Error(), "update the worker") {
		t.Errorf("v1: %v, want ErrVersion naming v1 and the fix", err)
	}
}

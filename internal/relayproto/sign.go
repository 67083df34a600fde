// Package relayproto is the protocol between the worker and the relay
// (DESIGN.md "The relay protocol"): how a request is signed and verified,
// the bounded replay cache, and the JSON bodies of the routes, including
// the error shape that carries a lab error kind back to the client.
//
// A request is signed with HMAC-SHA256 over the canonical string
//
//	OPS-RELAY-V1 "\n" METHOD "\n" escaped path "\n" raw query "\n"
//	timestamp "\n" nonce "\n" hex(SHA-256(body))
//
// and carries three headers: X-Relay-Timestamp (Unix seconds, decimal),
// X-Relay-Nonce (16 to 64 characters of [A-Za-z0-9_-]) and
// X-Relay-Signature ("v1=" and 64 lower-case hex digits). The query is
// signed as sent (r.URL.RawQuery), not re-ordered: any changed byte of it
// breaks the signature.
package relayproto

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of a signed request.
const (
	HeaderTimestamp = "X-Relay-Timestamp"
	HeaderNonce     = "X-Relay-Nonce"
	HeaderSignature = "X-Relay-Signature"
)

// Window is how far a request's timestamp may be from the relay's clock,
// either way.
const Window = 60 * time.Second

// MinSecretLen is the shortest secret Sign and the relay accept.
const MinSecretLen = 32

const (
	scheme    = "OPS-RELAY-V1"
	sigPrefix = "v1="
	minNonce  = 16
	maxNonce  = 64
)

// Reasons a signature is refused. Every one of them is answered 401.
var (
	ErrMissing   = errors.New("request not signed")
	ErrMalformed = errors.New("malformed signature headers")
	ErrExpired   = errors.New("timestamp outside the accepted window")
	ErrBadMAC    = errors.New("signature does not match")
	ErrReplayed  = errors.New("nonce already used")
	// ErrCacheFull: the replay cache holds its maximum of live nonces and
	// this request's would be the first to go (or one that may already
	// have gone); the relay refuses (503) rather than accept a replay.
	ErrCacheFull = errors.New("replay cache full")
)

// Canonical is the string that is signed.
func Canonical(method, escapedPath, rawQuery string, timestamp int64, nonce string, bodySHA256 [sha256.Size]byte) string {
	var b strings.Builder
	b.Grow(len(scheme) + len(method) + len(escapedPath) + len(rawQuery) + len(nonce) + 100)
	for _, s := range []string{scheme, method, escapedPath, rawQuery, strconv.FormatInt(timestamp, 10), nonce} {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	b.WriteString(hex.EncodeToString(bodySHA256[:]))
	return b.String()
}

// MAC is HMAC-SHA256 of canonical under secret.
func MAC(secret []byte, canonical string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(canonical))
	return m.Sum(nil)
}

// NewNonce is 32 hex digits of crypto/rand.
func NewNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Sign sets the signature headers of r, whose body is body, at now.
func Sign(r *http.Request, secret, body []byte, now time.Time) {
	ts := now.Unix()
	nonce := NewNonce()
	c := Canonical(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, ts, nonce, sha256.Sum256(body))
	r.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	r.Header.Set(HeaderNonce, nonce)
	r.Header.Set(HeaderSignature, sigPrefix+hex.EncodeToString(MAC(secret, c)))
}

// Signed is what the headers of a request say.
type Signed struct {
	Timestamp int64
	Nonce     string
	MAC       []byte
}

// ParseHeaders parses the three header values. All missing is ErrMissing;
// anything else that is not exactly the format is ErrMalformed.
func ParseHeaders(timestamp, nonce, signature string) (Signed, error) {
	if timestamp == "" && nonce == "" && signature == "" {
		return Signed{}, ErrMissing
	}
	var s Signed
	if len(timestamp) == 0 || len(timestamp) > 12 {
		return Signed{}, fmt.Errorf("%w: timestamp", ErrMalformed)
	}
	for i := 0; i < len(timestamp); i++ {
		if timestamp[i] < '0' || timestamp[i] > '9' {
			return Signed{}, fmt.Errorf("%w: timestamp", ErrMalformed)
		}
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return Signed{}, fmt.Errorf("%w: timestamp", ErrMalformed)
	}
	s.Timestamp = ts
	if len(nonce) < minNonce || len(nonce) > maxNonce {
		return Signed{}, fmt.Errorf("%w: nonce length", ErrMalformed)
	}
	for i := 0; i < len(nonce); i++ {
		c := nonce[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return Signed{}, fmt.Errorf("%w: nonce character", ErrMalformed)
		}
	}
	s.Nonce = nonce
	s.MAC, err = ParseSignature(signature)
	if err != nil {
		return Signed{}, err
	}
	return s, nil
}

// ParseSignature parses "v1=<64 lower-case hex digits>".
func ParseSignature(v string) ([]byte, error) {
	hexMAC, ok := strings.CutPrefix(v, sigPrefix)
	if !ok || len(hexMAC) != 2*sha256.Size {
		return nil, fmt.Errorf("%w: signature", ErrMalformed)
	}
	for i := 0; i < len(hexMAC); i++ {
		if c := hexMAC[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return nil, fmt.Errorf("%w: signature", ErrMalformed)
		}
	}
	mac, err := hex.DecodeString(hexMAC)
	if err != nil {
		return nil, fmt.Errorf("%w: signature", ErrMalformed)
	}
	return mac, nil
}

// Verifier checks signed requests. Secrets holds every secret accepted
// (the new one and the old one during a rotation).
type Verifier struct {
	Secrets [][]byte
	// Replay remembers nonces; nil: no replay check (tests of the MAC only).
	Replay *ReplayCache
	Now    func() time.Time // nil: time.Now
}

// Verify checks r's signature over body: format, window, MAC against each
// secret (constant time), then the nonce (only a request with a good MAC
// can take a slot of the replay cache). It returns the index of the secret
// that matched.
func (v *Verifier) Verify(r *http.Request, body []byte) (int, error) {
	s, err := ParseHeaders(r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderNonce), r.Header.Get(HeaderSignature))
	if err != nil {
		return -1, err
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	ts := time.Unix(s.Timestamp, 0)
	if d := now.Sub(ts); d > Window || d < -Window {
		return -1, ErrExpired
	}
	c := Canonical(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, s.Timestamp, s.Nonce, sha256.Sum256(body))
	matched := -1
	for i, secret := range v.Secrets {
		// Every secret is tried, so the time taken does not say which one
		// matched.
		if hmac.Equal(MAC(secret, c), s.MAC) && matched < 0 {
			matched = i
		}
	}
	if matched < 0 {
		return -1, ErrBadMAC
	}
	if v.Replay != nil {
		if err := v.Replay.Add(s.Nonce, ts.Add(Window), now); err != nil {
			return -1, err
		}
	}
	return matched, nil
}

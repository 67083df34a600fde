// Package relayproto is the protocol between the worker and the relay
// (DESIGN.md "The relay protocol"): how a request is signed and verified,
// the bounded replay cache, and the JSON bodies of the routes, including
// the error shape that carries a lab error kind back to the client.
//
// A request is signed with HMAC-SHA256 over the canonical string
//
//	OPS-RELAY-V2 "\n" relay "\n" METHOD "\n" escaped path "\n"
//	raw query "\n" timestamp "\n" nonce "\n" hex(SHA-256(body))
//
// and carries four headers: X-Relay-Id (the relay it is signed for: the
// host of the relay's URL, lower case, see RelayID), X-Relay-Timestamp
// (Unix seconds, decimal), X-Relay-Nonce (16 to 64 characters of
// [A-Za-z0-9_-]) and X-Relay-Signature ("v2=" and 64 lower-case hex
// digits). The relay refuses a request signed for another relay, so one
// relay's traffic cannot be replayed to another. The query is signed as
// sent (r.URL.RawQuery), not re-ordered: any changed byte of it breaks the
// signature. Version 1 (no relay in the string) is refused with a message
// that says so.
package relayproto

import (
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Headers of a signed request.
const (
	HeaderRelay     = "X-Relay-Id"
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
	scheme    = "OPS-RELAY-V2"
	sigPrefix = "v2="
	minNonce  = 16
	maxNonce  = 64
	maxRelay  = 255
)

// Reasons a signature is refused. Every one of them is answered 401.
var (
	ErrMissing   = errors.New("request not signed")
	ErrMalformed = errors.New("malformed signature headers")
	ErrExpired   = errors.New("timestamp outside the accepted window")
	ErrBadMAC    = errors.New("signature does not match")
	// ErrVersion: a signature of another protocol version (v1: a worker
	// older than the relay).
	ErrVersion = errors.New("signature version not accepted")
	// ErrWrongRelay: the request was signed for another relay.
	ErrWrongRelay = errors.New("signed for another relay")
	ErrReplayed   = errors.New("nonce already used")
	// ErrCacheFull: the replay cache holds its maximum of live nonces and
	// this request's would be the first to go (or one that may already
	// have gone); the relay refuses (503) rather than accept a replay.
	ErrCacheFull = errors.New("replay cache full")
)

// Canonical is the string that is signed; relay is the relay's identity
// (RelayID).
func Canonical(relay, method, escapedPath, rawQuery string, timestamp int64, nonce string, bodySHA256 [sha256.Size]byte) string {
	var b strings.Builder
	b.Grow(len(scheme) + len(relay) + len(method) + len(escapedPath) + len(rawQuery) + len(nonce) + 100)
	for _, s := range []string{scheme, relay, method, escapedPath, rawQuery, strconv.FormatInt(timestamp, 10), nonce} {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	b.WriteString(hex.EncodeToString(bodySHA256[:]))
	return b.String()
}

// RelayID is the identity of the relay a URL host names: the host name
// without port, lower case, without a trailing dot (an IPv6 address
// without brackets).
func RelayID(hostname string) string {
	return strings.TrimSuffix(strings.ToLower(hostname), ".")
}

// CheckRelayID refuses what cannot be a RelayID: empty, longer than 255,
// or a character outside [a-z0-9.:-] (upper case included: RelayID lowers).
func CheckRelayID(id string) error {
	if id == "" || len(id) > maxRelay {
		return fmt.Errorf("%w: relay id length", ErrMalformed)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':') {
			return fmt.Errorf("%w: relay id character", ErrMalformed)
		}
	}
	return nil
}

// loopbackID says whether id names the local machine (localhost or a
// loopback address): what a relay with no configured identity accepts.
func loopbackID(id string) bool {
	if id == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(id)
	return err == nil && ip.Unmap().IsLoopback()
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

// Sign sets the signature headers of r, whose body is body, at now, for
// the relay r.URL names.
func Sign(r *http.Request, secret, body []byte, now time.Time) {
	ts := now.Unix()
	nonce := NewNonce()
	relay := RelayID(r.URL.Hostname())
	c := Canonical(relay, r.Method, r.URL.EscapedPath(), r.URL.RawQuery, ts, nonce, sha256.Sum256(body))
	r.Header.Set(HeaderRelay, relay)
	r.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	r.Header.Set(HeaderNonce, nonce)
	r.Header.Set(HeaderSignature, sigPrefix+hex.EncodeToString(MAC(secret, c)))
}

// Signed is what the headers of a request say.
type Signed struct {
	Relay     string
	Timestamp int64
	Nonce     string
	MAC       []byte
}

// ParseHeaders parses the four header values. All missing is ErrMissing;
// a signature of another version is ErrVersion; anything else that is not
// exactly the format is ErrMalformed.
func ParseHeaders(relay, timestamp, nonce, signature string) (Signed, error) {
	if relay == "" && timestamp == "" && nonce == "" && signature == "" {
		return Signed{}, ErrMissing
	}
	var s Signed
	var err error
	// The version first: a v1 request has no relay header, and its
	// sender should hear about the version, not the header.
	if s.MAC, err = ParseSignature(signature); err != nil {
		return Signed{}, err
	}
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
	if err := CheckRelayID(relay); err != nil {
		return Signed{}, err
	}
	s.Relay = relay
	return s, nil
}

// ParseSignature parses "v2=<64 lower-case hex digits>".
func ParseSignature(v string) ([]byte, error) {
	if strings.HasPrefix(v, "v1=") {
		return nil, fmt.Errorf("%w: a v1 signature (a worker older than this relay): update the worker, v2 binds each request to its relay", ErrVersion)
	}
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
	// Relays are the identities this relay answers to (RelayID of the
	// host names the workers use in its URL); empty: only localhost and
	// loopback addresses, which no other machine signs for.
	Relays []string
	// Replay remembers nonces; nil: no replay check (tests of the MAC only).
	Replay *ReplayCache
	Now    func() time.Time // nil: time.Now
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Verify is Check then CheckBody.
func (v *Verifier) Verify(r *http.Request, body []byte) (int, error) {
	s, err := v.Check(r)
	if err != nil {
		return -1, err
	}
	return v.CheckBody(r, s, body)
}

// Check is everything that needs no body: the headers' format, the
// window and the relay they are signed for. A request that fails it is
// refused before its body is read.
func (v *Verifier) Check(r *http.Request) (Signed, error) {
	s, err := ParseHeaders(r.Header.Get(HeaderRelay), r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderNonce), r.Header.Get(HeaderSignature))
	if err != nil {
		return Signed{}, err
	}
	if d := v.now().Sub(time.Unix(s.Timestamp, 0)); d > Window || d < -Window {
		return Signed{}, ErrExpired
	}
	if len(v.Relays) == 0 && !loopbackID(s.Relay) || len(v.Relays) > 0 && !slices.Contains(v.Relays, s.Relay) {
		return Signed{}, fmt.Errorf("%w: signed for relay %q, this relay is %s", ErrWrongRelay, s.Relay,
			cmp.Or(strings.Join(v.Relays, ", "), "localhost (set RELAY_ID)"))
	}
	return s, nil
}

// CheckBody checks s's MAC over body against each secret (constant time),
// then the nonce (only a request with a good MAC can take a slot of the
// replay cache). It returns the index of the secret that matched.
func (v *Verifier) CheckBody(r *http.Request, s Signed, body []byte) (int, error) {
	c := Canonical(s.Relay, r.Method, r.URL.EscapedPath(), r.URL.RawQuery, s.Timestamp, s.Nonce, sha256.Sum256(body))
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
		if err := v.Replay.Add(s.Nonce, time.Unix(s.Timestamp, 0).Add(Window), v.now()); err != nil {
			return -1, err
		}
	}
	return matched, nil
}

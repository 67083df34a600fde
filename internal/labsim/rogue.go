package labsim

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"hash"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// CBTMode is how a host checks NTLM channel binding (the MsvAvChannelBindings
// AV pair, RFC 5929 tls-server-end-point) on HTTPS: the station's WinRM
// CbtHardeningLevel.
type CBTMode int

const (
	// CBTStrict (the default, like a hardened station) refuses with 401 an
	// HTTPS AUTHENTICATE message without the binding of the host's
	// certificate or with another one.
	CBTStrict CBTMode = iota
	// CBTRelaxed checks the binding only when the client sends one.
	CBTRelaxed
	// CBTNone ignores it.
	CBTNone
)

// NTLM negotiate flags a Rogue can clear from the CHALLENGE.
const (
	NTLMFlagSign    uint32 = ntlmSign
	NTLMFlagSeal    uint32 = ntlmSeal
	NTLMFlagESS     uint32 = ntlmESS
	NTLMFlag128     uint32 = ntlm128
	NTLMFlagKeyExch uint32 = ntlmKeyExch
)

// Rogue makes a host misbehave on purpose, to test that a client survives a
// hostile or broken station. The zero value is an honest host.
type Rogue struct {
	// Action limits the answer knobs below (not ChallengeClearFlags) to
	// requests whose WS-Management action ends with it, such as "Command",
	// "Receive" or "transfer/Create"; "" is every SOAP request.
	Action string
	// ChallengeClearFlags clears these NTLM flags (NTLMFlag*) from every
	// CHALLENGE, for example NTLMFlagSeal to negotiate sealing away.
	ChallengeClearFlags uint32
	// SealedPart, when set, replaces the octet-stream part of an encrypted
	// answer (4-byte signature length, signature, sealed SOAP) with what it
	// returns for the genuine one, inside an otherwise valid multipart frame.
	SealedPart func(genuine []byte) []byte
	// NoClosingBoundary leaves the closing boundary off an encrypted answer.
	NoClosingBoundary bool
	// Body, when not nil, is answered instead (HTTP 200, ContentType or the
	// SOAP content type), unencrypted.
	Body        []byte
	ContentType string
	// Oversize > 0 answers that many filler bytes, chunked (no
	// Content-Length), with the content type the honest answer would have.
	Oversize int64
	// Drip > 0 writes the answer one byte at a time, Drip apart.
	Drip time.Duration
	// UnauthorizedAfterProcessing runs the request, then answers 401 as if
	// the connection had lost its authentication.
	UnauthorizedAfterProcessing bool
	// CloseConnection answers honestly, then closes the connection (as a
	// station does with an idle keep-alive connection): the client's next
	// request arrives on a new, unauthenticated connection.
	CloseConnection bool
	// EndlessHeader answers every request (an NTLM client's first is its
	// NEGOTIATE), whatever Action says, with HTTP 401 and a
	// WWW-Authenticate header that does not end: EndlessBytes of it, then
	// the connection closes.
	EndlessHeader bool
	// EndlessTrailers answers with a chunked HTTP 200 whose short body is
	// followed by trailer lines that do not end: EndlessBytes of them, then
	// the connection closes.
	EndlessTrailers bool
	// EndlessBytes is the length of an endless header or trailer stream;
	// 0 means 256 MiB.
	EndlessBytes int64
}

// Received is what arrived in one WinRM HTTP request (after its body was
// read), so tests can assert what a client sent.
type Received struct {
	At    time.Time
	HTTPS bool
	// ContentType and AuthScheme ("Negotiate", "Basic", "" for none) as sent.
	ContentType string
	AuthScheme  string
	BodyLen     int
	// Sealed: the request claimed NTLM encryption (multipart/encrypted).
	Sealed bool
	// ClearSOAP: a SOAP envelope was readable in the body as it arrived,
	// sealed claim or not (on plain HTTP that is a leak).
	ClearSOAP bool
}

// maxReceived bounds the request record; older entries are dropped.
const maxReceived = 100000

// security is a host's authentication policy, its rogue knobs and its
// record of requests.
type security struct {
	allowBasic bool
	// cbtWant is the MsvAvChannelBindings value that the host's certificate
	// gives; nil when it cannot be computed (then Strict refuses all NTLM).
	cbtWant []byte

	mu       sync.Mutex
	cbt      CBTMode
	rogue    Rogue
	received []Received
	// dropAfterChallenge: how many of the next CHALLENGE answers close
	// their connection (DropAfterChallenge).
	dropAfterChallenge int
}

// DropAfterChallenge makes the next n NTLM CHALLENGE answers close their
// connection, as a client sees when its HTTP stack does not keep the
// connection between the two legs of the handshake: the AUTHENTICATE
// message then arrives on a new connection, which has no challenge, and is
// refused unread (as HTTP.sys does).
func (h *Host) DropAfterChallenge(n int) {
	h.sec.mu.Lock()
	h.sec.dropAfterChallenge = n
	h.sec.mu.Unlock()
}

// takeDropAfterChallenge reports whether this CHALLENGE answer closes its
// connection, counting it.
func (sec *security) takeDropAfterChallenge() bool {
	sec.mu.Lock()
	defer sec.mu.Unlock()
	if sec.dropAfterChallenge <= 0 {
		return false
	}
	sec.dropAfterChallenge--
	return true
}

func newSecurity(s *Sim, o HostOptions) *security {
	sec := &security{allowBasic: o.AllowBasic, cbt: o.CBT}
	if s.tls != nil && len(s.tls.Certificates) > 0 {
		sec.cbtWant = channelBindingHash(s.tls.Certificates[0])
	}
	return sec
}

// channelBindingHash is MD5 of the gss_channel_bindings_struct (RFC 2744;
// no addresses) whose application data is "tls-server-end-point:" and the
// RFC 5929 hash of the leaf certificate, as Windows computes it.
func channelBindingHash(c tls.Certificate) []byte {
	if len(c.Certificate) == 0 {
		return nil
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil
	}
	var h hash.Hash
	switch leaf.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		h = sha512.New384()
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		h = sha512.New()
	default: // SHA-256, and instead of MD5 or SHA-1 (RFC 5929 4.1)
		h = sha256.New()
	}
	h.Write(leaf.Raw)
	app := append([]byte("tls-server-end-point:"), h.Sum(nil)...)
	gss := make([]byte, 20, 20+len(app)) // initiator and acceptor: type 0, no address
	binary.LittleEndian.PutUint32(gss[16:], uint32(len(app)))
	sum := md5.Sum(append(gss, app...))
	return sum[:]
}

// checkCBT applies the host's CBT mode to the binding an AUTHENTICATE
// message carried (nil when absent) and says why it is refused ("" when
// accepted). An all-zero value is what a client without binding support
// sends: it counts as absent.
func (sec *security) checkCBT(https bool, got []byte) string {
	sec.mu.Lock()
	mode := sec.cbt
	sec.mu.Unlock()
	if !https || mode == CBTNone {
		return ""
	}
	if len(got) == 0 || bytes.Equal(got, make([]byte, len(got))) {
		if mode == CBTStrict {
			return "channel binding token missing (CbtHardeningLevel=Strict)"
		}
		return ""
	}
	if sec.cbtWant == nil || subtle.ConstantTimeCompare(got, sec.cbtWant) != 1 {
		return "channel binding token does not match the certificate"
	}
	return ""
}

func (sec *security) record(r Received) {
	sec.mu.Lock()
	defer sec.mu.Unlock()
	if len(sec.received) >= maxReceived {
		sec.received = append(sec.received[:0], sec.received[len(sec.received)-maxReceived/2:]...)
	}
	sec.received = append(sec.received, r)
}

func (sec *security) currentRogue() Rogue {
	sec.mu.Lock()
	defer sec.mu.Unlock()
	return sec.rogue
}

// SetRogue replaces the host's rogue knobs (Rogue{} makes it honest again).
func (h *Host) SetRogue(r Rogue) {
	h.sec.mu.Lock()
	defer h.sec.mu.Unlock()
	h.sec.rogue = r
}

// SetCBT changes how the host checks NTLM channel binding on HTTPS.
func (h *Host) SetCBT(m CBTMode) {
	h.sec.mu.Lock()
	defer h.sec.mu.Unlock()
	h.sec.cbt = m
}

// Received returns the record of WinRM HTTP requests, oldest first (at most
// the last 100000).
func (h *Host) Received() []Received {
	h.sec.mu.Lock()
	defer h.sec.mu.Unlock()
	return append([]Received(nil), h.sec.received...)
}

// ResetReceived empties the record of requests.
func (h *Host) ResetReceived() {
	h.sec.mu.Lock()
	defer h.sec.mu.Unlock()
	h.sec.received = nil
}

// soapEnvelope finds an XML envelope in clear text (any namespace prefix).
func soapEnvelope(body []byte) bool {
	return bytes.Contains(body, []byte(":Envelope")) || bytes.Contains(body, []byte("<Envelope"))
}

// appliesTo reports whether the answer knobs apply to a request with this
// plaintext SOAP body.
func (r *Rogue) appliesTo(body []byte) bool {
	if r.Action == "" {
		return true
	}
	req, err := parseSOAP(body)
	return err == nil && len(req.action) >= len(r.Action) && req.action[len(req.action)-len(r.Action):] == r.Action
}

// answers reports whether any answer knob is set.
func (r *Rogue) answers() bool {
	return r.SealedPart != nil || r.NoClosingBoundary || r.Body != nil || r.Oversize > 0 ||
		r.Drip > 0 || r.UnauthorizedAfterProcessing || r.CloseConnection || r.EndlessTrailers
}

// writeRogue writes the answer of a rogue host for a request that was
// processed (status, resp is the honest plaintext answer). It returns false
// when the honest answer is to be written instead.
func (h *Host) writeRogue(done <-chan struct{}, w http.ResponseWriter, r Rogue, https bool, cs *connState, encrypted bool, status int, resp []byte) bool {
	if r.CloseConnection {
		w.Header().Set("Connection", "close")
	}
	switch {
	case r.UnauthorizedAfterProcessing:
		h.unauthorized(w, https, "rogue: 401 after processing")
		return true
	case r.Body != nil:
		ct := r.ContentType
		if ct == "" {
			ct = soapContentType
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(http.StatusOK)
		writeDrip(done, w, r.Body, r.Drip)
		return true
	case r.EndlessTrailers:
		ct := soapContentType
		if encrypted {
			ct = encContentType
		}
		writeEndlessTrailers(done, w, ct, r.endlessBytes())
		return true
	case r.Oversize > 0:
		ct := soapContentType
		if encrypted {
			ct = encContentType
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		chunk := bytes.Repeat([]byte("A"), 32<<10)
		for n := r.Oversize; n > 0; n -= int64(len(chunk)) {
			if n < int64(len(chunk)) {
				chunk = chunk[:n]
			}
			if _, err := w.Write(chunk); err != nil {
				return true // the client gave up, as it should
			}
		}
		return true
	}
	var out []byte
	switch {
	case encrypted && (r.SealedPart != nil || r.NoClosingBoundary):
		out = encryptBodyRogue(cs.session, resp, r.SealedPart, r.NoClosingBoundary)
	case r.Drip > 0 && encrypted:
		out = encryptBody(cs.session, resp)
	case r.Drip > 0:
		out = resp
	default:
		return false
	}
	ct := soapContentType
	if encrypted {
		ct = encContentType
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	writeDrip(done, w, out, r.Drip)
	return true
}

// writeDrip writes b at once, or one byte at a time d apart until done
// ends (the client gave up, or the host stops).
func writeDrip(done <-chan struct{}, w http.ResponseWriter, b []byte, d time.Duration) {
	if d <= 0 {
		_, _ = w.Write(b)
		return
	}
	rc := http.NewResponseController(w)
	t := time.NewTimer(d)
	defer t.Stop()
	for i := range b {
		if _, err := w.Write(b[i : i+1]); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		t.Reset(d)
		select {
		case <-t.C:
		case <-done:
			return
		}
	}
}

// encryptBodyRogue is encryptBody with the octet-stream part replaced by
// part(genuine) and, with noEnd, no closing boundary.
func encryptBodyRogue(s *ntlmSession, plain []byte, part func([]byte) []byte, noEnd bool) []byte {
	honest := encryptBody(s, plain)
	const octet = "\tContent-Type: application/octet-stream\r\n"
	end := []byte(encBoundary + "--\r\n")
	k := bytes.Index(honest, []byte(octet)) + len(octet)
	head, genuine := honest[:k], bytes.TrimSuffix(honest[k:], end)
	stream := genuine
	if part != nil {
		stream = part(append([]byte(nil), genuine...))
	}
	out := append(append([]byte(nil), head...), stream...)
	if !noEnd {
		out = append(out, end...)
	}
	return out
}

// Acceptor is the station side of one NTLM handshake and of its message
// sealing, in process: the same code as the hosts' listeners, so a client's
// NTLM and decoding code can be tested (fuzzed) on genuinely sealed answers
// without a network. Use one per handshake, from one goroutine.
type Acceptor struct {
	user, password string
	srv            *ntlmServer
	session        *ntlmSession
}

// NewAcceptor expects the account user with this password.
func NewAcceptor(user, password string) *Acceptor {
	return &Acceptor{user: user, password: password}
}

// Challenge answers the client's NEGOTIATE message.
func (a *Acceptor) Challenge(negotiate []byte) ([]byte, error) {
	srv, chal, err := newChallenge(negotiate, "LAB-WS-01", time.Now())
	if err != nil {
		return nil, err
	}
	a.srv, a.session = srv, nil
	return chal, nil
}

// Accept verifies the client's AUTHENTICATE message and sets up sealing.
func (a *Acceptor) Accept(authenticate []byte) error {
	if a.srv == nil {
		return errors.New("AUTHENTICATE without a CHALLENGE")
	}
	res, err := a.srv.verify(authenticate, a.user, a.password)
	if err != nil {
		return err
	}
	if res.session == nil {
		return errors.New("no SIGN/SEAL negotiated")
	}
	a.session = res.session
	return nil
}

// Seal returns plain as a whole multipart/encrypted answer body.
func (a *Acceptor) Seal(plain []byte) ([]byte, error) {
	if a.session == nil {
		return nil, errors.New("no session")
	}
	return encryptBody(a.session, plain), nil
}

// Unseal checks and decrypts a multipart/encrypted request body.
func (a *Acceptor) Unseal(body []byte) ([]byte, error) {
	if a.session == nil {
		return nil, errors.New("no session")
	}
	return decryptBody(a.session, body)
}

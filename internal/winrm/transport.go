package winrm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	bntlm "github.com/bodgit/ntlmssp"
	mzwinrm "github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"
)

// maxResponse bounds one WinRM HTTP answer; a real Receive answer is at most
// the envelope size (150 KiB) plus framing. A longer answer is an error, never
// silently cut (a cut SOAP answer could still parse as something else).
const maxResponse = 8 << 20

// maxDiscard bounds what is read of an answer we do not use (a 401 round)
// to keep its connection; a longer one closes the connection instead.
const maxDiscard = 64 << 10

// guardedTransport recovers a panic in Post: the decoding of station bytes
// there (HTTP body, unsealing) must not end the worker (issue 6: a 512-byte
// sealed answer with a zero signature length panicked inside ntlmssp).
type guardedTransport struct {
	mzwinrm.Transporter
	log *slog.Logger
}

// guardPanics wraps tr so that a panic in its Post becomes an ErrProtocol
// error and a log line.
func guardPanics(tr mzwinrm.Transporter, log *slog.Logger) mzwinrm.Transporter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &guardedTransport{Transporter: tr, log: log}
}

func (g *guardedTransport) Post(c *mzwinrm.Client, msg *soap.SoapMessage) (body string, err error) {
	defer func() {
		if r := recover(); r != nil {
			// The panic value and stack name code and offsets, never the
			// credentials (the transports hold them, nothing prints them).
			g.log.Error("winrm transport panic on a station answer", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			body, err = "", &kindError{kind: ErrProtocol, msg: fmt.Sprintf("malformed answer from the station (decoder panic: %v)", r)}
		}
	}()
	// Every decoding of the answer that Post does not do itself (the
	// Create, Command and Receive answers) is ours (answer.go), run under
	// parse's recover; masterzen parses none of them.
	return g.Transporter.Post(c, msg)
}

// readBody reads a whole answer, refusing one over maxResponse bytes rather
// than cutting it. A Content-Length over the limit fails before any read.
// The body is read in growing blocks joined at the end, so an oversize
// answer costs about maxResponse, not the 2-3 times of a growing buffer.
func readBody(resp *http.Response) ([]byte, error) {
	if resp.ContentLength > maxResponse {
		return nil, errTooLarge()
	}
	if resp.ContentLength >= 0 && resp.ContentLength <= 1<<20 {
		// The usual answer: its length announced. One allocation of that
		// size (a poll reads four), then the end of the body must follow.
		b := make([]byte, resp.ContentLength)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, fmt.Errorf("read response: %w", err)
		}
		var extra [1]byte
		if n, err := resp.Body.Read(extra[:]); n != 0 || !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read response: body longer than its Content-Length")
		}
		return b, nil
	}
	r := io.LimitReader(resp.Body, maxResponse+1)
	var blocks [][]byte
	total := 0
	for size := 8 << 10; ; size = min(2*size, 1<<20) {
		b := make([]byte, size)
		n, err := io.ReadFull(r, b)
		// Capacity cut to the length: a decoder that slices past the
		// answer panics (and is recovered) instead of reading stale bytes.
		blocks = append(blocks, b[:n:n])
		total += n
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read response: %w", err)
		}
	}
	if total > maxResponse {
		return nil, errTooLarge()
	}
	if len(blocks) == 1 {
		return blocks[0], nil
	}
	return bytes.Join(blocks, nil), nil
}

func errTooLarge() error {
	return &kindError{kind: ErrProtocol, msg: fmt.Sprintf("answer over %d bytes", maxResponse)}
}

// connTracker dials and remembers every connection of one call, so the call
// can be stopped at once by closing them: masterzen's CreateShell, Execute
// and Close take no context.
type connTracker struct {
	dialer net.Dialer
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func newConnTracker(dialTimeout time.Duration) *connTracker {
	return &connTracker{dialer: net.Dialer{Timeout: dialTimeout}, conns: map[net.Conn]struct{}{}}
}

func (t *connTracker) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := t.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	t.conns[c] = struct{}{}
	return c, nil
}

// Dial is also set as masterzen's Parameters.Dial hook. masterzen uses that
// hook only in its default transport, which our TransportDecorator replaces,
// so every Basic/NTLM connection goes through DialContext.
func (t *connTracker) Dial(network, addr string) (net.Conn, error) {
	return t.DialContext(context.Background(), network, addr)
}

func (t *connTracker) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for c := range t.conns {
		_ = c.Close()
	}
	clear(t.conns)
}

// newHTTPTransport is the one http.Transport of a call: no proxy (stations
// are reached directly), our dialer, our TLS settings, and the read timeout
// as the response-header wait.
func newHTTPTransport(tr *connTracker, tlsCfg *tls.Config, readTimeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           tr.DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   readTimeout,
		ResponseHeaderTimeout: readTimeout,
		MaxIdleConnsPerHost:   2,
		// WinRM answers carry a few short headers; the default allows a
		// station 10 MB of them.
		MaxResponseHeaderBytes: 64 << 10,
		ForceAttemptHTTP2:      false,
	}
}

// soapTransport implements masterzen's Transporter for Basic and NTLM over
// HTTPS on the call's link. Every request carries the call's context:
// cancellation closes the link's connection.
type soapTransport struct {
	ctx      context.Context
	url      string
	user     string
	password string
	link     *link
	ntlm     bool
}

func (s *soapTransport) Transport(*mzwinrm.Endpoint) error { return nil }

func (s *soapTransport) Post(_ *mzwinrm.Client, msg *soap.SoapMessage) (string, error) {
	body := msg.String()
	resp, err := s.roundTrip(body)
	if isStale(err) {
		// The pooled connection was closed by the station before it read
		// the request: once more on a new connection.
		resp, err = s.roundTrip(body)
	}
	if err != nil {
		// Never a bare io.EOF: masterzen closes the output pipes with this
		// error, and a bare EOF would read as a normal end of output.
		return "", fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	raw, err := readBody(resp)
	if err != nil {
		return "", err
	}
	return checkResponse(resp, raw)
}

func (s *soapTransport) roundTrip(body string) (*http.Response, error) {
	if !s.ntlm {
		return s.send(body, "Basic "+base64.StdEncoding.EncodeToString([]byte(s.user+":"+s.password)))
	}
	for attempt := 0; ; attempt++ {
		c, err := s.link.current()
		if err != nil {
			return nil, err
		}
		if c.authed {
			// An authenticated connection takes requests without a header
			// (as HTTP.sys does); a 401 on it may come after the station
			// ran the message (a Command would run twice): it is returned,
			// never resent.
			return s.send(body, "")
		}
		resp, err := s.ntlmHandshake(c, body)
		if err == nil || attempt > 0 || !errors.Is(err, errHandshakeBroken) || s.ctx.Err() != nil {
			return resp, err
		}
	}
}

func (s *soapTransport) send(body, authz string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, s.url, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	return s.link.RoundTrip(req)
}

// discard drops an answer we do not use. Up to maxDiscard bytes are read so
// the connection (which NTLM authenticates) can carry the next request; the
// rest is not read: closing the body then closes the connection.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDiscard))
	_ = resp.Body.Close()
}

// errHandshakeBroken: the connection of an NTLM handshake failed or was
// closed between its legs.
var errHandshakeBroken = errors.New("connection lost during the NTLM handshake")

// handshakeBroken wraps a transport failure inside a handshake.
func handshakeBroken(err error) error {
	var ke *kindError
	if errors.As(err, &ke) {
		return err
	}
	return fmt.Errorf("%w: %w", errHandshakeBroken, err)
}

// ntlmHandshake authenticates the new connection c with NTLM (inside
// Negotiate) and sends body on it: an empty NEGOTIATE, the CHALLENGE, then
// the AUTHENTICATE carrying body (one request less per new connection).
// Until the AUTHENTICATE goes out nothing can have run, so a connection
// lost before it (a station closing it after its CHALLENGE, say) is
// errHandshakeBroken and the caller starts over once on a new connection;
// a failure after it is returned as it is. Unlike go-ntlmssp's Negotiator
// it skips the anonymous first try and never falls back to Basic. The
// AUTHENTICATE message carries the TLS channel binding
// (MsvAvChannelBindings) so that a station with CbtHardeningLevel=Strict
// accepts it; bodgit/ntlmssp is used because Azure/go-ntlmssp cannot send
// one.
func (s *soapTransport) ntlmHandshake(c *wireConn, body string) (*http.Response, error) {
	nc, err := newNTLMClient(s.user, s.password)
	if err != nil {
		return nil, err
	}
	negotiate, err := nc.Authenticate(nil, nil)
	if err != nil {
		return nil, &kindError{kind: ErrConfig, msg: "ntlm negotiate message: " + err.Error()}
	}
	resp, err := s.send("", "Negotiate "+base64.StdEncoding.EncodeToString(negotiate))
	if err != nil {
		return nil, handshakeBroken(err)
	}
	if resp.StatusCode != http.StatusUnauthorized {
		code := resp.StatusCode
		discard(resp)
		return nil, &kindError{kind: ErrProtocol, msg: fmt.Sprintf("HTTP %d to the NTLM negotiate message (want 401 and a challenge)", code)}
	}
	scheme, challenge := ntlmChallenge(resp.Header.Values("Www-Authenticate"))
	// The binding is to the certificate of the connection that carries the
	// AUTHENTICATE message: this one.
	cbt := channelBindings(resp.TLS)
	discard(resp)
	if challenge == nil {
		if scheme == "" {
			return nil, &kindError{kind: ErrAuthMethod, msg: "station offers no NTLM/Negotiate; refusing to send Basic credentials"}
		}
		return nil, &kindError{kind: ErrUnauthorized, msg: "HTTP 401 to the NTLM negotiate message"}
	}
	if s.link.connOf() != c {
		return nil, handshakeBroken(errors.New("the station closed the connection after its challenge"))
	}
	auth, err := nc.Authenticate(challenge, cbt)
	if err != nil {
		return nil, &kindError{kind: ErrProtocol, msg: "ntlm challenge: " + err.Error()}
	}
	resp, err = s.send(body, scheme+" "+base64.StdEncoding.EncodeToString(auth))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusUnauthorized {
		c.authed = true
	}
	return resp, nil
}

// newNTLMClient is the NTLMv2 client of one handshake ("DOMAIN\user" and
// "user@domain" give the domain).
func newNTLMClient(account, password string) (*bntlm.Client, error) {
	user, domain := splitUser(account)
	nc, err := bntlm.NewClient(bntlm.SetUserInfo(user, password), bntlm.SetDomain(domain), bntlm.SetVersion(bntlm.DefaultVersion()))
	if err != nil {
		return nil, &kindError{kind: ErrConfig, msg: "ntlm client: " + err.Error()}
	}
	return nc, nil
}

// channelBindings is the RFC 5929 tls-server-end-point binding of the
// server's leaf certificate: its hash with the hash function of its signature
// algorithm, SHA-256 when that is MD5, SHA-1 or none (RFC 5929 section 4.1).
// nil without TLS.
func channelBindings(cs *tls.ConnectionState) *bntlm.ChannelBindings {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return nil
	}
	cert := cs.PeerCertificates[0]
	var h hash.Hash
	switch cert.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		h = sha512.New384()
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		h = sha512.New()
	default:
		h = sha256.New()
	}
	h.Write(cert.Raw)
	return &bntlm.ChannelBindings{ApplicationData: append([]byte(bntlm.TLSServerEndPoint+":"), h.Sum(nil)...)}
}

// ntlmChallenge finds the NTLM or Negotiate challenge of a 401. scheme is
// "" when neither is offered.
func ntlmChallenge(values []string) (scheme string, challenge []byte) {
	for _, v := range values {
		name, data, _ := strings.Cut(strings.TrimSpace(v), " ")
		if !strings.EqualFold(name, "Negotiate") && !strings.EqualFold(name, "NTLM") {
			continue
		}
		if scheme == "" {
			scheme = name
		}
		if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data)); err == nil && len(b) > 0 {
			return name, b
		}
	}
	return scheme, nil
}

func checkResponse(resp *http.Response, body []byte) (string, error) {
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return "", &kindError{kind: ErrUnauthorized, msg: "HTTP 401"}
	case resp.StatusCode != http.StatusOK:
		return "", &statusError{Code: resp.StatusCode, Body: string(body)}
	case !strings.Contains(resp.Header.Get("Content-Type"), "application/soap+xml"):
		return "", &kindError{kind: ErrProtocol, msg: fmt.Sprintf("unexpected content type %q", escapeText(resp.Header.Get("Content-Type"), 128))}
	}
	return string(body), nil
}

func newNTLMTransport(ctx context.Context, url, user, password string, l *link) *soapTransport {
	return &soapTransport{ctx: ctx, url: url, user: user, password: password, link: l, ntlm: true}
}

func newBasicTransport(ctx context.Context, url, user, password string, l *link) *soapTransport {
	return &soapTransport{ctx: ctx, url: url, user: user, password: password, link: l}
}

// Wire format of NTLM message encryption, identical to masterzen's
// encryption.go (which follows pywinrm), so a station that speaks to
// masterzen speaks to us.
const (
	encBoundary      = "--Encrypted Boundary"
	encProtocol      = "application/HTTP-SPNEGO-session-encrypted"
	encOctetHeader   = "\tContent-Type: application/octet-stream\r\n"
	encContentType   = `multipart/encrypted;protocol="` + encProtocol + `";boundary="Encrypted Boundary"`
	encProtocolParam = `protocol="` + encProtocol + `"`
)

// encTransport is NTLM with message encryption over plain HTTP. It replaces
// masterzen's winrm.NewEncryption("ntlm") transport, which builds a bare
// http.Client (no Dial hook, no timeouts, no context), silently falls back
// to unencrypted NTLM when the handshake fails, redoes the handshake for
// every message (on a connection the station already authenticated that
// yields no session, and it then sends an empty sealed stream), accepts
// unencrypted answers and panics on a malformed one. Here: our link and
// context, one session per connection (kept with it in the pool), a failed
// handshake or an unencrypted answer is ErrEncryption, and no SOAP leaves
// unsealed.
type encTransport struct {
	ctx      context.Context
	url      string
	user     string
	password string
	link     *link
}

func newEncTransport(ctx context.Context, url, user, password string, l *link) *encTransport {
	return &encTransport{ctx: ctx, url: url, user: user, password: password, link: l}
}

func (e *encTransport) Transport(*mzwinrm.Endpoint) error { return nil }

func (e *encTransport) Post(_ *mzwinrm.Client, msg *soap.SoapMessage) (string, error) {
	plain := []byte(msg.String())
	body, err := e.post(plain)
	if isStale(err) {
		// The pooled connection was closed by the station before it read
		// the request: once more on a new connection (a new session).
		body, err = e.post(plain)
	}
	return body, err
}

// session returns the call's connection and its sealing session,
// establishing it on a new connection. The handshake carries no SOAP, so
// a connection broken during it is replaced once.
func (e *encTransport) session() (*wireConn, error) {
	for attempt := 0; ; attempt++ {
		c, err := e.link.current()
		if err != nil {
			return nil, err
		}
		if c.session != nil {
			return c, nil
		}
		err = e.handshake(c)
		if err == nil {
			return c, nil
		}
		if attempt > 0 || !errors.Is(err, errHandshakeBroken) || e.ctx.Err() != nil {
			return nil, err
		}
	}
}

// post seals and sends one message on the call's connection. A 401 there
// may come after the station ran the message (a Command would run twice):
// it is returned as it is.
func (e *encTransport) post(plain []byte) (string, error) {
	c, err := e.session()
	if err != nil {
		return "", err
	}
	sealed, sig, err := c.session.Wrap(plain)
	if err != nil {
		return "", &kindError{kind: ErrEncryption, msg: "seal message: " + err.Error()}
	}
	var body bytes.Buffer
	body.Grow(len(plain) + 256)
	body.WriteString(encBoundary + "\r\n")
	body.WriteString("\tContent-Type: " + encProtocol + "\r\n")
	body.WriteString("\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" + strconv.Itoa(len(plain)) + "\r\n")
	body.WriteString(encBoundary + "\r\n")
	body.WriteString(encOctetHeader)
	_ = binary.Write(&body, binary.LittleEndian, uint32(len(sig)))
	body.Write(sig)
	body.Write(sealed)
	body.WriteString(encBoundary + "--\r\n")

	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.url, &body)
	if err != nil {
		return "", fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("User-Agent", "WinRM client")
	req.Header.Set("Content-Type", encContentType)
	resp, err := e.link.RoundTrip(req)
	if err != nil {
		return "", fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		discard(resp)
		return "", &kindError{kind: ErrUnauthorized, msg: "HTTP 401"}
	}
	raw, err := readBody(resp)
	if err != nil {
		return "", err
	}
	if !strings.Contains(resp.Header.Get("Content-Type"), encProtocolParam) {
		return "", &kindError{kind: ErrEncryption, msg: fmt.Sprintf("station answered unencrypted (HTTP %d, %q)", resp.StatusCode, escapeText(resp.Header.Get("Content-Type"), 128))}
	}
	plainResp, err := decryptBody(c.session, raw)
	if err != nil {
		return "", &kindError{kind: ErrEncryption, msg: "decrypt answer: " + err.Error()}
	}
	if resp.StatusCode != http.StatusOK {
		return "", &statusError{Code: resp.StatusCode, Body: string(plainResp)}
	}
	return string(plainResp), nil
}

// NTLM negotiate flags (MS-NLMP 2.2.2.5) checked in a CHALLENGE.
const (
	ntlmSign    = 0x00000010
	ntlmSeal    = 0x00000020
	ntlmESS     = 0x00080000
	ntlm128     = 0x20000000
	ntlmKeyExch = 0x40000000
)

// requiredChallengeFlags must all be in the station's CHALLENGE before
// anything is sealed: bodgit/ntlmssp takes the CHALLENGE's flags as the
// session's, and without NEGOTIATE_SEAL its Wrap returns the message in clear
// text (issue 6: a station could negotiate sealing away). SIGN, KEY_EXCH
// (a random session key), 128-bit keys and extended session security are
// what Windows offers; less is a downgrade.
var requiredChallengeFlags = []struct {
	flag uint32
	name string
}{
	{ntlmSeal, "NEGOTIATE_SEAL"}, {ntlmSign, "NEGOTIATE_SIGN"}, {ntlmKeyExch, "NEGOTIATE_KEY_EXCH"},
	{ntlm128, "NEGOTIATE_128"}, {ntlmESS, "NEGOTIATE_EXTENDED_SESSIONSECURITY"},
}

// checkChallenge refuses a CHALLENGE that does not offer sealing as
// Windows does (see requiredChallengeFlags).
func checkChallenge(challenge []byte) error {
	if len(challenge) < 24 || !bytes.HasPrefix(challenge, []byte("NTLMSSP\x00")) || binary.LittleEndian.Uint32(challenge[8:12]) != 2 {
		return &kindError{kind: ErrEncryption, msg: "ntlm handshake: the station's answer is not an NTLM CHALLENGE"}
	}
	flags := binary.LittleEndian.Uint32(challenge[20:24])
	var missing []string
	for _, f := range requiredChallengeFlags {
		if flags&f.flag == 0 {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return &kindError{kind: ErrEncryption, msg: "ntlm handshake: the station's CHALLENGE does not offer " + strings.Join(missing, ", ") + "; nothing sent"}
	}
	return nil
}

// handshake authenticates c with empty POSTs (as masterzen does) and
// keeps the sealing session on it. It is done by hand, not with
// bodgit/ntlmssp/http, to check the CHALLENGE before the AUTHENTICATE
// message (and then sealed SOAP) goes out, and so that every byte of the
// station is read here, under our limits and in Post's goroutine.
func (e *encTransport) handshake(c *wireConn) error {
	nc, err := newNTLMClient(e.user, e.password)
	if err != nil {
		return err
	}
	negotiate, err := nc.Authenticate(nil, nil)
	if err != nil {
		return &kindError{kind: ErrEncryption, msg: "ntlm negotiate message: " + err.Error()}
	}
	resp, err := e.postEmpty("Negotiate " + base64.StdEncoding.EncodeToString(negotiate))
	if err != nil {
		return handshakeBroken(err)
	}
	scheme, challenge := ntlmChallenge(resp.Header.Values("Www-Authenticate"))
	discard(resp)
	switch {
	case resp.StatusCode != http.StatusUnauthorized:
		return &kindError{kind: ErrEncryption, msg: fmt.Sprintf("ntlm handshake: HTTP %d to the negotiate message; refusing to send in clear text", resp.StatusCode)}
	case scheme == "":
		return &kindError{kind: ErrAuthMethod, msg: "station offers no Negotiate authentication on HTTP"}
	case challenge == nil:
		return &kindError{kind: ErrUnauthorized, msg: "HTTP 401 to the NTLM negotiate message"}
	}
	if err := checkChallenge(challenge); err != nil {
		return err
	}
	if e.link.connOf() != c {
		return handshakeBroken(errors.New("the station closed the connection after its challenge"))
	}
	auth, err := nc.Authenticate(challenge, nil)
	if err != nil {
		return &kindError{kind: ErrEncryption, msg: "ntlm challenge: " + err.Error()}
	}
	resp, err = e.postEmpty(scheme + " " + base64.StdEncoding.EncodeToString(auth))
	if err != nil {
		return handshakeBroken(err)
	}
	discard(resp)
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return &kindError{kind: ErrUnauthorized, msg: "HTTP 401"}
	case resp.StatusCode != http.StatusOK:
		return &kindError{kind: ErrEncryption, msg: fmt.Sprintf("ntlm handshake: HTTP %d", resp.StatusCode)}
	case !nc.Complete() || nc.SecuritySession() == nil:
		return &kindError{kind: ErrEncryption, msg: "ntlm handshake did not establish a session; refusing to send in clear text"}
	case e.link.connOf() != c:
		return handshakeBroken(errors.New("the station closed the connection after authenticating it"))
	}
	c.authed, c.session = true, nc.SecuritySession()
	return nil
}

// postEmpty sends one handshake request (no body).
func (e *encTransport) postEmpty(authz string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.url, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("User-Agent", "WinRM client")
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	req.Header.Set("Authorization", authz)
	resp, err := e.link.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("ntlm handshake: %w", err)
	}
	return resp, nil
}

func splitUser(u string) (user, domain string) {
	if name, dom, ok := strings.Cut(u, "@"); ok {
		return name, dom
	}
	if dom, name, ok := strings.Cut(u, `\`); ok {
		return name, dom
	}
	return u, ""
}

// ntlmSignatureSize is the size of an NTLM message signature.
const ntlmSignatureSize = 16

// decryptBody unseals a multipart/encrypted answer, checking every length
// (masterzen indexes blindly and panics on a malformed body).
func decryptBody(session *bntlm.SecuritySession, body []byte) ([]byte, error) {
	var parts [][]byte
	for _, p := range bytes.Split(body, []byte(encBoundary+"\r\n")) {
		if len(p) > 0 {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 || len(parts)%2 != 0 {
		return nil, errors.New("malformed multipart body")
	}
	var out []byte
	for i := 0; i < len(parts); i += 2 {
		header, payload := parts[i], parts[i+1]
		_, lenText, ok := bytes.Cut(header, []byte("Length="))
		if !ok {
			return nil, errors.New("no Length in part header")
		}
		want, err := strconv.Atoi(string(bytes.TrimSpace(lenText)))
		if err != nil || want < 0 {
			return nil, errors.New("bad Length in part header")
		}
		payload = bytes.TrimSuffix(payload, []byte(encBoundary+"--\r\n"))
		data, ok := bytes.CutPrefix(payload, []byte(encOctetHeader))
		if !ok {
			return nil, errors.New("no octet-stream part")
		}
		if len(data) < 4 {
			return nil, errors.New("short encrypted part")
		}
		// An NTLM signature is exactly 16 bytes (MS-NLMP 2.2.2.9.1);
		// ntlmssp's Unwrap slices it blindly (issue 6: a zero length
		// panicked with "slice bounds out of range [:12]").
		sigLen := binary.LittleEndian.Uint32(data[:4])
		if sigLen != ntlmSignatureSize || len(data) < 4+ntlmSignatureSize {
			return nil, fmt.Errorf("signature length %d, want %d in a part of %d bytes", sigLen, ntlmSignatureSize, len(data)-4)
		}
		msg, err := session.Unwrap(data[4+sigLen:], data[4:4+sigLen])
		if err != nil {
			return nil, err
		}
		if len(msg) != want {
			return nil, errors.New("decrypted length differs from the announced one")
		}
		out = append(out, msg...)
	}
	return out, nil
}

package winrm

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
	bntlm "github.com/bodgit/ntlmssp"
	bntlmhttp "github.com/bodgit/ntlmssp/http"
	mzwinrm "github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"
)

// maxResponse bounds one WinRM HTTP answer; a real Receive answer is at most
// the envelope size (150 KiB) plus framing.
const maxResponse = 8 << 20

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
		ForceAttemptHTTP2:     false,
	}
}

// soapTransport implements masterzen's Transporter for Basic and NTLM with a
// transport we own. Every request carries the call's context, so
// cancellation stops a request in flight.
type soapTransport struct {
	ctx      context.Context
	url      string
	user     string
	password string
	rt       http.RoundTripper
	ntlm     bool
	// authed: this call's connection is NTLM-authenticated; the station
	// (like HTTP.sys) then takes requests on it without a header.
	authed bool
}

func (s *soapTransport) Transport(*mzwinrm.Endpoint) error { return nil }

func (s *soapTransport) Post(_ *mzwinrm.Client, msg *soap.SoapMessage) (string, error) {
	body := msg.String()
	var resp *http.Response
	var err error
	if s.ntlm {
		resp, err = s.ntlmRoundTrip(body)
	} else {
		resp, err = s.send(body, "Basic "+base64.StdEncoding.EncodeToString([]byte(s.user+":"+s.password)))
	}
	if err != nil {
		// Never a bare io.EOF: masterzen closes the output pipes with this
		// error, and a bare EOF would read as a normal end of output.
		return "", fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return "", fmt.Errorf("read response: %w", err)
	}
	return checkResponse(resp, raw)
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
	return s.rt.RoundTrip(req)
}

func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	_ = resp.Body.Close()
}

// ntlmRoundTrip authenticates the connection with NTLM (inside Negotiate)
// on its first request, then sends without a header. Unlike go-ntlmssp's
// Negotiator it skips the anonymous first try on a fresh connection (one
// request less per call) and never falls back to Basic.
func (s *soapTransport) ntlmRoundTrip(body string) (*http.Response, error) {
	if s.authed {
		resp, err := s.send(body, "")
		if err != nil || resp.StatusCode != http.StatusUnauthorized {
			return resp, err
		}
		// A new connection (the old one was closed): authenticate it.
		discard(resp)
		s.authed = false
	}
	user, domain, domainNeeded := ntlmssp.GetDomain(s.user)
	negotiate, err := ntlmssp.NewNegotiateMessage(domain, "")
	if err != nil {
		return nil, &kindError{kind: ErrConfig, msg: "ntlm negotiate message: " + err.Error()}
	}
	resp, err := s.send(body, "Negotiate "+base64.StdEncoding.EncodeToString(negotiate))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	scheme, challenge := ntlmChallenge(resp.Header.Values("Www-Authenticate"))
	discard(resp)
	if challenge == nil {
		if scheme == "" {
			return nil, &kindError{kind: ErrAuthMethod, msg: "station offers no NTLM/Negotiate; refusing to send Basic credentials"}
		}
		return nil, &kindError{kind: ErrUnauthorized, msg: "HTTP 401 to the NTLM negotiate message"}
	}
	auth, err := ntlmssp.ProcessChallenge(challenge, user, s.password, domainNeeded)
	if err != nil {
		return nil, &kindError{kind: ErrProtocol, msg: "ntlm challenge: " + err.Error()}
	}
	resp, err = s.send(body, scheme+" "+base64.StdEncoding.EncodeToString(auth))
	if err == nil && resp.StatusCode != http.StatusUnauthorized {
		s.authed = true
	}
	return resp, err
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
		return "", &kindError{kind: ErrProtocol, msg: fmt.Sprintf("unexpected content type %q", resp.Header.Get("Content-Type"))}
	}
	return string(body), nil
}

func newNTLMTransport(ctx context.Context, url, user, password string, ht *http.Transport) *soapTransport {
	return &soapTransport{ctx: ctx, url: url, user: user, password: password, rt: ht, ntlm: true}
}

func newBasicTransport(ctx context.Context, url, user, password string, ht *http.Transport) *soapTransport {
	return &soapTransport{ctx: ctx, url: url, user: user, password: password, rt: ht}
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
// unencrypted answers and panics on a malformed one. Here: our transport
// and context, one session per connection, a failed handshake or an
// unencrypted answer is ErrEncryption, and no SOAP leaves unsealed.
type encTransport struct {
	ctx      context.Context
	url      string
	user     string
	password string
	client   *http.Client
	// session seals the messages of this call's connection; the station
	// keeps the matching state (and sequence numbers) per connection.
	session *bntlm.SecuritySession
}

func newEncTransport(ctx context.Context, url, user, password string, ht *http.Transport) *encTransport {
	return &encTransport{ctx: ctx, url: url, user: user, password: password,
		client: &http.Client{Transport: ht, CheckRedirect: noRedirect}}
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func (e *encTransport) Transport(*mzwinrm.Endpoint) error { return nil }

func (e *encTransport) Post(_ *mzwinrm.Client, msg *soap.SoapMessage) (string, error) {
	plain := []byte(msg.String())
	for try := 0; ; try++ {
		if e.session == nil {
			s, err := e.handshake()
			if err != nil {
				return "", err
			}
			e.session = s
		}
		body, err := e.post(plain)
		var ke *kindError
		// The station authenticates the connection, not the message: a new
		// connection (the old one was closed) answers 401 to a sealed message
		// it has not processed, so one fresh handshake and resend is safe.
		if try == 0 && errors.As(err, &ke) && ke.kind == ErrUnauthorized {
			e.session = nil
			continue
		}
		return body, err
	}
}

func (e *encTransport) post(plain []byte) (string, error) {
	sealed, sig, err := e.session.Wrap(plain)
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
	resp, err := e.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return "", fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return "", &kindError{kind: ErrUnauthorized, msg: "HTTP 401"}
	}
	if !strings.Contains(resp.Header.Get("Content-Type"), encProtocolParam) {
		return "", &kindError{kind: ErrEncryption, msg: fmt.Sprintf("station answered unencrypted (HTTP %d, %q)", resp.StatusCode, resp.Header.Get("Content-Type"))}
	}
	plainResp, err := decryptBody(e.session, raw)
	if err != nil {
		return "", &kindError{kind: ErrEncryption, msg: "decrypt answer: " + err.Error()}
	}
	if resp.StatusCode != http.StatusOK {
		return "", &statusError{Code: resp.StatusCode, Body: string(plainResp)}
	}
	return string(plainResp), nil
}

// handshake authenticates the connection with an empty POST (as masterzen
// does) and returns the sealing session.
func (e *encTransport) handshake() (*bntlm.SecuritySession, error) {
	user, domain := splitUser(e.user)
	nc, err := bntlm.NewClient(bntlm.SetUserInfo(user, e.password), bntlm.SetDomain(domain), bntlm.SetVersion(bntlm.DefaultVersion()))
	if err != nil {
		return nil, &kindError{kind: ErrEncryption, msg: "ntlm client: " + err.Error()}
	}
	hc, err := bntlmhttp.NewClient(e.client, nc)
	if err != nil {
		return nil, &kindError{kind: ErrEncryption, msg: "ntlm http client: " + err.Error()}
	}
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.url, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("User-Agent", "WinRM client")
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	resp, err := hc.Do(req)
	if err != nil {
		if e.ctx.Err() != nil || isUnreachable(err) {
			return nil, err
		}
		return nil, &kindError{kind: ErrEncryption, msg: "ntlm handshake: " + err.Error()}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		if strings.Contains(strings.Join(resp.Header.Values("Www-Authenticate"), " "), "Negotiate") {
			return nil, &kindError{kind: ErrUnauthorized, msg: "HTTP 401"}
		}
		return nil, &kindError{kind: ErrAuthMethod, msg: "station offers no Negotiate authentication on HTTP"}
	case resp.StatusCode != http.StatusOK:
		return nil, &kindError{kind: ErrEncryption, msg: fmt.Sprintf("ntlm handshake: HTTP %d", resp.StatusCode)}
	case !nc.Complete() || nc.SecuritySession() == nil:
		return nil, &kindError{kind: ErrEncryption, msg: "ntlm handshake did not establish a session; refusing to send in clear text"}
	}
	return nc.SecuritySession(), nil
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
		sigLen := int(binary.LittleEndian.Uint32(data[:4]))
		if sigLen > len(data)-4 {
			return nil, errors.New("signature length out of range")
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

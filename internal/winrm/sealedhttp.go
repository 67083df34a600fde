package winrm

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	mzwinrm "github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"
)

// encTransport is NTLM with message encryption over plain HTTP. It replaces
// masterzen's winrm.NewEncryption("ntlm") transport, which builds a bare
// http.Client (no Dial hook, no timeouts, no context), silently falls back
// to unencrypted NTLM when the handshake fails, redoes the handshake for
// every message (on a connection the station already authenticated that
// yields no session, and it then sends an empty sealed stream), accepts
// unencrypted answers and panics on a malformed one. Here: our link and
// context, one session per connection (kept with it in the pool), a
// handshake that sets up no sealing session or an unencrypted answer is
// ErrEncryption (ntlm.go), and no SOAP leaves unsealed.
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
	return withResend(e.ctx, func() (string, error) { return e.post(plain) })
}

// session returns the call's connection with its sealing session, set up
// by the NTLM handshake on a new connection.
func (e *encTransport) session() (*wireConn, error) {
	c, err := e.link.current()
	if err != nil {
		return nil, err
	}
	if c.session == nil {
		h := ntlmHandshake{link: e.link, user: e.user, password: e.password, send: e.postEmpty, sealed: true}
		if _, err := h.run(c, ""); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// post seals and sends one message on the call's connection. A 401 there
// may come after the station ran the message (a Command would run twice):
// it is returned as it is.
func (e *encTransport) post(plain []byte) (string, error) {
	c, err := e.session()
	if err != nil {
		return "", err
	}
	body, err := sealBody(c.session, plain)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.url, body)
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

// postEmpty sends one handshake request; it carries no body (the
// handshake's send has one for HTTPS, which is always empty here).
func (e *encTransport) postEmpty(_, authz string) (*http.Response, error) {
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

package winrm

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	mzwinrm "github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"
)

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

func newNTLMTransport(ctx context.Context, url, user, password string, l *link) *soapTransport {
	return &soapTransport{ctx: ctx, url: url, user: user, password: password, link: l, ntlm: true}
}

func newBasicTransport(ctx context.Context, url, user, password string, l *link) *soapTransport {
	return &soapTransport{ctx: ctx, url: url, user: user, password: password, link: l}
}

func (s *soapTransport) Transport(*mzwinrm.Endpoint) error { return nil }

func (s *soapTransport) Post(_ *mzwinrm.Client, msg *soap.SoapMessage) (string, error) {
	body := msg.String()
	resp, err := withResend(s.ctx, func() (*http.Response, error) { return s.roundTrip(body) })
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

// roundTrip sends body once: with Basic credentials, on the connection
// NTLM authenticated, or with the NTLM handshake of a new connection.
func (s *soapTransport) roundTrip(body string) (*http.Response, error) {
	if !s.ntlm {
		return s.send(body, "Basic "+base64.StdEncoding.EncodeToString([]byte(s.user+":"+s.password)))
	}
	c, err := s.link.current()
	if err != nil {
		return nil, err
	}
	if c.authed {
		// An authenticated connection takes requests without a header
		// (as HTTP.sys does); a 401 on it may come after the station ran
		// the message (a Command would run twice): it is returned, never
		// resent.
		return s.send(body, "")
	}
	h := ntlmHandshake{link: s.link, user: s.user, password: s.password, send: s.send}
	return h.run(c, body)
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

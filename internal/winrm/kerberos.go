package winrm

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	mzwinrm "github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"
)

// ErrKerberos: no Kerberos service ticket could be had (KDC unreachable,
// unknown realm, broken krb5.conf, ticket refused). It is not
// ErrUnreachable: the station itself may be up, so nothing should wake it.
// A KDC that refuses the user or password is ErrUnauthorized instead.
var ErrKerberos = errors.New("kerberos ticket not obtained")

// krbTransport implements masterzen's Transporter for Kerberos (SPNEGO,
// "Authorization: Negotiate") over HTTPS with our own http.Transport, so
// the station connections go through the call's connTracker, every request
// carries the call's context and answers are read up to maxResponse.
//
// The KDC exchange (gokrb5, which takes no context) runs in a goroutine
// that the call abandons when its context ends; gokrb5 bounds each KDC
// try itself (5 s dial, 5 s I/O per KDC), and Client.Close waits for such
// an abandoned exchange. The password never appears in an error.
type krbTransport struct {
	ctx      context.Context
	url      string
	user     string // without @REALM
	realm    string
	password string
	spn      string
	krb5conf string
	rt       http.RoundTripper
	bg       *sync.WaitGroup // Client.cleanups: abandoned KDC exchanges

	ticket *krbTicket
	// authed: this call's connection is authenticated; the station (like
	// HTTP.sys) then takes requests on it without a header.
	authed bool
}

func newKrbTransport(ctx context.Context, url, user, password, spn, krb5conf string, ht *http.Transport, bg *sync.WaitGroup) (*krbTransport, error) {
	name, realm, ok := strings.Cut(user, "@")
	if !ok || name == "" || realm == "" {
		return nil, &kindError{kind: ErrConfig, msg: "kerberos needs the user as user@REALM"}
	}
	if _, err := os.Stat(krb5conf); err != nil {
		return nil, &kindError{kind: ErrConfig, msg: "kerberos: " + err.Error()}
	}
	return &krbTransport{ctx: ctx, url: url, user: name, realm: strings.ToUpper(realm), password: password,
		spn: spn, krb5conf: krb5conf, rt: ht, bg: bg}, nil
}

func (k *krbTransport) Transport(*mzwinrm.Endpoint) error { return nil }

func (k *krbTransport) Post(_ *mzwinrm.Client, msg *soap.SoapMessage) (string, error) {
	body := msg.String()
	resp, err := withResend(k.ctx, func() (*http.Response, error) { return k.roundTrip(body) })
	if err != nil {
		var ke *kindError
		if errors.As(err, &ke) {
			return "", err
		}
		// Never a bare io.EOF (see soapTransport.Post).
		return "", fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	raw, err := readLimited(resp.Body)
	if err != nil {
		return "", err
	}
	return checkResponse(resp, raw)
}

func (k *krbTransport) send(body, authz string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(k.ctx, http.MethodPost, k.url, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	return k.rt.RoundTrip(req)
}

// errKrbReauthenticate: a request without a header was refused with 401,
// the connection it went out on is not authenticated.
var errKrbReauthenticate = errors.New("kerberos: HTTP 401 on a connection that was not authenticated")

// roundTrip authenticates the connection with a SPNEGO/Kerberos token on
// its first request, checks the station's mutual-authentication answer,
// then sends without a header. Nothing else (no Basic) is ever tried.
func (k *krbTransport) roundTrip(body string) (*http.Response, error) {
	if k.authed {
		resp, err := k.send(body, "")
		if err != nil || resp.StatusCode != http.StatusUnauthorized {
			return resp, err
		}
		// A new connection (the old one was closed): authenticate it
		// (resend.go sends the message again).
		discard(resp)
		k.authed = false
		return nil, errKrbReauthenticate
	}
	if k.ticket == nil {
		t, err := k.getTicket()
		if err != nil {
			return nil, err
		}
		k.ticket = t
	}
	token, ctime, cusec, err := k.ticket.apReq()
	if err != nil {
		return nil, &kindError{kind: ErrKerberos, msg: "kerberos AP-REQ: " + err.Error()}
	}
	resp, err := k.send(body, "Negotiate "+base64.StdEncoding.EncodeToString(token))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		offered := strings.Join(resp.Header.Values("Www-Authenticate"), ", ")
		discard(resp)
		if !strings.Contains(strings.ToLower(offered), "negotiate") {
			return nil, &kindError{kind: ErrAuthMethod, msg: "station offers no Negotiate; refusing to send Basic credentials"}
		}
		return nil, &kindError{kind: ErrUnauthorized, msg: "HTTP 401 to the Kerberos ticket for " + k.spn}
	}
	if err := k.ticket.checkAPRep(resp.Header.Values("Www-Authenticate"), ctime, cusec); err != nil {
		discard(resp)
		return nil, &kindError{kind: ErrUnauthorized, msg: "kerberos mutual authentication: " + err.Error()}
	}
	k.authed = true
	return resp, nil
}

// withKerberosClient gives fn a masterzen client on connections of its
// own, all closed when ctx ends or fn returns.
func (c *Client) withKerberosClient(ctx context.Context, t Target, tlsCfg *tls.Config, fn func(*mzwinrm.Client, mzwinrm.Transporter) error) error {
	tracker := newConnTracker(c.cfg.DialTimeout)
	ht := newHTTPTransport(tracker, tlsCfg, c.cfg.ReadTimeout)
	stop := context.AfterFunc(ctx, tracker.closeAll)
	defer func() {
		stop()
		ht.CloseIdleConnections()
		tracker.closeAll()
	}()
	// Our own SPNEGO transport: our connections and context, bounded
	// reads, the KDC exchange abandoned when ctx ends (kerberos.go).
	tr, err := newKrbTransport(ctx, t.url(), t.User, t.Password, "HTTP/"+t.Address, c.cfg.Krb5Conf, ht, &c.cleanups)
	if err != nil {
		return err
	}
	client, gtr, err := c.newMZClient(t, tr, tracker)
	if err != nil {
		return err
	}
	return fn(client, gtr)
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

// Dial is also set as masterzen's Parameters.Dial hook, which masterzen
// uses only in its default transport; our TransportDecorator replaces that
// transport, so the Kerberos connections go through DialContext (the
// http.Transport's) and the Basic/NTLM ones through link.dial.
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

package winrm

import (
	"context"
	"crypto/tls"
	"strconv"
	"time"

	mzwinrm "github.com/masterzen/winrm"
)

// withClient gives fn a masterzen client on the call's connection: one
// kept from an earlier call with the same key, else a new one; it goes
// back to the pool only when fn succeeded (link.finish). Kerberos calls
// keep connections of their own (withKerberosClient).
func (c *Client) withClient(ctx context.Context, t Target, tlsSet *tlsSetup, fn func(*mzwinrm.Client, mzwinrm.Transporter) error) error {
	if t.EffectiveTransport() == TransportKerberos {
		var tlsCfg *tls.Config
		if tlsSet != nil {
			var err error
			if tlsCfg, err = tlsSet.config(); err != nil {
				return err
			}
		}
		return c.withKerberosClient(ctx, t, tlsCfg, fn)
	}
	l := c.newLink(ctx, t, tlsSet)
	ok := false
	defer func() { l.finish(ok) }()
	url := t.url()
	var tr mzwinrm.Transporter
	switch {
	case t.EffectiveTransport() == TransportBasic:
		tr = newBasicTransport(ctx, url, t.User, t.Password, l)
	case t.UseSSL:
		tr = newNTLMTransport(ctx, url, t.User, t.Password, l)
	default:
		tr = newEncTransport(ctx, url, t.User, t.Password, l)
	}
	client, tr, err := c.newMZClient(t, tr, nil)
	if err != nil {
		return err
	}
	err = fn(client, tr)
	ok = err == nil
	return err
}

// url is the station's WS-Management endpoint.
func (t Target) url() string {
	scheme := "http"
	if t.UseSSL {
		scheme = "https"
	}
	return scheme + "://" + t.String() + "/wsman"
}

func wsmanDuration(d time.Duration) string {
	return "PT" + strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "S"
}

func (c *Client) newMZClient(t Target, tr mzwinrm.Transporter, tracker *connTracker) (*mzwinrm.Client, mzwinrm.Transporter, error) {
	tr = guardPanics(tr, c.cfg.Logger) // a hostile answer must not end the worker (issue 6)
	// Fresh parameters per client: masterzen's DefaultParameters is a shared
	// global pointer.
	params := mzwinrm.NewParameters(wsmanDuration(c.cfg.OperationTimeout), "en-US", 153600)
	if tracker != nil {
		params.Dial = tracker.Dial
	}
	params.TransportDecorator = func() mzwinrm.Transporter { return tr }
	ep := &mzwinrm.Endpoint{
		Host: t.Address, Port: t.EffectivePort(), HTTPS: t.UseSSL, Insecure: t.InsecureSkipVerify,
		TLSServerName: t.TLSServerName, Timeout: c.cfg.ReadTimeout,
	}
	client, err := mzwinrm.NewClientWithParameters(ep, t.User, t.Password, params)
	if err != nil {
		return nil, nil, &kindError{kind: ErrConfig, msg: "winrm client: " + err.Error()}
	}
	return client, tr, nil
}

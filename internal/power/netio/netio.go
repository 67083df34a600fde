// Package netio is the netio-json power driver: NETIO smart power strips
// through their JSON API (/netio.json) over HTTP or HTTPS, as the older
// worker's power/drivers/netio_json.py. Standard library only.
package netio

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/ops-worker/ops-worker/internal/power"
	"github.com/ops-worker/ops-worker/internal/secrets"
)

// DriverName is the catalog's name of this driver.
const DriverName = "netio-json"

// NETIO output actions (the JSON API's Action values).
const (
	ActionOff      = 0
	ActionOn       = 1
	ActionShortOff = 2
	ActionShortOn  = 3
	ActionToggle   = 4
)

// Defaults and bounds.
const (
	DefaultPath         = "/netio.json"
	DefaultTimeout      = 5 * time.Second
	DefaultRetries      = 1
	DefaultReadBackWait = 3 * time.Second
	MaxBody             = 1 << 20 // bytes of an answer read
	MaxOutputs          = 96
	pollInterval        = 250 * time.Millisecond
)

// Config is one NETIO controller (no secret: those are in Credentials).
type Config struct {
	Host string
	Port int // 80, or 443 with HTTPS, when 0
	Path string
	// HTTPS selects https; the certificate is verified against the system
	// roots, or CAFile's (PEM) when set.
	HTTPS  bool
	CAFile string
	// InsecureSkipVerify is the catalog's verifyTls=false: no certificate
	// check at all (the caller logs it as a warning).
	InsecureSkipVerify bool
	Timeout            time.Duration // per request, DefaultTimeout when 0
	Retries            int           // on transport errors and 5xx; negative means 0
	ReadBackWait       time.Duration // DefaultReadBackWait when 0
	// DialContext, when set, opens connections (the relay's tunnel).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	Logger      *slog.Logger
}

// Credentials is a power credential as credentials.Service.Power returns
// it: type netio-http-basic with username and password. The zero value
// means no authentication. Printing redacts the fields.
type Credentials struct {
	Type   string
	Fields map[string]string
}

func (c Credentials) String() string {
	return "netio.Credentials{Type: " + c.Type + ", Fields: " + secrets.Redacted + "}"
}
func (c Credentials) GoString() string           { return c.String() }
func (c Credentials) LogValue() slog.Value       { return slog.StringValue(c.String()) }
func (c Credentials) Format(f fmt.State, _ rune) { fmt.Fprint(f, c.String()) }

type basicAuth struct {
	user string
	pass secrets.Secret
}

// Driver is one NETIO strip; safe for concurrent use.
type Driver struct {
	cfg    Config
	url    string
	auth   *basicAuth // nil: none; a pointer keeps %#v of a Driver value from reaching the secret
	client *http.Client
	log    *slog.Logger
}

func (d *Driver) String() string       { return "netio.Driver{" + d.url + "}" }
func (d *Driver) GoString() string     { return d.String() }
func (d *Driver) LogValue() slog.Value { return slog.StringValue(d.String()) }

// New checks cfg and creds and builds the HTTP client; it does not
// contact the device.
func New(cfg Config, creds Credentials) (*Driver, error) {
	cfg, err := checkConfig(cfg)
	if err != nil {
		return nil, err
	}
	auth, err := basicAuthOf(creds)
	if err != nil {
		return nil, err
	}
	tr, err := transport(cfg)
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if cfg.HTTPS {
		scheme = "https"
	}
	d := &Driver{
		cfg:  cfg,
		url:  scheme + "://" + net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)) + cfg.Path,
		auth: auth,
		client: &http.Client{
			Transport: tr,
			Timeout:   cfg.Timeout,
			// A redirect could carry the Basic credentials elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		log: cfg.Logger,
	}
	return d, nil
}

// checkConfig refuses what cannot work and fills the defaults.
func checkConfig(cfg Config) (Config, error) {
	cfg.Host = strings.TrimSpace(cfg.Host)
	if cfg.Host == "" || strings.ContainsAny(cfg.Host, "/?#@ \t\r\n") {
		return cfg, power.Errorf(power.CodeConfig, "NETIO host is required and must be a bare host name or address")
	}
	if cfg.Port == 0 {
		cfg.Port = 80
		if cfg.HTTPS {
			cfg.Port = 443
		}
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return cfg, power.Errorf(power.CodeConfig, "NETIO port %d is invalid", cfg.Port)
	}
	if cfg.Path == "" {
		cfg.Path = DefaultPath
	}
	if !strings.HasPrefix(cfg.Path, "/") || strings.ContainsFunc(cfg.Path, func(r rune) bool { return unicode.IsControl(r) || r == ' ' || r == '#' }) || len(cfg.Path) > 256 {
		return cfg, power.Errorf(power.CodeConfig, "NETIO API path is invalid")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Timeout < 0 || cfg.Timeout > time.Minute {
		return cfg, power.Errorf(power.CodeConfig, "NETIO timeout %s is invalid", cfg.Timeout)
	}
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.Retries > 10 {
		return cfg, power.Errorf(power.CodeConfig, "NETIO retries %d is too many", cfg.Retries)
	}
	if cfg.ReadBackWait <= 0 {
		cfg.ReadBackWait = DefaultReadBackWait
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg, nil
}

// basicAuthOf is the credential's Basic auth; nil when there is none.
func basicAuthOf(creds Credentials) (*basicAuth, error) {
	if creds.Type == "" && len(creds.Fields) == 0 {
		return nil, nil
	}
	if t := strings.ToLower(strings.TrimSpace(creds.Type)); t != "netio-http-basic" {
		return nil, power.Errorf(power.CodeConfig, "credential type %q is not netio-http-basic", clean(creds.Type, 32))
	}
	u := strings.TrimSpace(creds.Fields["username"])
	if u == "" || strings.Contains(u, ":") {
		return nil, power.Errorf(power.CodeConfig, "NETIO credential requires a username without ':'")
	}
	return &basicAuth{user: u, pass: secrets.NewSecret(creds.Fields["password"])}, nil
}

// transport verifies TLS against the CA file (or the system roots), goes
// through no proxy and bounds every wait by the timeout.
func transport(cfg Config) (*http.Transport, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // the operator's explicit verifyTls=false
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, &power.Error{Code: power.CodeConfig, Message: "NETIO CA file cannot be read", Err: err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, power.Errorf(power.CodeConfig, "NETIO CA file holds no PEM certificate")
		}
		tlsCfg.RootCAs = pool
	}
	tr := &http.Transport{
		TLSClientConfig:       tlsCfg,
		Proxy:                 nil, // a PDU on the lab network: never through a proxy
		MaxIdleConns:          2,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
		TLSHandshakeTimeout:   cfg.Timeout,
		DialContext:           cfg.DialContext,
	}
	if tr.DialContext == nil {
		tr.DialContext = (&net.Dialer{Timeout: cfg.Timeout}).DialContext
	}
	return tr, nil
}

// Describe implements power.Driver.
func (d *Driver) Describe(ctx context.Context) (power.Description, error) {
	st, err := d.do(ctx, nil)
	if err != nil {
		return power.Description{}, err
	}
	return power.Description{Driver: DriverName, Model: st.Model, Firmware: st.Firmware, Outlets: len(st.Outputs)}, nil
}

// Outlets implements power.Driver.
func (d *Driver) Outlets(ctx context.Context) ([]power.OutletState, error) {
	st, err := d.do(ctx, nil)
	if err != nil {
		return nil, err
	}
	return st.Outputs, nil
}

// Set implements power.Driver: the POST's answer is the state read back;
// when it is not yet the asked one, GETs poll for ReadBackWait.
func (d *Driver) Set(ctx context.Context, outlet, state string) (power.OutletState, error) {
	id, err := outletID(outlet)
	if err != nil {
		return power.OutletState{}, err
	}
	action := ActionOff
	switch state {
	case power.StateOn:
		action = ActionOn
	case power.StateOff:
	default:
		return power.OutletState{}, power.Errorf(power.CodeConfig, "state %q is not on or off", clean(state, 16))
	}
	// The output must exist before it is switched: NETIO ignores unknown IDs.
	before, err := d.do(ctx, nil)
	if err != nil {
		return power.OutletState{}, err
	}
	if _, ok := before.find(id); !ok {
		return power.OutletState{}, power.Errorf(power.CodeOutletUnknown, "the device has no output %d", id)
	}
	body := fmt.Appendf(nil, `{"Outputs":[{"ID":%d,"Action":%d}]}`, id, action)
	after, err := d.do(ctx, body)
	if err != nil {
		return power.OutletState{}, err
	}
	deadline := time.Now().Add(d.cfg.ReadBackWait)
	for {
		o, ok := after.find(id)
		if !ok {
			return power.OutletState{}, power.Errorf(power.CodeBadResponse, "the device's answer lacks output %d", id)
		}
		if o.State == state || !time.Now().Before(deadline) {
			if o.State != state {
				return o, power.Errorf(power.CodeReadBackMismatch, "output %d reads %s after the command, want %s", id, o.State, state)
			}
			return o, nil
		}
		select {
		case <-ctx.Done():
			return power.OutletState{}, &power.Error{Code: power.CodeUnreachable, Message: "cancelled while reading the output back", Err: ctx.Err()}
		case <-time.After(pollInterval):
		}
		if after, err = d.do(ctx, nil); err != nil {
			return power.OutletState{}, err
		}
	}
}

// Cycle implements power.Driver as the older worker: off, wait off, on
// (NETIO's short-off action would use the device's own delay instead).
func (d *Driver) Cycle(ctx context.Context, outlet string, off time.Duration) (power.OutletState, error) {
	if off <= 0 {
		return power.OutletState{}, power.Errorf(power.CodeConfig, "cycle off time must be positive")
	}
	if _, err := d.Set(ctx, outlet, power.StateOff); err != nil {
		return power.OutletState{}, err
	}
	t := time.NewTimer(off)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return power.OutletState{}, &power.Error{Code: power.CodeUnreachable, Message: "cancelled while the output was off", Err: ctx.Err()}
	case <-t.C:
	}
	return d.Set(ctx, outlet, power.StateOn)
}

func outletID(outlet string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(outlet))
	if err != nil || n <= 0 || n > 1<<20 {
		return 0, power.Errorf(power.CodeOutletUnknown, "outlet %q is not a positive number", clean(outlet, 32))
	}
	return n, nil
}

// do GETs (body nil) or POSTs body, with retries on transport errors and
// 5xx, and decodes the answer.
func (d *Driver) do(ctx context.Context, body []byte) (status, error) {
	var last error
	for attempt := 0; attempt <= d.cfg.Retries; attempt++ {
		st, retry, err := d.once(ctx, body)
		if err == nil {
			return st, nil
		}
		last = err
		if !retry || ctx.Err() != nil {
			break
		}
		d.log.DebugContext(ctx, "netio request failed, retrying", "url", d.url, "attempt", attempt+1, "err", err)
	}
	return status{}, last
}

func (d *Driver) once(ctx context.Context, body []byte) (status, bool, error) {
	method := http.MethodGet
	var rd io.Reader
	if body != nil {
		method, rd = http.MethodPost, bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.url, rd)
	if err != nil {
		return status{}, false, &power.Error{Code: power.CodeConfig, Message: "NETIO request cannot be built", Err: err}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if d.auth != nil {
		req.SetBasicAuth(d.auth.user, d.auth.pass.Reveal())
	}
	resp, err := d.client.Do(req)
	if err != nil {
		retry, e := transportErr(ctx, err)
		return status{}, retry, e
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		retry, e := transportErr(ctx, err)
		return status{}, retry, e
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return status{}, false, power.Errorf(power.CodeAuth, "the device refused the credentials (HTTP %d)", resp.StatusCode)
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return status{}, false, power.Errorf(power.CodeBadResponse, "the device answered a redirect (HTTP %d), not followed", resp.StatusCode)
	case resp.StatusCode >= 500:
		return status{}, true, power.Errorf(power.CodeBadResponse, "the device answered HTTP %d", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return status{}, false, power.Errorf(power.CodeBadResponse, "the device answered HTTP %d", resp.StatusCode)
	}
	if len(raw) > MaxBody {
		return status{}, false, power.Errorf(power.CodeBadResponse, "the device's answer exceeds %d bytes", MaxBody)
	}
	st, err := decode(raw)
	return st, false, err
}

func transportErr(ctx context.Context, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, &power.Error{Code: power.CodeUnreachable, Message: "the NETIO request was cancelled", Err: ctx.Err()}
	}
	var ne net.Error
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	var ce *tls.CertificateVerificationError
	switch {
	case errors.As(err, &ue), errors.As(err, &he), errors.As(err, &ce):
		return false, &power.Error{Code: power.CodeConfig, Message: "the device's TLS certificate is not trusted (give its CA file, or verifyTls false)", Err: err}
	case errors.As(err, &ne) && ne.Timeout():
		return true, &power.Error{Code: power.CodeUnreachable, Message: "no answer in time", Err: err}
	case errors.Is(err, syscall.ECONNREFUSED):
		return true, &power.Error{Code: power.CodeUnreachable, Message: "the device refused the connection", Err: err}
	}
	return true, &power.Error{Code: power.CodeUnreachable, Message: "cannot reach the device", Err: err}
}

// clean is s bounded and without control characters, for messages.
func clean(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		s = s[:n]
		s = strings.ToValidUTF8(s, "")
	}
	return strings.TrimSpace(s)
}

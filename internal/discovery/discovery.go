// Package discovery probes a host a Guacamole connection names for the
// signs of a Lab Station (GATEWAY.md "POST /api/hosts/discover"): its name
// resolves, its WinRM HTTPS port accepts a connection, its Lab Station
// health endpoint answers like one. It also picks the network card to wake
// from a heartbeat. Everything sent goes to the address checked against
// the station networks, never to the name again.
package discovery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ops-worker/ops-worker/internal/netaddr"
)

// Defaults of Config's zero values (the older worker's OPS_DISCOVERY_*).
const (
	DefaultTimeout   = 1500 * time.Millisecond
	DefaultWinRMPort = 5986
	DefaultMaxBody   = 64 << 10
)

// DefaultLabStationPorts and DefaultLabStationPaths are where a Lab
// Station's local health endpoint answers.
func DefaultLabStationPorts() []int    { return []int{8765, 8088} }
func DefaultLabStationPaths() []string { return []string{"/labstation/health", "/health"} }

// totalTimeouts bounds a whole Probe: this many Timeouts (the ports are
// probed at once; a port's paths one after another).
const totalTimeouts = 4

// Resolver looks host names up (a *net.Resolver).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Config sets what a Prober probes. Zero values get the defaults above.
type Config struct {
	Timeout         time.Duration // each probe (connect, or request and body)
	LabStationPorts []int
	LabStationPaths []string
	WinRMPort       int
	// StationPrefixes, when set, are the only networks probed: every
	// address the name resolves to must be inside one of them.
	StationPrefixes []netip.Prefix
	Resolver        Resolver                                                          // nil: net.DefaultResolver
	Dial            func(ctx context.Context, network, addr string) (net.Conn, error) // nil: a net.Dialer
	MaxBody         int64                                                             // bytes of a health answer read; 0: DefaultMaxBody
}

// Prober runs the probes of one Config; it is safe for concurrent use.
type Prober struct{ Config }

// Result is what Probe found, in the shape of the discover answer's checks.
type Result struct {
	DNS bool `json:"dns"`
	// Addresses are what the name resolved to; the first is the one probed.
	Addresses []netip.Addr `json:"addresses,omitempty"`
	// WinRM is keyed by the port as a string ("5986").
	WinRM          map[string]bool `json:"winrm"`
	LabStationHTTP HTTPCheck       `json:"labStationHttp"`
	// Refused says why nothing was probed (an address outside the
	// station networks); "" when the probes ran.
	Refused string `json:"refused,omitempty"`
}

// WinRMReachable reports whether any WinRM port accepted a connection.
func (r Result) WinRMReachable() bool {
	for _, ok := range r.WinRM {
		if ok {
			return true
		}
	}
	return false
}

// HTTP check statuses when nothing was detected.
const (
	HTTPNoResponse = "no-response" // probed: nothing looked like a Lab Station
	HTTPUnresolved = "unresolved"  // the name did not resolve: nothing probed
	HTTPRefused    = "not-probed"  // Result.Refused says why
)

// HTTPCheck is the Lab Station health endpoint probe. Detected, it has
// URL, StatusCode, Service (null when the answer named none) and maybe
// SuggestedMAC; otherwise Status.
type HTTPCheck struct {
	Checked      bool
	Detected     bool
	URL          string
	StatusCode   int
	Service      string
	SuggestedMAC *MACSuggestion
	Status       string
}

// MarshalJSON writes the older worker's two shapes.
func (c HTTPCheck) MarshalJSON() ([]byte, error) {
	if !c.Detected {
		return json.Marshal(struct {
			Checked  bool   `json:"checked"`
			Detected bool   `json:"detected"`
			Status   string `json:"status,omitempty"`
		}{c.Checked, false, c.Status})
	}
	var service *string
	if c.Service != "" {
		service = &c.Service
	}
	return json.Marshal(struct {
		Checked      bool           `json:"checked"`
		Detected     bool           `json:"detected"`
		URL          string         `json:"url"`
		StatusCode   int            `json:"statusCode"`
		Service      *string        `json:"service"`
		SuggestedMAC *MACSuggestion `json:"suggestedMac,omitempty"`
	}{c.Checked, true, c.URL, c.StatusCode, service, c.SuggestedMAC})
}

// UnmarshalJSON reads either shape (a relay's answer).
func (c *HTTPCheck) UnmarshalJSON(b []byte) error {
	var w struct {
		Checked      bool           `json:"checked"`
		Detected     bool           `json:"detected"`
		URL          string         `json:"url"`
		StatusCode   int            `json:"statusCode"`
		Service      *string        `json:"service"`
		SuggestedMAC *MACSuggestion `json:"suggestedMac"`
		Status       string         `json:"status"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = HTTPCheck{Checked: w.Checked, Detected: w.Detected, URL: w.URL, StatusCode: w.StatusCode,
		SuggestedMAC: w.SuggestedMAC, Status: w.Status}
	if w.Service != nil {
		c.Service = *w.Service
	}
	return nil
}

// Discovery statuses (Status).
const (
	StatusDetected             = "labstation-detected"
	StatusWinRMReachable       = "winrm-reachable"
	StatusDetectedWithoutWinRM = "labstation-detected-without-winrm"
	StatusHostResolves         = "host-resolves"
	StatusNoResponse           = "no-response"
)

// Status is the older worker's ladder over a probe. heartbeatDetected (a
// heartbeat read over WinRM) counts as a Lab Station signal as the health
// endpoint does: the older worker only looked at the endpoint, but a
// heartbeat read is the stronger sign, and both statuses let provisioning
// go on.
func Status(r Result, heartbeatDetected bool) string {
	winrm := r.WinRMReachable()
	detected := r.LabStationHTTP.Detected || (heartbeatDetected && winrm)
	switch {
	case detected && winrm:
		return StatusDetected
	case winrm:
		return StatusWinRMReachable
	case detected:
		return StatusDetectedWithoutWinRM
	case r.DNS:
		return StatusHostResolves
	}
	return StatusNoResponse
}

func (c Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func (c Config) maxBody() int64 {
	if c.MaxBody > 0 {
		return c.MaxBody
	}
	return DefaultMaxBody
}

func (c Config) winrmPort() int {
	if c.WinRMPort > 0 {
		return c.WinRMPort
	}
	return DefaultWinRMPort
}

func (c Config) ports() []int {
	if len(c.LabStationPorts) > 0 {
		return c.LabStationPorts
	}
	return DefaultLabStationPorts()
}

func (c Config) paths() []string {
	if len(c.LabStationPaths) > 0 {
		return c.LabStationPaths
	}
	return DefaultLabStationPaths()
}

func (c Config) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if c.Dial != nil {
		return c.Dial(ctx, network, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// Validate checks the configuration's values.
func (c Config) Validate() error {
	if c.Timeout < 0 || c.MaxBody < 0 {
		return errors.New("discovery: negative timeout or body limit")
	}
	for _, p := range append([]int{c.WinRMPort}, c.LabStationPorts...) {
		if p < 0 || p > 65535 {
			return fmt.Errorf("discovery: port %d out of range 1..65535", p)
		}
	}
	for _, p := range c.LabStationPaths {
		if err := CheckPath(p); err != nil {
			return fmt.Errorf("discovery: %w", err)
		}
	}
	return nil
}

// CheckPath accepts a URL path for the health endpoint: starting with /,
// clean (no dot segments, no doubled slash), of printable ASCII with no
// query, fragment, percent sign or space.
func CheckPath(p string) error {
	if !strings.HasPrefix(p, "/") || len(p) > 256 {
		return fmt.Errorf("path %q must start with / and be at most 256 characters", truncate(p))
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("?#%\\", c) >= 0 {
			return fmt.Errorf("path %q contains %q", truncate(p), rune(c))
		}
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "." || seg == ".." || (seg == "" && p != "/" && !strings.HasSuffix(p, "/")) {
			return fmt.Errorf("path %q is not clean", truncate(p))
		}
	}
	if strings.Contains(p, "//") {
		return fmt.Errorf("path %q is not clean", truncate(p))
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// Probe resolves hostname and probes it. A hostname that is not a plain
// host name or IP address is an error (wrapping netaddr.ErrInvalidHost)
// and nothing is looked up. An address outside StationPrefixes, or one no
// station can have (unspecified, multicast), leaves Refused set and
// nothing sent. Otherwise the WinRM port and the health endpoint's ports
// are probed at once, each bounded by Timeout and the whole by a few.
func (p *Prober) Probe(ctx context.Context, hostname string) (Result, error) {
	if err := netaddr.ValidHost(hostname); err != nil {
		return Result{}, fmt.Errorf("discovery: %w", err)
	}
	if err := p.Validate(); err != nil {
		return Result{}, err
	}
	winrmKey := strconv.Itoa(p.winrmPort())
	res := Result{WinRM: map[string]bool{winrmKey: false}}
	ctx, cancel := context.WithTimeout(ctx, totalTimeouts*p.timeout())
	defer cancel()

	addrs, err := p.resolve(ctx, hostname)
	if err != nil || len(addrs) == 0 {
		res.LabStationHTTP = HTTPCheck{Status: HTTPUnresolved}
		return res, nil
	}
	res.DNS, res.Addresses = true, addrs
	if why := p.refusal(addrs); why != "" {
		res.Refused = why
		res.LabStationHTTP = HTTPCheck{Status: HTTPRefused}
		return res, nil
	}
	target := addrs[0]

	var wg sync.WaitGroup
	wg.Go(func() { res.WinRM[winrmKey] = p.tcpOpen(ctx, target, p.winrmPort()) })
	ports := p.ports()
	checks := make([]HTTPCheck, len(ports))
	client := p.httpClient(target)
	defer client.CloseIdleConnections()
	for i, port := range ports {
		wg.Go(func() { checks[i] = p.probePort(ctx, client, hostname, port) })
	}
	wg.Wait()
	res.LabStationHTTP = HTTPCheck{Checked: true, Status: HTTPNoResponse}
	for _, c := range checks {
		if c.Detected { // the first port in order that answered like one
			res.LabStationHTTP = c
			break
		}
	}
	return res, nil
}

func (p *Prober) resolve(ctx context.Context, hostname string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(hostname); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	rctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	addrs, err := r.LookupNetIP(rctx, "ip", hostname)
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	return addrs, err
}

// refusal says why addrs may not be probed, "" when they may.
func (p *Prober) refusal(addrs []netip.Addr) string {
	for _, a := range addrs {
		if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			return fmt.Sprintf("resolves to %v, which is no station's address", a)
		}
		if len(p.StationPrefixes) > 0 && !netaddr.InPrefixes(a, p.StationPrefixes) {
			return fmt.Sprintf("resolves to %v, outside the station networks", a)
		}
	}
	return ""
}

func (p *Prober) tcpOpen(ctx context.Context, a netip.Addr, port int) bool {
	ctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	c, err := p.dial(ctx, "tcp", netip.AddrPortFrom(a, uint16(port)).String())
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// httpClient dials target whatever the URL names (the Host header keeps
// the name), follows no redirect, uses no proxy and keeps no connection.
func (p *Prober) httpClient(target netip.Addr) *http.Client {
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return p.dial(ctx, "tcp", net.JoinHostPort(target.String(), port))
		},
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 16 << 10,
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// probePort asks port's paths in order until one answers like a Lab
// Station. A port that fails to answer at all is not asked again.
func (p *Prober) probePort(ctx context.Context, client *http.Client, hostname string, port int) HTTPCheck {
	host := net.JoinHostPort(strings.TrimSuffix(hostname, "."), strconv.Itoa(port))
	for _, path := range p.paths() {
		url := "http://" + host + path
		status, body, err := p.get(ctx, client, url)
		if err != nil {
			if ctx.Err() != nil || !errors.Is(err, errBodyTooLarge) {
				break
			}
			continue
		}
		if detected, service := LooksLikeLabStation(body); detected {
			return HTTPCheck{Checked: true, Detected: true, URL: url, StatusCode: status, Service: service,
				SuggestedMAC: SuggestMAC(body)}
		}
	}
	return HTTPCheck{Checked: true, Status: HTTPNoResponse}
}

var errBodyTooLarge = errors.New("answer larger than the body limit")

func (p *Prober) get(ctx context.Context, client *http.Client, url string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	limit := p.maxBody()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return 0, nil, err
	}
	if int64(len(body)) > limit {
		return 0, nil, errBodyTooLarge // a huge answer is no health endpoint
	}
	return resp.StatusCode, body, nil
}

// LooksLikeLabStation is the older worker's rule: a JSON object naming
// the service "labstation" (service, name or app, any case), or an answer
// whose text mentions labstation anywhere. service is the name the object
// gave, "" when none.
func LooksLikeLabStation(body []byte) (detected bool, service string) {
	var v any
	var text []byte
	if json.Unmarshal(body, &v) == nil {
		if obj, ok := v.(map[string]any); ok {
			for _, k := range []string{"service", "name", "app"} {
				if s, ok := obj[k].(string); ok && s != "" {
					service = s
					break
				}
			}
		}
		// Decoded and encoded again, as json.dumps did: escapes in the
		// answer do not hide the word. The raw answer counts too (a
		// duplicate key drops a value from the decoded form).
		if b, err := json.Marshal(v); err == nil {
			text = b
		}
	}
	word := []byte("labstation")
	detected = strings.EqualFold(service, "labstation") || bytes.Contains(bytes.ToLower(body), word) ||
		bytes.Contains(bytes.ToLower(text), word)
	return detected, service
}

// Package relayclient is the relay client: a lab.Lab (and lab.BatchReader)
// that asks a relay (relay/) to act on the hosts, signing every request
// with the shared secret (internal/relayproto), and maps the relay's
// answers back onto lab's error kinds. A relay that does not answer is
// lab.ErrRelayUnreachable; a relay refusal is the kind it names.
package relayclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/ops-worker/ops-worker/internal/discovery"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/relayproto"
)

// maxAnswer bounds what the client reads of one answer (a batch of 5000
// heartbeats of a few KB each fits).
const maxAnswer = 64 << 20

// Client talks to one relay.
type Client struct {
	// URL is the relay's base URL (https://relay.lab.example:8740).
	URL string
	// Secret signs every request (the relay's OPS_RELAY_SECRETS entry, or
	// OPS_RELAY_SECRET). The request is signed for the URL's host: the
	// relay refuses one signed for another relay.
	Secret []byte
	// HTTP is the client used; nil: one that follows no redirect (a
	// redirect could only fail the signature, or send the request where
	// the relay did not sign for). Calls are bounded by their context.
	HTTP *http.Client
	// StaleAfter flags a heartbeat older than this as stale; 0:
	// lab.DefaultStaleAfter (the worker's clock decides, as in direct mode).
	StaleAfter time.Duration
	Now        func() time.Time // nil: time.Now
}

// defaultHTTP is the Client's default: http.DefaultTransport, no redirect.
var defaultHTTP = &http.Client{CheckRedirect: NoRedirect}

// NoRedirect is an http.Client.CheckRedirect that follows no redirect.
func NoRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

var (
	_ lab.Lab         = (*Client)(nil)
	_ lab.BatchReader = (*Client)(nil)
)

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// call signs and sends one request and decodes a 200 answer into out. A
// relay error answer is its *relayproto.Error; anything else that goes
// wrong is lab.ErrRelayUnreachable (or the context's kind).
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("%w: encode request: %v", lab.ErrProtocol, err)
		}
	}
	if len(c.Secret) == 0 {
		return fmt.Errorf("%w: no relay secret (OPS_RELAY_SECRET, or the relay's entry in OPS_RELAY_SECRETS) to sign with", lab.ErrConfig)
	}
	if err := CheckURL(c.URL); err != nil {
		return fmt.Errorf("%w: %v", lab.ErrConfig, err)
	}
	u, err := url.JoinPath(c.URL, path)
	if err != nil {
		return fmt.Errorf("%w: relay URL: %v", lab.ErrConfig, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: relay URL: %v", lab.ErrConfig, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	relayproto.Sign(req, c.Secret, body, c.now())
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return fmt.Errorf("%w: %s: %v", lab.ErrRelayUnreachable, redactURL(c.URL), unwrapURLErr(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return fmt.Errorf("%w: reading the answer: %v", lab.ErrRelayUnreachable, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e relayproto.Error
		if json.Unmarshal(data, &e) != nil || e.Kind == "" {
			return fmt.Errorf("%w: %s answered %d without the relay's error shape", lab.ErrRelayUnreachable, redactURL(c.URL), resp.StatusCode)
		}
		if e.Kind == relayproto.KindSignature && strings.Contains(e.Message, "malformed signature headers: signature") {
			// What a relay that predates v2 signatures says of one.
			e.Message += " (a relay older than this worker? update ops-relay: it must accept v2 signatures)"
		}
		return &e
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%w: %s answered 200 with an unreadable body: %v", lab.ErrRelayUnreachable, redactURL(c.URL), err)
	}
	return nil
}

// CheckURL accepts an https:// relay URL, and http:// only to a loopback
// address: the relay's answers are not signed, so only TLS keeps them
// from being forged on the way (DESIGN.md: plain HTTP only on loopback).
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("relay URL %q: %v", redactURL(raw), err)
	}
	switch {
	case u.Scheme == "https" && u.Host != "":
		return nil
	case u.Scheme == "http":
		h := u.Hostname()
		if ip, err := netip.ParseAddr(h); (err == nil && ip.IsLoopback()) || strings.EqualFold(h, "localhost") {
			return nil
		}
		return fmt.Errorf("relay URL %s: plain http is only allowed to a loopback address; use https", redactURL(raw))
	}
	return fmt.Errorf("relay URL %s: want https://host[:port]", redactURL(raw))
}

// labErr is the *lab.Error of op on host for what call returned.
func labErr(op, host string, err error) error {
	var e *relayproto.Error
	if errors.As(err, &e) {
		return e.LabError(op, host)
	}
	kind := lab.ErrRelayUnreachable
	switch {
	case errors.Is(err, context.Canceled):
		kind = lab.ErrCanceled
	case errors.Is(err, context.DeadlineExceeded):
		kind = lab.ErrTimeout
	case errors.Is(err, lab.ErrConfig):
		kind = lab.ErrConfig
	case errors.Is(err, lab.ErrProtocol):
		kind = lab.ErrProtocol
	}
	return &lab.Error{Op: op, Host: host, Kind: kind, Err: err}
}

// Ping asks the relay's health route (signed, so a wrong secret fails it
// too).
func (c *Client) Ping(ctx context.Context) error {
	var out relayproto.HealthResponse
	if err := c.call(ctx, http.MethodGet, relayproto.PathHealth, nil, &out); err != nil {
		return labErr("ping relay", "", err)
	}
	return nil
}

// Wake asks the relay to wake h (the relay checks the broadcast address).
func (c *Client) Wake(ctx context.Context, h hosts.Host, o lab.WakeOptions) (lab.WakeResult, error) {
	in := relayproto.WakeRequest{Host: h.Name, MAC: o.MAC, Broadcast: o.Broadcast, Port: o.Port,
		PingTarget: o.PingTarget, PingTimeoutMS: o.PingTimeout.Milliseconds(), Attempts: o.Attempts}
	var out relayproto.WakeResponse
	if err := c.call(ctx, http.MethodPost, relayproto.PathWake, in, &out); err != nil {
		return lab.WakeResult{}, labErr("wake", h.Name, err)
	}
	return lab.WakeResult{Success: out.Success, AttemptsUsed: out.AttemptsUsed, Duration: time.Duration(out.DurationNS),
		PingTarget: out.PingTarget, ReachedBy: out.ReachedBy}, nil
}

// Reachable asks the relay to probe h.
func (c *Client) Reachable(ctx context.Context, h hosts.Host, wait time.Duration) (string, error) {
	var out relayproto.ReachableResponse
	in := relayproto.ReachableRequest{Host: h.Name, WaitMS: wait.Milliseconds()}
	if err := c.call(ctx, http.MethodPost, relayproto.PathReachable, in, &out); err != nil {
		return "", labErr("probe", h.Name, err)
	}
	return out.ReachedBy, nil
}

// RunCommand asks the relay to run the command. Credential overrides are
// refused here (ErrPolicy): the credentials are the relay's and never
// travel.
func (c *Client) RunCommand(ctx context.Context, h hosts.Host, command string, args []string, o lab.CommandOptions) (lab.CommandResult, error) {
	if o.User != "" || o.Password != "" {
		field := "user"
		if o.User == "" {
			field = "password"
		}
		return lab.CommandResult{}, &lab.Error{Op: "run command", Host: h.Name, Kind: lab.ErrPolicy,
			Err: &lab.PolicyError{Field: field, Reason: "credential override is not possible through a relay: the credentials live in the relay's catalog"}}
	}
	if args == nil {
		args = []string{}
	}
	in := relayproto.CommandRequest{Host: h.Name, Command: command, Args: args,
		Options: relayproto.CommandOptions{Transport: o.Transport, UseSSL: o.UseSSL, Port: o.Port}}
	var out relayproto.CommandResponse
	if err := c.call(ctx, http.MethodPost, relayproto.PathCommand, in, &out); err != nil {
		return lab.CommandResult{}, labErr("run command", h.Name, err)
	}
	res := lab.CommandResult{ExitCode: out.ExitCode, Stdout: out.Stdout, Stderr: out.Stderr,
		Duration: time.Duration(out.DurationNS), Outcome: labstation.Outcome(out.Outcome)}
	if out.Error != nil {
		return res, out.Error.LabError("run command", h.Name)
	}
	return res, nil
}

// ReadHeartbeat asks the relay for h's heartbeat and parses it here.
func (c *Client) ReadHeartbeat(ctx context.Context, h hosts.Host, includeEvents bool) (lab.HeartbeatRead, error) {
	var out relayproto.HeartbeatResponse
	in := relayproto.HeartbeatRequest{Host: h.Name, IncludeEvents: includeEvents}
	if err := c.call(ctx, http.MethodPost, relayproto.PathHeartbeat, in, &out); err != nil {
		return lab.HeartbeatRead{}, labErr("read heartbeat", h.Name, err)
	}
	return c.heartbeat(h.Name, out)
}

// SetLocalMode asks the relay to write or remove h's local-mode flag: the
// relay's catalog names the file, the request only the host.
func (c *Client) SetLocalMode(ctx context.Context, h hosts.Host, enabled bool) error {
	var out relayproto.LocalModeResponse
	in := relayproto.LocalModeRequest{Host: h.Name, Enabled: enabled}
	if err := c.call(ctx, http.MethodPost, relayproto.PathLocalMode, in, &out); err != nil {
		return labErr("set local mode", h.Name, err)
	}
	if out.LocalModeEnabled != enabled {
		return &lab.Error{Op: "set local mode", Host: h.Name, Kind: lab.ErrProtocol,
			Err: fmt.Errorf("relay answered local mode %v for a request of %v", out.LocalModeEnabled, enabled)}
	}
	return nil
}

// Discover asks the relay to probe hostname for a Lab Station from inside
// the lab (the relay probes only inside its own subnets: outside them the
// result's Refused says why and nothing was sent). An error is a *lab.Error.
func (c *Client) Discover(ctx context.Context, hostname string) (discovery.Result, error) {
	var out discovery.Result
	in := relayproto.DiscoverRequest{Hostname: hostname}
	if err := c.call(ctx, http.MethodPost, relayproto.PathDiscover, in, &out); err != nil {
		return discovery.Result{}, labErr("discover", hostname, err)
	}
	if out.WinRM == nil {
		out.WinRM = map[string]bool{}
	}
	return out, nil
}

// ReadHeartbeats reads every host of hs in one signed request.
func (c *Client) ReadHeartbeats(ctx context.Context, hs []hosts.Host, includeEvents bool) []lab.HeartbeatResult {
	res := make([]lab.HeartbeatResult, len(hs))
	for i, h := range hs {
		res[i].Host = h.Name
	}
	for start := 0; start < len(hs); start += relayproto.MaxBatch {
		part := hs[start:min(start+relayproto.MaxBatch, len(hs))]
		in := relayproto.BatchRequest{Hosts: make([]string, len(part)), IncludeEvents: includeEvents}
		for i, h := range part {
			in.Hosts[i] = h.Name
		}
		var out relayproto.BatchResponse
		err := c.call(ctx, http.MethodPost, relayproto.PathHeartbeats, in, &out)
		if err == nil && len(out.Results) != len(part) {
			err = fmt.Errorf("%w: batch answer has %d results for %d hosts", lab.ErrRelayUnreachable, len(out.Results), len(part))
		}
		for i, h := range part {
			r := &res[start+i]
			if err != nil {
				r.Err = labErr("read heartbeat", h.Name, err)
				continue
			}
			r.Read, r.Err = c.heartbeat(h.Name, out.Results[i])
		}
	}
	return res
}

// heartbeat parses one answer as Direct.ReadHeartbeat does.
func (c *Client) heartbeat(host string, out relayproto.HeartbeatResponse) (lab.HeartbeatRead, error) {
	if out.Error != nil {
		return lab.HeartbeatRead{}, out.Error.LabError("read heartbeat", host)
	}
	hb, err := labstation.ParseHeartbeat(out.Heartbeat)
	if err != nil {
		return lab.HeartbeatRead{}, &lab.Error{Op: "parse heartbeat", Host: host, Kind: lab.ErrRemote, Err: err}
	}
	read := lab.HeartbeatRead{Heartbeat: hb, Duration: time.Duration(out.DurationNS)}
	switch {
	case out.EventsErr == lab.ErrEventsUnreadable.Error():
		read.EventsErr = lab.ErrEventsUnreadable
	case out.EventsErr != "":
		read.EventsErr = fmt.Errorf("relay: %s", out.EventsErr)
	case len(out.LastEvent) > 0:
		ev, err := labstation.ParseLastEvent(out.LastEvent)
		if err != nil {
			read.EventsErr = err
		} else {
			read.LastEvent = ev
		}
	}
	stale := c.StaleAfter
	if stale <= 0 {
		stale = lab.DefaultStaleAfter
	}
	read.Stale = hb.Stale(c.now(), stale)
	return read, nil
}

// unwrapURLErr drops *url.Error's "Post URL:" prefix (the URL is named once).
func unwrapURLErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redactURL drops user info and query from a relay URL for a message.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "relay"
	}
	u.User, u.RawQuery = nil, ""
	return strings.TrimSuffix(u.String(), "/")
}

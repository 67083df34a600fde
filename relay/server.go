// Package relay is the relay's HTTP server (DESIGN.md "The relay"): on an
// always-on machine inside the lab subnet, it wakes, probes and runs
// LabStation.exe on the hosts of its own catalog, through direct.Direct, for
// workers that cannot reach the lab (Lambda functions). Every request is
// signed (internal/relayproto); the command ops-relay (relay/cmd/ops-relay)
// runs it.
package relay

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/ops-worker/ops-worker/internal/discovery"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/netaddr"
	"github.com/ops-worker/ops-worker/internal/relayproto"
	"github.com/ops-worker/ops-worker/internal/textcut"
	"github.com/ops-worker/ops-worker/internal/wake"
)

// DefaultInFlight is the Lab Station contract's limit of commands in
// flight per host.
const DefaultInFlight = 2

// batchParallel bounds the heartbeat reads of one batch that run at once.
const batchParallel = 32

// Server is the relay's http.Handler.
type Server struct {
	// Catalog is the relay's own host catalog; requests name hosts in it.
	Catalog *hosts.Catalog
	// Lab acts on the hosts (a *direct.Direct).
	Lab lab.Lab
	// Subnets are where magic packets may go: the broadcast address (and
	// an overridden ping target) must be inside one of them.
	Subnets []netip.Prefix
	// Verifier checks every request's signature.
	Verifier *relayproto.Verifier
	// AllowedCommands are the LabStation.exe commands the relay runs
	// (RELAY_ALLOWED_COMMANDS); any other is refused before a slot is
	// taken or a station touched. nil: labstation.DefaultAllowList.
	AllowedCommands []string
	// NoLocalMode refuses every local-mode request (RELAY_LOCAL_MODE=false),
	// for a relay whose operator does not let workers write station files.
	NoLocalMode bool
	// Discovery configures the probes of PathDiscover; its
	// StationPrefixes are always Subnets (no subnets: nothing is probed).
	// Zero values: discovery's defaults.
	Discovery discovery.Config
	// Power are the power controllers the relay calls for workers
	// (RELAY_POWER_CONFIG), by lower-case id; nil: none.
	Power map[string]PowerController
	// InFlight is the most WinRM calls in flight per host (and calls per
	// power controller); 0: DefaultInFlight.
	InFlight int
	Logger   *slog.Logger // nil: slog.Default()
	Version  string

	mu    sync.Mutex
	slots map[string]chan struct{}
}

// refusal is an answer before anything reached a host.
type refusal struct {
	status int
	kind   string
	msg    string
}

func (r *refusal) Error() string { return r.msg }

func refuse(status int, kind, format string, args ...any) *refusal {
	return &refusal{status: status, kind: kind, msg: fmt.Sprintf(format, args...)}
}

type route struct {
	method string
	serve  func(s *Server, ctx context.Context, body []byte, a *audit) (any, error)
}

var routes = map[string]route{
	relayproto.PathHealth:     {http.MethodGet, (*Server).health},
	relayproto.PathWake:       {http.MethodPost, (*Server).wake},
	relayproto.PathReachable:  {http.MethodPost, (*Server).reachable},
	relayproto.PathCommand:    {http.MethodPost, (*Server).command},
	relayproto.PathHeartbeat:  {http.MethodPost, (*Server).heartbeat},
	relayproto.PathHeartbeats: {http.MethodPost, (*Server).heartbeats},
	relayproto.PathLocalMode:  {http.MethodPost, (*Server).localMode},
	relayproto.PathDiscover:   {http.MethodPost, (*Server).discover},
	relayproto.PathPower:      {http.MethodPost, (*Server).power},
}

// audit is the one log line of a request.
type audit struct {
	action string
	host   string
	attrs  []any
}

func (s *Server) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// ServeHTTP checks, in order: the route, the signature headers' format,
// the window and the relay they are signed for (401), all before the body
// is read; the body size (413); the MAC and the nonce (401, 503); the body
// (400), the command, the host and addresses (400, 403); only then does
// anything reach a station. The audit line names the nonce only once the
// MAC holds: a forged request's headers are not logged.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	a := &audit{action: strings.TrimPrefix(r.URL.Path, "/v1/")}
	status, kind, nonce := http.StatusOK, "", ""
	defer func() {
		attrs := append([]any{"action", a.action, "host", a.host, "status", status, "kind", kind,
			"remote", r.RemoteAddr, "nonce", nonce,
			"duration_ms", time.Since(start).Milliseconds()}, a.attrs...)
		s.log().Info("relay audit", attrs...)
	}()
	fail := func(err error) {
		var rf *refusal
		var e *relayproto.Error
		if errors.As(err, &rf) {
			status, kind = rf.status, rf.kind
			e = &relayproto.Error{Message: rf.msg, Kind: rf.kind}
		} else {
			e = relayproto.ErrorOf(err)
			status, kind = statusOf(err), e.Kind
		}
		writeJSON(w, status, e)
	}
	refuseSignature := func(err error) {
		if errors.Is(err, relayproto.ErrCacheFull) {
			fail(refuse(http.StatusServiceUnavailable, relayproto.KindUnavailable, "relay busy: %v", err))
		} else {
			fail(refuse(http.StatusUnauthorized, relayproto.KindSignature, "signature refused: %v", err))
		}
	}

	rt, ok := routes[r.URL.Path]
	switch {
	case !ok:
		fail(refuse(http.StatusNotFound, relayproto.KindBadRequest, "no such route"))
		return
	case r.Method != rt.method:
		fail(refuse(http.StatusMethodNotAllowed, relayproto.KindBadRequest, "method not allowed"))
		return
	}
	signed, err := s.Verifier.Check(r)
	if err != nil {
		refuseSignature(err)
		return
	}
	tooLarge := func() {
		fail(refuse(http.StatusRequestEntityTooLarge, relayproto.KindTooLarge, "body larger than %d bytes", relayproto.MaxBody))
	}
	if r.ContentLength > relayproto.MaxBody {
		tooLarge()
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, relayproto.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			tooLarge()
		} else {
			fail(refuse(http.StatusBadRequest, relayproto.KindBadRequest, "body unreadable"))
		}
		return
	}
	key, err := s.Verifier.CheckBody(r, signed, body)
	if err == nil || errors.Is(err, relayproto.ErrReplayed) || errors.Is(err, relayproto.ErrCacheFull) {
		nonce = signed.Nonce // the MAC held: the nonce is the signer's
	}
	if err != nil {
		refuseSignature(err)
		return
	}
	a.attrs = append(a.attrs, "key", key)
	out, err := rt.serve(s, r.Context(), body, a)
	if err != nil {
		fail(err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// statusOf is the HTTP status of a lab failure on the relay. The client
// reads the kind, not the status; the status is for the audit log and
// for people with curl.
func statusOf(err error) int {
	switch {
	case errors.Is(err, lab.ErrPolicy):
		return http.StatusForbidden
	case errors.Is(err, lab.ErrArgument), errors.Is(err, lab.ErrCommandNotAllowed), errors.Is(err, lab.ErrMACRequired):
		return http.StatusBadRequest
	case errors.Is(err, lab.ErrTimeout), errors.Is(err, lab.ErrCanceled):
		return http.StatusGatewayTimeout
	case errors.Is(err, lab.ErrConfig):
		return http.StatusInternalServerError
	}
	return http.StatusBadGateway
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Decode decodes one JSON object into v: unknown fields, trailing data
// and a body that is not one object are refused.
func Decode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return refuse(http.StatusBadRequest, relayproto.KindBadRequest, "body: %v", err)
	}
	if dec.More() {
		return refuse(http.StatusBadRequest, relayproto.KindBadRequest, "body: trailing data")
	}
	var rest json.RawMessage
	if err := dec.Decode(&rest); err != io.EOF {
		return refuse(http.StatusBadRequest, relayproto.KindBadRequest, "body: trailing data")
	}
	return nil
}

// host is the catalog entry a request names.
func (s *Server) host(name string, a *audit) (hosts.Host, error) {
	a.host = truncate(name, 64)
	if name == "" {
		return hosts.Host{}, refuse(http.StatusBadRequest, relayproto.KindBadRequest, "host is required")
	}
	h, ok := s.Catalog.Get(name)
	if !ok {
		return hosts.Host{}, refuse(http.StatusForbidden, relayproto.KindNotInCatalog, "host %q is not in the relay's catalog", truncate(name, 64))
	}
	a.host = h.Name
	return h, nil
}

// inSubnets refuses an address that is not an IP literal inside the
// relay's subnets.
func (s *Server) inSubnets(field, addr string) error {
	ip, err := netip.ParseAddr(addr)
	if err == nil {
		ip = ip.Unmap()
		for _, p := range s.Subnets {
			if p.Contains(ip) {
				return nil
			}
		}
	}
	return &lab.Error{Op: "wake", Kind: lab.ErrPolicy, Err: &lab.PolicyError{Field: field,
		Reason: fmt.Sprintf("%s is not inside the relay's subnets", truncate(addr, 64))}}
}

// slot takes one of the host's in-flight slots, waiting for ctx.
func (s *Server) slot(ctx context.Context, name string) (func(), error) {
	s.mu.Lock()
	if s.slots == nil {
		s.slots = map[string]chan struct{}{}
	}
	ch, ok := s.slots[strings.ToLower(name)]
	if !ok {
		ch = make(chan struct{}, cmp.Or(s.InFlight, DefaultInFlight))
		s.slots[strings.ToLower(name)] = ch
	}
	s.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, &lab.Error{Op: "wait for a slot", Host: name, Kind: lab.ErrCanceled, Err: ctx.Err()}
	}
}

func (s *Server) health(_ context.Context, _ []byte, _ *audit) (any, error) {
	return relayproto.HealthResponse{Status: "ok", Hosts: s.Catalog.Len(), Version: s.Version}, nil
}

func (s *Server) wake(ctx context.Context, body []byte, a *audit) (any, error) {
	var req relayproto.WakeRequest
	if err := Decode(body, &req); err != nil {
		return nil, err
	}
	h, err := s.host(req.Host, a)
	if err != nil {
		return nil, err
	}
	if err := s.inSubnets("broadcast", cmp.Or(req.Broadcast, h.Broadcast, wake.DefaultBroadcast)); err != nil {
		return nil, withHost(err, h)
	}
	if req.PingTarget != "" && req.PingTarget != cmp.Or(h.PingTarget, h.Address) {
		if err := s.inSubnets("ping_target", req.PingTarget); err != nil {
			return nil, withHost(err, h)
		}
	}
	res, err := s.Lab.Wake(ctx, h, lab.WakeOptions{MAC: req.MAC, Broadcast: req.Broadcast, Port: req.Port,
		PingTarget: req.PingTarget, PingTimeout: time.Duration(req.PingTimeoutMS) * time.Millisecond, Attempts: req.Attempts})
	if err != nil {
		return nil, err
	}
	a.attrs = append(a.attrs, "success", res.Success, "attempts", res.AttemptsUsed)
	return relayproto.WakeResponse{Success: res.Success, AttemptsUsed: res.AttemptsUsed, DurationNS: int64(res.Duration),
		PingTarget: res.PingTarget, ReachedBy: res.ReachedBy}, nil
}

func withHost(err error, h hosts.Host) error {
	var le *lab.Error
	if errors.As(err, &le) {
		le.Host = h.Name
	}
	return err
}

// maxWait bounds a reachability wait a request may ask for.
const maxWait = 5 * time.Minute

func (s *Server) reachable(ctx context.Context, body []byte, a *audit) (any, error) {
	var req relayproto.ReachableRequest
	if err := Decode(body, &req); err != nil {
		return nil, err
	}
	if req.WaitMS < 0 || time.Duration(req.WaitMS)*time.Millisecond > maxWait {
		return nil, refuse(http.StatusBadRequest, relayproto.KindBadRequest, "wait_ms must be 0..%d", maxWait.Milliseconds())
	}
	h, err := s.host(req.Host, a)
	if err != nil {
		return nil, err
	}
	by, err := s.Lab.Reachable(ctx, h, time.Duration(req.WaitMS)*time.Millisecond)
	if err != nil {
		return nil, err
	}
	return relayproto.ReachableResponse{ReachedBy: by}, nil
}

func (s *Server) command(ctx context.Context, body []byte, a *audit) (any, error) {
	var req relayproto.CommandRequest
	if err := Decode(body, &req); err != nil {
		return nil, err
	}
	h, err := s.host(req.Host, a)
	if err != nil {
		return nil, err
	}
	a.attrs = append(a.attrs, "command", truncate(req.Command, 64), "args", len(req.Args))
	allowed := s.AllowedCommands
	if allowed == nil {
		allowed = labstation.DefaultAllowList()
	}
	if err := labstation.CheckCommand(req.Command, allowed); err != nil {
		return nil, &lab.Error{Op: "run command", Host: h.Name, Kind: lab.ErrCommandNotAllowed, Err: err}
	}
	release, err := s.slot(ctx, h.Name)
	if err != nil {
		return nil, err
	}
	defer release()
	res, err := s.Lab.RunCommand(ctx, h, req.Command, req.Args, lab.CommandOptions{
		Transport: req.Options.Transport, UseSSL: req.Options.UseSSL, Port: req.Options.Port})
	out := relayproto.CommandResponse{ExitCode: res.ExitCode, Stdout: res.Stdout, Stderr: res.Stderr,
		DurationNS: int64(res.Duration), Outcome: int(res.Outcome)}
	a.attrs = append(a.attrs, "exit_code", res.ExitCode)
	if err != nil {
		// Refusals before anything was sent answer as errors; a command
		// that failed on the way keeps its partial result, as Direct does.
		if errors.Is(err, lab.ErrPolicy) || errors.Is(err, lab.ErrArgument) || errors.Is(err, lab.ErrCommandNotAllowed) {
			return nil, err
		}
		out.Error = relayproto.ErrorOf(err)
		a.attrs = append(a.attrs, "failed", out.Error.Kind)
	}
	return out, nil
}

func (s *Server) heartbeat(ctx context.Context, body []byte, a *audit) (any, error) {
	var req relayproto.HeartbeatRequest
	if err := Decode(body, &req); err != nil {
		return nil, err
	}
	h, err := s.host(req.Host, a)
	if err != nil {
		return nil, err
	}
	out := s.readOne(ctx, h, req.IncludeEvents)
	if out.Error != nil {
		a.attrs = append(a.attrs, "failed", out.Error.Kind)
	}
	return out, nil
}

// readOne reads one host's heartbeat, holding one of its slots.
func (s *Server) readOne(ctx context.Context, h hosts.Host, includeEvents bool) relayproto.HeartbeatResponse {
	out := relayproto.HeartbeatResponse{Host: h.Name}
	release, err := s.slot(ctx, h.Name)
	if err != nil {
		out.Error = relayproto.ErrorOf(err)
		return out
	}
	defer release()
	hb, err := s.Lab.ReadHeartbeat(ctx, h, includeEvents)
	if err != nil {
		out.Error = relayproto.ErrorOf(err)
		return out
	}
	if hb.Heartbeat != nil {
		out.Heartbeat = hb.Heartbeat.Raw
	}
	if hb.LastEvent != nil {
		out.LastEvent = hb.LastEvent.Raw
	}
	if hb.EventsErr != nil {
		out.EventsErr = hb.EventsErr.Error()
	}
	out.Stale, out.DurationNS = hb.Stale, int64(hb.Duration)
	return out
}

// localMode writes or removes the flag at the path of the relay's own
// catalog entry, holding one of the host's slots.
func (s *Server) localMode(ctx context.Context, body []byte, a *audit) (any, error) {
	var req relayproto.LocalModeRequest
	if err := Decode(body, &req); err != nil {
		return nil, err
	}
	h, err := s.host(req.Host, a)
	if err != nil {
		return nil, err
	}
	a.attrs = append(a.attrs, "enabled", req.Enabled)
	if s.NoLocalMode {
		return nil, &lab.Error{Op: "set local mode", Host: h.Name, Kind: lab.ErrPolicy, Err: &lab.PolicyError{
			Field: "enabled", Reason: "local mode is turned off on this relay (RELAY_LOCAL_MODE=false)"}}
	}
	release, err := s.slot(ctx, h.Name)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := s.Lab.SetLocalMode(ctx, h, req.Enabled); err != nil {
		return nil, err
	}
	return relayproto.LocalModeResponse{LocalModeEnabled: req.Enabled}, nil
}

func (s *Server) heartbeats(ctx context.Context, body []byte, a *audit) (any, error) {
	var req relayproto.BatchRequest
	if err := Decode(body, &req); err != nil {
		return nil, err
	}
	if len(req.Hosts) > relayproto.MaxBatch {
		return nil, refuse(http.StatusBadRequest, relayproto.KindBadRequest, "at most %d hosts per batch", relayproto.MaxBatch)
	}
	// Every name is checked before any host is read: a batch naming a
	// host outside the catalog is refused whole.
	hs := make([]hosts.Host, len(req.Hosts))
	for i, name := range req.Hosts {
		h, err := s.host(name, a)
		if err != nil {
			return nil, err
		}
		hs[i] = h
	}
	a.host = ""
	out := relayproto.BatchResponse{Results: make([]relayproto.HeartbeatResponse, len(hs))}
	sem := make(chan struct{}, batchParallel)
	var wg sync.WaitGroup
	for i, h := range hs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out.Results[i] = s.readOne(ctx, h, req.IncludeEvents)
		})
	}
	wg.Wait()
	failed := 0
	for _, r := range out.Results {
		if r.Error != nil {
			failed++
		}
	}
	a.attrs = append(a.attrs, "hosts", len(hs), "failed", failed)
	return out, nil
}

// truncate cuts s (textcut) and replaces what is not UTF-8 in it: a
// station's or a client's bytes go into log lines and answers.
func truncate(s string, n int) string { return strings.ToValidUTF8(textcut.Cut(s, n, "..."), "?") }

// discover probes a host name for a Lab Station from inside the lab. The
// name is checked before it is looked up; every address it resolves to
// must be inside the relay's subnets, or nothing is sent (the answer's
// refused says why).
func (s *Server) discover(ctx context.Context, body []byte, a *audit) (any, error) {
	var req relayproto.DiscoverRequest
	if err := Decode(body, &req); err != nil {
		return nil, err
	}
	a.host = truncate(req.Hostname, 64)
	if err := netaddr.ValidHost(req.Hostname); err != nil {
		return nil, refuse(http.StatusBadRequest, relayproto.KindBadRequest, "hostname: %v", err)
	}
	if len(s.Subnets) == 0 {
		return nil, &lab.Error{Op: "discover", Host: a.host, Kind: lab.ErrPolicy, Err: &lab.PolicyError{Field: "hostname",
			Reason: "the relay has no subnets (RELAY_SUBNETS) to probe in"}}
	}
	cfg := s.Discovery
	cfg.StationPrefixes = s.Subnets
	p := &discovery.Prober{Config: cfg}
	res, err := p.Probe(ctx, req.Hostname)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, relayproto.KindBadRequest, "%v", err)
	}
	a.attrs = append(a.attrs, "dns", res.DNS, "winrm", res.WinRMReachable(), "labstation_http", res.LabStationHTTP.Detected)
	if res.Refused != "" {
		a.attrs = append(a.attrs, "refused", res.Refused)
	}
	return res, nil
}

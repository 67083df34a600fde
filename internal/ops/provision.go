package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ops-worker/ops-worker/internal/credentials"
	"github.com/ops-worker/ops-worker/internal/discovery"
	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/secrets"
)

// The discovery statuses of POST /api/hosts/discover (GATEWAY.md section
// 2), besides discovery.Status's ladder: a connection without a hostname
// parameter cannot be probed at all.
const StatusMissingHostname = "missing-hostname"

// ActionProvision is the operation recorded for each provisioning.
const ActionProvision = "provision"

// Prober probes a candidate station: directly (internal/discovery) or
// through the relay, which app picks.
type Prober interface {
	Probe(ctx context.Context, hostname string) (discovery.Result, error)
}

// CredentialStore is what the routes that store credentials need of the
// encrypted store (internal/credentials).
type CredentialStore interface {
	SaveWinRM(ctx context.Context, ref, user string, password secrets.Secret, actor string) (string, error)
}

// ProvisionSettings are the knobs of discovery and provisioning.
type ProvisionSettings struct {
	// HeartbeatPaths are where discovery looks for a heartbeat, in order
	// (OPS_DISCOVERY_HEARTBEAT_PATHS).
	HeartbeatPaths []string
	// WinRMPort is the port probed and given to a provisioned host.
	WinRMPort int
	// Defaults are catalog fields every provisioned entry starts from
	// (OPS_PROVISION_DEFAULTS: the lab subnet's broadcast, a CA file...);
	// the request's fields win.
	Defaults map[string]json.RawMessage
}

// DiscoverRequest is POST /api/hosts/discover.
type DiscoverRequest struct {
	ConnectionID string // digits; "" when not given
}

// DiscoverResponse is its 200: GATEWAY.md's fields.
type DiscoverResponse struct {
	Connection   GuacamoleConnection `json:"connection"`
	Status       string              `json:"status"`
	Checks       DiscoverChecks      `json:"checks"`
	OpsHostDraft *HostDraft          `json:"opsHostDraft"`
}

// DiscoverChecks are the probes' results.
type DiscoverChecks struct {
	DNS            bool                `json:"dns"`
	WinRM          map[string]bool     `json:"winrm"`
	LabStationHTTP discovery.HTTPCheck `json:"labStationHttp"`
	Heartbeat      HeartbeatHint       `json:"heartbeat"`
	// Refused says why nothing was probed (outside OPS_STATION_CIDRS, a
	// hostname that is not one); "" when the probes ran.
	Refused string `json:"refused,omitempty"`
}

// HeartbeatHint is the heartbeat read over WinRM with stored credentials.
type HeartbeatHint struct {
	Checked      bool                     `json:"checked"`
	Detected     bool                     `json:"detected"`
	Status       string                   `json:"status,omitempty"`
	Path         string                   `json:"path,omitempty"`
	SuggestedMAC *discovery.MACSuggestion `json:"suggestedMac,omitempty"`
	Errors       []HeartbeatPathError     `json:"errors,omitempty"`
}

// HeartbeatPathError is one heartbeat path that could not be read.
type HeartbeatPathError struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// HostDraft is the catalog entry discovery suggests (hosts.json names).
type HostDraft struct {
	Name           string   `json:"name"`
	Address        string   `json:"address"`
	MAC            string   `json:"mac,omitempty"`
	Labs           []string `json:"labs"`
	HeartbeatPath  string   `json:"heartbeat_path"`
	EventsPath     string   `json:"events_path"`
	CredentialRef  string   `json:"credential_ref"`
	WinRMTransport string   `json:"winrm_transport"`
	WinRMUseSSL    bool     `json:"winrm_use_ssl"`
	WinRMPort      int      `json:"winrm_port"`
	NameCandidates []string `json:"nameCandidates"`
}

// ProvisionRequest is POST /api/hosts/provision; every field but the
// connection is optional (discovery's draft fills them).
type ProvisionRequest struct {
	ConnectionID   string
	Name           string
	Address        string
	MAC            string
	Labs           []string
	ValidLabIDs    []string // nil: not given
	CredentialRef  string
	HeartbeatPath  string
	EventsPath     string
	WinRMTransport string
	Actor          string
}

// ProvisionResponse is its 200.
type ProvisionResponse struct {
	Provisioned     bool            `json:"provisioned"`
	Hosts           int             `json:"hosts"`
	Host            ProvisionedHost `json:"host"`
	DiscoveryStatus string          `json:"discoveryStatus"`
}

// ProvisionedHost is the new host as the page lists it: never a secret.
type ProvisionedHost struct {
	Name            string   `json:"name"`
	Address         string   `json:"address"`
	CredentialRef   string   `json:"credentialRef"`
	MAC             *string  `json:"mac"`
	Labs            []string `json:"labs"`
	Source          string   `json:"source"`
	WinRMConfigured bool     `json:"winrmConfigured"`
}

// WinRMCredentialsRequest is POST /api/hosts/winrm-credentials.
type WinRMCredentialsRequest struct {
	CredentialRef string
	User          string
	Password      secrets.Secret
	Actor         string
}

// WinRMCredentialsResponse is its 200: never the secret.
type WinRMCredentialsResponse struct {
	Saved         bool   `json:"saved"`
	CredentialRef string `json:"credentialRef"`
	Hosts         int    `json:"hosts"`
}

// enoughSignal are the discovery statuses provisioning accepts: a Lab
// Station or at least WinRM answered (upstream's rule).
var enoughSignal = []string{discovery.StatusDetected, discovery.StatusWinRMReachable}

// DiscoverHost is POST /api/hosts/discover: the Guacamole connection's
// hostname is probed (DNS, the WinRM port, the Lab Station's HTTP health
// endpoint) and, when WinRM answers and credentials are stored for the
// hostname, its heartbeat is read for the MAC and the heartbeat path.
func (s *Service) DiscoverHost(ctx context.Context, r DiscoverRequest) (DiscoverResponse, error) {
	conn, err := s.guacConnection(ctx, r.ConnectionID)
	if err != nil {
		return DiscoverResponse{}, err
	}
	return s.discover(ctx, conn), nil
}

// guacConnection finds the Guacamole connection of id.
func (s *Service) guacConnection(ctx context.Context, id string) (domain.GuacConnection, error) {
	if id == "" {
		return domain.GuacConnection{}, Errorf(CodeBadRequest, "connectionId is required")
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return domain.GuacConnection{}, Errorf(CodeInvalidField, "connectionId must be a positive whole number")
	}
	if s.Guacamole == nil {
		return domain.GuacConnection{}, Errorf(CodeGuacamoleUnavailable, guacNotConfigured)
	}
	conns, err := s.Guacamole.Connections(ctx)
	if err != nil {
		return domain.GuacConnection{}, Wrap(CodeGuacamoleUnavailable, "Guacamole query failed", err)
	}
	for _, c := range conns {
		if c.ID == n {
			return c, nil
		}
	}
	return domain.GuacConnection{}, Errorf(CodeConnectionNotFound, "Guacamole connection %d not found", n)
}

// discover runs the probes for conn.
func (s *Service) discover(ctx context.Context, conn domain.GuacConnection) DiscoverResponse {
	out := DiscoverResponse{Connection: guacView(conn), Checks: DiscoverChecks{WinRM: map[string]bool{}}}
	host := matchKey(conn.Hostname)
	if host == "" || s.Prober == nil {
		out.Status = StatusMissingHostname
		out.Checks.LabStationHTTP = discovery.HTTPCheck{Status: StatusMissingHostname}
		out.Checks.Heartbeat = HeartbeatHint{Status: StatusMissingHostname}
		if s.Prober == nil && host != "" {
			out.Status = discovery.StatusNoResponse
			out.Checks.Refused = "discovery is not configured"
		}
		return out
	}
	res, err := s.Prober.Probe(ctx, host)
	if err != nil {
		s.log().InfoContext(ctx, "discovery refused", "hostname", host, "err", err)
		out.Checks.Refused = err.Error()
	}
	out.Checks.DNS, out.Checks.WinRM, out.Checks.LabStationHTTP = res.DNS, res.WinRM, res.LabStationHTTP
	if out.Checks.WinRM == nil {
		out.Checks.WinRM = map[string]bool{}
	}
	if res.WinRMReachable() {
		out.Checks.Heartbeat = s.heartbeatHint(ctx, host)
	} else {
		out.Checks.Heartbeat = HeartbeatHint{Status: "winrm-unreachable"}
	}
	out.Status = discovery.Status(res, out.Checks.Heartbeat.Detected)
	out.OpsHostDraft = s.draft(ctx, conn, host, out.Checks)
	return out
}

// heartbeatHint reads the heartbeat of a not yet catalogued station with
// the credentials stored under its hostname, trying each configured path.
func (s *Service) heartbeatHint(ctx context.Context, host string) HeartbeatHint {
	ref, err := hosts.NormalizeCredentialRef(host)
	if err != nil {
		return HeartbeatHint{Status: "missing-winrm-credentials"}
	}
	if s.Credentials == nil || s.Lab == nil {
		return HeartbeatHint{Status: "missing-winrm-credentials"}
	}
	var errs []HeartbeatPathError
	for _, path := range s.provisionSettings().HeartbeatPaths {
		h, err := s.candidateHost(host, ref, path)
		if err != nil {
			errs = append(errs, HeartbeatPathError{Path: path, Error: "not a usable candidate: " + oneLine(err.Error(), 200)})
			continue
		}
		if !s.Credentials.WinRMConfigured(ctx, h) {
			return HeartbeatHint{Status: "missing-winrm-credentials"}
		}
		read, err := s.Lab.ReadHeartbeat(ctx, h, false)
		if err != nil || read.Heartbeat == nil {
			errs = append(errs, HeartbeatPathError{Path: path, Error: "Remote heartbeat read failed"})
			continue
		}
		return HeartbeatHint{Checked: true, Detected: true, Path: path, SuggestedMAC: discovery.SuggestMAC(read.Heartbeat.Raw)}
	}
	return HeartbeatHint{Checked: true, Status: "read-failed", Errors: errs}
}

// candidateHost is the catalog entry a discovery reads through: the
// provisioning defaults, the hostname as address and credential
// reference, and heartbeatPath; validated as any entry is.
func (s *Service) candidateHost(host, ref, heartbeatPath string) (hosts.Host, error) {
	entry, err := s.provisionEntry(map[string]any{"name": "discovery-candidate", "address": host,
		"credential_ref": ref, "heartbeat_path": heartbeatPath, "winrm_port": s.provisionSettings().WinRMPort})
	if err != nil {
		return hosts.Host{}, err
	}
	return hosts.CheckDatabaseEntry(entry, hosts.Options{StationPrefixes: s.Settings.StationPrefixes})
}

// draft is the entry discovery suggests.
func (s *Service) draft(ctx context.Context, conn domain.GuacConnection, host string, c DiscoverChecks) *HostDraft {
	ps := s.provisionSettings()
	d := &HostDraft{Name: host, Address: host, Labs: []string{}, CredentialRef: host,
		HeartbeatPath: firstNonEmptyString(c.Heartbeat.Path, firstOf(ps.HeartbeatPaths), hosts.DefaultHeartbeatPath),
		EventsPath:    hosts.DefaultEventsPath, WinRMTransport: "ntlm", WinRMUseSSL: true, WinRMPort: ps.WinRMPort,
		NameCandidates: s.nameCandidates(ctx, conn)}
	if m := c.LabStationHTTP.SuggestedMAC; m != nil {
		d.MAC = m.MAC
	} else if m := c.Heartbeat.SuggestedMAC; m != nil {
		d.MAC = m.MAC
	}
	return d
}

// nameCandidates are the names of the Guacamole connections to the same
// hostname, then their hostnames (upstream's order), each once.
func (s *Service) nameCandidates(ctx context.Context, conn domain.GuacConnection) []string {
	out := []string{}
	add := func(v string) {
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	conns, err := s.Guacamole.Connections(ctx)
	if err == nil {
		key := matchKey(conn.Hostname)
		for _, c := range conns {
			if matchKey(c.Hostname) == key {
				add(c.Name)
			}
		}
	}
	add(conn.Hostname)
	return out
}

// ProvisionHost is POST /api/hosts/provision: discovery runs again; with
// a Lab Station or WinRM signal the host is added to the database catalog
// (every instance sees it within OPS_CATALOG_REFRESH_SECONDS) and recorded
// as a provision operation.
func (s *Service) ProvisionHost(ctx context.Context, r ProvisionRequest) (ProvisionResponse, error) {
	conn, err := s.guacConnection(ctx, r.ConnectionID)
	if err != nil {
		return ProvisionResponse{}, err
	}
	if s.Store == nil {
		return ProvisionResponse{}, Errorf(CodeDBNotConfigured, "Database not configured: provisioned hosts are kept in the database")
	}
	if err := checkLabs(r.Labs, r.ValidLabIDs); err != nil {
		return ProvisionResponse{}, err
	}
	d := s.discover(ctx, conn)
	if !slices.Contains(enoughSignal, d.Status) {
		return ProvisionResponse{}, Errorf(CodeDiscoveryInsufficient,
			"insufficient discovery signal for ops host provisioning (discovery status: %s)", d.Status)
	}
	fields := provisionFields(r, d.OpsHostDraft)
	entry, err := s.provisionEntry(fields)
	if err != nil {
		return ProvisionResponse{}, err
	}
	if _, err := hosts.CheckDatabaseEntry(entry, hosts.Options{StationPrefixes: s.Settings.StationPrefixes}); err != nil {
		return ProvisionResponse{}, Wrap(CodeInvalidField, "host entry refused: "+oneLine(err.Error(), maxReasonInMessage), err)
	}
	start := s.now()
	h, err := s.Registry.Add(ctx, entry, firstNonEmptyString(r.Actor, "api"))
	if err != nil {
		return ProvisionResponse{}, provisionError(fields["name"], err)
	}
	s.recordHostOp(ctx, h, ActionProvision, true, 200, "Host provisioned from Guacamole connection "+strconv.FormatInt(conn.ID, 10),
		s.now().Sub(start), map[string]any{"connectionId": conn.ID, "discoveryStatus": d.Status, "address": h.Address})
	s.log().InfoContext(ctx, "host provisioned", "host", h.Name, "address", h.Address, "discovery_status", d.Status)
	return ProvisionResponse{Provisioned: true, Hosts: s.Catalog(ctx).Len(), DiscoveryStatus: d.Status,
		Host: ProvisionedHost{Name: h.Name, Address: h.Address, CredentialRef: h.CredentialRef, MAC: optional(h.MAC),
			Labs: h.Labs, Source: h.Source, WinRMConfigured: s.credentials().WinRMConfigured(ctx, h)}}, nil
}

// provisionFields are the entry's fields: the request's, else the draft's.
func provisionFields(r ProvisionRequest, d *HostDraft) map[string]any {
	address := firstNonEmptyString(r.Address, d.Address)
	f := map[string]any{
		"name":            firstNonEmptyString(r.Name, d.Name),
		"address":         address,
		"credential_ref":  firstNonEmptyString(r.CredentialRef, address),
		"winrm_transport": firstNonEmptyString(r.WinRMTransport, d.WinRMTransport),
		"winrm_use_ssl":   true,
		"winrm_port":      d.WinRMPort,
		"heartbeat_path":  firstNonEmptyString(r.HeartbeatPath, d.HeartbeatPath),
		"events_path":     firstNonEmptyString(r.EventsPath, d.EventsPath),
		"labs":            r.Labs,
	}
	if r.Labs == nil {
		f["labs"] = []string{}
	}
	if mac := firstNonEmptyString(r.MAC, d.MAC); mac != "" {
		f["mac"] = mac
	}
	return f
}

// provisionEntry is fields over the provisioning defaults, as one
// hosts.json entry.
func (s *Service) provisionEntry(fields map[string]any) (json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	for k, v := range s.provisionSettings().Defaults {
		m[k] = v
	}
	for k, v := range fields {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, Wrap(CodeInternal, "host entry", err)
		}
		m[k] = b
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, Wrap(CodeInternal, "host entry", err)
	}
	return b, nil
}

// provisionError maps the catalog's refusals to the contract.
func provisionError(name any, err error) error {
	if errors.Is(err, hosts.ErrHostExists) {
		return Wrap(CodeHostExists, fmt.Sprintf("host %s already exists", quoteName(fmt.Sprint(name))), err)
	}
	return Wrap(CodeInternal, "provision host", err)
}

// checkLabs refuses labs outside validLabIds when the page sent them.
func checkLabs(labs, valid []string) error {
	if valid == nil {
		return nil
	}
	if len(valid) == 0 {
		return Errorf(CodeInvalidField, "validLabIds must contain at least one lab candidate when provided")
	}
	var bad []string
	for _, l := range labs {
		if !slices.Contains(valid, l) {
			bad = append(bad, l)
		}
	}
	if len(bad) > 0 {
		return Errorf(CodeInvalidField, "labs contain values that are not valid candidates: %s", quoteName(strings.Join(bad, ", ")))
	}
	return nil
}

// SaveWinRMCredentials is POST /api/hosts/winrm-credentials: write-only;
// the answer and the log name the reference, never the secret.
func (s *Service) SaveWinRMCredentials(ctx context.Context, r WinRMCredentialsRequest) (WinRMCredentialsResponse, error) {
	switch {
	case strings.TrimSpace(r.CredentialRef) == "":
		return WinRMCredentialsResponse{}, Errorf(CodeBadRequest, "credentialRef is required")
	case strings.TrimSpace(r.User) == "":
		return WinRMCredentialsResponse{}, Errorf(CodeBadRequest, "user is required")
	case r.Password.IsZero():
		return WinRMCredentialsResponse{}, Errorf(CodeBadRequest, "password is required")
	}
	if _, err := hosts.NormalizeCredentialRef(r.CredentialRef); err != nil {
		return WinRMCredentialsResponse{}, Errorf(CodeInvalidField, "credentialRef %s", err)
	}
	if s.Store == nil || s.CredentialStore == nil {
		return WinRMCredentialsResponse{}, Errorf(CodeDBNotConfigured, "Database not configured: credentials are kept in the database")
	}
	start := time.Now()
	ref, err := s.CredentialStore.SaveWinRM(ctx, r.CredentialRef, strings.TrimSpace(r.User), r.Password, firstNonEmptyString(r.Actor, "api"))
	if err != nil {
		return WinRMCredentialsResponse{}, credentialError(err)
	}
	s.log().InfoContext(ctx, "winrm credentials saved", "credential_ref", ref, "duration_ms", time.Since(start).Milliseconds())
	return WinRMCredentialsResponse{Saved: true, CredentialRef: ref, Hosts: s.Catalog(ctx).Len()}, nil
}

// credentialError maps the credential store's refusals to the contract;
// its messages hold no secret (internal/credentials).
func credentialError(err error) error {
	switch {
	case errors.Is(err, credentials.ErrInvalid):
		return Wrap(CodeInvalidField, "Invalid WinRM credentials request: "+oneLine(err.Error(), maxReasonInMessage), err)
	case errors.Is(err, credentials.ErrNoKey):
		return Wrap(CodeSecretsNotConfigured, credentials.ErrNoKey.Error(), err)
	case errors.Is(err, credentials.ErrNoDatabase):
		return Wrap(CodeDBNotConfigured, "Database not configured: credentials are kept in the database", err)
	}
	return Wrap(CodeInternal, "save credentials", fmt.Errorf("credential store: %w", err))
}

func (s *Service) provisionSettings() ProvisionSettings {
	ps := s.Settings.Provision
	if len(ps.HeartbeatPaths) == 0 {
		ps.HeartbeatPaths = []string{hosts.DefaultHeartbeatPath}
	}
	if ps.WinRMPort == 0 {
		ps.WinRMPort = 5986
	}
	return ps
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func firstOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func firstNonEmptyString(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

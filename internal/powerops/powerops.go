// Package powerops is the use cases of power control (issue 18): the
// controller catalog and lab policies in the database, write-only power
// credentials, the executor that switches one outlet exactly once per
// idempotency key, a lab's policy phase, manual outlet commands and
// controller discovery. Answers and errors are GATEWAY.md section 2's;
// errors are *ops.Error values, so the HTTP layer maps them as every other
// use case's.
package powerops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ops-worker/ops-worker/internal/credentials"
	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/power"
)

// Store is what the use cases need of the database (*store.Store has it).
type Store interface {
	PowerControllers(ctx context.Context) ([]domain.PowerControllerRecord, error)
	PowerController(ctx context.Context, id string) (domain.PowerControllerRecord, error)
	InsertPowerController(ctx context.Context, r domain.PowerControllerRecord) error
	UpdatePowerController(ctx context.Context, r domain.PowerControllerRecord) error
	PowerPolicies(ctx context.Context) ([]domain.PowerPolicyRecord, error)
	PutPowerPolicy(ctx context.Context, r domain.PowerPolicyRecord) error
	ClaimPowerOperation(ctx context.Context, op domain.PowerOperation) (bool, *domain.PowerOperation, error)
	FinishPowerOperation(ctx context.Context, op domain.PowerOperation) error
	PowerOperations(ctx context.Context, reservationID string, limit int) ([]domain.PowerOperation, error)
}

// Credentials is the credential store's power side (*credentials.Service).
type Credentials interface {
	Power(ctx context.Context, ref string) (string, map[string]string, error)
	SavePower(ctx context.Context, ref, typ string, creds map[string]any, overwrite bool, actor string) (credentials.Meta, bool, error)
	List(ctx context.Context, kind string) ([]credentials.Meta, error)
}

// DriverFactory builds the driver of a controller from its catalog entry
// and its credential (credType "" and creds nil when the controller names
// none). The integrator plugs the real drivers' factory in.
type DriverFactory func(ctl power.Controller, credType string, creds map[string]string) (power.Driver, error)

// Options configure New.
type Options struct {
	Store Store // required
	// Credentials resolves controllers' credentialRef and serves the
	// credential routes; nil: those answer 503 and only controllers
	// without a credentialRef can be driven.
	Credentials Credentials
	// Drivers builds the drivers; nil: only "mock" controllers work, with
	// the package's in-memory mock (state kept for the Service's life).
	Drivers DriverFactory
	// Remote, when set, is asked first for a controller's driver: a
	// controller it answers for (one behind a relay) is driven there, with
	// the credential of the relay's own configuration, so none is looked
	// up here.
	Remote func(power.Controller) (power.Driver, bool)
	Logger *slog.Logger
	// Sleep waits d or until ctx ends (delays, tests); nil: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// DiscoveryTimeout bounds each controller's Describe and Outlets in
	// the controller list; 0: 3 s.
	DiscoveryTimeout time.Duration
	// Observer is told of every executed step and every outlet state
	// read (metrics); nil: nothing.
	Observer Observer
}

// Service runs the power use cases.
type Service struct {
	opts  Options
	log   *slog.Logger
	mu    sync.Mutex
	mocks map[string]*memDriver
}

// New returns the Service of opts.
func New(opts Options) *Service {
	if opts.Store == nil {
		panic("powerops.New: Options.Store is nil")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.DiscoveryTimeout <= 0 {
		opts.DiscoveryTimeout = 3 * time.Second
	}
	return &Service{opts: opts, log: opts.Logger, mocks: map[string]*memDriver{}}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Capabilities is what a driver can do (the older worker's names).
type Capabilities struct {
	PerOutletSwitching bool `json:"perOutletSwitching"`
	ReadBackState      bool `json:"readBackState"`
	PowerCycle         bool `json:"powerCycle"`
	DelayedActions     bool `json:"delayedActions"`
	AggregateMetering  bool `json:"aggregateMetering"`
	PerOutletMetering  bool `json:"perOutletMetering"`
	SNMPv1             bool `json:"snmpV1"`
	SNMPv2c            bool `json:"snmpV2c"`
	SNMPv3             bool `json:"snmpV3"`
	HTTPSAPI           bool `json:"httpsApi"`
	MQTT               bool `json:"mqtt"`
	ModbusTCP          bool `json:"modbusTcp"`
}

// CapabilitiesOf is a driver's capabilities.
func CapabilitiesOf(driver string) Capabilities {
	c := Capabilities{PerOutletSwitching: true, ReadBackState: true, PowerCycle: true}
	switch driver {
	case power.DriverAPC:
		c.SNMPv1, c.SNMPv2c, c.SNMPv3 = true, true, true
	case power.DriverNetio:
		c.HTTPSAPI = true
	}
	return c
}

// Discovery is a controller's reachability as the list last probed it.
type Discovery struct {
	Reachable bool   `json:"reachable"`
	ErrorCode string `json:"errorCode,omitempty"`
	Model     string `json:"model,omitempty"`
	Firmware  string `json:"firmware,omitempty"`
	Profile   string `json:"profile,omitempty"`
}

// OutletView is an outlet with its state as read.
type OutletView struct {
	power.Outlet
	State string `json:"state"`
}

// ControllerView is one controller of GET /api/power/controllers.
type ControllerView struct {
	ID            string       `json:"id"`
	Name          string       `json:"name"`
	Driver        string       `json:"driver"`
	Enabled       bool         `json:"enabled"`
	Host          string       `json:"host,omitempty"`
	Port          int          `json:"port,omitempty"`
	CredentialRef string       `json:"credentialRef,omitempty"`
	Config        power.Config `json:"config"`
	Capabilities  Capabilities `json:"capabilities"`
	Discovery     Discovery    `json:"discovery"`
	Outlets       []OutletView `json:"outlets"`
}

// ControllersResponse is GET /api/power/controllers.
type ControllersResponse struct {
	Success     bool             `json:"success"`
	Controllers []ControllerView `json:"controllers"`
}

// ControllerResponse is POST and PUT /api/power/controllers.
type ControllerResponse struct {
	Success    bool           `json:"success"`
	Controller ControllerView `json:"controller"`
	// Created: a POST's 201 (not in the body).
	Created bool `json:"-"`
}

// HTTPStatus is 201 for a created controller, else 200.
func (r ControllerResponse) HTTPStatus() int {
	if r.Created {
		return 201
	}
	return 200
}

func storeErr(what string, err error) error {
	return ops.Wrap(ops.CodeInternal, what, err)
}

// catalog reads every controller; a row that no longer validates is
// skipped with a log line (it cannot be driven), never a 500 for the list.
func (s *Service) catalog(ctx context.Context) ([]power.Controller, error) {
	rows, err := s.opts.Store.PowerControllers(ctx)
	if err != nil {
		return nil, storeErr("read power controllers", err)
	}
	out := make([]power.Controller, 0, len(rows))
	for _, r := range rows {
		c, err := power.ParseController(r.Body)
		if err != nil {
			s.log.WarnContext(ctx, "power controller row invalid, skipped", "controller", r.ID, "err", err)
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

func (s *Service) controller(ctx context.Context, id string) (power.Controller, error) {
	r, err := s.opts.Store.PowerController(ctx, id)
	if errors.Is(err, domain.ErrPowerControllerNotFound) {
		return power.Controller{}, ops.Errorf(ops.CodePowerControllerNotFound, "power controller '%s' not found", clip(id, 128))
	}
	if err != nil {
		return power.Controller{}, storeErr("read power controller", err)
	}
	c, err := power.ParseController(r.Body)
	if err != nil {
		return power.Controller{}, ops.Wrap(ops.CodeInternal, "stored power controller is invalid", err)
	}
	return c, nil
}

// CatalogController returns controller id as the catalog holds it, without
// probing the device; ok false when the catalog has none (ids compare as
// the database does). A stored row that no longer validates is an error.
func (s *Service) CatalogController(ctx context.Context, id string) (power.Controller, bool, error) {
	c, err := s.controller(ctx, id)
	var oe *ops.Error
	if errors.As(err, &oe) && oe.Code == ops.CodePowerControllerNotFound {
		return power.Controller{}, false, nil
	}
	if err != nil {
		return power.Controller{}, false, err
	}
	return c, true, nil
}

func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// Controllers lists the catalog with each controller probed (Describe and
// outlet states, DiscoveryTimeout each, all at once).
func (s *Service) Controllers(ctx context.Context) (ControllersResponse, error) {
	cs, err := s.catalog(ctx)
	if err != nil {
		return ControllersResponse{}, err
	}
	views := make([]ControllerView, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			views[i] = s.view(ctx, c, true)
		}()
	}
	wg.Wait()
	return ControllersResponse{Success: true, Controllers: views}, nil
}

// view is c as answered; with probe, its discovery and outlet states.
func (s *Service) view(ctx context.Context, c power.Controller, probe bool) ControllerView {
	v := ControllerView{ID: c.ID, Name: c.Name, Driver: c.Driver, Enabled: c.Enabled, Host: c.Host, Port: c.Port,
		CredentialRef: c.CredentialRef, Config: c.Config, Capabilities: CapabilitiesOf(c.Driver)}
	states := map[string]string{}
	if probe && c.Enabled {
		v.Discovery, states = s.discover(ctx, c)
	} else if !c.Enabled {
		v.Discovery.ErrorCode = "disabled"
	}
	v.Outlets = make([]OutletView, len(c.Outlets))
	for i, o := range c.Outlets {
		st := states[o.Outlet]
		if st == "" {
			st = power.StateUnknown
		}
		v.Outlets[i] = OutletView{Outlet: o, State: st}
		if probe && c.Enabled {
			// Only the catalog's outlets: a device's extra outlets are
			// not series (bounded cardinality).
			s.observeState(c.ID, o.Outlet, st)
		}
	}
	return v
}

func (s *Service) discover(ctx context.Context, c power.Controller) (Discovery, map[string]string) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.DiscoveryTimeout)
	defer cancel()
	d, err := s.driver(ctx, c)
	if err != nil {
		return Discovery{ErrorCode: codeOr(err, power.CodeConfig)}, nil
	}
	desc, err := d.Describe(ctx)
	if err != nil {
		s.log.InfoContext(ctx, "power controller not reachable", "controller", c.ID, "code", codeOr(err, power.CodeUnreachable), "err", err)
		return Discovery{ErrorCode: codeOr(err, power.CodeUnreachable)}, nil
	}
	out := Discovery{Reachable: true, Model: clip(desc.Model, 128), Firmware: clip(desc.Firmware, 64), Profile: clip(desc.Profile, 32)}
	states := map[string]string{}
	outs, err := d.Outlets(ctx)
	if err != nil {
		out.ErrorCode = codeOr(err, power.CodeUnreachable)
		return out, states
	}
	for _, o := range outs {
		states[o.Outlet] = normState(o.State)
	}
	return out, states
}

func normState(s string) string {
	switch s {
	case power.StateOn, power.StateOff:
		return s
	}
	return power.StateUnknown
}

func codeOr(err error, def string) string {
	if c := power.CodeOf(err); c != "" {
		return c
	}
	return def
}

// driver builds c's driver: its credential resolved, then the factory (or
// the in-memory mock).
func (s *Service) driver(ctx context.Context, c power.Controller) (power.Driver, error) {
	if s.opts.Remote != nil {
		if d, ok := s.opts.Remote(c); ok {
			return d, nil
		}
	}
	var typ string
	var creds map[string]string
	if c.CredentialRef != "" {
		if s.opts.Credentials == nil {
			return nil, power.Errorf(power.CodeConfig, "controller %s names a credential but no credential store is configured", c.ID)
		}
		t, m, err := s.opts.Credentials.Power(ctx, c.CredentialRef)
		if err != nil {
			// The store's error names the reference, never the secret.
			if errors.Is(err, credentials.ErrNotFound) {
				return nil, &power.Error{Code: power.CodeAuth, Message: "power credential " + c.CredentialRef + " not found"}
			}
			return nil, &power.Error{Code: power.CodeConfig, Message: "power credential " + c.CredentialRef + " unreadable", Err: err}
		}
		typ, creds = t, m
	}
	if s.opts.Drivers != nil {
		d, err := s.opts.Drivers(c, typ, creds)
		if err != nil {
			if power.CodeOf(err) == "" {
				return nil, &power.Error{Code: power.CodeConfig, Message: "driver for controller " + c.ID + " could not be built", Err: err}
			}
			return nil, err
		}
		return d, nil
	}
	if c.Driver != power.DriverMock {
		return nil, power.Errorf(power.CodeConfig, "driver %s is not available in this build (only mock)", c.Driver)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mocks[c.ID]
	if m == nil {
		m = newMemDriver(c, s.opts.Sleep)
		s.mocks[c.ID] = m
	}
	return m, nil
}

// CreateController validates raw (power.ParseController) and adds it.
func (s *Service) CreateController(ctx context.Context, raw json.RawMessage, actor string) (ControllerResponse, error) {
	c, err := parseController(raw)
	if err != nil {
		return ControllerResponse{}, err
	}
	body, err := json.Marshal(c)
	if err != nil {
		return ControllerResponse{}, ops.Wrap(ops.CodeInternal, "encode controller", err)
	}
	err = s.opts.Store.InsertPowerController(ctx, domain.PowerControllerRecord{ID: c.ID, Body: body, CreatedBy: actorOf(actor)})
	if errors.Is(err, domain.ErrPowerControllerExists) {
		return ControllerResponse{}, ops.Wrap(ops.CodePowerControllerExists, fmt.Sprintf("power controller '%s' already exists", c.ID), err)
	}
	if err != nil {
		return ControllerResponse{}, storeErr("add power controller", err)
	}
	s.forgetMock(c.ID)
	s.log.InfoContext(ctx, "power controller added", "controller", c.ID, "driver", c.Driver, "by", actorOf(actor))
	return ControllerResponse{Success: true, Controller: s.view(ctx, c, false), Created: true}, nil
}

// UpdateController replaces controller id with raw; the body's id, when
// given, must be id.
func (s *Service) UpdateController(ctx context.Context, id string, raw json.RawMessage, actor string) (ControllerResponse, error) {
	c, err := parseController(raw)
	if err != nil {
		var oe *ops.Error
		// A body without an id takes the path's.
		if errors.As(err, &oe) && strings.Contains(oe.Message, "id is required") {
			c, err = parseController(withField(raw, "id", id))
		}
		if err != nil {
			return ControllerResponse{}, err
		}
	}
	if c.ID != id {
		return ControllerResponse{}, ops.Errorf(ops.CodePowerConfigInvalid, "%s: the body's id differs from the path's", power.ErrInvalidConfig)
	}
	body, err := json.Marshal(c)
	if err != nil {
		return ControllerResponse{}, ops.Wrap(ops.CodeInternal, "encode controller", err)
	}
	err = s.opts.Store.UpdatePowerController(ctx, domain.PowerControllerRecord{ID: c.ID, Body: body, UpdatedBy: actorOf(actor)})
	if errors.Is(err, domain.ErrPowerControllerNotFound) {
		return ControllerResponse{}, ops.Errorf(ops.CodePowerControllerNotFound, "power controller '%s' not found", clip(id, 128))
	}
	if err != nil {
		return ControllerResponse{}, storeErr("update power controller", err)
	}
	s.forgetMock(c.ID)
	s.log.InfoContext(ctx, "power controller updated", "controller", c.ID, "driver", c.Driver, "by", actorOf(actor))
	return ControllerResponse{Success: true, Controller: s.view(ctx, c, false)}, nil
}

func (s *Service) forgetMock(id string) {
	s.mu.Lock()
	delete(s.mocks, id)
	s.mu.Unlock()
}

// withField is raw (an object) with key set to v; raw unchanged if it is
// not an object.
func withField(raw json.RawMessage, key, v string) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return raw
	}
	b, _ := json.Marshal(v)
	m[key] = b
	out, err := json.Marshal(m)
	if err != nil {
		return raw
	}
	return out
}

func parseController(raw json.RawMessage) (power.Controller, error) {
	c, err := power.ParseController(raw)
	if err != nil {
		return power.Controller{}, ops.Wrap(ops.CodePowerConfigInvalid, err.Error(), err)
	}
	return c, nil
}

func actorOf(a string) string {
	a = strings.TrimSpace(a)
	if a == "" {
		return "lab-manager"
	}
	return clip(a, 120)
}

// CredentialView is a power credential as listed: reference and type only.
type CredentialView struct {
	CredentialRef string `json:"credentialRef"`
	Type          string `json:"type"`
}

// CredentialsResponse is GET /api/power/credentials.
type CredentialsResponse struct {
	Success     bool             `json:"success"`
	Credentials []CredentialView `json:"credentials"`
}

// SaveCredentialRequest is POST /api/power/credentials.
type SaveCredentialRequest struct {
	CredentialRef string
	Type          string
	Credentials   map[string]any
	Overwrite     bool
	Actor         string
}

// SaveCredentialResponse answers it: 201 new, 200 rotated.
type SaveCredentialResponse struct {
	Success         bool           `json:"success"`
	Credential      CredentialView `json:"credential"`
	Rotated         bool           `json:"rotated"`
	RuntimeReloaded bool           `json:"runtimeReloaded"`
}

// HTTPStatus is 200 for a rotated credential, 201 for a new one.
func (r SaveCredentialResponse) HTTPStatus() int {
	if r.Rotated {
		return 200
	}
	return 201
}

var errNoCredentials = ops.Errorf(ops.CodeSecretsNotConfigured, "Credential store not configured")

// PowerCredentials lists the power credentials (never their secrets).
func (s *Service) PowerCredentials(ctx context.Context) (CredentialsResponse, error) {
	if s.opts.Credentials == nil {
		return CredentialsResponse{}, errNoCredentials
	}
	ms, err := s.opts.Credentials.List(ctx, domain.CredentialKindPower)
	if err != nil {
		return CredentialsResponse{}, credErr(err)
	}
	out := CredentialsResponse{Success: true, Credentials: make([]CredentialView, 0, len(ms))}
	for _, m := range ms {
		out.Credentials = append(out.Credentials, CredentialView{CredentialRef: m.CredentialRef, Type: m.Type})
	}
	return out, nil
}

// SavePowerCredential validates and stores a credential. Every controller
// resolves its credential at each use, so a rotation is live at once
// (runtimeReloaded).
func (s *Service) SavePowerCredential(ctx context.Context, req SaveCredentialRequest) (SaveCredentialResponse, error) {
	if s.opts.Credentials == nil {
		return SaveCredentialResponse{}, errNoCredentials
	}
	if strings.TrimSpace(req.CredentialRef) == "" {
		return SaveCredentialResponse{}, ops.Errorf(ops.CodeBadRequest, "credentialRef is required")
	}
	if _, err := hosts.NormalizeCredentialRef(req.CredentialRef); err != nil {
		return SaveCredentialResponse{}, ops.Errorf(ops.CodeInvalidField, "credentialRef %s", err)
	}
	meta, rotated, err := s.opts.Credentials.SavePower(ctx, req.CredentialRef, req.Type, req.Credentials, req.Overwrite, actorOf(req.Actor))
	if err != nil {
		return SaveCredentialResponse{}, credErr(err)
	}
	return SaveCredentialResponse{Success: true, Credential: CredentialView{CredentialRef: meta.CredentialRef, Type: meta.Type},
		Rotated: rotated, RuntimeReloaded: true}, nil
}

func credErr(err error) error {
	switch {
	case errors.Is(err, credentials.ErrInvalid):
		// The credential package's messages name fields, never values.
		return ops.Wrap(ops.CodeInvalidField, err.Error(), err)
	case errors.Is(err, credentials.ErrExists):
		return ops.Wrap(ops.CodeCredentialExists, "credential already exists (send overwrite: true to rotate it)", err)
	case errors.Is(err, credentials.ErrNoKey):
		return ops.Wrap(ops.CodeSecretsNotConfigured, "Credential store has no key (OPS_SECRETS_KEY)", err)
	}
	return ops.Wrap(ops.CodeInternal, "credential store", err)
}

// PoliciesResponse is GET /api/power/policies.
type PoliciesResponse struct {
	Success  bool           `json:"success"`
	Policies []power.Policy `json:"policies"`
}

// PolicyResponse is PUT /api/power/policies/{labId}.
type PolicyResponse struct {
	Success bool         `json:"success"`
	Policy  power.Policy `json:"policy"`
}

func (s *Service) policies(ctx context.Context) ([]power.Policy, error) {
	rows, err := s.opts.Store.PowerPolicies(ctx)
	if err != nil {
		return nil, storeErr("read power policies", err)
	}
	out := make([]power.Policy, 0, len(rows))
	for _, r := range rows {
		var p power.Policy
		if err := json.Unmarshal(r.Body, &p); err != nil {
			s.log.WarnContext(ctx, "power policy row invalid, skipped", "lab", r.LabID, "err", err)
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// Policies lists every lab's policy.
func (s *Service) Policies(ctx context.Context) (PoliciesResponse, error) {
	ps, err := s.policies(ctx)
	if err != nil {
		return PoliciesResponse{}, err
	}
	return PoliciesResponse{Success: true, Policies: ps}, nil
}

// PutPolicy validates raw against the catalog and stores it as labID's
// policy; the body's labId, when given, must be labID.
func (s *Service) PutPolicy(ctx context.Context, labID string, raw json.RawMessage, actor string) (PolicyResponse, error) {
	cs, err := s.catalog(ctx)
	if err != nil {
		return PolicyResponse{}, err
	}
	var probe struct {
		LabID json.RawMessage `json:"labId"`
	}
	if json.Unmarshal(raw, &probe) == nil && len(probe.LabID) == 0 {
		raw = withField(raw, "labId", labID)
	}
	p, err := power.ParsePolicy(raw, cs)
	if err != nil {
		return PolicyResponse{}, ops.Wrap(ops.CodePowerConfigInvalid, err.Error(), err)
	}
	if p.LabID != labID {
		return PolicyResponse{}, ops.Errorf(ops.CodePowerConfigInvalid, "%s: the body's labId differs from the path's", power.ErrInvalidPolicy)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return PolicyResponse{}, ops.Wrap(ops.CodeInternal, "encode policy", err)
	}
	if err := s.opts.Store.PutPowerPolicy(ctx, domain.PowerPolicyRecord{LabID: p.LabID, Body: body, UpdatedBy: actorOf(actor)}); err != nil {
		return PolicyResponse{}, storeErr("put power policy", err)
	}
	s.log.InfoContext(ctx, "power policy saved", "lab", p.LabID, "policy", p.PolicyName, "steps", len(p.Steps), "by", actorOf(actor))
	return PolicyResponse{Success: true, Policy: p}, nil
}

// Policy returns labID's policy; ok false when the lab has none.
func (s *Service) Policy(ctx context.Context, labID string) (power.Policy, bool, error) {
	ps, err := s.policies(ctx)
	if err != nil {
		return power.Policy{}, false, err
	}
	for _, p := range ps {
		if p.LabID == labID {
			return p, true, nil
		}
	}
	return power.Policy{}, false, nil
}

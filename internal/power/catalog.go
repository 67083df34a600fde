package power

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/netaddr"
)

// Driver names of the catalog (Controller.Driver).
const (
	DriverMock  = "mock"
	DriverAPC   = "apc-powernet-snmp"
	DriverNetio = "netio-json"
)

// Drivers are the driver names a controller may name.
var Drivers = []string{DriverMock, DriverAPC, DriverNetio}

// Phases of a policy step (GATEWAY.md section 3), a closed set.
const (
	PhasePreStart      = "pre_start"
	PhaseStart         = "start"
	PhasePostStart     = "post_start"
	PhasePreEnd        = "pre_end"
	PhaseEnd           = "end"
	PhasePostEnd       = "post_end"
	PhaseManual        = "manual"
	PhaseMaintenance   = "maintenance"
	PhaseEmergencyStop = "emergency_stop"
)

// Phases is the closed set of phases.
var Phases = []string{PhasePreStart, PhaseStart, PhasePostStart, PhasePreEnd, PhaseEnd, PhasePostEnd, PhaseManual, PhaseMaintenance, PhaseEmergencyStop}

// Actions of a step.
const (
	ActionOn    = "on"
	ActionOff   = "off"
	ActionCycle = "cycle"
)

// Failure modes of a policy.
const (
	FailReservationStart = "fail_reservation_start"
	WarnAndContinue      = "warn_and_continue"
)

// Bounds and defaults, the older worker's (power/models.py).
const (
	DefaultOffSeconds     = 10
	MaxOffSeconds         = 3600
	MaxDelaySeconds       = 3600
	DefaultTimeoutSeconds = 20
	MaxTimeoutSeconds     = 300
	MaxRetryCount         = 5
	MaxSequence           = 1_000_000
	maxID                 = 128
	maxName               = 160
	maxOutletKey          = 64
	maxOutlets            = 256
	maxSteps              = 256
)

// ErrInvalidConfig is the message GATEWAY.md gives a controller refused:
// every controller validation error wraps it (errors.Is).
var ErrInvalidConfig = errors.New("Power controller configuration is invalid") //nolint:staticcheck // the page shows it as is

// ErrInvalidPolicy wraps every policy validation error.
var ErrInvalidPolicy = errors.New("Power policy is invalid") //nolint:staticcheck // the page shows it as is

// Config is a controller's driver settings. It never holds a secret: those
// live in the credential store under Controller.CredentialRef.
type Config struct {
	// Profile (apc-powernet-snmp): "auto" (default), "rpdu2" or "legacy".
	Profile string `json:"profile,omitempty"`
	// SNMPVersion (apc-powernet-snmp): v1, v2c or v3; empty: the
	// credential's type says.
	SNMPVersion    string `json:"snmpVersion,omitempty"`
	TimeoutSeconds int    `json:"timeoutSeconds,omitempty"`
	Retries        int    `json:"retries,omitempty"`
	// ModuleIndex (rPDU2): the PDU in a daisy chain, 1 by default.
	ModuleIndex int `json:"moduleIndex,omitempty"`
	// Path (netio-json): the JSON endpoint, "/netio.json" by default.
	Path      string `json:"path,omitempty"`
	UseHTTPS  bool   `json:"useHttps"`
	VerifyTLS *bool  `json:"verifyTls,omitempty"`
}

// Outlet is one outlet of a controller in the catalog.
type Outlet struct {
	Outlet       string `json:"outlet"`
	DisplayName  string `json:"displayName,omitempty"`
	LogicalName  string `json:"logicalName,omitempty"`
	Protected    bool   `json:"protected"`
	Critical     bool   `json:"critical"`
	DefaultState string `json:"defaultState"`
}

// Controller is one power strip of the catalog.
type Controller struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	Driver        string   `json:"driver"`
	Enabled       bool     `json:"enabled"`
	Host          string   `json:"host,omitempty"`
	Port          int      `json:"port,omitempty"`
	CredentialRef string   `json:"credentialRef,omitempty"`
	Config        Config   `json:"config"`
	Outlets       []Outlet `json:"outlets"`
}

// Outlet returns the controller's outlet of key, ok false when none.
func (c Controller) Outlet(key string) (Outlet, bool) {
	for _, o := range c.Outlets {
		if o.Outlet == key {
			return o, true
		}
	}
	return Outlet{}, false
}

// Step is one step of a lab's policy.
type Step struct {
	ID                 string `json:"id,omitempty"`
	Phase              string `json:"phase"`
	Sequence           int    `json:"sequence"`
	ControllerID       string `json:"controllerId"`
	Outlet             string `json:"outlet"`
	LogicalName        string `json:"logicalName,omitempty"`
	Action             string `json:"action"`
	DesiredState       string `json:"desiredState,omitempty"`
	Required           bool   `json:"required"`
	ReadBackRequired   bool   `json:"readBackRequired"`
	OffSeconds         int    `json:"offSeconds"`
	DelayBeforeSeconds int    `json:"delayBeforeSeconds"`
	DelayAfterSeconds  int    `json:"delayAfterSeconds"`
	TimeoutSeconds     int    `json:"timeoutSeconds"`
	RetryCount         int    `json:"retryCount"`
	AllowProtected     bool   `json:"allowProtected"`
}

// Policy is a lab's power policy.
type Policy struct {
	LabID            string `json:"labId"`
	PolicyName       string `json:"policyName"`
	Enabled          bool   `json:"enabled"`
	RespectLocalMode bool   `json:"respectLocalMode"`
	MaintenanceMode  bool   `json:"maintenanceMode"`
	StartFailureMode string `json:"startFailureMode"`
	EndFailureMode   string `json:"endFailureMode"`
	Steps            []Step `json:"steps"`
}

// StepsFor returns the steps of phase ordered by sequence.
func (p Policy) StepsFor(phase string) []Step {
	var out []Step
	for _, s := range p.Steps {
		if s.Phase == phase {
			out = append(out, s)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Sequence < out[j].Sequence })
	return out
}

// wire forms: pointers tell an absent field (a default) from a zero one.

type configWire struct {
	Profile        *string `json:"profile"`
	SNMPVersion    *string `json:"snmpVersion"`
	TimeoutSeconds *int    `json:"timeoutSeconds"`
	Retries        *int    `json:"retries"`
	ModuleIndex    *int    `json:"moduleIndex"`
	Path           *string `json:"path"`
	UseHTTPS       *bool   `json:"useHttps"`
	VerifyTLS      *bool   `json:"verifyTls"`
}

type outletWire struct {
	Outlet       json.RawMessage `json:"outlet"`
	DisplayName  *string         `json:"displayName"`
	LogicalName  *string         `json:"logicalName"`
	Protected    *bool           `json:"protected"`
	Critical     *bool           `json:"critical"`
	DefaultState *string         `json:"defaultState"`
	State        *string         `json:"state"` // a GET answer sent back: ignored
}

type controllerWire struct {
	ID            *string         `json:"id"`
	Name          *string         `json:"name"`
	Driver        *string         `json:"driver"`
	Enabled       *bool           `json:"enabled"`
	Host          *string         `json:"host"`
	Port          *int            `json:"port"`
	CredentialRef *string         `json:"credentialRef"`
	Config        json.RawMessage `json:"config"`
	Outlets       []outletWire    `json:"outlets"`
	// What a GET answer adds, tolerated when the page sends it back.
	Capabilities json.RawMessage `json:"capabilities"`
	Discovery    json.RawMessage `json:"discovery"`
}

type stepWire struct {
	ID                 *string         `json:"id"`
	Phase              *string         `json:"phase"`
	Sequence           *int            `json:"sequence"`
	ControllerID       *string         `json:"controllerId"`
	Outlet             json.RawMessage `json:"outlet"`
	LogicalName        *string         `json:"logicalName"`
	Action             *string         `json:"action"`
	DesiredState       *string         `json:"desiredState"`
	Required           *bool           `json:"required"`
	ReadBackRequired   *bool           `json:"readBackRequired"`
	OffSeconds         *int            `json:"offSeconds"`
	DelayBeforeSeconds *int            `json:"delayBeforeSeconds"`
	DelayAfterSeconds  *int            `json:"delayAfterSeconds"`
	TimeoutSeconds     *int            `json:"timeoutSeconds"`
	RetryCount         *int            `json:"retryCount"`
	AllowProtected     *bool           `json:"allowProtected"`
}

type policyWire struct {
	LabID            json.RawMessage `json:"labId"`
	PolicyName       *string         `json:"policyName"`
	Enabled          *bool           `json:"enabled"`
	RespectLocalMode *bool           `json:"respectLocalMode"`
	MaintenanceMode  *bool           `json:"maintenanceMode"`
	StartFailureMode *string         `json:"startFailureMode"`
	EndFailureMode   *string         `json:"endFailureMode"`
	Steps            []stepWire      `json:"steps"`
}

// secretLike matches a config field name that would carry a secret.
var secretLike = regexp.MustCompile(`(?i)(community|password|passwd|passphrase|secret|token|key|credential|auth|priv)`)

// configFields are the fields Config knows.
var configFields = []string{"profile", "snmpVersion", "timeoutSeconds", "retries", "moduleIndex", "path", "useHttps", "verifyTls"}

func strictDecode(raw []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more than one JSON value")
	}
	return nil
}

func cfgErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}

func polErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidPolicy, fmt.Sprintf(format, args...))
}

// jsonReason names what is wrong in a decoding error without echoing
// values (the body may hold a secret in the wrong place).
func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field '%s' has the wrong type", te.Field)
	}
	if s := err.Error(); strings.HasPrefix(s, "json: unknown field ") {
		name := strings.Trim(strings.TrimPrefix(s, "json: unknown field "), `"`)
		if secretLike.MatchString(name) {
			return "a secret-looking field is not accepted here (credentials belong in the credential store)"
		}
		return fmt.Sprintf("unknown field '%s'", cut(name, 64))
	}
	return "not a valid JSON object"
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// idText is an identifier given as a string or a number (the page sends
// outlet keys and lab ids both ways).
func idText(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return trimASCII(s), true
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if _, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
			return n.String(), true
		}
	}
	return "", false
}

// safeText: printable, one line, bounded.
// keyText is an id or outlet key: it appears in URL paths and operation
// records, so ASCII letters, digits and . _ : - only, a letter or digit
// first (no Unicode that folds or hides).
func keyText(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("._:-", rune(c))) {
			return false
		}
	}
	return true
}

func safeText(s string, max int) bool {
	if len(s) > max {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return trimASCII(*p)
}

// trimASCII drops ASCII blanks only: a Unicode space (U+2029) around an id
// is refused by the id's check, not quietly removed.
func trimASCII(s string) string { return strings.Trim(s, " \t\r\n") }

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

func intIn(p *int, def, max int, name string, mk func(string, ...any) error) (int, error) {
	if p == nil {
		return def, nil
	}
	if *p < 0 || *p > max {
		return 0, mk("%s must be between 0 and %d", name, max)
	}
	return *p, nil
}

// ParseController decodes and validates one controller as the routes and
// the catalog receive it: strict (unknown fields refused), defaults
// applied, every error wrapping ErrInvalidConfig and naming no value.
func ParseController(raw []byte) (Controller, error) {
	var w controllerWire
	if err := strictDecode(raw, &w); err != nil {
		return Controller{}, cfgErr("%s", jsonReason(err))
	}
	c := Controller{
		ID: str(w.ID), Name: str(w.Name), Driver: strings.ToLower(str(w.Driver)), Enabled: boolOr(w.Enabled, true),
		Host: str(w.Host), CredentialRef: str(w.CredentialRef),
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	if w.Port != nil {
		c.Port = *w.Port
	}
	cfg, err := parseConfig(w.Config)
	if err != nil {
		return Controller{}, err
	}
	c.Config = cfg
	for i, ow := range w.Outlets {
		key, ok := idText(ow.Outlet)
		if !ok {
			return Controller{}, cfgErr("outlets[%d].outlet must be text or an integer", i)
		}
		c.Outlets = append(c.Outlets, Outlet{Outlet: key, DisplayName: str(ow.DisplayName), LogicalName: str(ow.LogicalName),
			Protected: boolOr(ow.Protected, false), Critical: boolOr(ow.Critical, false), DefaultState: strings.ToLower(str(ow.DefaultState))})
	}
	if err := ValidateController(&c); err != nil {
		return Controller{}, err
	}
	return c, nil
}

func parseConfig(raw json.RawMessage) (Config, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return Config{}, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return Config{}, cfgErr("config must be an object")
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if slices.Contains(configFields, k) {
			continue
		}
		if secretLike.MatchString(k) {
			// The name only: the value is what must never be echoed.
			return Config{}, cfgErr("config holds a secret-looking field (credentials belong in the credential store, referenced by credentialRef)")
		}
		return Config{}, cfgErr("config has an unknown field '%s' (allowed: %s)", cut(k, 64), strings.Join(configFields, ", "))
	}
	var w configWire
	if err := strictDecode(raw, &w); err != nil {
		return Config{}, cfgErr("config: %s", jsonReason(err))
	}
	c := Config{Profile: strings.ToLower(str(w.Profile)), SNMPVersion: strings.ToLower(str(w.SNMPVersion)), Path: str(w.Path),
		UseHTTPS: boolOr(w.UseHTTPS, false), VerifyTLS: w.VerifyTLS}
	var err error
	if c.TimeoutSeconds, err = intIn(w.TimeoutSeconds, 0, 60, "config.timeoutSeconds", cfgErr); err != nil {
		return Config{}, err
	}
	if c.Retries, err = intIn(w.Retries, 0, MaxRetryCount, "config.retries", cfgErr); err != nil {
		return Config{}, err
	}
	if c.ModuleIndex, err = intIn(w.ModuleIndex, 0, 64, "config.moduleIndex", cfgErr); err != nil {
		return Config{}, err
	}
	return c, nil
}

// ValidateController checks c (as ParseController leaves it, or as read
// from the catalog) and fills the outlets' default state.
func ValidateController(c *Controller) error {
	switch {
	case c.ID == "":
		return cfgErr("id is required")
	case !keyText(c.ID, maxID):
		return cfgErr("id must be 1 to %d of letters, digits and . _ : -, a letter or digit first", maxID)
	case c.Name == "" || !safeText(c.Name, maxName):
		return cfgErr("name is required, at most %d characters on one line", maxName)
	case !slices.Contains(Drivers, c.Driver):
		return cfgErr("driver must be one of %s", strings.Join(Drivers, ", "))
	case c.Port < 0 || c.Port > 65535:
		return cfgErr("port must be between 1 and 65535")
	case c.Host != "" && netaddr.ValidHost(c.Host) != nil:
		return cfgErr("host must be a host name or address")
	}
	if c.CredentialRef != "" {
		ref, err := hosts.NormalizeCredentialRef(c.CredentialRef)
		if err != nil {
			return cfgErr("credentialRef must be 1 to 128 of letters, digits and . _ : -, a letter or digit first")
		}
		c.CredentialRef = ref
	}
	if c.Driver != DriverMock && c.Host == "" {
		return cfgErr("driver %s requires a host", c.Driver)
	}
	if c.Driver == DriverAPC && c.CredentialRef == "" {
		return cfgErr("driver %s requires a credentialRef", c.Driver)
	}
	switch c.Config.Profile {
	case "", "auto", "rpdu2", "legacy":
	default:
		return cfgErr("config.profile must be auto, rpdu2 or legacy")
	}
	switch c.Config.SNMPVersion {
	case "", "v1", "v2c", "v3", "1", "2c", "3":
	default:
		return cfgErr("config.snmpVersion must be v1, v2c or v3")
	}
	if !safeText(c.Config.Path, 256) || (c.Config.Path != "" && !strings.HasPrefix(c.Config.Path, "/")) || strings.Contains(c.Config.Path, "@") {
		return cfgErr("config.path must be an absolute path")
	}
	if len(c.Outlets) == 0 {
		return cfgErr("controller %s requires at least one outlet", c.ID)
	}
	if len(c.Outlets) > maxOutlets {
		return cfgErr("at most %d outlets", maxOutlets)
	}
	seen := map[string]bool{}
	for i := range c.Outlets {
		o := &c.Outlets[i]
		switch {
		case !keyText(o.Outlet, maxOutletKey):
			return cfgErr("outlets[%d].outlet is required: 1 to %d of letters, digits and . _ : -, a letter or digit first", i, maxOutletKey)
		case seen[o.Outlet]:
			return cfgErr("duplicate outlet %s", o.Outlet)
		case !safeText(o.DisplayName, maxName) || !safeText(o.LogicalName, maxName):
			return cfgErr("outlets[%d] names must be at most %d characters on one line", i, maxName)
		}
		seen[o.Outlet] = true
		if o.DefaultState == "" {
			o.DefaultState = StateOff
		}
		if o.DefaultState != StateOn && o.DefaultState != StateOff {
			return cfgErr("outlets[%d].defaultState must be on or off", i)
		}
	}
	return nil
}

// ParsePolicy decodes and validates a policy (strict, defaults applied)
// against the catalog's controllers: every step names an existing
// controller and outlet. Errors wrap ErrInvalidPolicy.
func ParsePolicy(raw []byte, controllers []Controller) (Policy, error) {
	p, err := decodePolicy(raw)
	if err != nil {
		return Policy{}, err
	}
	if err := ValidatePolicy(p, controllers); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// DecodePolicy is ParsePolicy without the catalog: every rule but that
// each step names an existing controller and outlet, for a caller that
// does not know the catalog yet (an import checks the steps against the
// catalog it will store, then ValidatePolicy against the real one).
func DecodePolicy(raw []byte) (Policy, error) {
	p, err := decodePolicy(raw)
	if err != nil {
		return Policy{}, err
	}
	if err := validatePolicy(p, nil, false); err != nil {
		return Policy{}, err
	}
	return p, nil
}

func decodePolicy(raw []byte) (Policy, error) {
	var w policyWire
	if err := strictDecode(raw, &w); err != nil {
		return Policy{}, polErr("%s", jsonReason(err))
	}
	lab, ok := idText(w.LabID)
	if !ok {
		return Policy{}, polErr("labId must be text or an integer")
	}
	p := Policy{LabID: lab, PolicyName: str(w.PolicyName), Enabled: boolOr(w.Enabled, true),
		RespectLocalMode: boolOr(w.RespectLocalMode, true), MaintenanceMode: boolOr(w.MaintenanceMode, false),
		StartFailureMode: strings.ToLower(str(w.StartFailureMode)), EndFailureMode: strings.ToLower(str(w.EndFailureMode))}
	if p.StartFailureMode == "" {
		p.StartFailureMode = FailReservationStart
	}
	if p.EndFailureMode == "" {
		p.EndFailureMode = WarnAndContinue
	}
	if len(w.Steps) > maxSteps {
		return Policy{}, polErr("at most %d steps", maxSteps)
	}
	p.Steps = []Step{}
	for i, sw := range w.Steps {
		s, err := parseStep(i, sw)
		if err != nil {
			return Policy{}, err
		}
		p.Steps = append(p.Steps, s)
	}
	return p, nil
}

func parseStep(i int, w stepWire) (Step, error) {
	outlet, ok := idText(w.Outlet)
	if !ok {
		return Step{}, polErr("steps[%d].outlet must be text or an integer", i)
	}
	s := Step{ID: str(w.ID), Phase: strings.ToLower(str(w.Phase)), ControllerID: str(w.ControllerID), Outlet: outlet,
		LogicalName: str(w.LogicalName), Action: strings.ToLower(str(w.Action)), DesiredState: strings.ToLower(str(w.DesiredState)),
		Required: boolOr(w.Required, true), ReadBackRequired: boolOr(w.ReadBackRequired, true), AllowProtected: boolOr(w.AllowProtected, false)}
	mk := func(format string, args ...any) error {
		return polErr("steps[%d]: %s", i, fmt.Sprintf(format, args...))
	}
	var err error
	if s.Sequence, err = intIn(w.Sequence, 0, MaxSequence, "sequence", mk); err != nil {
		return Step{}, err
	}
	if s.OffSeconds, err = intIn(w.OffSeconds, DefaultOffSeconds, MaxOffSeconds, "offSeconds", mk); err != nil {
		return Step{}, err
	}
	if s.DelayBeforeSeconds, err = intIn(w.DelayBeforeSeconds, 0, MaxDelaySeconds, "delayBeforeSeconds", mk); err != nil {
		return Step{}, err
	}
	if s.DelayAfterSeconds, err = intIn(w.DelayAfterSeconds, 0, MaxDelaySeconds, "delayAfterSeconds", mk); err != nil {
		return Step{}, err
	}
	if s.TimeoutSeconds, err = intIn(w.TimeoutSeconds, DefaultTimeoutSeconds, MaxTimeoutSeconds, "timeoutSeconds", mk); err != nil {
		return Step{}, err
	}
	if s.RetryCount, err = intIn(w.RetryCount, 0, MaxRetryCount, "retryCount", mk); err != nil {
		return Step{}, err
	}
	if s.DesiredState == "" && (s.Action == ActionOn || s.Action == ActionOff) {
		s.DesiredState = s.Action
	}
	return s, nil
}

// ValidatePolicy checks p against the catalog's controllers.
func ValidatePolicy(p Policy, controllers []Controller) error {
	return validatePolicy(p, controllers, true)
}

// validatePolicy checks p; with targets, also that every step names a
// controller of controllers and an outlet of it.
func validatePolicy(p Policy, controllers []Controller, targets bool) error {
	switch {
	case p.LabID == "" || !safeText(p.LabID, maxID) || strings.ContainsAny(p.LabID, "/ ?#%"):
		return polErr("labId is required, at most %d characters without spaces or '/'", maxID)
	case p.PolicyName == "" || !safeText(p.PolicyName, maxName):
		return polErr("policyName is required, at most %d characters on one line", maxName)
	case p.StartFailureMode != FailReservationStart && p.StartFailureMode != WarnAndContinue:
		return polErr("startFailureMode must be %s or %s", FailReservationStart, WarnAndContinue)
	case p.EndFailureMode != FailReservationStart && p.EndFailureMode != WarnAndContinue:
		return polErr("endFailureMode must be %s or %s", FailReservationStart, WarnAndContinue)
	}
	byID := map[string]Controller{}
	for _, c := range controllers {
		byID[c.ID] = c
	}
	seq := map[string]bool{}
	ids := map[string]bool{}
	for i, s := range p.Steps {
		bad := func(format string, args ...any) error {
			return polErr("steps[%d]: %s", i, fmt.Sprintf(format, args...))
		}
		if !slices.Contains(Phases, s.Phase) {
			return bad("phase must be one of %s", strings.Join(Phases, ", "))
		}
		switch s.Action {
		case ActionOn, ActionOff, ActionCycle:
		default:
			return bad("action must be on, off or cycle")
		}
		switch s.DesiredState {
		case "", StateOn, StateOff, StateUnknown:
		default:
			return bad("desiredState must be on, off or unknown")
		}
		if s.Action == ActionCycle && s.OffSeconds == 0 {
			return bad("offSeconds must be greater than zero for cycle")
		}
		if !safeText(s.ID, maxID) || !safeText(s.LogicalName, maxName) {
			return bad("id or logicalName too long")
		}
		if s.ID != "" {
			if ids[s.ID] {
				return bad("duplicate step id %s", s.ID)
			}
			ids[s.ID] = true
		}
		k := s.Phase + "\x00" + strconv.Itoa(s.Sequence)
		if seq[k] {
			return bad("duplicate sequence %d in phase %s", s.Sequence, s.Phase)
		}
		seq[k] = true
		if !targets {
			if s.ControllerID == "" || s.Outlet == "" {
				return bad("controllerId and outlet are required")
			}
			continue
		}
		c, ok := byID[s.ControllerID]
		if !ok {
			return bad("controller '%s' is not in the catalog", cut(s.ControllerID, maxID))
		}
		if _, ok := c.Outlet(s.Outlet); !ok {
			return bad("controller %s has no outlet '%s'", c.ID, cut(s.Outlet, maxOutletKey))
		}
	}
	return nil
}

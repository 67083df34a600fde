// Package apcsnmp is the apc-powernet-snmp power driver: APC switched PDUs
// over SNMP v1, v2c or v3 (gosnmp), in the legacy sPDU dialect or the
// rPDU2 one (detected from the device, or configured), as the older
// worker's power/drivers/apc_snmp.py.
package apcsnmp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/ops-worker/ops-worker/internal/power"
	"github.com/ops-worker/ops-worker/internal/power/apcmib"
	"github.com/ops-worker/ops-worker/internal/secrets"
)

// DriverName is the catalog's name of this driver.
const DriverName = "apc-powernet-snmp"

// Profiles.
const (
	ProfileAuto   = "auto"
	ProfileRPDU2  = "rpdu2"
	ProfileLegacy = "legacy"
)

// Defaults and bounds.
const (
	DefaultPort         = 161
	DefaultTimeout      = 2 * time.Second
	DefaultRetries      = 1
	DefaultMaxOutlets   = 96
	DefaultReadBackWait = 5 * time.Second
	maxOutletsLimit     = 512
	pollInterval        = 200 * time.Millisecond
)

// Config is one controller's SNMP settings (no secret: those are in
// Credentials).
type Config struct {
	Host string
	Port int // DefaultPort when 0
	// Profile is ProfileAuto (the default), ProfileRPDU2 or ProfileLegacy.
	Profile string
	// ModuleIndex is the rPDU2 device (module) of a daisy chain, 1 when 0.
	ModuleIndex int
	Timeout     time.Duration // per request, DefaultTimeout when 0
	Retries     int           // per request; negative means 0, DefaultRetries when 0
	// MaxOutlets bounds the rows read from a table (DefaultMaxOutlets when 0).
	MaxOutlets int
	// ReadBackWait bounds how long Set (and Cycle, after its off time)
	// polls for the asked state (DefaultReadBackWait when 0).
	ReadBackWait time.Duration
	// Dial, when set, opens the UDP conversation instead of the system
	// dialer (the relay's tunnel): network is "udp", address host:port.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Logger gets debug lines (never a secret); slog.Default() when nil.
	Logger *slog.Logger
}

// Credentials is a power credential as credentials.Service.Power returns
// it: the type (snmpv1, snmpv2c, snmpv3) and its fields (version,
// community; or username/securityName, authProtocol, authPassword,
// privProtocol, privPassword, contextName). Its printing paths redact the
// fields.
type Credentials struct {
	Type   string
	Fields map[string]string
}

func (c Credentials) String() string {
	return "apcsnmp.Credentials{Type: " + c.Type + ", Fields: " + secrets.Redacted + "}"
}
func (c Credentials) GoString() string     { return c.String() }
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Format keeps every fmt verb on String.
func (c Credentials) Format(f fmt.State, _ rune) { fmt.Fprint(f, c.String()) }

// security is the parsed credential; secrets stay in secrets.Secret.
type security struct {
	version   gosnmp.SnmpVersion
	community secrets.Secret
	user      string
	auth      gosnmp.SnmpV3AuthProtocol
	authPass  secrets.Secret
	priv      gosnmp.SnmpV3PrivProtocol
	privPass  secrets.Secret
	context   string
}

var authProtocols = map[string]gosnmp.SnmpV3AuthProtocol{
	"NONE": gosnmp.NoAuth, "MD5": gosnmp.MD5, "SHA": gosnmp.SHA, "SHA224": gosnmp.SHA224,
	"SHA256": gosnmp.SHA256, "SHA384": gosnmp.SHA384, "SHA512": gosnmp.SHA512,
}

var privProtocols = map[string]gosnmp.SnmpV3PrivProtocol{
	"NONE": gosnmp.NoPriv, "DES": gosnmp.DES, "AES": gosnmp.AES, "AES128": gosnmp.AES,
}

func parseCredentials(c Credentials) (security, error) {
	f := c.Fields
	typ := strings.ToLower(strings.TrimSpace(c.Type))
	version := strings.ToLower(strings.TrimSpace(f["version"]))
	if typ == "" {
		typ = "snmp" + version
	}
	switch typ {
	case "snmpv1", "snmpv2c":
		if version != "" && "snmp"+version != typ {
			return security{}, power.Errorf(power.CodeConfig, "SNMP credential version does not match its type %s", typ)
		}
		if strings.TrimSpace(f["community"]) == "" {
			return security{}, power.Errorf(power.CodeConfig, "SNMP credential requires a community")
		}
		v := gosnmp.Version1
		if typ == "snmpv2c" {
			v = gosnmp.Version2c
		}
		return security{version: v, community: secrets.NewSecret(f["community"])}, nil
	case "snmpv3":
		user := strings.TrimSpace(f["username"])
		if user == "" {
			user = strings.TrimSpace(f["securityName"])
		}
		if user == "" {
			return security{}, power.Errorf(power.CodeConfig, "SNMPv3 credential requires a username")
		}
		an := strings.ToUpper(strings.TrimSpace(f["authProtocol"]))
		if an == "" {
			an = "NONE"
		}
		pn := strings.ToUpper(strings.TrimSpace(f["privProtocol"]))
		if pn == "" {
			pn = "NONE"
		}
		auth, ok := authProtocols[an]
		if !ok {
			return security{}, power.Errorf(power.CodeConfig, "SNMPv3 authentication protocol %q is unsupported", cleanText([]byte(an)))
		}
		priv, ok := privProtocols[pn]
		if !ok {
			return security{}, power.Errorf(power.CodeConfig, "SNMPv3 privacy protocol %q is unsupported", cleanText([]byte(pn)))
		}
		s := security{version: gosnmp.Version3, user: user, auth: auth, priv: priv, context: f["contextName"],
			authPass: secrets.NewSecret(f["authPassword"]), privPass: secrets.NewSecret(f["privPassword"])}
		if priv != gosnmp.NoPriv && auth == gosnmp.NoAuth {
			return security{}, power.Errorf(power.CodeConfig, "SNMPv3 privacy requires authentication")
		}
		// net-snmp (and RFC 3414's key localisation) needs 8 characters.
		if auth != gosnmp.NoAuth && len(s.authPass.Reveal()) < 8 {
			return security{}, power.Errorf(power.CodeConfig, "SNMPv3 authentication password must have at least 8 characters")
		}
		if priv != gosnmp.NoPriv && len(s.privPass.Reveal()) < 8 {
			return security{}, power.Errorf(power.CodeConfig, "SNMPv3 privacy password must have at least 8 characters")
		}
		return s, nil
	}
	return security{}, power.Errorf(power.CodeConfig, "credential type %q is not an SNMP one", cleanText([]byte(c.Type)))
}

// Driver is one APC PDU. Safe for concurrent use: every call opens its own
// SNMP session. The detected profile and rPDU2's outlet → row map are
// cached.
type Driver struct {
	cfg Config
	// sec is behind a pointer so that even %#v of a Driver value (fmt
	// cannot call Secret's methods on an unexported field) shows an
	// address, not the secrets.
	sec *security
	log *slog.Logger

	mu        sync.Mutex
	profile   string      // "" until detected
	outletIdx map[int]int // rPDU2 outlet number → table index
}

// String, GoString and LogValue never show a secret (the Driver holds
// them only in secrets.Secret, this is the readable form).
func (d *Driver) String() string {
	return fmt.Sprintf("apcsnmp.Driver{%s:%d profile=%s v=%s}", d.cfg.Host, d.cfg.Port, d.cfg.Profile, d.sec.version)
}
func (d *Driver) GoString() string     { return d.String() }
func (d *Driver) LogValue() slog.Value { return slog.StringValue(d.String()) }

// New checks cfg and creds and makes the driver; it does not contact the
// device. A bad configuration or credential is a CodeConfig error.
func New(cfg Config, creds Credentials) (*Driver, error) {
	cfg.Host = strings.TrimSpace(cfg.Host)
	if cfg.Host == "" {
		return nil, power.Errorf(power.CodeConfig, "APC SNMP host is required")
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, power.Errorf(power.CodeConfig, "APC SNMP port %d is invalid", cfg.Port)
	}
	cfg.Profile = strings.ToLower(strings.TrimSpace(cfg.Profile))
	if cfg.Profile == "" {
		cfg.Profile = ProfileAuto
	}
	switch cfg.Profile {
	case ProfileAuto, ProfileRPDU2, ProfileLegacy:
	default:
		return nil, power.Errorf(power.CodeConfig, "APC SNMP profile %q is invalid (want auto, rpdu2 or legacy)", cleanText([]byte(cfg.Profile)))
	}
	if cfg.ModuleIndex == 0 {
		cfg.ModuleIndex = 1
	}
	if cfg.ModuleIndex < 1 || cfg.ModuleIndex > 255 {
		return nil, power.Errorf(power.CodeConfig, "APC SNMP module index %d is invalid", cfg.ModuleIndex)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Timeout < 0 || cfg.Timeout > time.Minute {
		return nil, power.Errorf(power.CodeConfig, "APC SNMP timeout %s is invalid", cfg.Timeout)
	}
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.Retries > 10 {
		return nil, power.Errorf(power.CodeConfig, "APC SNMP retries %d is too many", cfg.Retries)
	}
	if cfg.MaxOutlets == 0 {
		cfg.MaxOutlets = DefaultMaxOutlets
	}
	if cfg.MaxOutlets < 1 || cfg.MaxOutlets > maxOutletsLimit {
		return nil, power.Errorf(power.CodeConfig, "APC SNMP max outlets %d is invalid", cfg.MaxOutlets)
	}
	if cfg.ReadBackWait <= 0 {
		cfg.ReadBackWait = DefaultReadBackWait
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	sec, err := parseCredentials(creds)
	if err != nil {
		return nil, err
	}
	d := &Driver{cfg: cfg, sec: &sec, log: cfg.Logger}
	if cfg.Profile != ProfileAuto {
		d.profile = cfg.Profile
	}
	return d, nil
}

// Describe implements power.Driver.
func (d *Driver) Describe(ctx context.Context) (power.Description, error) {
	s, err := d.open(ctx)
	if err != nil {
		return power.Description{}, err
	}
	defer s.close()
	profile, err := d.detect(s)
	if err != nil {
		return power.Description{}, err
	}
	desc := power.Description{Driver: DriverName, Profile: profile}
	modelOID, fwOID := apcmib.LegacyModel, apcmib.LegacyFirmware
	if profile == ProfileRPDU2 {
		m := strconv.Itoa(d.cfg.ModuleIndex)
		modelOID, fwOID = apcmib.RPDU2IdentModel+"."+m, apcmib.RPDU2IdentFirmware+"."+m
	}
	vars, err := s.get(modelOID, fwOID, apcmib.SysDescr)
	if err != nil {
		return power.Description{}, err
	}
	if len(vars) != 3 {
		return power.Description{}, power.Errorf(power.CodeBadResponse, "the device answered %d values for 3 objects", len(vars))
	}
	for i, oid := range []string{modelOID, fwOID, apcmib.SysDescr} {
		if trimDot(vars[i].Name) != oid {
			return power.Description{}, power.Errorf(power.CodeBadResponse, "the device answered another object than the one asked")
		}
	}
	desc.Model, _ = textValue(vars[0])
	desc.Firmware, _ = textValue(vars[1])
	if desc.Model == "" && desc.Firmware == "" {
		desc.Model, _ = textValue(vars[2])
	}
	rows, err := d.rows(s, profile)
	if err != nil {
		return power.Description{}, err
	}
	desc.Outlets = len(rows)
	return desc, nil
}

// Outlets implements power.Driver.
func (d *Driver) Outlets(ctx context.Context) ([]power.OutletState, error) {
	s, err := d.open(ctx)
	if err != nil {
		return nil, err
	}
	defer s.close()
	profile, err := d.detect(s)
	if err != nil {
		return nil, err
	}
	rows, err := d.rows(s, profile)
	if err != nil {
		return nil, err
	}
	out := make([]power.OutletState, len(rows))
	for i, r := range rows {
		out[i] = r.OutletState
	}
	return out, nil
}

// Set implements power.Driver: the command, then the state read back until
// it is the asked one or ReadBackWait passes (CodeReadBackMismatch).
func (d *Driver) Set(ctx context.Context, outlet, state string) (power.OutletState, error) {
	var cmd int
	switch state {
	case power.StateOn:
		cmd = 1 // legacy outletOn and rPDU2 immediateOn
	case power.StateOff:
		cmd = 2 // outletOff, immediateOff
	default:
		return power.OutletState{}, power.Errorf(power.CodeConfig, "state %q is not on or off", cleanText([]byte(state)))
	}
	return d.command(ctx, outlet, cmd, state, 0)
}

// Cycle implements power.Driver with the device's own reboot command (as
// the older worker): the PDU switches the outlet off for its configured
// reboot duration and on again. off only extends how long the state is
// polled until it reads on again (off + ReadBackWait): neither profile's
// command carries a duration.
func (d *Driver) Cycle(ctx context.Context, outlet string, off time.Duration) (power.OutletState, error) {
	if off <= 0 {
		return power.OutletState{}, power.Errorf(power.CodeConfig, "cycle off time must be positive")
	}
	return d.command(ctx, outlet, 3, power.StateOn, off)
}

func parseOutlet(outlet string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(outlet))
	if err != nil || n <= 0 || n > 1<<20 {
		return 0, power.Errorf(power.CodeOutletUnknown, "outlet %q is not a positive number", cleanText([]byte(outlet)))
	}
	return n, nil
}

func (d *Driver) command(ctx context.Context, outlet string, cmd int, want string, extra time.Duration) (power.OutletState, error) {
	num, err := parseOutlet(outlet)
	if err != nil {
		return power.OutletState{}, err
	}
	s, err := d.open(ctx)
	if err != nil {
		return power.OutletState{}, err
	}
	defer s.close()
	profile, err := d.detect(s)
	if err != nil {
		return power.OutletState{}, err
	}
	index, err := d.index(s, profile, num)
	if err != nil {
		return power.OutletState{}, err
	}
	cmdOID, stateOID := apcmib.LegacyOutletCtl, apcmib.LegacyOutletCtl
	if profile == ProfileRPDU2 {
		cmdOID, stateOID = apcmib.RPDU2ControlCommand, apcmib.RPDU2StatusState
	}
	idx := "." + strconv.Itoa(index)
	// Legacy: a missing instance is an unknown outlet; read it first so
	// the set does not answer a less clear noCreation.
	if _, err := d.readState(s, profile, stateOID+idx, outlet); err != nil {
		return power.OutletState{}, err
	}
	if err := s.set(cmdOID+idx, cmd); err != nil {
		return power.OutletState{}, err
	}
	d.log.DebugContext(ctx, "apc outlet command sent", "host", d.cfg.Host, "outlet", outlet, "command", cmd)
	deadline := time.Now().Add(extra + d.cfg.ReadBackWait)
	got := power.StateUnknown
	for {
		got, err = d.readState(s, profile, stateOID+idx, outlet)
		if err != nil {
			return power.OutletState{}, err
		}
		if got == want || !time.Now().Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return power.OutletState{}, &power.Error{Code: power.CodeUnreachable, Message: "cancelled while reading the outlet back", Err: ctx.Err()}
		case <-time.After(pollInterval):
		}
	}
	st := power.OutletState{Outlet: strconv.Itoa(num), State: got}
	if got != want {
		return st, power.Errorf(power.CodeReadBackMismatch, "outlet %d reads %s after the command, want %s", num, got, want)
	}
	return st, nil
}

func (d *Driver) readState(s session, profile, oid, outlet string) (string, error) {
	vars, err := s.get(oid)
	if err != nil {
		return "", err
	}
	v, err := single(oid, vars)
	if err != nil {
		return "", err
	}
	if missing(v) {
		return "", power.Errorf(power.CodeOutletUnknown, "the device has no outlet %s", cleanText([]byte(outlet)))
	}
	if profile == ProfileRPDU2 {
		return rpdu2State(v)
	}
	return legacyState(v)
}

// index is the table row of outlet num: itself for legacy, rPDU2's from
// the cached map (refreshed once on a miss).
func (d *Driver) index(s session, profile string, num int) (int, error) {
	if profile == ProfileLegacy {
		return num, nil
	}
	d.mu.Lock()
	i, ok := d.outletIdx[num]
	d.mu.Unlock()
	if ok {
		return i, nil
	}
	if _, err := d.rows(s, profile); err != nil {
		return 0, err
	}
	d.mu.Lock()
	i, ok = d.outletIdx[num]
	d.mu.Unlock()
	if !ok {
		return 0, power.Errorf(power.CodeOutletUnknown, "the device has no outlet %d on module %d", num, d.cfg.ModuleIndex)
	}
	return i, nil
}

// detect is the profile: configured, cached, or found as the older worker
// does: the legacy outlet count when positive, else the rPDU2 status table
// when it has rows.
func (d *Driver) detect(s session) (string, error) {
	d.mu.Lock()
	p := d.profile
	d.mu.Unlock()
	if p != "" {
		return p, nil
	}
	vars, err := s.get(apcmib.LegacyOutletCount)
	if err != nil {
		return "", err
	}
	if v, err := single(apcmib.LegacyOutletCount, vars); err == nil && !missing(v) {
		if n, err := intValue(v, "outlet count"); err == nil && n > 0 {
			p = ProfileLegacy
		}
	}
	if p == "" {
		idx, err := s.walk(apcmib.RPDU2StatusIndex, d.cfg.MaxOutlets)
		if err != nil {
			return "", err
		}
		if len(idx) > 0 {
			p = ProfileRPDU2
		}
	}
	if p == "" {
		return "", power.Errorf(power.CodeUnsupportedProfile, "the device answers neither APC's legacy outlet table nor the rPDU2 one")
	}
	d.mu.Lock()
	d.profile = p
	d.mu.Unlock()
	return p, nil
}

func (d *Driver) rows(s session, profile string) ([]outletRow, error) {
	max := d.cfg.MaxOutlets
	if profile == ProfileLegacy {
		states, err := s.walk(apcmib.LegacyOutletCtl, max)
		if err != nil {
			return nil, err
		}
		names, err := s.walk(apcmib.LegacyOutletName, max)
		if err != nil {
			return nil, err
		}
		rows, err := decodeLegacy(states, names, max)
		if err == nil && len(rows) == 0 {
			err = power.Errorf(power.CodeUnsupportedProfile, "the device's legacy outlet table is empty")
		}
		return rows, err
	}
	var cols [4][]gosnmp.SnmpPDU
	// The whole chain's rows are walked (each module's outlets), so the
	// bound is on rows, and the module filter applies after.
	for i, c := range []string{apcmib.RPDU2StatusModule, apcmib.RPDU2StatusNumber, apcmib.RPDU2StatusName, apcmib.RPDU2StatusState} {
		vars, err := s.walk(c, max)
		if err != nil {
			return nil, err
		}
		cols[i] = vars
	}
	rows, err := decodeRPDU2(d.cfg.ModuleIndex, cols[0], cols[1], cols[2], cols[3], max)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, power.Errorf(power.CodeUnsupportedProfile, "the device's rPDU2 outlet table has no outlet on module %d", d.cfg.ModuleIndex)
	}
	m := make(map[int]int, len(rows))
	for _, r := range rows {
		n, _ := strconv.Atoi(r.Outlet)
		m[n] = r.index
	}
	d.mu.Lock()
	d.outletIdx = m
	d.mu.Unlock()
	return rows, nil
}

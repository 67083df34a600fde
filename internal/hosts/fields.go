package hosts

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/netaddr"
	"github.com/ops-worker/ops-worker/internal/wakelimits"
	"github.com/ops-worker/ops-worker/internal/winrm/winrmspec"
)

// field is one hosts.json field: its name, how its JSON is read into a Host
// (the kind, by the constructor: text, number, flag or labList), the
// default an empty value gets, and the check the value must then pass.
// catalogFields is the one list of them: the known fields, the decoding and
// the validation all come from it (Host's struct tags only marshal).
type field struct {
	name string
	// decode reads v (nil when the field is absent) into h; env resolves
	// env:NAME references.
	decode func(h *Host, v json.RawMessage, env LookupEnv) error
	// fill gives an empty (zero) value its default; nil: no default.
	fill func(h *Host)
	// check normalises and validates the value, after every field is
	// decoded and this one filled; nil: any value. Its message follows
	// "host X, field NAME: ".
	check func(h *Host, opts Options) error
}

// catalogFields in the order values are decoded and checked: with several
// bad fields, the first one here is the one named.
var catalogFields = []field{
	text("name", func(h *Host) *string { return &h.Name }, nil, checkName),
	text("address", func(h *Host) *string { return &h.Address }, nil, checkAddress),
	text("ping_target", func(h *Host) *string { return &h.PingTarget }, nil, optionalHost(func(h *Host) string { return h.PingTarget })),
	text("broadcast", func(h *Host) *string { return &h.Broadcast }, nil, optionalHost(func(h *Host) string { return h.Broadcast })),
	text("mac", func(h *Host) *string { return &h.MAC }, nil, checkMAC),
	text("mode", func(h *Host) *string { return &h.Mode }, nil, checkMode),
	text("winrm_transport", func(h *Host) *string { return &h.WinRMTransport }, constant(winrmspec.DefaultTransport), checkTransport),
	text("wake_check", func(h *Host) *string { return &h.WakeCheck }, nil, checkWakeCheck),
	number("winrm_port", func(h *Host) *int { return &h.WinRMPort }, winrmPortDefault, portRange(func(h *Host) int { return h.WinRMPort }, "TCP")),
	number("wol_port", func(h *Host) *int { return &h.WOLPort }, constant(DefaultWOLPort), portRange(func(h *Host) int { return h.WOLPort }, "UDP")),
	number("wake_attempts", func(h *Host) *int { return &h.WakeAttempts }, constant(DefaultWakeAttempts), checkWakeAttempts),
	text("labstation_exe", func(h *Host) *string { return &h.LabStationExe }, constant(DefaultLabStationExe), checkExe),
	text("heartbeat_path", func(h *Host) *string { return &h.HeartbeatPath }, constant(DefaultHeartbeatPath), dataPath(func(h *Host) string { return h.HeartbeatPath })),
	text("events_path", func(h *Host) *string { return &h.EventsPath }, constant(DefaultEventsPath), dataPath(func(h *Host) string { return h.EventsPath })),
	// After heartbeat_path: its default is derived from that path's install root.
	text("local_mode_flag_path", func(h *Host) *string { return &h.LocalModeFlagPath }, localModeFlagDefault, dataPath(func(h *Host) string { return h.LocalModeFlagPath })),
	text("winrm_user", func(h *Host) *string { return &h.WinRMUser }, nil, nil),
	text("winrm_pass", func(h *Host) *string { return &h.WinRMPass }, nil, nil),
	text("winrm_ca_file", func(h *Host) *string { return &h.WinRMCAFile }, nil, nil),
	text("winrm_tls_server_name", func(h *Host) *string { return &h.WinRMTLSServerName }, nil, nil),
	// winrm_use_ssl defaults to true: a flag's default is set before its
	// JSON is read, since false is a value, not an empty one.
	flag("winrm_use_ssl", func(h *Host) *bool { return &h.WinRMUseSSL }, true, nil),
	flag("winrm_insecure_skip_verify", func(h *Host) *bool { return &h.WinRMInsecureSkipVerify }, false, checkSkipVerify),
	flag("quarantined", func(h *Host) *bool { return &h.Quarantined }, false, nil),
	labList("labs", func(h *Host) *[]string { return &h.Labs }),
	text("relay", func(h *Host) *string { return &h.Relay }, nil, checkRelay),
	text("credential_ref", func(h *Host) *string { return &h.CredentialRef }, nil, checkCredentialRef),
}

// knownField reports whether name is a field of catalogFields.
func knownField(name string) bool {
	return slices.ContainsFunc(catalogFields, func(f field) bool { return f.name == name })
}

// absent is a field not given, or given as null.
func absent(v json.RawMessage) bool { return v == nil || string(v) == "null" }

// ResolveEnv is s without the blanks around it, or, when it is
// "env:NAME", the variable's value (an error names the variable when it is
// not set, never a value). The catalog's rule for its secrets, shared with
// the relay's power file.
func ResolveEnv(s string, env LookupEnv) (string, error) {
	s = strings.TrimSpace(s)
	ref, ok := strings.CutPrefix(s, "env:")
	if !ok {
		return s, nil
	}
	if env == nil {
		env = os.LookupEnv
	}
	val, found := env(ref)
	if !found {
		return "", fmt.Errorf("environment variable %s is not set", ref)
	}
	return val, nil
}

// text is a string field; "env:NAME" is replaced by the variable's value
// and blanks around the value are dropped.
func text(name string, at func(*Host) *string, def func(*Host) string, check func(*Host, Options) error) field {
	f := field{name: name, check: check}
	f.decode = func(h *Host, v json.RawMessage, env LookupEnv) error {
		if absent(v) {
			return nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return errors.New("want a string")
		}
		s, err := ResolveEnv(s, env)
		if err != nil {
			return err
		}
		*at(h) = s
		return nil
	}
	if def != nil {
		f.fill = func(h *Host) {
			if p := at(h); *p == "" {
				*p = def(h)
			}
		}
	}
	return f
}

// number is a whole-number field; a string holding one is accepted too.
func number(name string, at func(*Host) *int, def func(*Host) int, check func(*Host, Options) error) field {
	f := field{name: name, check: check}
	f.decode = func(h *Host, v json.RawMessage, _ LookupEnv) error {
		if absent(v) {
			return nil
		}
		var n json.Number
		if err := json.Unmarshal(v, &n); err != nil {
			var s string
			if json.Unmarshal(v, &s) != nil {
				return errors.New("want a number")
			}
			n = json.Number(strings.TrimSpace(s))
		}
		x, err := strconv.Atoi(string(n))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", n)
		}
		*at(h) = x
		return nil
	}
	if def != nil {
		f.fill = func(h *Host) {
			if p := at(h); *p == 0 {
				*p = def(h)
			}
		}
	}
	return f
}

// flag is a true/false field; def is its value when absent.
func flag(name string, at func(*Host) *bool, def bool, check func(*Host, Options) error) field {
	return field{name: name, check: check, decode: func(h *Host, v json.RawMessage, _ LookupEnv) error {
		if absent(v) {
			*at(h) = def
			return nil
		}
		if err := json.Unmarshal(v, at(h)); err != nil {
			return errors.New("want true or false")
		}
		return nil
	}}
}

// labList is the labs field (parseLabs); absent, it is an empty list.
func labList(name string, at func(*Host) *[]string) field {
	return field{name: name, decode: func(h *Host, v json.RawMessage, _ LookupEnv) error {
		labs, err := parseLabs(v)
		if err != nil {
			return err
		}
		*at(h) = labs
		return nil
	}}
}

// constant is a default that does not depend on the other fields.
func constant[T any](v T) func(*Host) T { return func(*Host) T { return v } }

// winrmPortDefault is 5986 with SSL (the default), 5985 without.
func winrmPortDefault(h *Host) int {
	if h.WinRMUseSSL {
		return winrmspec.DefaultHTTPSPort
	}
	return winrmspec.DefaultHTTPPort
}

func checkName(h *Host, _ Options) error {
	if h.Name == "" {
		return errors.New("is required")
	}
	return validName(h.Name)
}

func checkAddress(h *Host, opts Options) error {
	if h.Address == "" {
		return errors.New("is required")
	}
	if err := netaddr.ValidHost(h.Address); err != nil {
		return err
	}
	if len(opts.StationPrefixes) > 0 {
		if why := outsideStations(h.Address, opts.StationPrefixes); why != "" {
			return fmt.Errorf("%q %s", h.Address, why)
		}
	}
	return nil
}

// optionalHost checks an address field that may be empty.
func optionalHost(get func(*Host) string) func(*Host, Options) error {
	return func(h *Host, _ Options) error {
		if v := get(h); v != "" {
			return netaddr.ValidHost(v)
		}
		return nil
	}
}

func checkMAC(h *Host, _ Options) error {
	if h.MAC == "" {
		return nil
	}
	mac, err := netaddr.ParseMAC(h.MAC)
	if err != nil {
		return err
	}
	h.MAC = mac.String()
	return nil
}

func checkMode(h *Host, _ Options) error {
	switch h.Mode {
	case "", "pure", "hybrid":
		return nil
	}
	return fmt.Errorf("%q is not pure or hybrid", h.Mode)
}

func checkTransport(h *Host, _ Options) error {
	h.WinRMTransport = strings.ToLower(h.WinRMTransport)
	if !slices.Contains(winrmspec.Transports(), h.WinRMTransport) {
		return fmt.Errorf("%q is not %s", h.WinRMTransport, strings.Join(winrmspec.Transports(), ", "))
	}
	return nil
}

func checkWakeCheck(h *Host, _ Options) error {
	h.WakeCheck = strings.ToLower(h.WakeCheck)
	switch h.WakeCheck {
	case "", "auto", "tcp", "icmp":
		return nil
	}
	return fmt.Errorf("%q is not auto, tcp or icmp", h.WakeCheck)
}

// portRange checks a port number; proto names it in the message.
func portRange(get func(*Host) int, proto string) func(*Host, Options) error {
	return func(h *Host, _ Options) error {
		if p := get(h); p < 1 || p > 65535 {
			return fmt.Errorf("%d is not a %s port", p, proto)
		}
		return nil
	}
}

func checkWakeAttempts(h *Host, _ Options) error {
	if h.WakeAttempts < 1 || h.WakeAttempts > wakelimits.MaxAttempts {
		return fmt.Errorf("%d is outside 1..%d", h.WakeAttempts, wakelimits.MaxAttempts)
	}
	return nil
}

// checkExe refuses a program path that would need quoting: it reaches
// cmd.exe unquoted (a quoted one does not group cmd's command name), so it
// is refused here, at load, rather than failing or running C:\Program at
// the first call.
func checkExe(h *Host, _ Options) error { return labstation.CheckProgramPath(h.LabStationExe) }

// checkSkipVerify allows an unverified WinRM certificate only where it
// cannot hand a password to a stranger: never with Basic (which sends the
// password itself to whoever answers), and only with OPS_STATION_CIDRS set
// (so the address is an IP literal inside the station networks, not a name
// that could resolve anywhere).
func checkSkipVerify(h *Host, opts Options) error {
	if !h.WinRMInsecureSkipVerify {
		return nil
	}
	if h.WinRMTransport == winrmspec.TransportBasic {
		return errors.New("not allowed with winrm_transport basic: Basic sends the password to whoever answers an unverified certificate (give the station's CA in winrm_ca_file or OPS_WINRM_CA_FILE)")
	}
	if len(opts.StationPrefixes) == 0 {
		return errors.New("needs OPS_STATION_CIDRS: without a verified certificate, only the station networks say who may answer")
	}
	return nil
}

// dataPath checks a station file the worker quotes into PowerShell
// (labstation.CheckDataPath): refused here, at load, what the direct Lab
// would refuse at the first call.
func dataPath(get func(*Host) string) func(*Host, Options) error {
	return func(h *Host, _ Options) error { return labstation.CheckDataPath(get(h)) }
}

// heartbeatTail is where heartbeat.json lies under a Lab Station install
// root (LABSTATION.md), the flag's folder being that root's data folder.
const heartbeatTail = `\labstation\data\telemetry\heartbeat.json`

// localModeFlagDefault is the flag beside the host's heartbeat: a station
// installed elsewhere (C:\Lab Station\...) keeps its flag under the same
// root, as the Lab Station itself does; any other heartbeat path gets
// DefaultLocalModeFlagPath.
func localModeFlagDefault(h *Host) string {
	p := h.HeartbeatPath
	if len(p) > len(heartbeatTail) && strings.EqualFold(p[len(p)-len(heartbeatTail):], heartbeatTail) {
		return p[:len(p)-len(heartbeatTail)] + `\labstation\data\local-mode.flag`
	}
	return DefaultLocalModeFlagPath
}

func checkRelay(h *Host, _ Options) error {
	if h.Relay == "" {
		return nil
	}
	return CheckRelayURL(h.Relay)
}

// CheckRelayURL refuses a relay URL carrying user info
// (https://user:pass@relay): relay URLs are logged and shown in /api/hosts
// and the timeline, and the relay is authenticated by the relay secret, not
// by the URL. The error never echoes the URL. A URL that does not parse
// but holds an '@' is refused too, since which part is the password is
// then unclear.
func CheckRelayURL(raw string) error {
	u, err := url.Parse(raw)
	if (err == nil && u.User != nil) || (err != nil && strings.Contains(raw, "@")) {
		return errors.New("must not carry a user name or password (user:pass@): the relay is authenticated by the relay secret, and the URL is logged and shown")
	}
	return nil
}

// maxCredentialRef bounds a credential_ref (the page's own limit for one).
const maxCredentialRef = 128

// NormalizeCredentialRef lower-cases a credential reference (the older
// worker matched references case-insensitively) and keeps it to the
// characters a key of a credential file and the page accept: 1 to 128 of
// letters, digits and . _ : -, a letter or digit first. The catalog and the
// credential store share this rule, so a host's credential_ref names the
// row its credentials were saved under.
func NormalizeCredentialRef(ref string) (string, error) {
	// ASCII only, checked before folding: strings.ToLower would turn a
	// dotted capital I (U+0130) into "i", and TrimSpace drop U+2029, so a
	// hostile reference could fold into another host's.
	for i := 0; i < len(ref); i++ {
		if ref[i] >= 0x80 {
			return "", fmt.Errorf("%q is not a credential reference (letters, digits and . _ : -, starting with a letter or digit)", truncate(ref, 64))
		}
	}
	norm := strings.ToLower(strings.Trim(ref, " \t\r\n"))
	if norm == "" {
		return "", errors.New("is empty")
	}
	if len(norm) > maxCredentialRef {
		return "", fmt.Errorf("longer than %d characters", maxCredentialRef)
	}
	for i, r := range norm {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || i > 0 && strings.ContainsRune("._:-", r)
		if !ok {
			return "", fmt.Errorf("%q is not a credential reference (letters, digits and . _ : -, starting with a letter or digit)", truncate(ref, 64))
		}
	}
	return norm, nil
}

// checkCredentialRef applies NormalizeCredentialRef to a given reference.
// Absent, it is the address in lower case (the older worker's default),
// which is checked as an address already.
func checkCredentialRef(h *Host, _ Options) error {
	if h.CredentialRef == "" {
		h.CredentialRef = strings.ToLower(h.Address)
		return nil
	}
	ref, err := NormalizeCredentialRef(h.CredentialRef)
	if err != nil {
		return err
	}
	h.CredentialRef = ref
	return nil
}

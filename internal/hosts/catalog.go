package hosts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/netaddr"
	"github.com/ops-worker/ops-worker/internal/wake"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// ErrNotFound is returned by lookups of a host the catalog does not hold.
var ErrNotFound = errors.New("host not found")

// maxCatalogBytes bounds what Load reads: a catalog of thousands of hosts is
// well under it, and a wrong OPS_CONFIG (a log file, /dev/zero) fails fast.
const maxCatalogBytes = 16 << 20

// Catalog is an immutable, validated set of hosts.
type Catalog struct {
	hosts  []Host
	byName map[string]int
	byLab  map[string][]int // every host claiming the lab, in file order
}

// LookupEnv resolves env:NAME references; os.LookupEnv in production.
type LookupEnv func(string) (string, bool)

// Options are the rules a catalog is loaded under. The zero value resolves
// env: references with os.LookupEnv and allows any station address.
type Options struct {
	// Env resolves env:NAME references; nil means os.LookupEnv.
	Env LookupEnv
	// StationPrefixes (OPS_STATION_CIDRS), when not empty, is where Lab
	// Stations may be: every entry's address must then be an IP literal
	// inside one of them. Host names are refused rather than resolved: a
	// name checked at load could resolve elsewhere at the next call, and
	// the credentials go wherever it points.
	StationPrefixes []netip.Prefix
}

// LoadFile reads and validates a catalog file. Warnings are problems that
// do not stop the load (unknown fields, a lab claimed twice).
func LoadFile(path string, env LookupEnv) (*Catalog, []string, error) {
	return LoadFileWith(path, Options{Env: env})
}

// LoadFileWith is LoadFile under opts.
func LoadFileWith(path string, opts Options) (*Catalog, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open host catalog: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCatalogBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read host catalog %s: %w", path, err)
	}
	if len(data) > maxCatalogBytes {
		return nil, nil, fmt.Errorf("host catalog %s: larger than %d bytes", path, maxCatalogBytes)
	}
	c, warns, err := ParseWith(data, opts)
	if err != nil {
		return nil, warns, fmt.Errorf("host catalog %s: %w", path, err)
	}
	return c, warns, nil
}

var knownFields = map[string]bool{
	"name": true, "address": true, "mac": true, "mode": true,
	"winrm_user": true, "winrm_pass": true, "winrm_transport": true, "winrm_port": true,
	"winrm_use_ssl": true, "winrm_ca_file": true, "winrm_insecure_skip_verify": true,
	"winrm_tls_server_name": true, "heartbeat_path": true, "events_path": true,
	"labstation_exe": true, "ping_target": true, "broadcast": true, "wol_port": true,
	"wake_attempts": true, "wake_check": true, "labs": true, "quarantined": true, "relay": true,
}

// Parse validates a catalog document.
func Parse(data []byte, env LookupEnv) (*Catalog, []string, error) {
	return ParseWith(data, Options{Env: env})
}

// ParseWith validates a catalog document under opts.
func ParseWith(data []byte, opts Options) (*Catalog, []string, error) {
	if opts.Env == nil {
		opts.Env = os.LookupEnv
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var doc struct {
		Hosts []map[string]json.RawMessage `json:"hosts"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("not a JSON object with a \"hosts\" list: %w", err)
	}
	if doc.Hosts == nil {
		return nil, nil, errors.New(`no "hosts" list`)
	}
	var warns []string
	c := &Catalog{byName: map[string]int{}, byLab: map[string][]int{}}
	for i, raw := range doc.Hosts {
		h, w, err := parseHost(i, raw, opts)
		warns = append(warns, w...)
		if err != nil {
			return nil, warns, err
		}
		key := strings.ToLower(h.Name)
		if j, dup := c.byName[key]; dup {
			return nil, warns, fmt.Errorf("host %q (entry %d): duplicate name, already used by entry %d", h.Name, i, j)
		}
		c.byName[key] = len(c.hosts)
		for _, lab := range h.Labs {
			if prev := c.byLab[lab]; len(prev) > 0 {
				warns = append(warns, fmt.Sprintf("lab %q is claimed by host %q and host %q: %q wins", lab, c.hosts[prev[0]].Name, h.Name, c.hosts[prev[0]].Name))
			}
			c.byLab[lab] = append(c.byLab[lab], len(c.hosts))
		}
		c.hosts = append(c.hosts, h)
	}
	return c, warns, nil
}

func parseHost(i int, raw map[string]json.RawMessage, opts Options) (Host, []string, error) {
	env := opts.Env
	var warns []string
	label := fmt.Sprintf("entry %d", i)
	if n, ok := raw["name"]; ok {
		var s string
		if json.Unmarshal(n, &s) == nil && s != "" {
			label = fmt.Sprintf("%q", s)
		}
	}
	fail := func(field, format string, a ...any) (Host, []string, error) {
		return Host{}, warns, fmt.Errorf("host %s, field %s: %s", label, field, fmt.Sprintf(format, a...))
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !knownFields[k] {
			warns = append(warns, fmt.Sprintf("host %s: unknown field %q ignored", label, k))
		}
	}

	h := Host{WinRMUseSSL: true}
	strField := func(name string, dst *string) error {
		v, ok := raw[name]
		if !ok || string(v) == "null" {
			return nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("host %s, field %s: want a string", label, name)
		}
		s = strings.TrimSpace(s)
		if ref, ok := strings.CutPrefix(s, "env:"); ok {
			val, found := env(ref)
			if !found {
				return fmt.Errorf("host %s, field %s: environment variable %s is not set", label, name, ref)
			}
			s = val
		}
		*dst = s
		return nil
	}
	intField := func(name string, dst *int) error {
		v, ok := raw[name]
		if !ok || string(v) == "null" {
			return nil
		}
		var n json.Number
		if err := json.Unmarshal(v, &n); err != nil {
			var s string
			if json.Unmarshal(v, &s) != nil {
				return fmt.Errorf("host %s, field %s: want a number", label, name)
			}
			n = json.Number(strings.TrimSpace(s))
		}
		x, err := strconv.Atoi(string(n))
		if err != nil {
			return fmt.Errorf("host %s, field %s: %q is not a whole number", label, name, n)
		}
		*dst = x
		return nil
	}
	boolField := func(name string, dst *bool) error {
		v, ok := raw[name]
		if !ok || string(v) == "null" {
			return nil
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return fmt.Errorf("host %s, field %s: want true or false", label, name)
		}
		return nil
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"name", &h.Name}, {"address", &h.Address}, {"mac", &h.MAC}, {"mode", &h.Mode},
		{"winrm_user", &h.WinRMUser}, {"winrm_pass", &h.WinRMPass}, {"winrm_transport", &h.WinRMTransport},
		{"winrm_ca_file", &h.WinRMCAFile}, {"winrm_tls_server_name", &h.WinRMTLSServerName},
		{"heartbeat_path", &h.HeartbeatPath}, {"events_path", &h.EventsPath},
		{"labstation_exe", &h.LabStationExe}, {"ping_target", &h.PingTarget},
		{"broadcast", &h.Broadcast}, {"wake_check", &h.WakeCheck}, {"relay", &h.Relay},
	} {
		if err := strField(f.name, f.dst); err != nil {
			return Host{}, warns, err
		}
	}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"winrm_port", &h.WinRMPort}, {"wol_port", &h.WOLPort}, {"wake_attempts", &h.WakeAttempts}} {
		if err := intField(f.name, f.dst); err != nil {
			return Host{}, warns, err
		}
	}
	for _, f := range []struct {
		name string
		dst  *bool
	}{{"winrm_use_ssl", &h.WinRMUseSSL}, {"winrm_insecure_skip_verify", &h.WinRMInsecureSkipVerify}, {"quarantined", &h.Quarantined}} {
		if err := boolField(f.name, f.dst); err != nil {
			return Host{}, warns, err
		}
	}
	labs, err := parseLabs(raw["labs"])
	if err != nil {
		return fail("labs", "%v", err)
	}
	h.Labs = labs

	if h.Name == "" {
		return fail("name", "is required")
	}
	if err := validName(h.Name); err != nil {
		return fail("name", "%v", err)
	}
	if h.Address == "" {
		return fail("address", "is required")
	}
	if err := netaddr.ValidHost(h.Address); err != nil {
		return fail("address", "%v", err)
	}
	if len(opts.StationPrefixes) > 0 {
		if why := outsideStations(h.Address, opts.StationPrefixes); why != "" {
			return fail("address", "%q %s", h.Address, why)
		}
	}
	if h.PingTarget != "" {
		if err := netaddr.ValidHost(h.PingTarget); err != nil {
			return fail("ping_target", "%v", err)
		}
	}
	if h.Broadcast != "" {
		if err := netaddr.ValidHost(h.Broadcast); err != nil {
			return fail("broadcast", "%v", err)
		}
	}
	if h.MAC != "" {
		mac, err := netaddr.ParseMAC(h.MAC)
		if err != nil {
			return fail("mac", "%v", err)
		}
		h.MAC = mac.String()
	}
	switch h.Mode {
	case "", "pure", "hybrid":
	default:
		return fail("mode", "%q is not pure or hybrid", h.Mode)
	}
	h.WinRMTransport = strings.ToLower(h.WinRMTransport)
	if h.WinRMTransport == "" {
		h.WinRMTransport = winrm.DefaultTransport
	}
	if !slices.Contains(winrm.Transports, h.WinRMTransport) {
		return fail("winrm_transport", "%q is not %s", h.WinRMTransport, strings.Join(winrm.Transports, ", "))
	}
	h.WakeCheck = strings.ToLower(h.WakeCheck)
	switch h.WakeCheck {
	case "", "auto", "tcp", "icmp":
	default:
		return fail("wake_check", "%q is not auto, tcp or icmp", h.WakeCheck)
	}
	if h.WinRMPort == 0 {
		h.WinRMPort = winrm.DefaultHTTPSPort
		if !h.WinRMUseSSL {
			h.WinRMPort = winrm.DefaultHTTPPort
		}
	}
	if h.WinRMPort < 1 || h.WinRMPort > 65535 {
		return fail("winrm_port", "%d is not a TCP port", h.WinRMPort)
	}
	if h.WOLPort == 0 {
		h.WOLPort = DefaultWOLPort
	}
	if h.WOLPort < 1 || h.WOLPort > 65535 {
		return fail("wol_port", "%d is not a UDP port", h.WOLPort)
	}
	if h.WakeAttempts == 0 {
		h.WakeAttempts = DefaultWakeAttempts
	}
	if h.WakeAttempts < 1 || h.WakeAttempts > wake.MaxAttempts {
		return fail("wake_attempts", "%d is outside 1..%d", h.WakeAttempts, wake.MaxAttempts)
	}
	if h.LabStationExe == "" {
		h.LabStationExe = DefaultLabStationExe
	}
	// The program path reaches cmd.exe unquoted (a quoted one does not group
	// cmd's command name), so one that would need quoting is refused here,
	// at load, rather than failing or running C:\Program at the first call.
	if err := labstation.CheckProgramPath(h.LabStationExe); err != nil {
		return fail("labstation_exe", "%v", err)
	}
	if h.HeartbeatPath == "" {
		h.HeartbeatPath = DefaultHeartbeatPath
	}
	if h.EventsPath == "" {
		h.EventsPath = DefaultEventsPath
	}
	if h.WinRMInsecureSkipVerify {
		warns = append(warns, fmt.Sprintf("host %s: winrm_insecure_skip_verify is on: its WinRM certificate is NOT verified", label))
	}
	return h, warns, nil
}

// outsideStations says why addr is not allowed by OPS_STATION_CIDRS, or "".
func outsideStations(addr string, prefixes []netip.Prefix) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return "is not an IP address: with OPS_STATION_CIDRS set, station addresses must be IP literals inside it (names are not resolved)"
	}
	a = a.Unmap()
	for _, p := range prefixes {
		if p.Contains(a) {
			return ""
		}
	}
	return "is outside OPS_STATION_CIDRS"
}

// parseLabs accepts ["1", 2, "lab-x"]; a lone string or number is one lab.
func parseLabs(v json.RawMessage) ([]string, error) {
	if v == nil || string(v) == "null" {
		return []string{}, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		items = []json.RawMessage{v}
	}
	out := make([]string, 0, len(items))
	seen := map[string]bool{}
	for _, it := range items {
		var s string
		if err := json.Unmarshal(it, &s); err != nil {
			var n json.Number
			d := json.NewDecoder(bytes.NewReader(it))
			d.UseNumber()
			if d.Decode(&n) != nil {
				return nil, fmt.Errorf("want strings or numbers, got %s", truncate(string(it), 40))
			}
			s = n.String()
		}
		s = strings.TrimSpace(s)
		if s == "" || len(s) > 128 {
			return nil, fmt.Errorf("lab id %q must be 1..128 characters", truncate(s, 40))
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func validName(s string) error {
	if len(s) > 128 {
		return errors.New("longer than 128 characters")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c >= 0x7f || c == '\'' || c == '"' || c == '\\' {
			return fmt.Errorf("%q: use printable ASCII without spaces, quotes or backslashes", s)
		}
	}
	return nil
}

// Hosts returns every host in file order (copies).
func (c *Catalog) Hosts() []Host {
	out := make([]Host, len(c.hosts))
	copy(out, c.hosts)
	for i := range out {
		out[i].Labs = append([]string(nil), out[i].Labs...)
	}
	return out
}

// Len is the number of hosts.
func (c *Catalog) Len() int { return len(c.hosts) }

// Get finds a host by name, case-insensitively. Names are printable ASCII
// (validName), so only ASCII spaces around the name are ignored and only
// ASCII letters fold: "lab-ws-01\u2029" (Unicode white space) or a Kelvin
// sign standing for a "k" name no host.
func (c *Catalog) Get(name string) (Host, bool) {
	name = strings.Trim(name, " \t\r\n")
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			return Host{}, false
		}
	}
	i, ok := c.byName[strings.ToLower(name)]
	if !ok {
		return Host{}, false
	}
	h := c.hosts[i]
	h.Labs = append([]string(nil), h.Labs...)
	return h, true
}

// ForLab returns the hosts that claim lab, the winner (first in the file)
// first. Lab ids compare case-insensitively too, since the gateway stores
// them as text.
func (c *Catalog) ForLab(lab string) []Host {
	lab = strings.TrimSpace(lab)
	idx := c.byLab[lab]
	if idx == nil {
		for k, v := range c.byLab {
			if strings.EqualFold(k, lab) {
				idx = v
				break
			}
		}
	}
	out := make([]Host, 0, len(idx))
	for _, i := range idx {
		h := c.hosts[i]
		h.Labs = append([]string(nil), h.Labs...)
		out = append(out, h)
	}
	return out
}

// Registry holds the catalog in force and swaps it on reload only when the
// new file is valid, so a bad edit never takes hosts away.
type Registry struct {
	path string
	opts Options
	cur  atomic.Pointer[Catalog]
}

// NewRegistry loads path once; the error is the load's.
func NewRegistry(path string, env LookupEnv) (*Registry, []string, error) {
	return NewRegistryWith(path, Options{Env: env})
}

// NewRegistryWith is NewRegistry under opts, which every reload keeps.
func NewRegistryWith(path string, opts Options) (*Registry, []string, error) {
	r := &Registry{path: path, opts: opts}
	c, warns, err := LoadFileWith(path, opts)
	if err != nil {
		return nil, warns, err
	}
	r.cur.Store(c)
	return r, warns, nil
}

// NewStaticRegistry wraps an already loaded catalog (tests, tools).
func NewStaticRegistry(c *Catalog) *Registry {
	r := &Registry{}
	r.cur.Store(c)
	return r
}

// Catalog is the catalog in force.
func (r *Registry) Catalog() *Catalog { return r.cur.Load() }

// Reload re-reads the file; on error the previous catalog stays.
func (r *Registry) Reload() (*Catalog, []string, error) {
	if r.path == "" {
		return nil, nil, errors.New("host catalog was not loaded from a file")
	}
	c, warns, err := LoadFileWith(r.path, r.opts)
	if err != nil {
		return nil, warns, err
	}
	r.cur.Store(c)
	return c, warns, nil
}

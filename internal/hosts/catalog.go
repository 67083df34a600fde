package hosts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/ops-worker/ops-worker/internal/boundedfile"
	"github.com/ops-worker/ops-worker/internal/netaddr"
	"github.com/ops-worker/ops-worker/internal/textcut"
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
	// Dynamic, when set, holds the database part of the catalog: a
	// Registry merges its entries with the file's (see Registry).
	Dynamic DynamicStore
	// RefreshEvery is how long a Registry trusts a merged catalog before
	// Current re-reads the database part; 0 means DefaultRefreshEvery.
	RefreshEvery time.Duration
	// DeferDynamic leaves the database part to the first Current: a
	// Registry then starts with the file part alone, and a database down at
	// start (a Lambda cold start) fails no start. false: NewRegistryWith
	// reads it, and fails with it.
	DeferDynamic bool
	// Logger gets the refresh failures and warnings; nil is slog.Default().
	Logger *slog.Logger
}

// LoadFile reads and validates a catalog file. Warnings are problems that
// do not stop the load (unknown fields, a lab claimed twice).
func LoadFile(path string, env LookupEnv) (*Catalog, []string, error) {
	return LoadFileWith(path, Options{Env: env})
}

// LoadFileWith is LoadFile under opts.
func LoadFileWith(path string, opts Options) (*Catalog, []string, error) {
	data, err := boundedfile.Read(path, maxCatalogBytes)
	var tooLarge *boundedfile.TooLargeError
	switch {
	case errors.As(err, &tooLarge):
		return nil, nil, fmt.Errorf("host catalog %s: larger than %d bytes", path, maxCatalogBytes)
	case err != nil:
		return nil, nil, fmt.Errorf("open host catalog: %w", err)
	}
	c, warns, err := ParseWith(data, opts)
	if err != nil {
		return nil, warns, fmt.Errorf("host catalog %s: %w", path, err)
	}
	return c, warns, nil
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
	c := newCatalog()
	for i, raw := range doc.Hosts {
		h, w, err := parseHost(i, raw, opts)
		warns = append(warns, w...)
		if err != nil {
			return nil, warns, err
		}
		if j, dup := c.byName[strings.ToLower(h.Name)]; dup {
			return nil, warns, fmt.Errorf("host %q (entry %d): duplicate name, already used by entry %d", h.Name, i, j)
		}
		h.Source = SourceFile
		warns = append(warns, c.push(h)...)
	}
	return c, warns, nil
}

func newCatalog() *Catalog {
	return &Catalog{byName: map[string]int{}, byLab: map[string][]int{}}
}

// push appends h, whose name the caller checked is new, and warns about
// each of its labs an earlier host already claims (the earlier one wins).
func (c *Catalog) push(h Host) []string {
	var warns []string
	c.byName[strings.ToLower(h.Name)] = len(c.hosts)
	for _, lab := range h.Labs {
		if prev := c.byLab[lab]; len(prev) > 0 {
			warns = append(warns, fmt.Sprintf("lab %q is claimed by host %q and host %q: %q wins", lab, c.hosts[prev[0]].Name, h.Name, c.hosts[prev[0]].Name))
		}
		c.byLab[lab] = append(c.byLab[lab], len(c.hosts))
	}
	c.hosts = append(c.hosts, h)
	return warns
}

// parseHost reads one entry field by field (catalogFields): every value is
// decoded first, then each gets its default and its check, in table order.
func parseHost(i int, raw map[string]json.RawMessage, opts Options) (Host, []string, error) {
	label := hostLabel(i, raw)
	warns := unknownFields(label, raw)
	fail := func(name string, err error) (Host, []string, error) {
		return Host{}, warns, fmt.Errorf("host %s, field %s: %v", label, name, err)
	}
	var h Host
	for _, f := range catalogFields {
		if err := f.decode(&h, raw[f.name], opts.Env); err != nil {
			return fail(f.name, err)
		}
	}
	for _, f := range catalogFields {
		if f.fill != nil {
			f.fill(&h)
		}
		if f.check == nil {
			continue
		}
		if err := f.check(&h, opts); err != nil {
			return fail(f.name, err)
		}
	}
	if h.WinRMInsecureSkipVerify {
		warns = append(warns, fmt.Sprintf("host %s: winrm_insecure_skip_verify is on: its WinRM certificate is NOT verified", label))
	}
	return h, warns, nil
}

// hostLabel names entry i in messages: its quoted name, or "entry i".
func hostLabel(i int, raw map[string]json.RawMessage) string {
	if n, ok := raw["name"]; ok {
		var s string
		if json.Unmarshal(n, &s) == nil && s != "" {
			return fmt.Sprintf("%q", s)
		}
	}
	return fmt.Sprintf("entry %d", i)
}

// unknownFields warns, in name order, about the fields catalogFields lacks.
func unknownFields(label string, raw map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var warns []string
	for _, k := range keys {
		if !knownField(k) {
			warns = append(warns, fmt.Sprintf("host %s: unknown field %q ignored", label, k))
		}
	}
	return warns
}

// outsideStations says why addr is not allowed by OPS_STATION_CIDRS, or "".
func outsideStations(addr string, prefixes []netip.Prefix) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return "is not an IP address: with OPS_STATION_CIDRS set, station addresses must be IP literals inside it (names are not resolved)"
	}
	if netaddr.InPrefixes(a, prefixes) {
		return ""
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

func truncate(s string, n int) string { return textcut.Cut(s, n, "...") }

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

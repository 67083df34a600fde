package hosts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// NoFile as the catalog path (OPS_CONFIG=none) means no file catalog: the
// file part is empty and every host comes from the database part.
const NoFile = "none"

// DefaultRefreshEvery is how long a merged catalog is trusted when
// Options.RefreshEvery is 0.
const DefaultRefreshEvery = 5 * time.Second

// warnEvery bounds how often a failing refresh is logged: Current runs on
// every request, and a database down for an hour is one problem.
const warnEvery = time.Minute

// ErrHostExists is returned (wrapped with the name) by Registry.Add for a
// name the file or the database part already holds.
var ErrHostExists = errors.New("host already in the catalog")

// DynamicEntry is one row of the database part: a hosts.json entry as the
// file would hold it, without secrets.
type DynamicEntry struct {
	Name      string
	Entry     json.RawMessage
	CreatedBy string
	// CreatedAt zero in AddCatalogHost means the store's clock.
	CreatedAt time.Time
}

// DynamicStore is the database part of the catalog. AddCatalogHost
// returns an error wrapping ErrHostExists for a name already stored.
type DynamicStore interface {
	CatalogHosts(ctx context.Context) ([]DynamicEntry, error)
	AddCatalogHost(ctx context.Context, e DynamicEntry) error
}

// snapshot is what a Registry serves: the merged catalog, the file part it
// was merged from (a refresh re-reads only the database), and when the
// database part was last read (or last failed to be).
type snapshot struct {
	merged  *Catalog
	file    *Catalog
	checked time.Time
	dbWarns []string
}

// Registry holds the catalog in force: the file part (hosts.json, read at
// start and on Reload) merged with the database part (Options.Dynamic, read
// again by Current once the merged catalog is older than RefreshEvery). A
// new catalog replaces the one in force only when it is valid, so a bad
// edit, a bad row or a database outage never takes hosts away.
//
// A bad database row fails the load that reads it, naming the row, as a
// bad file entry does: at start the worker does not start, on a refresh or
// Reload the previous catalog stays (logged, or Reload's error).
type Registry struct {
	path string
	opts Options
	cur  atomic.Pointer[snapshot]
	// mu serialises loads, so that one refresh runs at a time and Add's
	// check and insert see the latest database part.
	mu sync.Mutex

	warnMu     sync.Mutex
	lastWarn   time.Time
	suppressed int
}

// NewRegistry loads path once; the error is the load's.
func NewRegistry(path string, env LookupEnv) (*Registry, []string, error) {
	return NewRegistryWith(context.Background(), path, Options{Env: env})
}

// NewRegistryWith loads the file part (path, or none for NoFile) and then,
// with opts.Dynamic, the database part, and merges them. opts hold for
// every later load.
func NewRegistryWith(ctx context.Context, path string, opts Options) (*Registry, []string, error) {
	if path == NoFile && opts.Dynamic == nil {
		return nil, nil, errors.New("host catalog: no file (OPS_CONFIG=none) and no database part")
	}
	r := &Registry{path: path, opts: opts}
	if opts.DeferDynamic {
		r.opts.Dynamic = nil // the file part alone, for now
	}
	snap, warns, err := r.load(ctx, nil)
	r.opts.Dynamic = opts.Dynamic
	if err != nil {
		return nil, warns, err
	}
	if opts.DeferDynamic {
		snap.checked = time.Time{} // due: the first Current reads the database
	}
	r.cur.Store(snap)
	return r, warns, nil
}

// NewStaticRegistry wraps an already loaded catalog (tests, tools).
func NewStaticRegistry(c *Catalog) *Registry {
	r := &Registry{}
	r.cur.Store(&snapshot{merged: c, file: c})
	return r
}

// Catalog is the merged catalog in force, without I/O.
func (r *Registry) Catalog() *Catalog { return r.cur.Load().merged }

// Current is the merged catalog, its database part re-read first when
// older than RefreshEvery. One refresh runs at a time: a caller arriving
// while another refreshes gets the catalog in force without waiting (it is
// at most one refresh late). A refresh that fails keeps the catalog in
// force and is logged (at most once a minute); the next try is
// RefreshEvery later.
func (r *Registry) Current(ctx context.Context) *Catalog {
	snap := r.cur.Load()
	if r.opts.Dynamic == nil || time.Since(snap.checked) < r.refreshEvery() {
		return snap.merged
	}
	if !r.mu.TryLock() {
		return snap.merged
	}
	defer r.mu.Unlock()
	snap = r.cur.Load()
	if time.Since(snap.checked) < r.refreshEvery() {
		return snap.merged // refreshed while this caller took the lock
	}
	next, warns, err := r.load(ctx, snap.file)
	if err != nil {
		if ctx.Err() != nil {
			return snap.merged // the caller gave up: not the database's fault
		}
		r.warnRefresh(ctx, err)
		stale := *snap
		stale.checked = time.Now()
		r.cur.Store(&stale)
		return snap.merged
	}
	if !slices.Equal(next.dbWarns, snap.dbWarns) {
		for _, w := range warns {
			r.log().WarnContext(ctx, "host catalog", "warning", w)
		}
	}
	r.cur.Store(next)
	return next.merged
}

// Reload re-reads both parts; on error the catalog in force stays.
func (r *Registry) Reload(ctx context.Context) (*Catalog, []string, error) {
	if r.path == "" {
		return nil, nil, errors.New("host catalog was not loaded from a file")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	snap, warns, err := r.load(ctx, nil)
	if err != nil {
		return nil, warns, err
	}
	r.cur.Store(snap)
	return snap.merged, warns, nil
}

// Add validates entry (one hosts.json entry, as the file would hold it) as
// a database entry under the registry's Options, refuses a name either
// part holds (ErrHostExists), stores it through Options.Dynamic as actor's,
// and refreshes at once: this instance serves it from the return on, the
// others within RefreshEvery. Load warnings (an unknown field) are logged.
func (r *Registry) Add(ctx context.Context, entry json.RawMessage, actor string) (Host, error) {
	if r.opts.Dynamic == nil {
		return Host{}, errors.New("add host: the catalog has no database part (no database configured)")
	}
	h, warns, err := parseDatabaseEntry(entry, "", r.opts)
	if err != nil {
		return Host{}, fmt.Errorf("add host: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// The latest database part, so that a name another instance added
	// since the last refresh is refused here rather than by the insert.
	snap, _, err := r.load(ctx, r.cur.Load().file)
	if err != nil {
		return Host{}, fmt.Errorf("add host %q: %w", h.Name, err)
	}
	if old, ok := snap.merged.Get(h.Name); ok {
		return Host{}, fmt.Errorf("add host %q: %w (from the %s)", h.Name, ErrHostExists, sourceLabel(old.Source))
	}
	compact, err := compactJSON(entry)
	if err != nil {
		return Host{}, fmt.Errorf("add host %q: %w", h.Name, err)
	}
	if err := r.opts.Dynamic.AddCatalogHost(ctx, DynamicEntry{Name: h.Name, Entry: compact, CreatedBy: actor}); err != nil {
		return Host{}, fmt.Errorf("add host %q: %w", h.Name, err)
	}
	for _, w := range warns {
		r.log().WarnContext(ctx, "host catalog", "warning", w)
	}
	next, _, err := r.load(ctx, snap.file)
	if err != nil {
		// Stored, so every instance's next refresh has it; only this one
		// serves the previous catalog a little longer.
		r.log().WarnContext(ctx, "host added but the catalog was not refreshed", "host", h.Name, "err", err)
		return h, nil
	}
	r.cur.Store(next)
	if got, ok := next.merged.Get(h.Name); ok {
		return got, nil
	}
	return h, nil
}

// load reads the file part (unless file is given: a refresh keeps it) and
// the database part, and merges them.
func (r *Registry) load(ctx context.Context, file *Catalog) (*snapshot, []string, error) {
	var warns []string
	if file == nil {
		if r.path == NoFile {
			file = newCatalog()
		} else {
			c, w, err := LoadFileWith(r.path, r.opts)
			if err != nil {
				return nil, w, err
			}
			file, warns = c, w
		}
	}
	snap := &snapshot{merged: file, file: file, checked: time.Now()}
	if r.opts.Dynamic == nil {
		return snap, warns, nil
	}
	rows, err := r.opts.Dynamic.CatalogHosts(ctx)
	if err != nil {
		return nil, warns, fmt.Errorf("host catalog, database part: %w", err)
	}
	merged, dbWarns, err := merge(file, rows, r.opts)
	warns = append(warns, dbWarns...)
	if err != nil {
		return nil, warns, fmt.Errorf("host catalog, database part: %w", err)
	}
	snap.merged, snap.dbWarns = merged, dbWarns
	return snap, warns, nil
}

// merge is file's hosts, then each row's, in the rows' order. A name in
// both parts is an error naming the host and both sources.
func merge(file *Catalog, rows []DynamicEntry, opts Options) (*Catalog, []string, error) {
	c := newCatalog()
	for _, h := range file.hosts {
		c.push(h) // the file's own lab warnings came with its load
	}
	var warns []string
	for _, row := range rows {
		h, w, err := parseDatabaseEntry(row.Entry, row.Name, opts)
		warns = append(warns, w...)
		if err != nil {
			return nil, warns, err
		}
		if i, dup := c.byName[strings.ToLower(h.Name)]; dup {
			return nil, warns, fmt.Errorf("host %q is in both the %s and the %s: remove one", h.Name, sourceLabel(c.hosts[i].Source), sourceLabel(SourceDatabase))
		}
		warns = append(warns, c.push(h)...)
	}
	return c, warns, nil
}

func sourceLabel(source string) string {
	if source == SourceDatabase {
		return "database catalog (ops_catalog_hosts)"
	}
	return "file catalog (hosts.json)"
}

// parseDatabaseEntry checks one database entry with the file's rules
// (parseHost under opts) and the database's own: no WinRM credentials and
// no env: reference, since the database part is readable by whoever reads
// the database and a Lambda function has no station secrets in its
// environment; credentials live in the credential store. row is the
// stored name ("" for an entry not stored yet), which must be the entry's.
func parseDatabaseEntry(entry json.RawMessage, row string, opts Options) (Host, []string, error) {
	label := "database entry"
	if row != "" {
		label = fmt.Sprintf("database row %q", row)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(entry, &raw); err != nil || raw == nil {
		return Host{}, nil, fmt.Errorf("%s: not a JSON object (one hosts.json entry)", label)
	}
	for _, name := range []string{"winrm_user", "winrm_pass"} {
		if !absent(raw[name]) {
			return Host{}, nil, fmt.Errorf("%s, field %s: WinRM credentials may not be stored in the database catalog; they belong in the credential store", label, name)
		}
	}
	for name, v := range raw {
		if holdsEnvRef(v) {
			return Host{}, nil, fmt.Errorf("%s, field %s: env: references may not be stored in the database catalog (secrets belong in the credential store)", label, name)
		}
	}
	// The file's rules, with no environment to resolve from (refused above).
	opts.Env = func(string) (string, bool) { return "", false }
	h, warns, err := parseHost(0, raw, opts)
	if err != nil {
		return Host{}, warns, fmt.Errorf("%s: %w", label, err)
	}
	if row != "" && !strings.EqualFold(row, h.Name) {
		return Host{}, warns, fmt.Errorf("%s: its entry names host %q", label, h.Name)
	}
	h.Source = SourceDatabase
	return h, warns, nil
}

// holdsEnvRef reports an "env:" string anywhere in v.
func holdsEnvRef(v json.RawMessage) bool {
	var x any
	if json.Unmarshal(v, &x) != nil {
		return false // the field's own decode says what is wrong
	}
	var walk func(any) bool
	walk = func(x any) bool {
		switch t := x.(type) {
		case string:
			return strings.HasPrefix(strings.TrimSpace(t), "env:")
		case []any:
			return slices.ContainsFunc(t, walk)
		case map[string]any:
			for _, e := range t {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	return walk(x)
}

func compactJSON(entry json.RawMessage) (json.RawMessage, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, entry); err != nil {
		return nil, fmt.Errorf("entry: %w", err)
	}
	return b.Bytes(), nil
}

func (r *Registry) refreshEvery() time.Duration {
	if r.opts.RefreshEvery > 0 {
		return r.opts.RefreshEvery
	}
	return DefaultRefreshEvery
}

func (r *Registry) log() *slog.Logger {
	if r.opts.Logger != nil {
		return r.opts.Logger
	}
	return slog.Default()
}

// warnRefresh logs a failed refresh, at most once per warnEvery, with the
// number of failures not logged since.
func (r *Registry) warnRefresh(ctx context.Context, err error) {
	r.warnMu.Lock()
	now := time.Now()
	if !r.lastWarn.IsZero() && now.Sub(r.lastWarn) < warnEvery {
		r.suppressed++
		r.warnMu.Unlock()
		return
	}
	n := r.suppressed
	r.lastWarn, r.suppressed = now, 0
	r.warnMu.Unlock()
	r.log().WarnContext(ctx, "host catalog refresh failed; previous catalog kept", "err", err, "failures_not_logged", n)
}

// CheckDatabaseEntry validates entry as Add would, without storing it:
// the catalog's rules under opts, and no credential or env: reference in
// it. Provisioning checks a request's entry with it first (a refusal is
// the caller's mistake, not the database's).
func CheckDatabaseEntry(entry json.RawMessage, opts Options) (Host, error) {
	h, _, err := parseDatabaseEntry(entry, "", opts)
	return h, err
}

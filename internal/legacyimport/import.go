package legacyimport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/ops-worker/ops-worker/internal/secrets"
)

// DefaultActor records who stored what when Sources.Actor is empty.
const DefaultActor = "import-credentials"

// The kinds and results of a Report's items, as printed.
const (
	KindWinRM = "winrm credential"
	KindPower = "power credential"
	KindHost  = "host"

	ResultStored  = "stored"  // a credential new to the store
	ResultUpdated = "updated" // a credential that replaced one of the same reference
	ResultAdded   = "added"   // a host new to the catalog
	ResultExists  = "exists"  // a host the catalog already has by that name: left alone
)

// CredentialSink stores credentials (the credential store's service;
// the integrator adapts it).
type CredentialSink interface {
	// SaveWinRM stores a WinRM credential under ref and returns
	// ResultUpdated when it replaced one; any other value reads as
	// ResultStored.
	SaveWinRM(ctx context.Context, ref, user string, password secrets.Secret, actor string) (string, error)
	// SavePower stores a power credential; rotated reports that one of the
	// same reference was replaced (Import passes overwrite true, so a
	// second run replaces rather than fails).
	SavePower(ctx context.Context, ref, typ string, creds map[string]any, overwrite bool, actor string) (meta any, rotated bool, err error)
}

// HostSink adds hosts to the dynamic catalog, which validates each entry as
// any provisioned host.
type HostSink interface {
	Add(ctx context.Context, entry json.RawMessage, actor string) (name string, err error)
	Has(ctx context.Context, name string) bool
}

// Sources names the older worker's files; an empty path is not read.
type Sources struct {
	WinRMPath        string // OPS_CREDENTIALS_PATH
	PowerPath        string // OPS_POWER_CREDENTIALS_PATH
	DynamicHostsPath string // OPS_DYNAMIC_CONFIG
	Key              []byte // OPS_SECRETS_KEY, 32 raw bytes (fernet.ParseKey)
	Actor            string // who the stores record; DefaultActor when empty
}

// Item is what Import did with one reference or host.
type Item struct {
	Kind   string // KindWinRM, KindPower or KindHost
	Name   string // the credential reference or the host name
	Result string // ResultStored, ResultUpdated, ResultAdded or ResultExists
}

// String is the item's line of output, e.g. "host lab-ws-09: added".
func (i Item) String() string { return i.Kind + " " + i.Name + ": " + i.Result }

// Report lists what Import did, in order.
type Report struct {
	Items []Item
}

// Count returns how many items are of kind with result.
func (r Report) Count(kind, result string) int {
	n := 0
	for _, i := range r.Items {
		if i.Kind == kind && i.Result == result {
			n++
		}
	}
	return n
}

// Import reads and checks every file of src first and stores nothing when
// any of them has a problem (the error lists them all). Then it stores the
// WinRM credentials, the power credentials and the hosts, in file order,
// writing one line per item to out (references and names, never a secret).
//
// Running it again is safe: credentials are stored again (ResultUpdated)
// and hosts already in the catalog are left alone (ResultExists). So when
// a store fails midway, the error says how far it got and a rerun finishes
// the job; the returned Report holds what was stored before the failure.
func Import(ctx context.Context, src Sources, creds CredentialSink, hosts HostSink, out io.Writer) (Report, error) {
	var report Report
	if src.WinRMPath == "" && src.PowerPath == "" && src.DynamicHostsPath == "" {
		return report, errors.New("import: nothing to import: no WinRM credentials, power credentials or dynamic hosts file given")
	}
	if (src.WinRMPath != "" || src.PowerPath != "") && creds == nil {
		return report, errors.New("import: credential files given but no credential store")
	}
	if src.DynamicHostsPath != "" && hosts == nil {
		return report, errors.New("import: a dynamic hosts file given but no catalog")
	}
	actor := src.Actor
	if actor == "" {
		actor = DefaultActor
	}

	var (
		winrm   []WinRMCredential
		power   []PowerCredential
		entries []json.RawMessage
		errs    []error
		err     error
	)
	if src.WinRMPath != "" {
		if winrm, err = ReadWinRMCredentials(src.WinRMPath, src.Key); err != nil {
			errs = append(errs, err)
		}
	}
	if src.PowerPath != "" {
		if power, err = ReadPowerCredentials(src.PowerPath, src.Key); err != nil {
			errs = append(errs, err)
		}
	}
	if src.DynamicHostsPath != "" {
		if entries, err = ReadDynamicHosts(src.DynamicHostsPath); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return report, fmt.Errorf("import: nothing stored: %w", errors.Join(errs...))
	}

	w := &lineWriter{w: out}
	total := len(winrm) + len(power) + len(entries)
	record := func(i Item) {
		report.Items = append(report.Items, i)
		w.line(i.String())
	}
	stopped := func(what string, err error) (Report, error) {
		return report, fmt.Errorf("import: %s: %w (%d of %d items done; running the import again is safe)", what, err, len(report.Items), total)
	}
	for _, c := range winrm {
		if err := ctx.Err(); err != nil {
			return stopped("stopped", err)
		}
		got, err := creds.SaveWinRM(ctx, c.Ref, c.User, c.Password, actor)
		if err != nil {
			return stopped("store "+KindWinRM+" "+c.Ref, err)
		}
		result := ResultStored
		if got == ResultUpdated {
			result = ResultUpdated
		}
		record(Item{Kind: KindWinRM, Name: c.Ref, Result: result})
	}
	for _, c := range power {
		if err := ctx.Err(); err != nil {
			return stopped("stopped", err)
		}
		fields := make(map[string]any, len(c.Fields))
		for k, v := range c.Fields {
			fields[k] = v.Reveal()
		}
		_, rotated, err := creds.SavePower(ctx, c.Ref, c.Type, fields, true, actor)
		if err != nil {
			return stopped("store "+KindPower+" "+c.Ref, err)
		}
		result := ResultStored
		if rotated {
			result = ResultUpdated
		}
		record(Item{Kind: KindPower, Name: c.Ref, Result: result})
	}
	for _, entry := range entries {
		if err := ctx.Err(); err != nil {
			return stopped("stopped", err)
		}
		name, _ := hostName(entry) // checked by ReadDynamicHosts
		if hosts.Has(ctx, name) {
			record(Item{Kind: KindHost, Name: name, Result: ResultExists})
			continue
		}
		added, err := hosts.Add(ctx, entry, actor)
		if err != nil {
			return stopped("add "+KindHost+" "+name, err)
		}
		if added == "" {
			added = name
		}
		record(Item{Kind: KindHost, Name: added, Result: ResultAdded})
	}
	if w.err != nil {
		return report, fmt.Errorf("import: everything stored, but writing the report failed: %w", w.err)
	}
	return report, nil
}

// lineWriter writes lines to w until one fails, and remembers that error:
// a broken output must not stop the stores half way.
type lineWriter struct {
	w   io.Writer
	err error
}

func (l *lineWriter) line(s string) {
	if l.w == nil || l.err != nil {
		return
	}
	_, l.err = io.WriteString(l.w, s+"\n")
}

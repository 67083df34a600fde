package legacyimport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/ops-worker/ops-worker/internal/power"
	"github.com/ops-worker/ops-worker/internal/secrets"
)

// DefaultActor records who stored what when Sources.Actor is empty.
const DefaultActor = "import-credentials"

// The kinds and results of a Report's items, as printed.
const (
	KindWinRM      = "winrm credential"
	KindPower      = "power credential"
	KindHost       = "host"
	KindController = "power controller"     // named by its id
	KindPolicy     = "power policy for lab" // named by the lab id

	ResultStored  = "stored"  // a credential new to the store
	ResultUpdated = "updated" // a credential that replaced one of the same reference
	ResultAdded   = "added"   // a host, power controller or policy new to the catalog
	ResultExists  = "exists"  // one the catalog already has (a host by name, a controller by id, a policy by lab): left alone
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

// PowerCatalogSink is the database's power catalog (powerops' Service; the
// integrator adapts it), which validates every controller and policy as the
// routes do. Ids and lab ids compare as the catalog compares them.
type PowerCatalogSink interface {
	// Controller returns the catalog's controller of id; ok false when it
	// has none.
	Controller(ctx context.Context, id string) (c power.Controller, ok bool, err error)
	// CreateController adds a controller; body is what POST
	// /api/power/controllers takes.
	CreateController(ctx context.Context, body json.RawMessage, actor string) error
	// HasPolicy reports whether the lab has a policy.
	HasPolicy(ctx context.Context, labID string) (bool, error)
	// PutPolicy stores the lab's policy, checked against the catalog; body
	// is what PUT /api/power/policies/{labId} takes.
	PutPolicy(ctx context.Context, labID string, body json.RawMessage, actor string) error
}

// Sources names the older worker's files; an empty path is not read.
type Sources struct {
	WinRMPath        string // OPS_CREDENTIALS_PATH
	PowerPath        string // OPS_POWER_CREDENTIALS_PATH
	DynamicHostsPath string // OPS_DYNAMIC_CONFIG
	PowerCatalogPath string // OPS_POWER_CONFIG: controllers, outlets, policies (no secret, no key needed)
	Key              []byte // OPS_SECRETS_KEY, 32 raw bytes (fernet.ParseKey)
	Actor            string // who the stores record; DefaultActor when empty
}

// Item is what Import did with one reference or host.
type Item struct {
	Kind   string // KindWinRM, KindPower, KindHost, KindController or KindPolicy
	Name   string // the credential reference, host name, controller id or lab id
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
// any of them has a problem (the error lists them all); a power catalog's
// policies are checked against the controllers the catalog will hold. Then
// it stores the WinRM credentials, the power credentials, the hosts, the
// power controllers and the policies, in file order, writing one line per
// item to out (references, names and ids, never a secret).
//
// Running it again is safe: credentials are stored again (ResultUpdated)
// and hosts, controllers and policies already in the catalog are left alone
// (ResultExists). So when a store fails midway, the error says how far it
// got and a rerun finishes the job; the returned Report holds what was
// stored before the failure.
func Import(ctx context.Context, src Sources, creds CredentialSink, hosts HostSink, catalog PowerCatalogSink, out io.Writer) (Report, error) {
	if err := checkSinks(src, creds, hosts, catalog); err != nil {
		return Report{}, err
	}
	in, err := readAll(src)
	if err == nil {
		err = in.planCatalog(ctx, src.PowerCatalogPath, catalog)
	}
	if err != nil {
		return Report{}, err
	}
	actor := src.Actor
	if actor == "" {
		actor = DefaultActor
	}
	im := &importer{ctx: ctx, actor: actor, creds: creds, hosts: hosts, catalog: catalog, w: &lineWriter{w: out}, total: in.total()}
	if err := im.run(in); err != nil {
		return im.report, err
	}
	if im.w.err != nil {
		return im.report, fmt.Errorf("import: everything stored, but writing the report failed: %w", im.w.err)
	}
	return im.report, nil
}

// checkSinks: something to import, and somewhere to store each file's.
func checkSinks(src Sources, creds CredentialSink, hosts HostSink, catalog PowerCatalogSink) error {
	switch {
	case src.WinRMPath == "" && src.PowerPath == "" && src.DynamicHostsPath == "" && src.PowerCatalogPath == "":
		return errors.New("import: nothing to import: no WinRM credentials, power credentials, dynamic hosts or power catalog file given")
	case (src.WinRMPath != "" || src.PowerPath != "") && creds == nil:
		return errors.New("import: credential files given but no credential store")
	case src.DynamicHostsPath != "" && hosts == nil:
		return errors.New("import: a dynamic hosts file given but no catalog")
	case src.PowerCatalogPath != "" && catalog == nil:
		return errors.New("import: a power catalog file given but no power catalog")
	}
	return nil
}

// inputs is everything read, and what the power catalog already has.
type inputs struct {
	winrm   []WinRMCredential
	power   []PowerCredential
	hosts   []json.RawMessage
	catalog PowerCatalog
	// controllerExists and policyExists, per entry of catalog: the
	// database has it (it is left alone).
	controllerExists, policyExists []bool
}

func (in inputs) total() int {
	return len(in.winrm) + len(in.power) + len(in.hosts) + len(in.catalog.Controllers) + len(in.catalog.Policies)
}

// readAll reads and checks every file of src, each problem listed.
func readAll(src Sources) (inputs, error) {
	var (
		in   inputs
		errs []error
		err  error
	)
	if src.WinRMPath != "" {
		if in.winrm, err = ReadWinRMCredentials(src.WinRMPath, src.Key); err != nil {
			errs = append(errs, err)
		}
	}
	if src.PowerPath != "" {
		if in.power, err = ReadPowerCredentials(src.PowerPath, src.Key); err != nil {
			errs = append(errs, err)
		}
	}
	if src.DynamicHostsPath != "" {
		if in.hosts, err = ReadDynamicHosts(src.DynamicHostsPath); err != nil {
			errs = append(errs, err)
		}
	}
	if src.PowerCatalogPath != "" {
		if in.catalog, err = ReadPowerCatalog(src.PowerCatalogPath); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return inputs{}, fmt.Errorf("import: nothing stored: %w", errors.Join(errs...))
	}
	return in, nil
}

// planCatalog asks the catalog which of the file's controllers and policies
// it has, and checks each new policy against the controllers it will hold
// once the file's are added: the catalog's own for an id it has (the
// file's is left alone), else the file's. Nothing is stored.
func (in *inputs) planCatalog(ctx context.Context, path string, sink PowerCatalogSink) error {
	cat := in.catalog
	known := map[string]power.Controller{}
	in.controllerExists = make([]bool, len(cat.Controllers))
	for i, pc := range cat.Controllers {
		c, ok, err := sink.Controller(ctx, pc.Controller.ID)
		if err != nil {
			return fmt.Errorf("import: nothing stored: read %s %s: %w", KindController, pc.Controller.ID, err)
		}
		in.controllerExists[i] = ok
		if !ok {
			c = pc.Controller
		}
		known[c.ID] = c
	}
	var errs problems
	in.policyExists = make([]bool, len(cat.Policies))
	for i, pp := range cat.Policies {
		p := pp.Policy
		has, err := sink.HasPolicy(ctx, p.LabID)
		if err != nil {
			return fmt.Errorf("import: nothing stored: read %s %s: %w", KindPolicy, p.LabID, err)
		}
		if in.policyExists[i] = has; has {
			continue
		}
		if err := lookUpSteps(ctx, sink, known, p); err != nil {
			return fmt.Errorf("import: nothing stored: %w", err)
		}
		if err := power.ValidatePolicy(p, slices.Collect(maps.Values(known))); err != nil {
			errs.add(fmt.Errorf("%s: policy for lab %s, against the catalog it would join: %w", path, showID(p.LabID), err))
		}
	}
	if err := errs.err(); err != nil {
		return fmt.Errorf("import: nothing stored: %w", err)
	}
	return nil
}

// lookUpSteps adds to known the catalog's controllers p's steps name that
// known lacks (an absent one stays absent: ValidatePolicy says so).
func lookUpSteps(ctx context.Context, sink PowerCatalogSink, known map[string]power.Controller, p power.Policy) error {
	for _, s := range p.Steps {
		if _, ok := known[s.ControllerID]; ok {
			continue
		}
		c, ok, err := sink.Controller(ctx, s.ControllerID)
		if err != nil {
			return fmt.Errorf("read %s %s: %w", KindController, showID(s.ControllerID), err)
		}
		if ok && c.ID == s.ControllerID {
			known[c.ID] = c
		}
	}
	return nil
}

// importer stores what was read, one item at a time.
type importer struct {
	ctx     context.Context
	actor   string
	creds   CredentialSink
	hosts   HostSink
	catalog PowerCatalogSink
	w       *lineWriter
	total   int
	report  Report
}

func (im *importer) record(i Item) {
	im.report.Items = append(im.report.Items, i)
	im.w.line(i.String())
}

func (im *importer) stopped(what string, err error) error {
	return fmt.Errorf("import: %s: %w (%d of %d items done; running the import again is safe)", what, err, len(im.report.Items), im.total)
}

// next is the context's error before the next item, as a stop.
func (im *importer) next() error {
	if err := im.ctx.Err(); err != nil {
		return im.stopped("stopped", err)
	}
	return nil
}

func (im *importer) run(in inputs) error {
	for _, step := range []func(inputs) error{im.winRM, im.powerCredentials, im.dynamicHosts, im.controllers, im.policies} {
		if err := step(in); err != nil {
			return err
		}
	}
	return nil
}

func (im *importer) winRM(in inputs) error {
	for _, c := range in.winrm {
		if err := im.next(); err != nil {
			return err
		}
		got, err := im.creds.SaveWinRM(im.ctx, c.Ref, c.User, c.Password, im.actor)
		if err != nil {
			return im.stopped("store "+KindWinRM+" "+c.Ref, err)
		}
		result := ResultStored
		if got == ResultUpdated {
			result = ResultUpdated
		}
		im.record(Item{Kind: KindWinRM, Name: c.Ref, Result: result})
	}
	return nil
}

func (im *importer) powerCredentials(in inputs) error {
	for _, c := range in.power {
		if err := im.next(); err != nil {
			return err
		}
		fields := make(map[string]any, len(c.Fields))
		for k, v := range c.Fields {
			fields[k] = v.Reveal()
		}
		_, rotated, err := im.creds.SavePower(im.ctx, c.Ref, c.Type, fields, true, im.actor)
		if err != nil {
			return im.stopped("store "+KindPower+" "+c.Ref, err)
		}
		result := ResultStored
		if rotated {
			result = ResultUpdated
		}
		im.record(Item{Kind: KindPower, Name: c.Ref, Result: result})
	}
	return nil
}

func (im *importer) dynamicHosts(in inputs) error {
	for _, entry := range in.hosts {
		if err := im.next(); err != nil {
			return err
		}
		name, _ := hostName(entry) // checked by ReadDynamicHosts
		if im.hosts.Has(im.ctx, name) {
			im.record(Item{Kind: KindHost, Name: name, Result: ResultExists})
			continue
		}
		added, err := im.hosts.Add(im.ctx, entry, im.actor)
		if err != nil {
			return im.stopped("add "+KindHost+" "+name, err)
		}
		if added == "" {
			added = name
		}
		im.record(Item{Kind: KindHost, Name: added, Result: ResultAdded})
	}
	return nil
}

func (im *importer) controllers(in inputs) error {
	for i, pc := range in.catalog.Controllers {
		if err := im.next(); err != nil {
			return err
		}
		id := pc.Controller.ID
		if in.controllerExists[i] {
			im.record(Item{Kind: KindController, Name: id, Result: ResultExists})
			continue
		}
		if err := im.catalog.CreateController(im.ctx, pc.Body, im.actor); err != nil {
			return im.stopped("add "+KindController+" "+id, err)
		}
		im.record(Item{Kind: KindController, Name: id, Result: ResultAdded})
	}
	return nil
}

func (im *importer) policies(in inputs) error {
	for i, pp := range in.catalog.Policies {
		if err := im.next(); err != nil {
			return err
		}
		lab := pp.Policy.LabID
		if in.policyExists[i] {
			im.record(Item{Kind: KindPolicy, Name: lab, Result: ResultExists})
			continue
		}
		if err := im.catalog.PutPolicy(im.ctx, lab, pp.Body, im.actor); err != nil {
			return im.stopped("store "+KindPolicy+" "+lab, err)
		}
		im.record(Item{Kind: KindPolicy, Name: lab, Result: ResultAdded})
	}
	return nil
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

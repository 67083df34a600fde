package legacyimport

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ops-worker/ops-worker/internal/power"
	"github.com/ops-worker/ops-worker/internal/textcut"
)

// PowerController is one controller of the older worker's OPS_POWER_CONFIG
// file as ops-worker's catalog takes it.
type PowerController struct {
	// Controller is the entry validated by power.ParseController, with its
	// outlets merged as the older worker's registry merged them.
	Controller power.Controller
	// Body is the JSON POST /api/power/controllers (powerops'
	// CreateController) accepts.
	Body json.RawMessage
}

// PowerPolicy is one lab's policy of the file.
type PowerPolicy struct {
	// Policy is the entry validated by power.DecodePolicy; its steps on the
	// file's controllers name outlets of them. Steps on other controllers
	// are checked by Import against the catalog it stores into.
	Policy power.Policy
	// Body is the JSON PUT /api/power/policies/{labId} (powerops'
	// PutPolicy) accepts.
	Body json.RawMessage
}

// PowerCatalog is what ReadPowerCatalog read, in file order.
type PowerCatalog struct {
	Controllers []PowerController
	Policies    []PowerPolicy
}

// controller returns the file's controller of id.
func (c PowerCatalog) controller(id string) (power.Controller, bool) {
	for _, pc := range c.Controllers {
		if pc.Controller.ID == id {
			return pc.Controller, true
		}
	}
	return power.Controller{}, false
}

// ReadPowerCatalog reads the older worker's OPS_POWER_CONFIG file,
// {"controllers": [...], "outlets": [...], "policies": [...]}, as its
// PowerRegistry.from_config and PowerRuntime.from_config did (see doc.go),
// and validates every controller and policy with the catalog's own rules
// (power.ParseController, power.DecodePolicy). All or nothing: any problem
// returns no entry and an error naming the file and each controller or lab
// at fault, never a value of the file's config.
func ReadPowerCatalog(path string) (PowerCatalog, error) {
	doc, err := readPowerDoc(path)
	if err != nil {
		return PowerCatalog{}, err
	}
	var errs problems
	outlets := topLevelOutlets(path, doc.outlets, &errs)
	defined := make([]string, len(doc.controllers))
	for i, f := range doc.controllers {
		defined[i], _ = keyOf(f["id"])
	}
	var cat PowerCatalog
	cat.Controllers = readControllers(path, doc.controllers, outlets, &errs)
	for _, id := range outlets.order {
		if !slices.Contains(defined, id) {
			// The older worker ignored such an outlet: an import refuses it
			// rather than drop it unseen.
			errs.add(fmt.Errorf("%s: outlets[%d] names controller %s, which the file does not define", path, outlets.first[id], showID(id)))
		}
	}
	cat.Policies = readPolicies(path, doc.policies, cat, &errs)
	if err := errs.err(); err != nil {
		return PowerCatalog{}, err
	}
	return cat, nil
}

// powerDoc is the file's three arrays, each entry an object.
type powerDoc struct {
	controllers, outlets, policies []fields
}

// fields is one JSON object of the file.
type fields map[string]json.RawMessage

func readPowerDoc(path string) (powerDoc, error) {
	data, err := readBounded(path)
	if err != nil {
		return powerDoc{}, err
	}
	var top fields
	if err := json.Unmarshal(data, &top); err != nil || top == nil {
		return powerDoc{}, fmt.Errorf("%s: not a JSON object (a truncated or damaged file?)%s", path, syntaxAt(err))
	}
	if top["controllers"] == nil && top["outlets"] == nil && top["policies"] == nil {
		return powerDoc{}, fmt.Errorf(`%s: no "controllers", "outlets" or "policies": not the older worker's power catalog`, path)
	}
	var doc powerDoc
	var errs problems
	for _, a := range []struct {
		name string
		dst  *[]fields
	}{{"controllers", &doc.controllers}, {"outlets", &doc.outlets}, {"policies", &doc.policies}} {
		list, err := objectArray(top, a.name)
		if err != nil {
			errs.add(fmt.Errorf("%s: %w", path, err))
		}
		*a.dst = list
	}
	if err := errs.err(); err != nil {
		return powerDoc{}, err
	}
	return doc, nil
}

// syntaxAt says where a syntax error is, never what is there (a damaged
// file may hold a secret next to it).
func syntaxAt(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf(" at byte %d", se.Offset)
	}
	return ""
}

// objectArray is top[name] as an array of objects; absent is empty, as the
// older worker's config.get(name, []).
func objectArray(top fields, name string) ([]fields, error) {
	raw, ok := top[name]
	if !ok {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || items == nil {
		return nil, fmt.Errorf("%q is not an array", name)
	}
	out := make([]fields, 0, len(items))
	for i, item := range items {
		var f fields
		if err := json.Unmarshal(item, &f); err != nil || f == nil {
			return nil, fmt.Errorf("%s[%d] is not an object", name, i)
		}
		out = append(out, f)
	}
	return out, nil
}

// take removes every one of names from f and returns the first present
// and not null (the older worker's value.get("a", value.get("b")), or
// value.get("a") or value.get("b")).
func (f fields) take(names ...string) (json.RawMessage, bool) {
	var got json.RawMessage
	for _, n := range names {
		raw, ok := f[n]
		delete(f, n)
		if ok && got == nil && strings.TrimSpace(string(raw)) != "null" {
			got = raw
		}
	}
	return got, got != nil
}

// peek is what take would return, f unchanged.
func (f fields) peek(names ...string) json.RawMessage {
	for _, n := range names {
		if raw, ok := f[n]; ok && strings.TrimSpace(string(raw)) != "null" {
			return raw
		}
	}
	return nil
}

// move sets f[to] from the first of names, converted; absent or null
// leaves it unset (the catalog's default).
func (f fields) move(out fields, to string, conv func(json.RawMessage) json.RawMessage, names ...string) {
	if raw, ok := f.take(names...); ok {
		out[to] = conv(raw)
	}
}

// rest copies what f still holds into out: the catalog's strict decoding
// refuses a field it does not know, naming the field, never its value.
func (f fields) rest(out fields) {
	for k, v := range f {
		out[k] = v
	}
}

// keyOf is an id or outlet key given as text or a number (the older
// worker's str(value).strip()); ok false for another type.
func keyOf(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.Trim(s, " \t\r\n"), true
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), true
	}
	return "", false
}

// showID is an id of the file for an error: as is when it is a plain
// identifier, else quoted and bounded.
func showID(id string) string {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._:-", c) >= 0) {
			return fmt.Sprintf("%q", textcut.Cut(id, 64, "..."))
		}
	}
	if id == "" || len(id) > 128 {
		return fmt.Sprintf("%q", textcut.Cut(id, 64, "..."))
	}
	return id
}

// The older worker's value conversions, for the catalog's strict decoding.
// Each converts what the older worker read leniently and leaves anything
// else as it is, for the catalog to refuse by its rules.

// asText: a number, which str() made text, as a JSON string.
func asText(raw json.RawMessage) json.RawMessage {
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		b, _ := json.Marshal(n.String())
		return b
	}
	return raw
}

// asBool: _bool's reading of a string ("false", "0", "no", "off" are
// false, any other text true) and of a number (zero is false).
func asBool(raw json.RawMessage) json.RawMessage {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "false", "0", "no", "off":
			return json.RawMessage("false")
		}
		return json.RawMessage("true")
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if f, err := n.Float64(); err == nil && f == 0 {
			return json.RawMessage("false")
		}
		return json.RawMessage("true")
	}
	return raw
}

// asInt: a string of an integer, which int() read, as a number.
func asInt(raw json.RawMessage) json.RawMessage {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
			return json.RawMessage(strconv.Itoa(n))
		}
	}
	return raw
}

func asIs(raw json.RawMessage) json.RawMessage { return raw }

// outletEntry is one outlet of the file, as the catalog's outlet object.
type outletEntry struct {
	key  string
	body fields
	at   string // where the file gives it, for an error
}

// fileOutlets are the top-level "outlets" by controller id.
type fileOutlets struct {
	byController map[string][]outletEntry
	order        []string       // controller ids, in the order first named
	first        map[string]int // index of each controller's first outlet
}

func topLevelOutlets(path string, list []fields, errs *problems) fileOutlets {
	o := fileOutlets{byController: map[string][]outletEntry{}, first: map[string]int{}}
	for i, f := range list {
		raw, _ := f.take("controllerId", "controller_id")
		id, ok := keyOf(raw)
		if !ok || id == "" {
			errs.add(fmt.Errorf("%s: outlets[%d]: controllerId is required (text)", path, i))
			continue
		}
		key, body, err := outletBody(f, "outlet", "outletKey")
		if err != nil {
			errs.add(fmt.Errorf("%s: outlets[%d] (controller %s): %w", path, i, showID(id), err))
			continue
		}
		if _, seen := o.first[id]; !seen {
			o.first[id] = i
			o.order = append(o.order, id)
		}
		o.byController[id] = append(o.byController[id], outletEntry{key: key, body: body, at: fmt.Sprintf("outlets[%d]", i)})
	}
	return o
}

// outletBody converts one outlet object (top-level, or of config.outlets)
// to the catalog's, its key the first of keyNames.
func outletBody(f fields, keyNames ...string) (string, fields, error) {
	raw, _ := f.take(keyNames...)
	key, ok := keyOf(raw)
	if !ok || key == "" {
		return "", nil, errors.New("outlet is required (text or a number)")
	}
	b, _ := json.Marshal(key)
	out := fields{"outlet": b}
	f.move(out, "displayName", asText, "displayName")
	f.move(out, "logicalName", asText, "logicalName")
	f.move(out, "protected", asBool, "protected")
	f.move(out, "critical", asBool, "critical")
	f.move(out, "defaultState", asIs, "defaultState")
	f.rest(out)
	return key, out, nil
}

func readControllers(path string, list []fields, outlets fileOutlets, errs *problems) []PowerController {
	var out []PowerController
	seen := map[string]int{}
	for i, f := range list {
		id, _ := keyOf(f["id"])
		where := fmt.Sprintf("controller %s", showID(id))
		if id == "" {
			where = fmt.Sprintf("controllers[%d]", i)
		}
		body, err := controllerBody(f, outlets.byController[id])
		var c power.Controller
		if err == nil {
			c, err = power.ParseController(body)
		}
		if err != nil {
			errs.add(fmt.Errorf("%s: %s: %w", path, where, err))
			continue
		}
		k := strings.ToLower(c.ID)
		if first, dup := seen[k]; dup {
			errs.add(fmt.Errorf("%s: controllers[%d] and [%d] have the same id %s (ids are compared ignoring case)", path, first, i, c.ID))
			continue
		}
		seen[k] = i
		canonical, err := json.Marshal(c)
		if err != nil {
			errs.add(fmt.Errorf("%s: %s: %w", path, where, err))
			continue
		}
		out = append(out, PowerController{Controller: c, Body: canonical})
	}
	return out
}

// controllerBody is the controller as the catalog takes it: its fields,
// its config without "outlets", and its outlets merged as the older
// worker's registry did: the top-level ones first, then config.outlets
// not among them (a top-level entry gives a config outlet its names and
// flags).
func controllerBody(f fields, top []outletEntry) (json.RawMessage, error) {
	if _, ok := f["outlets"]; ok {
		return nil, errors.New(`"outlets" belongs in config.outlets or the file's top-level "outlets" (the older worker ignored it here)`)
	}
	out := fields{}
	f.move(out, "id", asText, "id")
	f.move(out, "name", asText, "name")
	f.move(out, "driver", asIs, "driver")
	f.move(out, "enabled", asBool, "enabled")
	f.move(out, "host", asIs, "host")
	f.move(out, "port", asInt, "port")
	f.move(out, "credentialRef", asIs, "credentialRef")
	cfg, configured, err := controllerConfig(f)
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		out["config"] = cfg
	}
	f.rest(out)
	merged, err := mergeOutlets(top, configured)
	if err != nil {
		return nil, err
	}
	if out["outlets"], err = json.Marshal(merged); err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

// controllerConfig splits the controller's config into the catalog's
// config (the older worker's lenient booleans and integers converted, any
// other field left for the catalog to refuse) and its config.outlets.
func controllerConfig(f fields) (json.RawMessage, []outletEntry, error) {
	raw, ok := f.take("config")
	if !ok {
		return nil, nil, nil
	}
	var cfg fields
	if json.Unmarshal(raw, &cfg) != nil || cfg == nil {
		return raw, nil, nil // the catalog says what is wrong with it
	}
	var configured []outletEntry
	if list, ok := cfg.take("outlets"); ok {
		var err error
		if configured, err = configOutlets(list); err != nil {
			return nil, nil, err
		}
	}
	out := fields{}
	cfg.move(out, "useHttps", asBool, "useHttps")
	cfg.move(out, "verifyTls", asBool, "verifyTls")
	cfg.move(out, "timeoutSeconds", asInt, "timeoutSeconds")
	cfg.move(out, "retries", asInt, "retries")
	cfg.move(out, "moduleIndex", asInt, "moduleIndex")
	cfg.rest(out)
	b, err := json.Marshal(out)
	return b, configured, err
}

// configOutlets reads config.outlets: keys ("1") or outlet objects
// ({"outlet" or "id", "displayName", ...}).
func configOutlets(raw json.RawMessage) ([]outletEntry, error) {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil, errors.New("config.outlets must be an array")
	}
	out := make([]outletEntry, 0, len(list))
	for i, item := range list {
		at := fmt.Sprintf("config.outlets[%d]", i)
		var f fields
		if json.Unmarshal(item, &f) == nil && f != nil {
			key, body, err := outletBody(f, "outlet", "id")
			if err != nil {
				return nil, fmt.Errorf("%s: %w", at, err)
			}
			out = append(out, outletEntry{key: key, body: body, at: at})
			continue
		}
		key, ok := keyOf(item)
		if !ok || key == "" {
			return nil, fmt.Errorf("%s must be an outlet key (text or a number) or an outlet object", at)
		}
		b, _ := json.Marshal(key)
		out = append(out, outletEntry{key: key, body: fields{"outlet": b}, at: at})
	}
	return out, nil
}

// mergeOutlets: the top-level outlets, then the configured ones they do
// not name. A key given twice in one list is refused (the older worker
// refused it in the top-level list and kept the first in config.outlets).
func mergeOutlets(top, configured []outletEntry) ([]fields, error) {
	var out []fields
	inTop := map[string]string{}
	for _, o := range top {
		if first, dup := inTop[o.key]; dup {
			return nil, fmt.Errorf("duplicate outlet %s (%s and %s)", showID(o.key), first, o.at)
		}
		inTop[o.key] = o.at
		out = append(out, o.body)
	}
	inConfig := map[string]string{}
	for _, o := range configured {
		if first, dup := inConfig[o.key]; dup {
			return nil, fmt.Errorf("duplicate outlet %s (%s and %s)", showID(o.key), first, o.at)
		}
		inConfig[o.key] = o.at
		if _, named := inTop[o.key]; !named {
			out = append(out, o.body)
		}
	}
	return out, nil
}

func readPolicies(path string, list []fields, cat PowerCatalog, errs *problems) []PowerPolicy {
	var out []PowerPolicy
	seen := map[string]int{}
	for i, f := range list {
		lab, _ := keyOf(f.peek("labId", "lab_id"))
		where := fmt.Sprintf("policy for lab %s", showID(lab))
		if lab == "" {
			where = fmt.Sprintf("policies[%d]", i)
		}
		p, err := readPolicy(f, cat)
		if err != nil {
			errs.add(fmt.Errorf("%s: %s: %w", path, where, err))
			continue
		}
		k := strings.ToLower(p.LabID)
		if first, dup := seen[k]; dup {
			errs.add(fmt.Errorf("%s: policies[%d] and [%d] are both for lab %s (lab ids are compared ignoring case)", path, first, i, showID(p.LabID)))
			continue
		}
		seen[k] = i
		canonical, err := json.Marshal(p)
		if err != nil {
			errs.add(fmt.Errorf("%s: %s: %w", path, where, err))
			continue
		}
		out = append(out, PowerPolicy{Policy: p, Body: canonical})
	}
	return out
}

// readPolicy converts and validates one policy; a step on a controller of
// the file must name an outlet of it.
func readPolicy(f fields, cat PowerCatalog) (power.Policy, error) {
	body, err := policyBody(f)
	if err != nil {
		return power.Policy{}, err
	}
	p, err := power.DecodePolicy(body)
	if err != nil {
		return power.Policy{}, err
	}
	for i, s := range p.Steps {
		if c, ok := cat.controller(s.ControllerID); ok {
			if _, ok := c.Outlet(s.Outlet); !ok {
				return power.Policy{}, fmt.Errorf("%w: steps[%d]: controller %s has no outlet %s", power.ErrInvalidPolicy, i, c.ID, showID(s.Outlet))
			}
		}
	}
	return p, nil
}

// policyBody is LabPowerPolicy.from_mapping's reading of the policy. Its
// "id" is dropped: ops-worker keys a lab's policy by the lab.
func policyBody(f fields) (json.RawMessage, error) {
	out := fields{}
	f.take("id")
	f.move(out, "labId", asText, "labId", "lab_id")
	f.move(out, "policyName", asText, "policyName", "name")
	f.move(out, "enabled", asBool, "enabled")
	f.move(out, "respectLocalMode", asBool, "respectLocalMode", "respect_local_mode")
	f.move(out, "maintenanceMode", asBool, "maintenanceMode", "maintenance_mode")
	f.move(out, "startFailureMode", asIs, "startFailureMode")
	f.move(out, "endFailureMode", asIs, "endFailureMode")
	if raw, ok := f.take("steps"); ok {
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil {
			return nil, errors.New("steps must be an array")
		}
		steps := make([]fields, 0, len(list))
		for i, item := range list {
			var s fields
			if json.Unmarshal(item, &s) != nil || s == nil {
				return nil, fmt.Errorf("steps[%d] is not an object", i)
			}
			steps = append(steps, stepBody(s))
		}
		out["steps"], _ = json.Marshal(steps)
	}
	f.rest(out)
	return json.Marshal(out)
}

// stepBody is PowerPolicyStep.from_mapping's reading of a step, with its
// snake_case spellings. "conditions" is dropped: the older worker kept it
// but its executor never read it, and ops-worker's steps have none.
func stepBody(f fields) fields {
	out := fields{}
	f.move(out, "id", asText, "id", "stepId")
	f.move(out, "phase", asIs, "phase")
	f.move(out, "sequence", asInt, "sequence")
	f.move(out, "controllerId", asText, "controllerId", "controller_id")
	f.move(out, "outlet", asText, "outlet", "outletKey", "outlet_key")
	f.move(out, "logicalName", asText, "logicalName", "logical_name")
	f.move(out, "action", asIs, "action")
	f.move(out, "desiredState", asIs, "desiredState", "desired_state")
	f.move(out, "required", asBool, "required")
	f.move(out, "readBackRequired", asBool, "readBackRequired", "read_back_required")
	f.move(out, "offSeconds", asInt, "offSeconds", "off_seconds")
	f.move(out, "delayBeforeSeconds", asInt, "delayBeforeSeconds", "delay_before_seconds")
	f.move(out, "delayAfterSeconds", asInt, "delayAfterSeconds", "delay_after_seconds")
	f.move(out, "timeoutSeconds", asInt, "timeoutSeconds", "timeout_seconds")
	f.move(out, "retryCount", asInt, "retryCount", "retry_count")
	f.move(out, "allowProtected", asBool, "allowProtected", "allow_protected")
	f.take("conditions")
	f.rest(out)
	return out
}

package legacyimport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/legacyimport"
	"github.com/ops-worker/ops-worker/internal/power"
)

// samplePath is upstream's ops-worker/power-controllers.sample.json,
// verbatim (DecentraLabsCom/Lab-Gateway at e993cb36d76b).
const samplePath = "testdata/power-controllers.sample.json"

// memCatalog is an in-memory PowerCatalogSink that validates as powerops
// does (power.ParseController, power.ParsePolicy against its controllers)
// and compares ids ignoring case, as MySQL does.
type memCatalog struct {
	controllers map[string]power.Controller
	policies    map[string]power.Policy
	actors      []string
	reads       int
	failLab     string
}

func newMemCatalog() *memCatalog {
	return &memCatalog{controllers: map[string]power.Controller{}, policies: map[string]power.Policy{}}
}

func (m *memCatalog) Controller(_ context.Context, id string) (power.Controller, bool, error) {
	m.reads++
	c, ok := m.controllers[strings.ToLower(id)]
	return c, ok, nil
}

func (m *memCatalog) CreateController(_ context.Context, body json.RawMessage, actor string) error {
	c, err := power.ParseController(body)
	if err != nil {
		return err
	}
	if _, ok := m.controllers[strings.ToLower(c.ID)]; ok {
		return errors.New("power controller already exists")
	}
	m.controllers[strings.ToLower(c.ID)] = c
	m.actors = append(m.actors, actor)
	return nil
}

func (m *memCatalog) HasPolicy(_ context.Context, lab string) (bool, error) {
	_, ok := m.policies[strings.ToLower(lab)]
	return ok, nil
}

func (m *memCatalog) PutPolicy(_ context.Context, lab string, body json.RawMessage, actor string) error {
	if lab == m.failLab {
		return errors.New("database down")
	}
	var cs []power.Controller
	for _, c := range m.controllers {
		cs = append(cs, c)
	}
	p, err := power.ParsePolicy(body, cs)
	if err != nil {
		return err
	}
	if p.LabID != lab {
		return fmt.Errorf("lab %s differs from the body's %s", lab, p.LabID)
	}
	m.policies[strings.ToLower(lab)] = p
	m.actors = append(m.actors, actor)
	return nil
}

func (m *memCatalog) stored() int { return len(m.controllers) + len(m.policies) }

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The upstream sample: one mock controller whose two outlets come from
// config.outlets and take the top-level entries' names and flags, and lab
// 1's policy of four steps with the older worker's defaults.
func TestReadPowerCatalog_UpstreamSample(t *testing.T) {
	cat, err := legacyimport.ReadPowerCatalog(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Controllers) != 1 || len(cat.Policies) != 1 {
		t.Fatalf("%d controllers, %d policies", len(cat.Controllers), len(cat.Policies))
	}
	c := cat.Controllers[0].Controller
	want := power.Controller{ID: "mock-lab-01", Name: "Mock lab controller", Driver: power.DriverMock, Enabled: true, Outlets: []power.Outlet{
		{Outlet: "1", LogicalName: "plc", Critical: true, DefaultState: power.StateOff},
		{Outlet: "2", LogicalName: "hmi", DefaultState: power.StateOff},
	}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("controller\n%+v\nwant\n%+v", c, want)
	}
	p := cat.Policies[0].Policy
	if p.LabID != "1" || p.PolicyName != "PLC bench default" || !p.Enabled || !p.RespectLocalMode || p.MaintenanceMode ||
		p.StartFailureMode != power.FailReservationStart || p.EndFailureMode != power.WarnAndContinue || len(p.Steps) != 4 {
		t.Fatalf("policy %+v", p)
	}
	s := p.Steps[2] // post_end 10: outlet 2 off, not required, read back by default
	if s.Phase != power.PhasePostEnd || s.Sequence != 10 || s.ControllerID != "mock-lab-01" || s.Outlet != "2" || s.Action != power.ActionOff ||
		s.DesiredState != power.StateOff || s.Required || !s.ReadBackRequired || s.TimeoutSeconds != power.DefaultTimeoutSeconds || s.OffSeconds != power.DefaultOffSeconds {
		t.Errorf("step 3 %+v", s)
	}
	// The bodies are what the routes take, and say the same.
	if c2, err := power.ParseController(cat.Controllers[0].Body); err != nil || !reflect.DeepEqual(c2, c) {
		t.Errorf("controller body %s: %v", cat.Controllers[0].Body, err)
	}
	if p2, err := power.ParsePolicy(cat.Policies[0].Body, []power.Controller{c}); err != nil || !reflect.DeepEqual(p2, p) {
		t.Errorf("policy body %s: %v", cat.Policies[0].Body, err)
	}
}

// What the older worker accepted and wrote: its page's files carry nulls
// (to_dict), lenient booleans and integers, snake_case, numeric ids, outlet
// objects in config.outlets, a policy id and step conditions.
func TestReadPowerCatalog_OlderWorkerForms(t *testing.T) {
	path := writeFile(t, "power.json", `{
  "controllers": [
    {"id": "pdu-1", "name": null, "driver": "APC-PowerNet-SNMP", "enabled": "no", "host": "10.0.0.5", "port": "161",
     "credentialRef": "PDU-1", "config": {"profile": "rpdu2", "timeoutSeconds": "5", "retries": 2, "useHttps": "off",
       "outlets": [{"id": 3, "displayName": "scope"}, "4", 5]}},
    {"id": "netio", "driver": "netio-json", "host": "netio.lab", "config": {"verifyTls": 0, "outlets": [1]}}
  ],
  "outlets": [
    {"controller_id": "pdu-1", "outletKey": 5, "logicalName": "plc", "protected": "yes", "defaultState": " ON ", "displayName": null},
    {"controllerId": "pdu-1", "outlet": "9", "critical": 1}
  ],
  "policies": [
    {"id": null, "lab_id": 7, "name": "bench", "respect_local_mode": "false", "maintenance_mode": "1", "startFailureMode": "WARN_AND_CONTINUE",
     "steps": [{"id": null, "phase": "pre_start", "sequence": "5", "controller_id": "pdu-1", "outlet_key": 5, "action": "cycle",
       "off_seconds": "3", "read_back_required": "0", "allow_protected": "true", "logicalName": null, "conditions": {"x": 1}},
      {"phase": "manual", "controllerId": "netio", "outlet": "1", "action": "on", "desiredState": null, "retry_count": 2}]}
  ]
}`)
	cat, err := legacyimport.ReadPowerCatalog(path)
	if err != nil {
		t.Fatal(err)
	}
	c := cat.Controllers[0].Controller
	if c.Name != "pdu-1" || c.Driver != power.DriverAPC || c.Enabled || c.Port != 161 || c.CredentialRef != "pdu-1" ||
		c.Config.Profile != "rpdu2" || c.Config.TimeoutSeconds != 5 || c.Config.Retries != 2 || c.Config.UseHTTPS {
		t.Errorf("controller %+v", c)
	}
	// The top-level outlets first, then config's others; 5 takes the
	// top-level entry's names and flags.
	wantOutlets := []power.Outlet{
		{Outlet: "5", LogicalName: "plc", Protected: true, DefaultState: power.StateOn},
		{Outlet: "9", Critical: true, DefaultState: power.StateOff},
		{Outlet: "3", DisplayName: "scope", DefaultState: power.StateOff},
		{Outlet: "4", DefaultState: power.StateOff},
	}
	if !reflect.DeepEqual(c.Outlets, wantOutlets) {
		t.Errorf("outlets\n%+v\nwant\n%+v", c.Outlets, wantOutlets)
	}
	if n := cat.Controllers[1].Controller; n.Config.VerifyTLS == nil || *n.Config.VerifyTLS || len(n.Outlets) != 1 || n.Outlets[0].Outlet != "1" {
		t.Errorf("netio %+v", n)
	}
	p := cat.Policies[0].Policy
	if p.LabID != "7" || p.PolicyName != "bench" || p.RespectLocalMode || !p.MaintenanceMode || p.StartFailureMode != power.WarnAndContinue || len(p.Steps) != 2 {
		t.Fatalf("policy %+v", p)
	}
	if s := p.Steps[0]; s.Sequence != 5 || s.Outlet != "5" || s.OffSeconds != 3 || s.ReadBackRequired || !s.AllowProtected || !s.Required || s.DesiredState != "" {
		t.Errorf("step 1 %+v", s)
	}
	if s := p.Steps[1]; s.RetryCount != 2 || s.DesiredState != power.StateOn {
		t.Errorf("step 2 %+v", s)
	}
}

// leaks reports whether s holds one of the secrets the refusals plant.
func leaks(s string) bool {
	for _, secret := range []string{"S3cret-comm-XYZ", "S3cret-pass-QWE", "S3cret-raw"} {
		if strings.Contains(s, secret) {
			return true
		}
	}
	return false
}

// Each problem: an error naming the file and the controller or lab at
// fault, no entry returned, no secret echoed.
func TestReadPowerCatalog_Refusals(t *testing.T) {
	ok := `{"id": "pdu-1", "driver": "mock", "config": {"outlets": ["1", "2"]}}`
	policy := func(outlet string) string {
		return `{"labId": "lab-9", "policyName": "p", "steps": [{"phase": "pre_start", "sequence": 1, "controllerId": "pdu-1", "outlet": "` + outlet + `", "action": "on"}]}`
	}
	for _, tt := range []struct {
		name, doc string
		want      []string
	}{
		{"malformed JSON", `{"controllers": [` + ok, []string{"not a JSON object", "at byte"}},
		{"secret in malformed JSON", `{"controllers": [{"config": {"community": S3cret-raw}}]}`, []string{"at byte 43"}},
		{"not an object", `[1]`, []string{"not a JSON object"}},
		{"not a power catalog", `{"hosts": []}`, []string{`no "controllers", "outlets" or "policies"`}},
		{"controllers not an array", `{"controllers": {"pdu-1": {}}}`, []string{`"controllers" is not an array`}},
		{"entry not an object", `{"controllers": [` + ok + `, 3]}`, []string{"controllers[1] is not an object"}},
		{"duplicate controller ids", `{"controllers": [` + ok + `, {"id": "PDU-1", "driver": "mock", "config": {"outlets": ["1"]}}]}`,
			[]string{"controllers[0] and [1] have the same id PDU-1"}},
		{"duplicate top-level outlets", `{"controllers": [` + ok + `], "outlets": [{"controllerId": "pdu-1", "outlet": "3"}, {"controllerId": "pdu-1", "outlet": 3}]}`,
			[]string{"controller pdu-1:", "duplicate outlet 3 (outlets[0] and outlets[1])"}},
		{"duplicate configured outlets", `{"controllers": [{"id": "pdu-2", "driver": "mock", "config": {"outlets": ["1", {"outlet": "1"}]}}]}`,
			[]string{"controller pdu-2:", "duplicate outlet 1 (config.outlets[0] and config.outlets[1])"}},
		{"unknown driver", `{"controllers": [{"id": "pdu-3", "driver": "tasmota", "config": {"outlets": ["1"]}}]}`,
			[]string{"controller pdu-3:", "driver must be one of mock, apc-powernet-snmp, netio-json"}},
		{"no outlet", `{"controllers": [{"id": "pdu-4", "driver": "mock"}]}`, []string{"controller pdu-4:", "requires at least one outlet"}},
		{"empty outlet", `{"controllers": [{"id": "pdu-4", "driver": "mock", "config": {"outlets": [""]}}]}`, []string{"controller pdu-4:", "config.outlets[0]"}},
		{"outlets on the controller", `{"controllers": [{"id": "pdu-5", "driver": "mock", "outlets": [{"outlet": "1"}]}]}`, []string{"controller pdu-5:", "belongs in config.outlets"}},
		{"outlet of no controller", `{"controllers": [` + ok + `], "outlets": [{"controllerId": "pdu-x", "outlet": "1"}]}`,
			[]string{"outlets[0] names controller pdu-x, which the file does not define"}},
		{"secret in config", `{"controllers": [{"id": "pdu-6", "driver": "apc-powernet-snmp", "host": "10.0.0.6", "credentialRef": "pdu-6",
			"config": {"snmpVersion": "v2c", "community": "S3cret-comm-XYZ", "outlets": ["1"]}}]}`,
			[]string{"controller pdu-6:", "secret-looking field", "credentialRef"}},
		{"secret on the controller", `{"controllers": [{"id": "pdu-7", "driver": "mock", "password": "S3cret-pass-QWE", "config": {"outlets": ["1"]}}]}`,
			[]string{"controller pdu-7:", "secret-looking field"}},
		{"policy names a missing outlet", `{"controllers": [` + ok + `], "policies": [` + policy("3") + `]}`,
			[]string{"policy for lab lab-9:", "steps[0]: controller pdu-1 has no outlet 3"}},
		{"duplicate policies", `{"controllers": [` + ok + `], "policies": [` + policy("1") + `, ` + strings.Replace(policy("2"), "lab-9", "LAB-9", 1) + `]}`,
			[]string{"policies[0] and [1] are both for lab LAB-9"}},
		{"bad step", `{"policies": [{"labId": 2, "policyName": "p", "steps": [{"phase": "lunch", "controllerId": "c", "outlet": "1", "action": "on"}]}]}`,
			[]string{"policy for lab 2:", "steps[0]: phase must be one of"}},
		{"unknown policy field", `{"policies": [{"labId": "3", "policyName": "p", "colour": "red", "steps": []}]}`,
			[]string{"policy for lab 3:", "unknown field 'colour'"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "power.json", tt.doc)
			cat, err := legacyimport.ReadPowerCatalog(path)
			if err == nil {
				t.Fatalf("no error; read %+v", cat)
			}
			if len(cat.Controllers)+len(cat.Policies) != 0 {
				t.Errorf("entries returned with the error: %+v", cat)
			}
			for _, w := range append([]string{path}, tt.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if leaks(err.Error()) {
				t.Errorf("the error echoes a secret:\n%v", err)
			}
		})
	}
	// The leak check can fail: a planted secret is seen.
	if !leaks("config: S3cret-comm-XYZ") || leaks("config holds a secret-looking field") {
		t.Fatal("leaks misses a planted secret or sees one where there is none")
	}
}

// Every problem of the file at once, each controller and lab named.
func TestReadPowerCatalog_ListsEveryProblem(t *testing.T) {
	path := writeFile(t, "power.json", `{"controllers": [
	  {"id": "a", "driver": "tasmota", "config": {"outlets": ["1"]}},
	  {"id": "b", "driver": "mock", "config": {"community": "S3cret-comm-XYZ", "outlets": ["1"]}},
	  {"id": "c", "driver": "mock", "config": {"outlets": ["1"]}}],
	 "policies": [{"labId": "L1", "policyName": "p", "steps": [{"phase": "start", "controllerId": "c", "outlet": "2", "action": "on"}]}]}`)
	_, err := legacyimport.ReadPowerCatalog(path)
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{"controller a:", "controller b:", "policy for lab L1:"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	if strings.Contains(err.Error(), "controller c:") || leaks(err.Error()) {
		t.Errorf("error:\n%v", err)
	}
}

func catalogSources(t *testing.T, doc string) legacyimport.Sources {
	return legacyimport.Sources{PowerCatalogPath: writeFile(t, "power-controllers.json", doc)}
}

// The sample imports without a key or a credential store; a second run
// leaves everything alone.
func TestImport_PowerCatalog(t *testing.T) {
	cat := newMemCatalog()
	src := legacyimport.Sources{PowerCatalogPath: samplePath}
	var out bytes.Buffer
	rep, err := legacyimport.Import(context.Background(), src, nil, nil, cat, &out)
	if err != nil {
		t.Fatal(err)
	}
	want := "power controller mock-lab-01: added\npower policy for lab 1: added\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	if c := cat.controllers["mock-lab-01"]; len(c.Outlets) != 2 || c.Outlets[0].LogicalName != "plc" {
		t.Errorf("stored controller %+v", c)
	}
	if p := cat.policies["1"]; len(p.Steps) != 4 {
		t.Errorf("stored policy %+v", p)
	}
	if rep.Count(legacyimport.KindController, legacyimport.ResultAdded) != 1 || rep.Count(legacyimport.KindPolicy, legacyimport.ResultAdded) != 1 {
		t.Errorf("report %+v", rep)
	}
	for _, a := range cat.actors {
		if a != legacyimport.DefaultActor {
			t.Errorf("actor %q", a)
		}
	}

	out.Reset()
	rep, err = legacyimport.Import(context.Background(), src, nil, nil, cat, &out)
	if err != nil {
		t.Fatal(err)
	}
	want = "power controller mock-lab-01: exists\npower policy for lab 1: exists\n"
	if out.String() != want || rep.Count(legacyimport.KindController, legacyimport.ResultExists) != 1 || len(cat.actors) != 2 {
		t.Errorf("second run:\n%s\nreport %+v, %d stores", out.String(), rep, len(cat.actors))
	}
}

// A bad power catalog stores nothing of any file; a good one beside a bad
// credential file stores nothing either.
func TestImport_PowerCatalogAllOrNothing(t *testing.T) {
	src := writeSources(t, `{"hosts": [{"name": "lab-ws-09"}]}`)
	src.PowerCatalogPath = writeFile(t, "power.json", `{"controllers": [{"id": "pdu-1", "driver": "mock", "config": {"outlets": ["1"]}},
	  {"id": "pdu-1", "driver": "mock", "config": {"outlets": ["2"]}}]}`)
	creds := &memCreds{winrm: map[string]string{}, power: map[string]string{}}
	hosts := &memHosts{entries: map[string]json.RawMessage{}}
	cat := newMemCatalog()
	var out bytes.Buffer
	_, err := legacyimport.Import(context.Background(), src.Sources, creds, hosts, cat, &out)
	if err == nil || !strings.Contains(err.Error(), "nothing stored") || !strings.Contains(err.Error(), "have the same id pdu-1") {
		t.Errorf("error %v", err)
	}
	if len(creds.winrm)+len(creds.power)+len(hosts.entries)+cat.stored() != 0 || out.Len() != 0 {
		t.Errorf("stored something: %v %v %v %d", creds.winrm, creds.power, hosts.entries, cat.stored())
	}

	src.PowerCatalogPath = samplePath
	if err := os.WriteFile(src.WinRMPath, []byte(`{"credentials": {"a": {"token": "gAAAA"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := legacyimport.Import(context.Background(), src.Sources, creds, hosts, cat, &out); err == nil || cat.stored() != 0 {
		t.Errorf("a bad credential file: %v, %d catalog entries stored", err, cat.stored())
	}
}

// A step may name a controller the database has; a step naming one
// neither has, or an outlet the database's version lacks, stores nothing.
func TestImport_PowerPolicyAgainstTheDatabase(t *testing.T) {
	ctx := context.Background()
	cat := newMemCatalog()
	cat.controllers["db-pdu"] = power.Controller{ID: "db-pdu", Name: "db-pdu", Driver: power.DriverMock, Enabled: true, Outlets: []power.Outlet{{Outlet: "7", DefaultState: "off"}}}
	// The database's mock-lab-01 has outlet 1 only: the file's (1 and 2)
	// is left alone, so a policy on its outlet 2 cannot be stored.
	cat.controllers["mock-lab-01"] = power.Controller{ID: "mock-lab-01", Name: "m", Driver: power.DriverMock, Enabled: true, Outlets: []power.Outlet{{Outlet: "1", DefaultState: "off"}}}
	step := func(ctl, outlet string) string {
		return `{"phase": "pre_start", "sequence": 1, "controllerId": "` + ctl + `", "outlet": "` + outlet + `", "action": "on"}`
	}
	doc := func(steps ...string) string {
		return `{"controllers": [{"id": "new-pdu", "driver": "mock", "config": {"outlets": ["1"]}}],
		  "policies": [{"labId": "5", "policyName": "p", "steps": [` + strings.Join(steps, ",") + `]}]}`
	}
	for _, tt := range []struct {
		name, doc, want string
	}{
		{"unknown controller", doc(step("nowhere", "1")), "policy for lab 5, against the catalog it would join: Power policy is invalid: steps[0]: controller 'nowhere' is not in the catalog"},
		{"outlet the database lacks", doc(step("db-pdu", "8")), "controller db-pdu has no outlet '8'"},
		{"the database's version wins", `{"controllers": [{"id": "mock-lab-01", "driver": "mock", "config": {"outlets": ["1", "2"]}}],
		  "policies": [{"labId": "5", "policyName": "p", "steps": [` + step("mock-lab-01", "2") + `]}]}`, "controller mock-lab-01 has no outlet '2'"},
	} {
		_, err := legacyimport.Import(ctx, catalogSources(t, tt.doc), nil, nil, cat, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "nothing stored") {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
		if len(cat.controllers) != 2 || len(cat.policies) != 0 {
			t.Errorf("%s: stored %v %v", tt.name, cat.controllers, cat.policies)
		}
	}
	var out bytes.Buffer
	if _, err := legacyimport.Import(ctx, catalogSources(t, doc(step("db-pdu", "7"), strings.Replace(step("new-pdu", "1"), `"sequence": 1`, `"sequence": 2`, 1))), nil, nil, cat, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "power controller new-pdu: added\npower policy for lab 5: added\n" || len(cat.policies["5"].Steps) != 2 {
		t.Errorf("output %q, policy %+v", out.String(), cat.policies["5"])
	}
	// Lab 5 has a policy now: the file's is left alone, even one the
	// catalog would refuse.
	out.Reset()
	if _, err := legacyimport.Import(ctx, catalogSources(t, doc(step("nowhere", "1"))), nil, nil, cat, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "power controller new-pdu: exists\npower policy for lab 5: exists\n" {
		t.Errorf("output %q", out.String())
	}
}

func TestImport_PowerCatalogArgumentsAndMidway(t *testing.T) {
	ctx := context.Background()
	src := legacyimport.Sources{PowerCatalogPath: samplePath}
	if _, err := legacyimport.Import(ctx, src, nil, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "a power catalog file given but no power catalog") {
		t.Errorf("no sink: %v", err)
	}
	if _, err := legacyimport.Import(ctx, legacyimport.Sources{}, nil, nil, newMemCatalog(), nil); err == nil || !strings.Contains(err.Error(), "no WinRM credentials, power credentials, dynamic hosts or power catalog file given") {
		t.Errorf("nothing: %v", err)
	}
	cat := newMemCatalog()
	cat.failLab = "1"
	var out bytes.Buffer
	rep, err := legacyimport.Import(ctx, src, nil, nil, cat, &out)
	if err == nil || !strings.Contains(err.Error(), "store power policy for lab 1: database down (1 of 2 items done; running the import again is safe)") {
		t.Errorf("midway: %v", err)
	}
	if len(rep.Items) != 1 || out.String() != "power controller mock-lab-01: added\n" {
		t.Errorf("report %v, output %q", rep, out.String())
	}
	cat.failLab = ""
	out.Reset()
	if _, err := legacyimport.Import(ctx, src, nil, nil, cat, &out); err != nil || out.String() != "power controller mock-lab-01: exists\npower policy for lab 1: added\n" {
		t.Errorf("rerun: %v, %q", err, out.String())
	}
}

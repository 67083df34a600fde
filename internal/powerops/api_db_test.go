package powerops_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/api"
	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/credentials"
	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/logtest"
	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/power"
	"github.com/ops-worker/ops-worker/internal/powerops"
	"github.com/ops-worker/ops-worker/internal/secrets"
	"github.com/ops-worker/ops-worker/internal/store"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

const token = "power-test-token-0123456789"

// The secrets this test stores: none may appear in any answer or log.
const (
	community = "s3cr3t-community-XYZ"
	netioPass = "n3tio-pass-QWE"
)

// fakeDriver is one controller's device: outlets with state, a count of
// switches, and faults.
type fakeDriver struct {
	mu       sync.Mutex
	states   map[string]string
	switches int
	failSet  bool   // Set answers unreachable
	readBack string // Set reports this state instead of the one asked
}

func (d *fakeDriver) Describe(context.Context) (power.Description, error) {
	return power.Description{Driver: "fake", Model: "FakePDU", Outlets: len(d.states)}, nil
}

func (d *fakeDriver) Outlets(context.Context) ([]power.OutletState, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []power.OutletState
	for k, v := range d.states {
		out = append(out, power.OutletState{Outlet: k, State: v})
	}
	return out, nil
}

func (d *fakeDriver) Set(_ context.Context, outlet, state string) (power.OutletState, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.states[outlet]; !ok {
		return power.OutletState{}, power.Errorf(power.CodeOutletUnknown, "no outlet %s", outlet)
	}
	if d.failSet {
		return power.OutletState{}, power.Errorf(power.CodeUnreachable, "no answer in time")
	}
	d.switches++
	d.states[outlet] = state
	if d.readBack != "" {
		return power.OutletState{Outlet: outlet, State: d.readBack}, nil
	}
	return power.OutletState{Outlet: outlet, State: state}, nil
}

func (d *fakeDriver) Cycle(ctx context.Context, outlet string, _ time.Duration) (power.OutletState, error) {
	if _, err := d.Set(ctx, outlet, power.StateOff); err != nil {
		return power.OutletState{}, err
	}
	return d.Set(ctx, outlet, power.StateOn)
}

type rig struct {
	h       http.Handler
	logs    *logtest.Buffer
	mu      sync.Mutex
	drivers map[string]*fakeDriver
	creds   map[string]string // controller id -> the credential type it was built with
	st      *store.Store
	obs     *recObserver
}

func (r *rig) driver(id string) *fakeDriver {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.drivers[id]
}

func newRig(t *testing.T) *rig {
	t.Helper()
	cfg, err := config.ParseDSN(dbtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	ring, err := secrets.NewKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{logs: &logtest.Buffer{}, drivers: map[string]*fakeDriver{}, creds: map[string]string{}, st: st, obs: &recObserver{}}
	log := slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cs := credentials.New(st, ring, credentials.Options{Logger: log})
	factory := func(c power.Controller, typ string, creds map[string]string) (power.Driver, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if c.CredentialRef != "" && creds["community"] != community && creds["password"] != netioPass {
			return nil, power.Errorf(power.CodeAuth, "credential refused")
		}
		r.creds[c.ID] = typ
		d := r.drivers[c.ID]
		if d == nil {
			d = &fakeDriver{states: map[string]string{}}
			for _, o := range c.Outlets {
				d.states[o.Outlet] = o.DefaultState
			}
			r.drivers[c.ID] = d
		}
		return d, nil
	}
	svc := powerops.New(powerops.Options{Store: st, Credentials: cs, Drivers: factory, Logger: log,
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }, Observer: r.obs})
	r.h = api.New(api.Options{Service: &ops.Service{}, Power: svc, Guard: &api.Guard{Token: token}, Logger: log})
	t.Cleanup(func() { noSecret(t, "log", r.logs.String()) })
	return r
}

// noSecret fails when s holds one of the stored secrets.
func noSecret(t *testing.T, what, s string) bool {
	t.Helper()
	for _, secret := range []string{community, netioPass} {
		if strings.Contains(s, secret) {
			t.Errorf("a secret is in the %s: %s", what, s)
			return false
		}
	}
	return true
}

func (r *rig) do(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set(api.TokenHeader, token)
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	r.h.ServeHTTP(w, req)
	noSecret(t, "answer of "+method+" "+path, w.Body.String())
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("%s %s: %d %q is not JSON", method, path, w.Code, w.Body)
	}
	return w.Code, m
}

func (r *rig) want(t *testing.T, status int, method, path, body string) map[string]any {
	t.Helper()
	code, m := r.do(t, method, path, body)
	if code != status {
		t.Fatalf("%s %s: %d %v, want %d", method, path, code, m, status)
	}
	return m
}

func errCode(m map[string]any) string { s, _ := m["code"].(string); return s }

const apcCtl = `{"id":"pdu-1","name":"Bench PDU","driver":"apc-powernet-snmp","host":"127.0.0.1","port":1161,
 "credentialRef":"pdu-1-snmp","config":{"profile":"rpdu2","snmpVersion":"v2c","timeoutSeconds":2,"retries":1},
 "outlets":[{"outlet":1,"displayName":"PLC","defaultState":"off"},{"outlet":"2","displayName":"HMI"},
 {"outlet":"8","displayName":"Network switch","protected":true,"critical":true,"defaultState":"on"}]}`

func TestPowerRoutes_MariaDB(t *testing.T) {
	r := newRig(t)

	// Credentials: write-only.
	r.want(t, 201, "POST", "/api/power/credentials", `{"credentialRef":"pdu-1-snmp","type":"snmpv2c","credentials":{"community":"`+community+`"}}`)
	if m := r.want(t, 409, "POST", "/api/power/credentials", `{"credentialRef":"pdu-1-snmp","type":"snmpv2c","credentials":{"community":"`+community+`"}}`); errCode(m) != "CREDENTIAL_EXISTS" {
		t.Errorf("409 code: %v", m)
	}
	m := r.want(t, 200, "POST", "/api/power/credentials", `{"credentialRef":"pdu-1-snmp","type":"snmpv2c","credentials":{"community":"`+community+`"},"overwrite":true}`)
	if m["rotated"] != true || m["runtimeReloaded"] != true || m["success"] != true {
		t.Errorf("rotation: %v", m)
	}
	r.want(t, 400, "POST", "/api/power/credentials", `{"credentialRef":"x","type":"snmpv2c","credentials":{"community":"`+community+`","password":"`+netioPass+`"}}`)
	r.want(t, 400, "POST", "/api/power/credentials", `{"credentialRef":"x","type":"telnet","credentials":{"a":"b"}}`)
	m = r.want(t, 200, "GET", "/api/power/credentials", "")
	if b, _ := json.Marshal(m["credentials"]); string(b) != `[{"credentialRef":"pdu-1-snmp","type":"snmpv2c"}]` {
		t.Errorf("list: %s", b)
	}

	// Controllers.
	m = r.want(t, 201, "POST", "/api/power/controllers", apcCtl)
	if ctl := m["controller"].(map[string]any); ctl["id"] != "pdu-1" || len(ctl["outlets"].([]any)) != 3 {
		t.Errorf("created: %v", m)
	}
	if m := r.want(t, 409, "POST", "/api/power/controllers", apcCtl); errCode(m) != "POWER_CONTROLLER_EXISTS" {
		t.Errorf("409: %v", m)
	}
	for name, bad := range map[string]string{
		"community in config": strings.Replace(apcCtl, `"retries":1`, `"retries":1,"community":"`+community+`"`, 1),
		"authKey in config":   strings.Replace(apcCtl, `"retries":1`, `"retries":1,"authKey":"`+netioPass+`"`, 1),
		"password at top":     strings.Replace(apcCtl, `"port":1161`, `"port":1161,"password":"`+netioPass+`"`, 1),
		"duplicate outlet":    strings.Replace(apcCtl, `{"outlet":"2"`, `{"outlet":"1"`, 1),
		"unknown driver":      strings.Replace(apcCtl, `apc-powernet-snmp`, `telnet`, 1),
		"no outlets":          `{"id":"x","driver":"mock","outlets":[]}`,
	} {
		code, m := r.do(t, "POST", "/api/power/controllers", bad)
		if code != 400 || !strings.HasPrefix(m["error"].(string), "Power controller configuration is invalid") {
			t.Errorf("%s: %d %v", name, code, m)
		}
	}
	r.want(t, 201, "POST", "/api/power/controllers", `{"id":"mock-1","driver":"mock","outlets":[{"outlet":"1"}]}`)
	upd := strings.Replace(apcCtl, `"Bench PDU"`, `"Bench PDU (rack 2)"`, 1)
	if m := r.want(t, 200, "PUT", "/api/power/controllers/pdu-1", upd); m["controller"].(map[string]any)["name"] != "Bench PDU (rack 2)" {
		t.Errorf("update: %v", m)
	}
	r.want(t, 404, "PUT", "/api/power/controllers/nope", strings.Replace(apcCtl, `"pdu-1"`, `"nope"`, 1))
	r.want(t, 400, "PUT", "/api/power/controllers/other", apcCtl) // path and body differ
	r.want(t, 405, "GET", "/api/power/controllers/pdu-1", "")

	m = r.want(t, 200, "GET", "/api/power/controllers", "")
	ctls := m["controllers"].([]any)
	if len(ctls) != 2 {
		t.Fatalf("list: %v", m)
	}
	pdu := ctls[1].(map[string]any)
	disc := pdu["discovery"].(map[string]any)
	caps := pdu["capabilities"].(map[string]any)
	if pdu["id"] != "pdu-1" || disc["reachable"] != true || caps["snmpV2c"] != true || r.creds["pdu-1"] != "snmpv2c" {
		t.Errorf("pdu-1 listed: %v (built with %q)", pdu, r.creds["pdu-1"])
	}
	if o := pdu["outlets"].([]any)[2].(map[string]any); o["state"] != "on" || o["protected"] != true {
		t.Errorf("outlet 8: %v", o)
	}

	// Policies.
	policy := `{"labId":"2","policyName":"bench","steps":[
	 {"id":"plc-on","phase":"pre_start","sequence":10,"controllerId":"pdu-1","outlet":"1","action":"on"},
	 {"id":"hmi-on","phase":"pre_start","sequence":20,"controllerId":"pdu-1","outlet":"2","action":"on","required":false},
	 {"id":"plc-off","phase":"post_end","sequence":10,"controllerId":"pdu-1","outlet":"1","action":"off"}]}`
	if m := r.want(t, 200, "PUT", "/api/power/policies/2", policy); m["success"] != true ||
		m["policy"].(map[string]any)["startFailureMode"] != "fail_reservation_start" {
		t.Errorf("put policy: %v", m)
	}
	r.want(t, 400, "PUT", "/api/power/policies/3", policy) // lab differs
	for _, bad := range []string{
		strings.Replace(policy, `"outlet":"2"`, `"outlet":"9"`, 1),
		strings.Replace(policy, `"controllerId":"pdu-1","outlet":"2"`, `"controllerId":"pdu-9","outlet":"2"`, 1),
		strings.Replace(policy, `"phase":"post_end"`, `"phase":"later"`, 1),
		strings.Replace(policy, `"action":"off"`, `"action":"toggle"`, 1),
	} {
		r.want(t, 400, "PUT", "/api/power/policies/2", bad)
	}
	if m := r.want(t, 200, "GET", "/api/power/policies", ""); len(m["policies"].([]any)) != 1 {
		t.Errorf("policies: %v", m)
	}

	// Phases.
	m = r.want(t, 200, "POST", "/api/labs/2/power/start", `{"reservationId":"0xres1","dryRun":true}`)
	if m["status"] != "dry_run" || len(m["steps"].([]any)) != 2 || r.driver("pdu-1").switches != 0 {
		t.Errorf("dry run: %v", m)
	}
	m = r.want(t, 200, "POST", "/api/labs/2/power/start", `{"reservationId":"0xres1","actor":"scheduler"}`)
	if m["status"] != "completed" || m["success"] != true || r.driver("pdu-1").switches != 2 {
		t.Errorf("start: %v (switches %d)", m, r.driver("pdu-1").switches)
	}
	// Again (a retried flow): the same keys, nothing switched twice.
	m = r.want(t, 200, "POST", "/api/labs/2/power/start", `{"reservationId":"0xres1"}`)
	if st := m["steps"].([]any)[0].(map[string]any); st["status"] != "skipped_already_completed" || r.driver("pdu-1").switches != 2 {
		t.Errorf("repeat: %v", m)
	}
	r.want(t, 422, "POST", "/api/labs/7/power/start", `{"reservationId":"0xres1"}`)
	r.want(t, 400, "POST", "/api/labs/2/power/start", `{}`)
	// A failing device: the required step fails the start.
	d := r.driver("pdu-1")
	d.mu.Lock()
	d.states["1"], d.states["2"], d.failSet = "off", "off", true
	d.mu.Unlock()
	m = r.want(t, 502, "POST", "/api/labs/2/power/start", `{"reservationId":"0xres2"}`)
	if m["status"] != "failed" || m["success"] != false || len(m["steps"].([]any)) != 1 {
		t.Errorf("failed start: %v", m)
	}
	// warn_and_continue goes on.
	r.want(t, 200, "PUT", "/api/power/policies/2", strings.Replace(policy, `"policyName":"bench"`, `"policyName":"bench","startFailureMode":"warn_and_continue"`, 1))
	m = r.want(t, 200, "POST", "/api/labs/2/power/start", `{"reservationId":"0xres3"}`)
	if m["status"] != "warning" || len(m["steps"].([]any)) != 2 {
		t.Errorf("warn start: %v", m)
	}
	d.mu.Lock()
	d.failSet = false
	d.mu.Unlock()
	m = r.want(t, 200, "POST", "/api/labs/2/power/end", `{"reservationId":"0xres1"}`)
	if m["status"] != "completed" || m["phase"] != "post_end" || r.driver("pdu-1").states["1"] != "off" {
		t.Errorf("end: %v", m)
	}

	// Manual commands.
	cmd := `{"command":"set_state","state":"on","idempotencyKey":"manual-1","actor":"alice","reason":"bench test"}`
	before := r.driver("pdu-1").switches
	m = r.want(t, 200, "POST", "/api/power/controllers/pdu-1/outlets/1/commands", cmd)
	op := m["operation"].(map[string]any)
	if op["observedStateBefore"] != "off" || op["observedStateAfter"] != "on" || op["idempotencyKey"] != "manual-1" || op["actor"] != "alice" {
		t.Errorf("command: %v", m)
	}
	r.want(t, 200, "POST", "/api/power/controllers/pdu-1/outlets/1/commands", cmd)
	if n := r.driver("pdu-1").switches - before; n != 1 {
		t.Errorf("same key twice: %d switches, want 1", n)
	}
	prot := `{"command":"cycle","offSeconds":1,"idempotencyKey":"manual-2"`
	for _, flags := range []string{``, `,"allowProtected":true`, `,"maintenance":true`} {
		if m := r.want(t, 403, "POST", "/api/power/controllers/pdu-1/outlets/8/commands", prot+flags+`}`); errCode(m) != "POWER_OUTLET_PROTECTED" {
			t.Errorf("protected %q: %v", flags, m)
		}
	}
	r.want(t, 200, "POST", "/api/power/controllers/pdu-1/outlets/8/commands", prot+`,"allowProtected":true,"maintenance":true}`)
	r.want(t, 404, "POST", "/api/power/controllers/nope/outlets/1/commands", cmd)
	r.want(t, 404, "POST", "/api/power/controllers/pdu-1/outlets/99/commands", cmd)
	r.want(t, 400, "POST", "/api/power/controllers/pdu-1/outlets/1/commands", `{"command":"set_state","state":"on"}`)
	r.want(t, 400, "POST", "/api/power/controllers/pdu-1/outlets/1/commands", `{"command":"toggle","idempotencyKey":"k"}`)
	d.mu.Lock()
	d.readBack = "on"
	d.mu.Unlock()
	m = r.want(t, 502, "POST", "/api/power/controllers/pdu-1/outlets/1/commands", `{"command":"set_state","state":"off","idempotencyKey":"manual-4"}`)
	if op := m["operation"].(map[string]any); op["errorCode"] != "read-back-mismatch" || m["success"] != false {
		t.Errorf("read-back mismatch: %v", m)
	}

	// History.
	m = r.want(t, 200, "GET", "/api/power/operations?reservationId=0xres1", "")
	if ops := m["operations"].([]any); len(ops) != 3 || ops[0].(map[string]any)["stepId"] != "plc-on" {
		t.Errorf("operations of 0xres1: %v", m)
	}
	r.want(t, 400, "GET", "/api/power/operations?reservationId=a&reservationId=b", "")
	var bodies string
	if err := r.st.DB.QueryRow(`SELECT GROUP_CONCAT(body) FROM power_controllers`).Scan(&bodies); err != nil {
		t.Fatal(err)
	}
	noSecret(t, "controller catalog", bodies)
}

// TestNoSecretCheckCanFail: the check above does see a secret.
func TestNoSecretCheckCanFail(t *testing.T) {
	ft := &testing.T{}
	if noSecret(ft, "probe", "x"+community+"y") {
		t.Error("noSecret missed the community")
	}
	if !noSecret(t, "probe", "clean") {
		t.Error("noSecret flagged a clean text")
	}
}

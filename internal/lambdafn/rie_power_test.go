package lambdafn_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/pdusim"
	"github.com/ops-worker/ops-worker/internal/relaytest"
)

// TestRIE_PowerFunctions: the power routes' Lambda functions under the
// emulator switch the PDU simulator over SNMP: the community saved by
// power-credentials-save, the controller created by
// power-controllers-create, read back by power-controllers-list, an
// outlet switched by power-outlet-command (one SET on the simulator, the
// same idempotency key again switching nothing), and the operation listed
// by power-operations. Direct (TestRIE_PowerThroughRelay: the same
// through a relay).
func TestRIE_PowerFunctions(t *testing.T) {
	ctx := context.Background()
	dev, err := pdusim.NewDevice(pdusim.DeviceConfig{Outlets: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	const community = "Rie-Pdu-Wr1te"
	ag, err := pdusim.StartAgent(ctx, pdusim.AgentConfig{Device: dev, Addr: "127.0.0.1:0", Tables: pdusim.TablesRPDU2,
		ReadCommunity: "Rie-Pdu-Read", WriteCommunity: community})
	if err != nil {
		t.Fatal(err)
	}
	defer ag.Close()
	key := base64.URLEncoding.EncodeToString([]byte("rie-power-functions-key-32bytes!"))
	w := twin{sim: labsimtest.Start(t, labsim.HostOptions{}), env: map[string]string{
		"OPS_CONFIG": "none", "MYSQL_DSN": dbtest.NewDatabase(t), "LAB_MANAGER_TOKEN": testToken, "OPS_SECRETS_KEY": key}}
	migrateUnderRIE(t, w)
	fns := map[string]*emulated{}
	for _, name := range []string{"power-credentials-save", "power-controllers-create", "power-controllers-list", "power-outlet-command", "power-operations"} {
		fns[name] = startRIE(t, name, w.env)
	}
	must := func(name string, c call, status int, contains string) answer {
		t.Helper()
		a := fns[name].do(t, c)
		if body := mustJSON(a.Body); a.Status != status || !strings.Contains(body, contains) {
			t.Fatalf("%s: %d %s, want %d with %s", name, a.Status, body, status, contains)
		}
		return a
	}
	must("power-credentials-save", call{method: "POST", path: "/api/power/credentials", token: true,
		body: fmt.Sprintf(`{"credentialRef": "pdu-1", "type": "snmpv2c", "credentials": {"version": "v2c", "community": %q}}`, community)}, 201, `"credentialRef":"pdu-1"`)
	must("power-controllers-create", call{method: "POST", path: "/api/power/controllers", token: true,
		body: fmt.Sprintf(`{"id": "pdu-1", "name": "PDU", "driver": "apc-powernet-snmp", "enabled": true, "host": "127.0.0.1", "port": %d, "credentialRef": "pdu-1", "config": {"timeoutSeconds": 2}, "outlets": [{"outlet": "1"}, {"outlet": "2"}]}`, ag.Port())}, 201, `"credentialRef":"pdu-1"`)
	must("power-controllers-list", call{method: "GET", path: "/api/power/controllers", token: true}, 200, `"reachable":true`)
	cmd := call{method: "POST", path: "/api/power/controllers/pdu-1/outlets/2/commands", token: true,
		body: `{"command": "set_state", "state": "on", "idempotencyKey": "rie-1", "actor": "rie", "reason": "test"}`}
	must("power-outlet-command", cmd, 200, `"observedStateAfter":"on"`)
	must("power-outlet-command", cmd, 200, `"idempotencyKey":"rie-1"`)
	if recs := dev.Records(); len(recs) != 1 || recs[0].Outlet != 2 {
		t.Errorf("simulator records %+v, want one switch of outlet 2", recs)
	}
	must("power-operations", call{method: "GET", path: "/api/power/operations", token: true}, 200, `"rie-1"`)
	for name, e := range fns {
		if strings.Contains(e.logs.String(), community) || strings.Contains(e.logs.String(), key) {
			t.Errorf("%s logged a secret", name)
		}
	}
}

// TestRIE_PowerThroughRelay: with OPS_RELAY_URL the power functions drive
// the PDU through the relay, which holds the controller's community in
// its own configuration: the functions have no secrets key and no stored
// credential. What the relay does not list is refused there.
func TestRIE_PowerThroughRelay(t *testing.T) {
	ctx := context.Background()
	dev, err := pdusim.NewDevice(pdusim.DeviceConfig{Outlets: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	const community = "Rie-Relay-Pdu-Wr1te"
	ag, err := pdusim.StartAgent(ctx, pdusim.AgentConfig{Device: dev, Addr: "127.0.0.1:0", Tables: pdusim.TablesRPDU2,
		ReadCommunity: "Rie-Relay-Pdu-Read", WriteCommunity: community})
	if err != nil {
		t.Fatal(err)
	}
	defer ag.Close()
	sim := labsimtest.Start(t, labsim.HostOptions{})
	catalog, err := sim.HostsJSON()
	if err != nil {
		t.Fatal(err)
	}
	powerDoc := fmt.Sprintf(`{"controllers": [{"id": "pdu-r", "driver": "apc-powernet-snmp", "host": "127.0.0.1", "port": %d,
 "config": {"timeoutSeconds": 2}, "outlets": [{"outlet": "1"}, {"outlet": "2"}], "credential": {"type": "snmpv2c", "community": %q}}]}`, ag.Port(), community)
	r := relaytest.Listen(t)
	r.LoadWithPower(t, catalog, []byte(powerDoc), relaySecret)
	w := twin{sim: sim, env: map[string]string{"OPS_CONFIG": "none", "MYSQL_DSN": dbtest.NewDatabase(t), "LAB_MANAGER_TOKEN": testToken,
		"OPS_RELAY_URL": r.URL, "OPS_RELAY_SECRET": relaySecret}}
	migrateUnderRIE(t, w)
	fns := map[string]*emulated{}
	for _, name := range []string{"power-controllers-create", "power-controllers-list", "power-outlet-command"} {
		fns[name] = startRIE(t, name, w.env)
	}
	must := func(name string, c call, status int, contains string) {
		t.Helper()
		a := fns[name].do(t, c)
		if body := mustJSON(a.Body); a.Status != status || !strings.Contains(body, contains) {
			t.Fatalf("%s: %d %s, want %d with %s", name, a.Status, body, status, contains)
		}
	}
	// The worker's catalog lists outlet 3 too; the relay's does not.
	must("power-controllers-create", call{method: "POST", path: "/api/power/controllers", token: true,
		body: `{"id": "pdu-r", "name": "PDU behind the relay", "driver": "apc-powernet-snmp", "enabled": true, "host": "10.1.2.50", "credentialRef": "pdu-r", "outlets": [{"outlet": "1"}, {"outlet": "2"}, {"outlet": "3"}]}`}, 201, `"name":"PDU behind the relay"`)
	must("power-controllers-list", call{method: "GET", path: "/api/power/controllers", token: true}, 200, `"reachable":true`)
	must("power-outlet-command", call{method: "POST", path: "/api/power/controllers/pdu-r/outlets/2/commands", token: true,
		body: `{"command": "set_state", "state": "on", "idempotencyKey": "rie-relay-1", "actor": "rie", "reason": "through the relay"}`}, 200, `"observedStateAfter":"on"`)
	if recs := dev.Records(); len(recs) != 1 || recs[0].Outlet != 2 {
		t.Errorf("simulator records %+v, want one switch of outlet 2", recs)
	}
	must("power-outlet-command", call{method: "POST", path: "/api/power/controllers/pdu-r/outlets/3/commands", token: true,
		body: `{"command": "set_state", "state": "on", "idempotencyKey": "rie-relay-2"}`}, 502, `not in the relay's power configuration`)
	if recs := dev.Records(); len(recs) != 1 {
		t.Errorf("the refused outlet reached the PDU: %+v", recs)
	}
	if logs := r.Logs.String(); !strings.Contains(logs, `"action":"power"`) || strings.Contains(logs, community) {
		t.Errorf("relay audit: want power lines without the community:\n%s", logs)
	}
	for name, e := range fns {
		if strings.Contains(e.logs.String(), community) {
			t.Errorf("%s logged the community", name)
		}
	}
}

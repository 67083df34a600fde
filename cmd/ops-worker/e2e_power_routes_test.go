package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/ops-worker/ops-worker/internal/pdusim"
)

// The secrets of TestE2E_PowerRoutes beyond the bench's communities.
const (
	routesV3User     = "bench-v3"
	routesV3AuthKey  = "V3-auth-K3y-9f2c"
	routesV3PrivKey  = "V3-priv-K3y-71ad"
	routesV3WrongKey = "V3-wr0ng-K3y-5b5b"
	routesNetioUser  = "netio-admin"
	routesNetioPass  = "N3tio-Pa55-e2e-c4"
	routesNetioWrong = "N3tio-wr0ng-e2e-d9"
)

// TestE2E_PowerRoutes is issue 18's route part over real HTTP with
// MariaDB and the PDU simulator: every power row of GATEWAY.md section 2
// with its success and error answers, against the simulator's SNMP agent
// (v2c, and a v3 authPriv user on a second agent of the same device) and
// its NETIO server (Basic auth). Switches are asserted on the simulators'
// own records; no community, v3 key or NETIO password is in any answer or
// log line.
func TestE2E_PowerRoutes(t *testing.T) {
	key := base64.URLEncoding.EncodeToString([]byte("e2e-power-routes-key-32-bytes!!!"))
	e := startE2E(t, e2eOpts{env: map[string]string{"OPS_SECRETS_KEY": key}})
	e.secrets = append(e.secrets, key, benchWriteCommunity, benchReadCommunity, routesV3AuthKey, routesV3PrivKey,
		routesV3WrongKey, routesNetioPass, routesNetioWrong)
	b := startBench(t)
	v3, err := pdusim.StartAgent(context.Background(), pdusim.AgentConfig{Device: b.dev, Addr: "127.0.0.1:0", Tables: pdusim.TablesRPDU2,
		Users: []pdusim.User{{Name: routesV3User, Auth: gosnmp.SHA, AuthKey: routesV3AuthKey, Priv: gosnmp.AES, PrivKey: routesV3PrivKey, Write: true}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v3.Close() })
	ndev, err := pdusim.NewDevice(pdusim.DeviceConfig{Outlets: 2, InitiallyOn: []int{2}, RebootOff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ndev.Close)
	nsrv, err := pdusim.StartNetio(context.Background(), pdusim.NetioConfig{Device: ndev, User: routesNetioUser, Password: routesNetioPass})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nsrv.Close() })
	var netioPort int
	if _, err := fmt.Sscanf(nsrv.Addr(), "127.0.0.1:%d", &netioPort); err != nil {
		t.Fatal(err)
	}

	const ctlPath, cmdPath = "/api/power/controllers", "/api/power/controllers/%s/outlets/%s/commands"
	// 401 without the token, on every power route.
	for _, rt := range [][2]string{{"GET", ctlPath}, {"POST", ctlPath}, {"PUT", ctlPath + "/pdu-1"}, {"GET", "/api/power/credentials"},
		{"POST", "/api/power/credentials"}, {"GET", "/api/power/policies"}, {"PUT", "/api/power/policies/7"},
		{"POST", fmt.Sprintf(cmdPath, "pdu-1", "1")}, {"POST", "/api/labs/7/power/start"}, {"POST", "/api/labs/7/power/end"},
		{"GET", "/api/power/operations"}} {
		var body any
		if rt[0] != "GET" {
			body = map[string]any{}
		}
		wantErr(t, e.do(t, rt[0], rt[1], body, noToken), 401, "UNAUTHORIZED", "")
	}

	t.Run("credentials", func(t *testing.T) {
		save := func(ref, typ string, creds map[string]any, overwrite bool) e2eResp {
			return e.do(t, "POST", "/api/power/credentials", map[string]any{"credentialRef": ref, "type": typ, "credentials": creds, "overwrite": overwrite})
		}
		v3creds := func(authKey string) map[string]any {
			return map[string]any{"username": routesV3User, "authProtocol": "SHA", "authPassword": authKey, "privProtocol": "AES", "privPassword": routesV3PrivKey}
		}
		for _, c := range []struct {
			ref, typ string
			creds    map[string]any
		}{
			{"pdu-1", "snmpv2c", map[string]any{"version": "v2c", "community": benchWriteCommunity}},
			{"pdu-v3", "snmpv3", v3creds(routesV3AuthKey)},
			{"pdu-v3-bad", "snmpv3", v3creds(routesV3WrongKey)},
			{"netio-1", "netio-http-basic", map[string]any{"username": routesNetioUser, "password": routesNetioPass}},
			{"netio-bad", "netio-http-basic", map[string]any{"username": routesNetioUser, "password": routesNetioWrong}},
		} {
			r := save(c.ref, c.typ, c.creds, false)
			if r.code != 201 || r.body["success"] != true || r.body["rotated"] != false || r.body["runtimeReloaded"] != true ||
				fmt.Sprint(r.body["credential"]) != fmt.Sprintf("map[credentialRef:%s type:%s]", c.ref, c.typ) {
				t.Errorf("save %s: %s", c.ref, r)
			}
		}
		wantErr(t, save("pdu-1", "snmpv2c", map[string]any{"community": benchWriteCommunity}, false), 409, "CREDENTIAL_EXISTS", "")
		if r := save("pdu-1", "snmpv2c", map[string]any{"community": benchWriteCommunity}, true); r.code != 200 || r.body["rotated"] != true {
			t.Errorf("rotation: %s", r)
		}
		wantErr(t, e.do(t, "POST", "/api/power/credentials", `{"credentialRef":"x","type":`), 400, "INVALID_JSON", "")
		wantErr(t, save("x", "telnet", map[string]any{"a": "b"}, false), 400, "INVALID_FIELD", "")
		wantErr(t, save("x", "snmpv2c", map[string]any{"community": benchWriteCommunity, "password": routesNetioPass}, false), 400, "INVALID_FIELD", "")
		wantErr(t, save("", "snmpv2c", map[string]any{"community": "c"}, false), 400, "BAD_REQUEST", "credentialRef is required")

		// The list is write-only: reference and type, nothing else.
		r := e.do(t, "GET", "/api/power/credentials", nil)
		wantOK(t, r, "success", "credentials")
		got := map[string]any{}
		for _, c := range arr(t, r.body["credentials"], "credentials") {
			m := obj(t, c, "credential")
			if len(m) != 2 {
				t.Errorf("credential has more than credentialRef and type: %v", m)
			}
			got[fmt.Sprint(m["credentialRef"])] = m["type"]
		}
		if fmt.Sprint(got) != "map[netio-1:netio-http-basic netio-bad:netio-http-basic pdu-1:snmpv2c pdu-v3:snmpv3 pdu-v3-bad:snmpv3]" {
			t.Errorf("credentials listed: %v", got)
		}
	})

	apc := func(id string, port int, ref string) map[string]any {
		return map[string]any{"id": id, "name": "Bench " + id, "driver": "apc-powernet-snmp", "enabled": true, "host": "127.0.0.1", "port": port,
			"credentialRef": ref, "config": map[string]any{"profile": "rpdu2", "timeoutSeconds": 1, "retries": 0},
			"outlets": []any{map[string]any{"outlet": "1", "displayName": "PLC", "logicalName": "plc", "defaultState": "off"},
				map[string]any{"outlet": "2", "displayName": "Network switch", "protected": true, "critical": true}}}
	}
	netio := func(id, ref string) map[string]any {
		return map[string]any{"id": id, "name": "NETIO " + id, "driver": "netio-json", "host": "127.0.0.1", "port": netioPort, "credentialRef": ref,
			"config":  map[string]any{"timeoutSeconds": 1, "retries": 0, "path": "/netio.json"},
			"outlets": []any{map[string]any{"outlet": "1", "logicalName": "scope"}, map[string]any{"outlet": "2", "logicalName": "psu"}}}
	}
	t.Run("controllers", func(t *testing.T) {
		for _, c := range []map[string]any{apc("pdu-1", b.ag.Port(), "pdu-1"), apc("pdu-v3", v3.Port(), "pdu-v3"),
			apc("pdu-v3-bad", v3.Port(), "pdu-v3-bad"), netio("netio-1", "netio-1"), netio("netio-bad", "netio-bad")} {
			r := e.do(t, "POST", ctlPath, c)
			if r.code != 201 || r.body["success"] != true {
				t.Fatalf("create %s: %s", c["id"], r)
			}
			ctl := obj(t, r.body["controller"], "controller")
			hasKeys(t, ctl, "controller", "id", "name", "driver", "enabled", "host", "port", "credentialRef", "config", "capabilities", "discovery", "outlets")
			if ctl["id"] != c["id"] || len(arr(t, ctl["outlets"], "outlets")) != 2 {
				t.Errorf("created %s: %s", c["id"], r)
			}
		}
		wantErr(t, e.do(t, "POST", ctlPath, apc("pdu-1", b.ag.Port(), "pdu-1")), 409, "POWER_CONTROLLER_EXISTS", "")
		wantErr(t, e.do(t, "POST", ctlPath, `{"id":"x","driver":`), 400, "INVALID_JSON", "")
		for name, bad := range map[string]func(map[string]any){
			"community in config": func(c map[string]any) { c["config"].(map[string]any)["community"] = benchWriteCommunity },
			"authKey in config":   func(c map[string]any) { c["config"].(map[string]any)["authKey"] = routesV3AuthKey },
			"password at the top": func(c map[string]any) { c["password"] = routesNetioPass },
			"unknown driver":      func(c map[string]any) { c["driver"] = "telnet" },
		} {
			c := apc("pdu-x", b.ag.Port(), "pdu-1")
			bad(c)
			r := e.do(t, "POST", ctlPath, c)
			wantErr(t, r, 400, "POWER_CONFIG_INVALID", "")
			if msg, _ := r.body["error"].(string); !strings.HasPrefix(msg, "Power controller configuration is invalid") {
				t.Errorf("%s: %s", name, r)
			}
		}

		// PUT: 200 renamed, 404 unknown, 400 path and body differ, invalid.
		upd := apc("pdu-1", b.ag.Port(), "pdu-1")
		upd["name"] = "Bench PDU (rack 2)"
		if r := e.do(t, "PUT", ctlPath+"/pdu-1", upd); r.code != 200 || obj(t, r.body["controller"], "controller")["name"] != "Bench PDU (rack 2)" {
			t.Errorf("update: %s", r)
		}
		wantErr(t, e.do(t, "PUT", ctlPath+"/nope", apc("nope", b.ag.Port(), "pdu-1")), 404, "POWER_CONTROLLER_NOT_FOUND", "")
		wantErr(t, e.do(t, "PUT", ctlPath+"/pdu-v3", upd), 400, "POWER_CONFIG_INVALID", "")
		upd["config"].(map[string]any)["community"] = benchReadCommunity
		wantErr(t, e.do(t, "PUT", ctlPath+"/pdu-1", upd), 400, "POWER_CONFIG_INVALID", "")
		wantErr(t, e.do(t, "PUT", ctlPath+"/pdu-1", `[1]`), 400, "INVALID_JSON", "")
	})

	// listed probes every controller and checks its outlets' states against
	// the simulator's (a controller of a device: its outlets read as the
	// device's are).
	listed := func(t *testing.T, devs map[string]*pdusim.Device) map[string]map[string]any {
		t.Helper()
		r := e.do(t, "GET", ctlPath, nil)
		wantOK(t, r, "success", "controllers")
		out := map[string]map[string]any{}
		for _, c := range arr(t, r.body["controllers"], "controllers") {
			ctl := obj(t, c, "controller")
			id := fmt.Sprint(ctl["id"])
			out[id] = ctl
			disc := obj(t, ctl["discovery"], id+" discovery")
			dev := devs[id]
			if dev == nil {
				if disc["reachable"] != false || disc["errorCode"] != "auth" {
					t.Errorf("%s with a wrong credential: discovery %v", id, disc)
				}
				continue
			}
			if disc["reachable"] != true {
				t.Errorf("%s: discovery %v", id, disc)
			}
			for i, o := range arr(t, ctl["outlets"], id+" outlets") {
				ov := obj(t, o, "outlet")
				hasKeys(t, ov, "outlet", "outlet", "protected", "critical", "defaultState", "state")
				want := "off"
				if s, _ := dev.Outlet(i + 1); s.On {
					want = "on"
				}
				if ov["state"] != want {
					t.Errorf("%s outlet %v: state %v, the simulator's %s", id, ov["outlet"], ov["state"], want)
				}
			}
		}
		return out
	}
	devs := map[string]*pdusim.Device{"pdu-1": b.dev, "pdu-v3": b.dev, "netio-1": ndev}
	t.Run("list", func(t *testing.T) {
		ctls := listed(t, devs)
		if len(ctls) != 5 {
			t.Fatalf("%d controllers, want 5", len(ctls))
		}
		caps := func(id, k string) any { return obj(t, ctls[id]["capabilities"], "capabilities")[k] }
		if caps("pdu-1", "snmpV2c") != true || caps("pdu-1", "snmpV3") != true || caps("netio-1", "httpsApi") != true || caps("netio-1", "snmpV2c") != false {
			t.Errorf("capabilities: %v / %v", ctls["pdu-1"]["capabilities"], ctls["netio-1"]["capabilities"])
		}
		if ctls["pdu-1"]["name"] != "Bench PDU (rack 2)" || ctls["netio-1"]["credentialRef"] != "netio-1" {
			t.Errorf("catalog fields: %v / %v", ctls["pdu-1"], ctls["netio-1"])
		}
		if n := len(b.dev.Records()) + len(ndev.Records()); n != 0 {
			t.Errorf("the list switched %d outlets", n)
		}
	})

	command := func(ctl, outlet string, body map[string]any) e2eResp {
		return e.do(t, "POST", fmt.Sprintf(cmdPath, ctl, outlet), body)
	}
	t.Run("commands", func(t *testing.T) {
		on := map[string]any{"command": "set_state", "state": "on", "idempotencyKey": "manual-1", "actor": "alice", "reason": "bench check"}
		r := command("pdu-1", "1", on)
		if r.code != 200 || r.body["success"] != true {
			t.Fatalf("set_state: %s", r)
		}
		op := obj(t, r.body["operation"], "operation")
		if op["observedStateBefore"] != "off" || op["observedStateAfter"] != "on" || op["idempotencyKey"] != "manual-1" ||
			op["status"] != "completed" || op["actor"] != "alice" || op["reason"] != "bench check" {
			t.Errorf("operation: %v", op)
		}
		recs := b.dev.Records()
		if len(recs) != 1 || recs[0].Outlet != 1 || recs[0].Action != pdusim.ActionOn || recs[0].Protocol != "snmpv2c" {
			t.Fatalf("records after set_state: %+v", recs)
		}
		// The same key again: its record, nothing switched.
		r = command("pdu-1", "1", on)
		if r.code != 200 || obj(t, r.body["operation"], "operation")["status"] != "skipped_already_completed" || len(b.dev.Records()) != 1 {
			t.Errorf("replayed key: %s (records %d)", r, len(b.dev.Records()))
		}

		// Protected outlet 2: 403 without both flags, nothing switched; 200 with both.
		for i, flags := range []map[string]any{{}, {"allowProtected": true}, {"maintenance": true}} {
			body := map[string]any{"command": "set_state", "state": "on", "idempotencyKey": fmt.Sprintf("prot-%d", i)}
			for k, v := range flags {
				body[k] = v
			}
			wantErr(t, command("pdu-1", "2", body), 403, "POWER_OUTLET_PROTECTED", "")
		}
		if n := len(b.dev.Records()); n != 1 {
			t.Errorf("a refused command switched: %d records", n)
		}
		r = command("pdu-1", "2", map[string]any{"command": "set_state", "state": "on", "idempotencyKey": "prot-ok", "allowProtected": true, "maintenance": true})
		if recs := b.dev.Records(); r.code != 200 || len(recs) != 2 || recs[1].Outlet != 2 || recs[1].Action != pdusim.ActionOn {
			t.Errorf("protected with both flags: %s (records %+v)", r, recs)
		}

		// SNMPv3 authPriv switches outlet 1 off through the second agent.
		r = command("pdu-v3", "1", map[string]any{"command": "set_state", "state": "off", "idempotencyKey": "v3-off", "actor": "bob", "reason": "v3"})
		if recs := b.dev.Records(); r.code != 200 || len(recs) != 3 || recs[2].Protocol != "snmpv3" || recs[2].User != routesV3User || recs[2].Action != pdusim.ActionOff {
			t.Errorf("v3 command: %s (records %+v)", r, recs)
		}
		// NETIO: a cycle is off then on, as Basic-auth user.
		r = command("netio-1", "2", map[string]any{"command": "cycle", "offSeconds": 1, "idempotencyKey": "netio-cycle", "actor": "carol", "reason": "reset psu"})
		nrecs := ndev.Records()
		if r.code != 200 || len(nrecs) != 2 || nrecs[0].Action != pdusim.ActionOff || nrecs[1].Action != pdusim.ActionOn ||
			nrecs[0].Protocol != "netio" || nrecs[0].User != routesNetioUser {
			t.Errorf("netio cycle: %s (records %+v)", r, nrecs)
		}
		if op := obj(t, r.body["operation"], "operation"); op["action"] != "cycle" || op["observedStateBefore"] != "on" || op["observedStateAfter"] != "on" {
			t.Errorf("netio cycle operation: %v", op)
		}
		// A wrong NETIO password: 502, the operation failed with auth.
		r = command("netio-bad", "1", map[string]any{"command": "set_state", "state": "on", "idempotencyKey": "netio-bad-1"})
		if op := obj(t, r.body["operation"], "operation"); r.code != 502 || r.body["success"] != false || op["errorCode"] != "auth" || len(ndev.Records()) != 2 {
			t.Errorf("wrong credential: %s", r)
		}
		// Rotated to the right password, the same controller switches at once
		// (runtimeReloaded), under a new key.
		r = e.do(t, "POST", "/api/power/credentials", map[string]any{"credentialRef": "netio-bad", "type": "netio-http-basic", "overwrite": true,
			"credentials": map[string]any{"username": routesNetioUser, "password": routesNetioPass}})
		if r.code != 200 || r.body["rotated"] != true || r.body["runtimeReloaded"] != true {
			t.Errorf("rotation: %s", r)
		}
		r = command("netio-bad", "2", map[string]any{"command": "set_state", "state": "off", "idempotencyKey": "netio-bad-2"})
		if nrecs := ndev.Records(); r.code != 200 || len(nrecs) != 3 || nrecs[2].Outlet != 2 || nrecs[2].Action != pdusim.ActionOff {
			t.Errorf("after the rotation: %s (records %+v)", r, nrecs)
		}

		wantErr(t, command("nope", "1", on), 404, "POWER_CONTROLLER_NOT_FOUND", "")
		wantErr(t, command("pdu-1", "9", on), 404, "POWER_OUTLET_NOT_FOUND", "")
		wantErr(t, e.do(t, "POST", fmt.Sprintf(cmdPath, "pdu-1", "1"), `{"command":"set_state"`), 400, "INVALID_JSON", "")
		wantErr(t, command("pdu-1", "1", map[string]any{"command": "set_state", "state": "on"}), 400, "BAD_REQUEST", "idempotencyKey is required")
		wantErr(t, command("pdu-1", "1", map[string]any{"command": "toggle", "idempotencyKey": "k-toggle"}), 400, "INVALID_FIELD", "")
		wantErr(t, command("pdu-1", "1", map[string]any{"command": "set_state", "state": "dim", "idempotencyKey": "k-dim"}), 400, "INVALID_FIELD", "")
		if n := len(b.dev.Records()) + len(ndev.Records()); n != 6 {
			t.Errorf("%d records after the refused commands, want 6", n)
		}
		// The list reads the states the commands left (pdu-1: 1 off, 2 on;
		// netio: both off), netio-bad now reachable.
		devs["netio-bad"] = ndev
		listed(t, devs)
	})

	step := func(id, phase, outlet, action string) map[string]any {
		return map[string]any{"id": id, "phase": phase, "sequence": 1, "controllerId": "netio-1", "outlet": outlet, "action": action,
			"required": true, "readBackRequired": true, "timeoutSeconds": 2}
	}
	policy := map[string]any{"labId": "7", "policyName": "scope-bench", "enabled": true, "startFailureMode": "fail_reservation_start",
		"endFailureMode": "warn_and_continue", "steps": []any{step("scope-on", "pre_start", "1", "on"), step("scope-off", "post_end", "1", "off")}}
	t.Run("policies", func(t *testing.T) {
		r := e.do(t, "PUT", "/api/power/policies/7", policy)
		if r.code != 200 || r.body["success"] != true || obj(t, r.body["policy"], "policy")["labId"] != "7" ||
			len(arr(t, obj(t, r.body["policy"], "policy")["steps"], "steps")) != 2 {
			t.Fatalf("put policy: %s", r)
		}
		wantErr(t, e.do(t, "PUT", "/api/power/policies/8", policy), 400, "POWER_CONFIG_INVALID", "")
		wantErr(t, e.do(t, "PUT", "/api/power/policies/7", `{"labId":"7",`), 400, "INVALID_JSON", "")
		bad := map[string]any{"labId": "7", "policyName": "x", "steps": []any{map[string]any{"phase": "pre_start", "sequence": 1,
			"controllerId": "pdu-9", "outlet": "1", "action": "on"}}}
		wantErr(t, e.do(t, "PUT", "/api/power/policies/7", bad), 400, "POWER_CONFIG_INVALID", "")
		r = e.do(t, "GET", "/api/power/policies", nil)
		wantOK(t, r, "success", "policies")
		ps := arr(t, r.body["policies"], "policies")
		if len(ps) != 1 || obj(t, ps[0], "policy")["policyName"] != "scope-bench" {
			t.Errorf("policies: %s", r)
		}
	})

	t.Run("phases", func(t *testing.T) {
		n0 := len(ndev.Records())
		phase := func(which string, body map[string]any) e2eResp {
			return e.do(t, "POST", "/api/labs/7/power/"+which, body)
		}
		// dryRun: the steps it would run, nothing switched.
		r := phase("start", map[string]any{"reservationId": "res-7", "dryRun": true})
		wantOK(t, r, "success", "labId", "status", "phase", "steps")
		steps := arr(t, r.body["steps"], "steps")
		if r.body["status"] != "dry_run" || r.body["labId"] != "7" || r.body["phase"] != "pre_start" || len(steps) != 1 ||
			obj(t, steps[0], "step")["status"] != "dry_run" || len(ndev.Records()) != n0 {
			t.Errorf("dry run: %s (records %d -> %d)", r, n0, len(ndev.Records()))
		}
		r = phase("start", map[string]any{"reservationId": "res-7", "actor": "scheduler"})
		if recs := ndev.Records(); r.code != 200 || r.body["status"] != "completed" || len(recs) != n0+1 || recs[n0].Outlet != 1 || recs[n0].Action != pdusim.ActionOn {
			t.Fatalf("start: %s (records %+v)", r, recs)
		}
		r = phase("start", map[string]any{"reservationId": "res-7"})
		if st := obj(t, arr(t, r.body["steps"], "steps")[0], "step"); r.code != 200 || st["status"] != "skipped_already_completed" || len(ndev.Records()) != n0+1 {
			t.Errorf("repeated start: %s", r)
		}
		r = phase("end", map[string]any{"reservationId": "res-7", "actor": "scheduler"})
		if recs := ndev.Records(); r.code != 200 || r.body["phase"] != "post_end" || r.body["status"] != "completed" || len(recs) != n0+2 ||
			recs[n0+1].Outlet != 1 || recs[n0+1].Action != pdusim.ActionOff {
			t.Errorf("end: %s (records %+v)", r, recs)
		}
		// The strip stops answering: the required step fails, 502 as the
		// older worker answered, the steps saying how.
		ndev.SetFault(pdusim.FaultRefuse)
		r = phase("start", map[string]any{"reservationId": "res-9"})
		ndev.SetFault(pdusim.FaultNone)
		if r.code != 502 || r.body["success"] != false || r.body["status"] != "failed" || len(arr(t, r.body["steps"], "steps")) == 0 {
			t.Errorf("start on a dead strip: %s", r)
		}
		wantErr(t, e.do(t, "POST", "/api/labs/8/power/start", map[string]any{"reservationId": "res-8"}), 422, "POWER_PHASE_REFUSED", "")
		wantErr(t, phase("end", map[string]any{}), 400, "BAD_REQUEST", "reservationId is required")
		wantErr(t, e.do(t, "POST", "/api/labs/7/power/start", `{"reservationId":`), 400, "INVALID_JSON", "")
		if len(ndev.Records()) != n0+2 {
			t.Errorf("refused phases switched: %d records", len(ndev.Records()))
		}
	})

	t.Run("operations", func(t *testing.T) {
		r := e.do(t, "GET", "/api/power/operations?reservationId=res-7", nil)
		wantOK(t, r, "success", "operations")
		var got []string
		for _, o := range arr(t, r.body["operations"], "operations") {
			op := obj(t, o, "operation")
			got = append(got, fmt.Sprintf("%v:%v:%v", op["phase"], op["stepId"], op["status"]))
		}
		if strings.Join(got, ",") != "pre_start:scope-on:completed,post_end:scope-off:completed" {
			t.Errorf("res-7 operations: %v", got)
		}
		// Without a reservation: every one, the manual ones with actor and reason.
		r = e.do(t, "GET", "/api/power/operations", nil)
		wantOK(t, r, "success", "operations")
		manual := map[string]string{}
		for _, o := range arr(t, r.body["operations"], "operations") {
			op := obj(t, o, "operation")
			if op["phase"] == "manual" {
				manual[fmt.Sprint(op["idempotencyKey"])] = fmt.Sprintf("%v/%v/%v", op["actor"], op["reason"], op["success"])
			}
		}
		want := map[string]string{"manual-1": "alice/bench check/true", "v3-off": "bob/v3/true", "netio-cycle": "carol/reset psu/true",
			"prot-ok": "lab-manager/<nil>/true", "netio-bad-1": "lab-manager/<nil>/false", "netio-bad-2": "lab-manager/<nil>/true"}
		if fmt.Sprint(manual) != fmt.Sprint(want) {
			t.Errorf("manual operations:\n got %v\nwant %v", manual, want)
		}
		wantErr(t, e.do(t, "GET", "/api/power/operations?reservationId=a&reservationId=b", nil), 400, "", "")
	})

	// No secret in any answer, log line or stored controller; the check
	// sees one when planted.
	var bodies string
	if err := e.db.QueryRow(`SELECT GROUP_CONCAT(body) FROM power_controllers`).Scan(&bodies); err != nil {
		t.Fatal(err)
	}
	texts := map[string]string{"logs": e.logs.String(), "responses": e.capture.String(), "catalog": bodies}
	if where := leakedIn(e.secrets, texts); len(where) > 0 {
		t.Errorf("a secret in %v", where)
	}
	for _, s := range []string{benchWriteCommunity, routesV3PrivKey, routesNetioPass} {
		texts["planted"] = "x " + s + " y"
		if where := leakedIn(e.secrets, texts); len(where) != 1 || where[0] != "planted" {
			t.Errorf("leak check found %v, want [planted]", where)
		}
	}
}

package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/pdusim"
)

// powerBench is a lab's bench behind a simulated APC PDU (SNMP v2c on
// loopback) that the worker knows as controller pdu-1, with its community
// in the credential store.
type powerBench struct {
	dev *pdusim.Device
	ag  *pdusim.Agent
}

const (
	benchWriteCommunity = "Bench-Wr1te-c0mm"
	benchReadCommunity  = "Bench-Read-c0mm"
)

func startBench(t *testing.T) powerBench {
	t.Helper()
	dev, err := pdusim.NewDevice(pdusim.DeviceConfig{Outlets: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Close)
	ag, err := pdusim.StartAgent(context.Background(), pdusim.AgentConfig{Device: dev, Addr: "127.0.0.1:0", Tables: pdusim.TablesRPDU2,
		ReadCommunity: benchReadCommunity, WriteCommunity: benchWriteCommunity})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ag.Close() })
	return powerBench{dev: dev, ag: ag}
}

// policy is lab 1's policy: outlet 1 (the PLC) on before the wake and off
// after the station's power step, outlet 2 (the HMI) on after the wake and
// off before the release.
func benchPolicy(startMode string, respectLocal bool) map[string]any {
	step := func(id, phase, outlet, action string) map[string]any {
		return map[string]any{"id": id, "phase": phase, "sequence": 1, "controllerId": "pdu-1", "outlet": outlet, "action": action,
			"required": true, "readBackRequired": true, "timeoutSeconds": 5}
	}
	return map[string]any{"labId": "1", "policyName": "bench", "enabled": true, "respectLocalMode": respectLocal,
		"startFailureMode": startMode, "endFailureMode": "warn_and_continue",
		"steps": []any{step("plc-on", "pre_start", "1", "on"), step("hmi-on", "post_start", "2", "on"),
			step("hmi-off", "pre_end", "2", "off"), step("plc-off", "post_end", "1", "off")}}
}

// TestE2E_PowerPolicyInFlows is issue 18's reservation part over real
// HTTP with MariaDB, labsim and the PDU simulator: the start flow runs
// pre_start, wake, post_start, prepare and the end flow pre_end, release,
// power, post_end, in that order on the simulators' own records; a
// retried start switches nothing again; a failed required pre_start step
// leaves the station untouched; warn_and_continue goes on and says so; a
// station in local mode skips a policy that respects it. No community in
// any answer or log line.
func TestE2E_PowerPolicyInFlows(t *testing.T) {
	key := base64.URLEncoding.EncodeToString([]byte("e2e-power-policy-key-32-bytes!!!"))
	e := startE2E(t, e2eOpts{hosts: []labsim.HostOptions{{Name: "lab-ws-01", Asleep: true}}, env: map[string]string{"OPS_SECRETS_KEY": key}})
	e.secrets = append(e.secrets, key, benchWriteCommunity, benchReadCommunity)
	b := startBench(t)
	st := e.sim.Host("lab-ws-01")

	r := e.do(t, "POST", "/api/power/credentials", map[string]any{"credentialRef": "pdu-1", "type": "snmpv2c",
		"credentials": map[string]any{"version": "v2c", "community": benchWriteCommunity}})
	if r.code != 201 {
		t.Fatalf("credentials: %s", r)
	}
	r = e.do(t, "POST", "/api/power/controllers", map[string]any{"id": "pdu-1", "name": "Bench PDU", "driver": "apc-powernet-snmp",
		"enabled": true, "host": "127.0.0.1", "port": b.ag.Port(), "credentialRef": "pdu-1",
		"config":  map[string]any{"profile": "auto", "timeoutSeconds": 1, "retries": 0},
		"outlets": []any{map[string]any{"outlet": "1", "logicalName": "plc"}, map[string]any{"outlet": "2", "logicalName": "hmi"}}})
	if r.code != 201 {
		t.Fatalf("controller: %s", r)
	}
	putPolicy := func(p map[string]any) {
		t.Helper()
		if r := e.do(t, "PUT", "/api/power/policies/1", p); r.code != 200 {
			t.Fatalf("policy: %s", r)
		}
	}
	putPolicy(benchPolicy("fail_reservation_start", true))

	actions := func(r e2eResp) string {
		var out []string
		for _, s := range arr(t, r.body["steps"], "steps") {
			out = append(out, fmt.Sprint(obj(t, s, "step")["action"]))
		}
		return strings.Join(out, ",")
	}
	commandAt := func(name string) time.Time {
		for _, c := range st.Commands() {
			if strings.Contains(c.CommandLine, name) {
				return c.At
			}
		}
		t.Fatalf("%s never reached the station", name)
		return time.Time{}
	}

	// Start: pre_start, wake, post_start, prepare.
	e.insertReservation(t, "pw-1", "1", "CONFIRMED", time.Now().Add(time.Hour))
	start := e.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "pw-1", "host": "lab-ws-01", "labId": "1"})
	if start.code != 200 || actions(start) != "power:on,wake,power:on,prepare" {
		t.Fatalf("start: %s", start)
	}
	t.Logf("start steps: %s", actions(start))
	recs := b.dev.Records()
	if len(recs) != 2 || recs[0].Outlet != 1 || recs[1].Outlet != 2 {
		t.Fatalf("PDU records after the start: %+v", recs)
	}
	if prep := commandAt("prepare-session"); !recs[0].At.Before(prep) || !recs[1].At.Before(prep) {
		t.Errorf("an outlet switched after prepare-session: %+v, prepare at %v", recs, prep)
	}
	// A retried start (the scheduler's retry, or the page's) switches nothing again.
	again := e.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "pw-1", "host": "lab-ws-01", "labId": "1"})
	if again.code != 200 || len(b.dev.Records()) != 2 {
		t.Errorf("retried start: %d SETs, want 2: %s", len(b.dev.Records()), again)
	}

	// End: pre_end, release, power, post_end.
	end := e.do(t, "POST", "/api/reservations/end", map[string]any{"reservationId": "pw-1", "host": "lab-ws-01", "labId": "1",
		"releaseArgs": []any{}, "powerAction": map[string]any{"mode": "shutdown"}})
	if end.code != 200 || actions(end) != "power:off,release,power:shutdown,power:off" {
		t.Fatalf("end: %s", end)
	}
	recs = b.dev.Records()
	if len(recs) != 4 || recs[2].Outlet != 2 || recs[3].Outlet != 1 {
		t.Fatalf("PDU records after the end: %+v", recs)
	}
	if rel, pw := commandAt("release-session"), commandAt("power shutdown"); !recs[2].At.Before(rel) || !recs[3].At.After(pw) {
		t.Errorf("end order: pre_end SET %v, release %v, power %v, post_end SET %v", recs[2].At, rel, pw, recs[3].At)
	}
	tl := e.do(t, "GET", "/api/reservations/timeline?reservationId=pw-1", nil)
	wantOK(t, tl, "operations")
	if n := strings.Count(string(tl.raw), `"action":"power:on"`); n < 2 {
		t.Errorf("timeline has %d power:on operations: %s", n, tl)
	}
	ops := e.do(t, "GET", "/api/power/operations?reservationId=pw-1", nil)
	if n := len(arr(t, ops.body["operations"], "operations")); n != 4 {
		t.Errorf("power_operations: %d, want 4: %s", n, ops)
	}

	// A failed required pre_start step: the station is untouched.
	waitFor(t, 10*time.Second, st.Asleep)
	before := len(st.Commands())
	b.dev.SetFault(pdusim.FaultTimeout)
	e.insertReservation(t, "pw-2", "1", "CONFIRMED", time.Now().Add(time.Hour))
	failed := e.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "pw-2", "host": "lab-ws-01", "labId": "1"})
	if failed.code != 502 || actions(failed) != "power:on" || !st.Asleep() || len(st.Commands()) != before {
		t.Errorf("failed pre_start: %s (station asleep %v, commands %d -> %d)", failed, st.Asleep(), before, len(st.Commands()))
	}

	// The PDU answers again: the retried start (the scheduler's, after its
	// cooldown) switches the failed step's outlet this time, and goes on.
	b.dev.SetFault(pdusim.FaultNone)
	n0 := len(b.dev.Records())
	retried := e.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "pw-2", "host": "lab-ws-01", "labId": "1"})
	if retried.code != 200 || actions(retried) != "power:on,wake,power:on,prepare" || len(b.dev.Records()) != n0+2 {
		t.Errorf("retried pw-2: %s (SETs %d -> %d)", retried, n0, len(b.dev.Records()))
	}
	b.dev.SetFault(pdusim.FaultTimeout)

	// warn_and_continue: the same failure, and the flow goes on.
	putPolicy(benchPolicy("warn_and_continue", true))
	e.insertReservation(t, "pw-3", "1", "CONFIRMED", time.Now().Add(time.Hour))
	warned := e.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "pw-3", "host": "lab-ws-01", "labId": "1"})
	if warned.code != 200 || actions(warned) != "power:on,wake,power:on,prepare" || !strings.Contains(string(warned.raw), "warn_and_continue") {
		t.Errorf("warn_and_continue: %s", warned)
	}
	b.dev.SetFault(pdusim.FaultNone)

	// Local mode: the station reports it, the policy respects it: no switch.
	if r := e.do(t, "POST", "/api/hosts/local-mode", map[string]any{"host": "lab-ws-01", "enabled": true}); r.code != 200 {
		t.Fatalf("local mode: %s", r)
	}
	waitFor(t, 10*time.Second, func() bool {
		p := e.do(t, "POST", "/api/heartbeat/poll", map[string]any{"host": "lab-ws-01"})
		return strings.Contains(string(p.raw), `"localModeEnabled":true`)
	})
	n := len(b.dev.Records())
	e.insertReservation(t, "pw-4", "1", "CONFIRMED", time.Now().Add(time.Hour))
	local := e.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "pw-4", "host": "lab-ws-01", "labId": "1"})
	if local.code != 200 || actions(local) != "wake,prepare" || len(b.dev.Records()) != n {
		t.Errorf("local mode: %s (SETs %d -> %d)", local, n, len(b.dev.Records()))
	}
}

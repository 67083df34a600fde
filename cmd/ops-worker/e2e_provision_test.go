package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
)

// loopbackResolver resolves the names it holds to 127.0.0.1 and no other:
// discovery's hostnames are never asked of the machine's DNS server, which
// is not on loopback (an unknown name would leave the machine).
type loopbackResolver map[string]bool

func (r loopbackResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if r[strings.ToLower(host)] {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestE2E_Provisioning is issue 17's "done when" over real HTTP, MariaDB,
// Guacamole's tables and labsim: a Guacamole candidate reaches every
// discovery status (Lab Station detected, WinRM only, Lab Station without
// WinRM, resolves only, no response), credentials are stored write-only,
// the host is provisioned, and a second server instance on the same
// database, already running, polls, wakes and prepares it like a file
// host without a restart. No password or key in any answer or log line.
func TestE2E_Provisioning(t *testing.T) {
	const (
		candName = "lab-cand-01"
		candHost = "localhost" // /etc/hosts: no DNS query leaves the machine
	)
	conns := []domain.GuacConnection{
		{ID: 21, Name: "RDP candidate", Protocol: "rdp", Hostname: candHost, Port: "3389"},
		{ID: 22, Name: "Gone PC", Protocol: "rdp", Hostname: "gone.lab.test", Port: "3389"},
		{ID: 23, Name: "No hostname", Protocol: "ssh"},
	}
	guacDSN, guacPass := guacamoleDB(t, conns...)
	key := base64.RawURLEncoding.EncodeToString([]byte("e2e-provisioning-key-32-bytes!!!"))
	hostsOpts := []labsim.HostOptions{{Name: "lab-ws-01"}, {Name: candName, SleepMode: labsim.SleepRefuse}}
	for i := range hostsOpts {
		hostsOpts[i].Password, hostsOpts[i].BootDelay, hostsOpts[i].TimeScale = e2ePassword(i), 50*time.Millisecond, 0.001
	}

	sim := labsimtest.Start(t, hostsOpts...)
	cand := sim.Host(candName)
	resolver := loopbackResolver{candHost: true}
	env := map[string]string{
		"OPS_SECRETS_KEY":                key,
		"GUACAMOLE_MYSQL_DSN":            guacDSN,
		"OPS_CATALOG_REFRESH_SECONDS":    "1",
		"OPS_DISCOVERY_WINRM_PORT":       fmt.Sprint(cand.HTTPSPort()),
		"OPS_DISCOVERY_LABSTATION_PORTS": fmt.Sprint(cand.HealthPort()),
		"OPS_DISCOVERY_TIMEOUT_SECONDS":  "1",
		"OPS_PROVISION_DEFAULTS": fmt.Sprintf(`{"broadcast": "127.0.0.1", "wol_port": %d, "wake_check": "tcp", "winrm_ca_file": %q}`,
			cand.WakePort(), sim.CAFile()),
	}
	a := startE2E(t, e2eOpts{sim: sim, drop: []string{candName}, resolver: resolver, env: env})
	a.secrets = append(a.secrets, key, guacPass, cand.Password())

	// Refusals before any probe.
	wantErr(t, a.do(t, "POST", "/api/hosts/discover", map[string]any{}), 400, "BAD_REQUEST", "connectionId is required")
	wantErr(t, a.do(t, "POST", "/api/hosts/discover", map[string]any{"connectionId": 999}), 404, "CONNECTION_NOT_FOUND", "Guacamole connection 999 not found")
	wantErr(t, a.do(t, "POST", "/api/hosts/discover", map[string]any{"connectionId": "x1"}), 400, "INVALID_FIELD", "connectionId must be a positive whole number")

	discover := func(id any) map[string]any {
		t.Helper()
		r := a.do(t, "POST", "/api/hosts/discover", map[string]any{"connectionId": id})
		wantOK(t, r, "connection", "status", "checks")
		return r.body
	}
	status := func(id any) string { return fmt.Sprint(discover(id)["status"]) }
	if got := status(23); got != "missing-hostname" {
		t.Errorf("no hostname: %s", got)
	}
	if got := status(22); got != "no-response" {
		t.Errorf("unresolvable: %s", got)
	}
	cand.Sleep()
	if got := status("21"); got != "host-resolves" {
		t.Errorf("asleep: %s", got)
	}
	cand.Wake()
	waitFor(t, 10*time.Second, func() bool { return !cand.Asleep() })
	cand.SetFaults(labsim.Faults{HealthOff: true})
	d := discover(21)
	if d["status"] != "winrm-reachable" {
		t.Errorf("health off: %v", d["status"])
	}
	if hb := obj(t, obj(t, d["checks"], "checks")["heartbeat"], "heartbeat"); hb["status"] != "missing-winrm-credentials" {
		t.Errorf("heartbeat without stored credentials: %v", hb)
	}
	cand.SetFaults(labsim.Faults{WinRMOff: true})
	if got := status(21); got != "labstation-detected-without-winrm" {
		t.Errorf("WinRM off: %s", got)
	}
	wantErr(t, a.do(t, "POST", "/api/hosts/provision", map[string]any{"connectionId": 21, "name": candName}), 409, "DISCOVERY_INSUFFICIENT", "insufficient discovery signal for ops host provisioning (discovery status: labstation-detected-without-winrm)")
	cand.SetFaults(labsim.Faults{})

	// Credentials: write-only.
	wantErr(t, a.do(t, "POST", "/api/hosts/winrm-credentials", map[string]any{"credentialRef": candHost, "user": cand.User()}), 400, "BAD_REQUEST", "password is required")
	r := a.do(t, "POST", "/api/hosts/winrm-credentials", map[string]any{"credentialRef": strings.ToUpper(candHost), "user": cand.User(), "password": cand.Password()})
	wantOK(t, r, "saved", "credentialRef", "hosts")
	if r.body["credentialRef"] != candHost || r.body["saved"] != true {
		t.Errorf("save: %s", r)
	}

	// Instance B: already running, on the same database, before the host exists.
	b := startE2E(t, e2eOpts{sim: sim, dsn: a.dsn, catalogPath: a.path, env: env, resolver: resolver})
	b.secrets = a.secrets

	d = discover(21)
	if d["status"] != "labstation-detected" {
		t.Fatalf("healthy candidate: %v", d)
	}
	checks := obj(t, d["checks"], "checks")
	hb := obj(t, checks["heartbeat"], "heartbeat")
	if hb["detected"] != true || !strings.Contains(fmt.Sprint(hb["path"]), "heartbeat.json") {
		t.Errorf("heartbeat hint: %v", hb)
	}
	draft := obj(t, d["opsHostDraft"], "opsHostDraft")
	if draft["mac"] != cand.MAC() || draft["address"] != candHost {
		t.Errorf("draft %v, want mac %s", draft, cand.MAC())
	}
	if http := obj(t, checks["labStationHttp"], "labStationHttp"); http["detected"] != true {
		t.Errorf("labStationHttp: %v", http)
	}

	wantErr(t, a.do(t, "POST", "/api/hosts/provision", map[string]any{"connectionId": 21, "name": candName, "labs": []any{"9"}, "validLabIds": []any{"7", 8}}), 400, "INVALID_FIELD", "labs contain values that are not valid candidates: 9")
	wantErr(t, a.do(t, "POST", "/api/hosts/provision", map[string]any{"connectionId": 21, "name": "lab-ws-01"}), 409, "HOST_EXISTS", "host lab-ws-01 already exists")
	r = a.do(t, "POST", "/api/hosts/provision", map[string]any{"connectionId": 21, "name": candName, "labs": "7", "validLabIds": []any{"7", 8}})
	wantOK(t, r, "provisioned", "hosts", "host", "discoveryStatus")
	host := obj(t, r.body["host"], "host")
	if host["name"] != candName || host["source"] != "database" || host["winrmConfigured"] != true || host["mac"] != cand.MAC() {
		t.Errorf("provisioned host: %s", r)
	}
	wantErr(t, a.do(t, "POST", "/api/hosts/provision", map[string]any{"connectionId": 21, "name": candName}), 409, "HOST_EXISTS", "host "+candName+" already exists")
	ops := a.do(t, "GET", "/api/operations/recent?host="+candName, nil)
	wantOK(t, ops, "operations")
	if !strings.Contains(string(ops.raw), `"action":"provision"`) {
		t.Errorf("no provision operation: %s", ops)
	}

	// Instance B sees it within OPS_CATALOG_REFRESH_SECONDS, with no restart.
	waitFor(t, 10*time.Second, func() bool {
		r := b.do(t, "GET", "/api/hosts", nil)
		return strings.Contains(string(r.raw), `"name":"`+candName+`"`)
	})
	poll := b.do(t, "POST", "/api/heartbeat/poll", map[string]any{"host": candName})
	wantOK(t, poll, "heartbeat")
	cand.Sleep()
	b.insertReservation(t, "prov-1", "7", "CONFIRMED", time.Now().Add(time.Hour))
	start := b.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "prov-1", "host": candName, "labId": "7"})
	wantOK(t, start, "success")
	if start.body["success"] != true || cand.Asleep() {
		t.Fatalf("start on instance B: %s", start)
	}
	prepared := false
	for _, c := range cand.Commands() {
		prepared = prepared || strings.Contains(c.CommandLine, "prepare-session")
	}
	if !prepared {
		t.Errorf("prepare-session never reached the station: %v", cand.Commands())
	}
	var rows int
	if err := b.db.QueryRow("SELECT COUNT(*) FROM ops_catalog_hosts WHERE entry LIKE ?", "%"+cand.Password()+"%").Scan(&rows); err != nil || rows != 0 {
		t.Errorf("the catalog row holds the password (%d rows, %v)", rows, err)
	}
	raw, _ := json.Marshal(start.body)
	t.Logf("instance B started %s on a provisioned host: %s", candName, raw)
}

// waitFor polls cond until it holds, failing after limit.
func waitFor(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

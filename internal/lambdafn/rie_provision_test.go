package lambdafn_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/guacamole/guacdemo"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
)

// TestRIE_ProvisionSeenByAnotherFunction: under the emulator, with no
// packaged catalog (OPS_CONFIG=none) and no station password in any
// function's environment, credentials saved through the
// hosts-winrm-credentials function and a host provisioned through the
// hosts-provision function are used by the hosts-list and heartbeat-poll
// functions on their next call, without a cold start.
func TestRIE_ProvisionSeenByAnotherFunction(t *testing.T) {
	sim := labsimtest.Start(t, labsim.HostOptions{Name: "cand-01", Password: "Rie-Cand-Pw-41x"})
	cand := sim.Host("cand-01")
	guacDSN := dbtest.NewDatabase(t)
	db, err := sql.Open("mysql", guacDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if err := guacdemo.CreateTables(ctx, db, ""); err != nil {
		t.Fatal(err)
	}
	// localhost: /etc/hosts resolves it, so no name is asked of a DNS server.
	if err := guacdemo.Add(ctx, db, "", domain.GuacConnection{ID: 31, Name: "RDP cand", Protocol: "rdp", Hostname: "localhost", Port: "3389"}); err != nil {
		t.Fatal(err)
	}
	key := base64.URLEncoding.EncodeToString([]byte("rie-provisioning-key-32-bytes!!!"))
	w := twin{sim: sim, env: map[string]string{
		"OPS_CONFIG": "none", "MYSQL_DSN": dbtest.NewDatabase(t), "LAB_MANAGER_TOKEN": testToken,
		"OPS_SECRETS_KEY": key, "GUACAMOLE_MYSQL_DSN": guacDSN, "OPS_CATALOG_REFRESH_SECONDS": "1",
		"OPS_DISCOVERY_WINRM_PORT": fmt.Sprint(cand.HTTPSPort()), "OPS_DISCOVERY_LABSTATION_PORTS": fmt.Sprint(cand.HealthPort()),
		"OPS_PROVISION_DEFAULTS": fmt.Sprintf(`{"broadcast": "127.0.0.1", "wol_port": %d, "wake_check": "tcp", "winrm_ca_file": %q}`, cand.WakePort(), sim.CAFile()),
	}}
	migrateUnderRIE(t, w)
	creds := startRIE(t, "hosts-winrm-credentials", w.env)
	provision := startRIE(t, "hosts-provision", w.env)
	list := startRIE(t, "hosts-list", w.env)
	poll := startRIE(t, "heartbeat-poll", w.env)

	if a := list.do(t, call{method: "GET", path: "/api/hosts", token: true}); a.Status != 200 || strings.Contains(mustJSON(a.Body), "cand-01") {
		t.Fatalf("before: %d %s", a.Status, mustJSON(a.Body))
	}
	a := creds.do(t, call{method: "POST", path: "/api/hosts/winrm-credentials", token: true,
		body: fmt.Sprintf(`{"credentialRef": "localhost", "user": %q, "password": %q}`, cand.User(), cand.Password())})
	if a.Status != 200 {
		t.Fatalf("save credentials: %d %s", a.Status, mustJSON(a.Body))
	}
	a = provision.do(t, call{method: "POST", path: "/api/hosts/provision", token: true, body: `{"connectionId": 31, "name": "cand-01", "labs": ["5"]}`})
	if a.Status != 200 || !strings.Contains(mustJSON(a.Body), `"provisioned":true`) {
		t.Fatalf("provision: %d %s", a.Status, mustJSON(a.Body))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		a = list.do(t, call{method: "GET", path: "/api/hosts", token: true})
		if a.Status == 200 && strings.Contains(mustJSON(a.Body), `"name":"cand-01"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hosts-list never listed the provisioned host: %d %s", a.Status, mustJSON(a.Body))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(mustJSON(a.Body), `"winrmConfigured":true`) {
		t.Errorf("provisioned host's credentials do not resolve in hosts-list: %s", mustJSON(a.Body))
	}
	a = poll.do(t, call{method: "POST", path: "/api/heartbeat/poll", token: true, body: `{"host": "cand-01"}`})
	if a.Status != 200 {
		t.Fatalf("heartbeat-poll of the provisioned host: %d %s", a.Status, mustJSON(a.Body))
	}
	for _, e := range []*emulated{creds, provision, list, poll} {
		if logs := e.logs.String(); strings.Contains(logs, cand.Password()) || strings.Contains(logs, key) {
			t.Errorf("%s logged a secret", e.name)
		}
	}
}

package relay_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/pdusim"
	"github.com/ops-worker/ops-worker/internal/power"
	"github.com/ops-worker/ops-worker/internal/relayclient"
	"github.com/ops-worker/ops-worker/internal/relayproto"
	"github.com/ops-worker/ops-worker/relay"
)

const (
	pduCommunity  = "Relay-Write-c0mm"
	pduWrong      = "Not-The-c0mm"
	netioPassword = "Relay-N3tio-Pass"
)

// startPDU runs the PDU simulator's SNMP agent (rPDU2, 4 outlets) and
// gives the relay two controllers on it: pdu-1 with the right community
// (from the relay's environment) and outlets 1 and 2 only, pdu-bad with a
// wrong one; and strip-n, a NETIO strip with Basic auth (outlet 2 only).
func startPDU(t *testing.T, e *env) (*pdusim.Device, *pdusim.Device) {
	t.Helper()
	dev, err := pdusim.NewDevice(pdusim.DeviceConfig{Outlets: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	ag, err := pdusim.StartAgent(context.Background(), pdusim.AgentConfig{Device: dev, Addr: "127.0.0.1:0", Tables: pdusim.TablesRPDU2,
		ReadCommunity: "Relay-Read-c0mm", WriteCommunity: pduCommunity})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ag.Close() })
	t.Setenv("RELAY_TEST_PDU_COMMUNITY", pduCommunity)
	ndev, err := pdusim.NewDevice(pdusim.DeviceConfig{Outlets: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ndev.Close() })
	nio, err := pdusim.StartNetio(context.Background(), pdusim.NetioConfig{Device: ndev, User: "netio", Password: netioPassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nio.Close() })
	_, nport, _ := strings.Cut(nio.Addr(), ":")
	doc := fmt.Sprintf(`{"controllers": [
 {"id": "strip-n", "driver": "netio-json", "host": "127.0.0.1", "port": %s, "outlets": [{"outlet": "2"}],
  "credential": {"type": "netio-http-basic", "username": "netio", "password": %q}},
 {"id": "pdu-1", "driver": "apc-powernet-snmp", "host": "127.0.0.1", "port": %d, "config": {"timeoutSeconds": 1, "retries": 0},
  "outlets": [{"outlet": "1"}, {"outlet": "2"}],
  "credential": {"type": "snmpv2c", "community": "env:RELAY_TEST_PDU_COMMUNITY"}},
 {"id": "pdu-bad", "driver": "apc-powernet-snmp", "host": "127.0.0.1", "port": %d, "config": {"timeoutSeconds": 1, "retries": 0},
  "outlets": [{"outlet": "1"}],
  "credential": {"type": "snmpv2c", "community": %q}}]}`, nport, netioPassword, ag.Port(), ag.Port(), pduWrong)
	path := filepath.Join(t.TempDir(), "relay-power.json")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	pcs, err := relay.LoadPower(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.relay.Power = pcs
	return dev, ndev
}

// TestRelay_Power: a worker's driver of a controller behind the relay
// switches the simulator's outlets with the relay's credential; what the
// relay does not hold (a controller, an outlet) is refused before the
// device is asked; a wrong community is the driver's auth failure, as on
// the worker; no community is in an answer or the relay's log.
func TestRelay_Power(t *testing.T) {
	e := start(t, secretNew)
	dev, ndev := startPDU(t, e)
	ctx := context.Background()
	d := relayclient.PowerDriver{Client: e.client(secretNew), Controller: "pdu-1"}

	desc, err := d.Describe(ctx)
	if err != nil || desc.Outlets != 4 || desc.Profile != "rpdu2" {
		t.Fatalf("describe: %+v %v", desc, err)
	}
	st, err := d.Set(ctx, "2", power.StateOn)
	if err != nil || st.State != power.StateOn {
		t.Fatalf("set: %+v %v", st, err)
	}
	if o, _ := dev.Outlet(2); !o.On {
		t.Error("the simulator's outlet 2 is off after the relayed set")
	}
	if st, err = d.Cycle(ctx, "2", 50*time.Millisecond); err != nil || st.State != power.StateOn {
		t.Fatalf("cycle: %+v %v", st, err)
	}
	outs, err := d.Outlets(ctx)
	if err != nil || len(outs) != 4 || outs[1].State != power.StateOn {
		t.Fatalf("outlets: %+v %v", outs, err)
	}
	sets := len(dev.Records())

	// NETIO over HTTP with Basic auth, the password only in the relay's file.
	nd := relayclient.PowerDriver{Client: e.client(secretNew), Controller: "strip-n"}
	if st, err := nd.Set(ctx, "2", power.StateOn); err != nil || st.State != power.StateOn {
		t.Fatalf("netio set: %+v %v", st, err)
	}
	if o, _ := ndev.Outlet(2); !o.On {
		t.Error("the NETIO strip's outlet 2 is off after the relayed set")
	}
	if _, err := nd.Set(ctx, "1", power.StateOn); power.CodeOf(err) != power.CodeConfig {
		t.Errorf("netio outlet not configured: %v", err)
	}

	// Outlet 3 exists on the device but not in the relay's configuration.
	if _, err := d.Set(ctx, "3", power.StateOn); power.CodeOf(err) != power.CodeConfig || !strings.Contains(err.Error(), "not in the relay's power configuration") {
		t.Errorf("outlet not configured: %v", err)
	}
	unknown := relayclient.PowerDriver{Client: e.client(secretNew), Controller: "pdu-9"}
	if _, err := unknown.Set(ctx, "1", power.StateOn); power.CodeOf(err) != power.CodeConfig {
		t.Errorf("unknown controller: %v", err)
	}
	if got := len(dev.Records()); got != sets {
		t.Errorf("refused requests reached the device: %d records, want %d", got, sets)
	}
	bad := relayclient.PowerDriver{Client: e.client(secretNew), Controller: "pdu-bad"}
	if _, err := bad.Set(ctx, "1", power.StateOn); power.CodeOf(err) != power.CodeAuth && power.CodeOf(err) != power.CodeUnreachable {
		// v2c: an agent drops a wrong community silently (a real agent
		// does too), so the driver may only see a timeout.
		t.Errorf("wrong community: %v", err)
	}
	wrongSecret := relayclient.PowerDriver{Client: e.client(secretOld), Controller: "pdu-1"}
	if _, err := wrongSecret.Describe(ctx); power.CodeOf(err) != power.CodeConfig {
		t.Errorf("wrong relay secret: %v", err)
	}

	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"controller": "pdu-1", "op": "explode"}`, http.StatusBadRequest},
		{`{"controller": "pdu-1", "op": "set", "outlet": "1", "state": "sideways"}`, http.StatusBadRequest},
		{`{"controller": "pdu-1", "op": "cycle", "outlet": "1", "off_ms": -5}`, http.StatusBadRequest},
		{`{"controller": "pdu-1", "op": "cycle", "outlet": "1", "off_ms": 99999999999}`, http.StatusBadRequest},
		{`{"controller": "pdu-1", "op": "set", "outlet": "1", "state": "on", "host": "10.0.0.1"}`, http.StatusBadRequest},
		{`{"controller": "pdu-1\u0000;calc", "op": "describe"}`, http.StatusForbidden},
		{`[1,2]`, http.StatusBadRequest},
	} {
		code, body := e.send(t, rawReq{method: http.MethodPost, path: relayproto.PathPower, body: []byte(tc.body)})
		if code != tc.want || !strings.Contains(body, `"kind"`) {
			t.Errorf("%s: %d %s, want %d with the error shape", tc.body, code, body, tc.want)
		}
	}
	if got := len(dev.Records()); got != sets {
		t.Errorf("bad bodies reached the device: %d records, want %d", got, sets)
	}

	logs := e.logs.String()
	if !strings.Contains(logs, `"action":"power"`) || !strings.Contains(logs, `"host":"pdu-1"`) {
		t.Errorf("no audit line of the power calls:\n%s", logs)
	}
	for _, secret := range []string{pduCommunity, pduWrong, netioPassword} {
		if strings.Contains(logs, secret) {
			t.Errorf("the relay's log holds the community %q", secret)
		}
	}
}

// TestLoadPower_Refusals: a bad power configuration stops the relay with
// the controller and field named and no credential echoed.
func TestLoadPower_Refusals(t *testing.T) {
	const secret = "Very-Secret-c0mm"
	for name, doc := range map[string]string{
		"no credential":      `{"controllers": [{"id": "p", "driver": "apc-powernet-snmp", "host": "127.0.0.1", "outlets": [{"outlet": "1"}]}]}`,
		"unset variable":     `{"controllers": [{"id": "p", "driver": "apc-powernet-snmp", "host": "127.0.0.1", "outlets": [{"outlet": "1"}], "credential": {"type": "snmpv2c", "community": "env:RELAY_TEST_UNSET_VAR"}}]}`,
		"bad credential":     `{"controllers": [{"id": "p", "driver": "apc-powernet-snmp", "host": "127.0.0.1", "outlets": [{"outlet": "1"}], "credential": {"type": "snmpv2c", "community": "` + secret + `", "password": "` + secret + `"}}]}`,
		"secret in config":   `{"controllers": [{"id": "p", "driver": "apc-powernet-snmp", "host": "127.0.0.1", "outlets": [{"outlet": "1"}], "config": {"community": "` + secret + `"}, "credential": {"type": "snmpv2c", "community": "x"}}]}`,
		"twice":              `{"controllers": [{"id": "p", "driver": "mock", "outlets": [{"outlet": "1"}]}, {"id": "P", "driver": "mock", "outlets": [{"outlet": "1"}]}]}`,
		"unknown top field":  `{"controllers": [], "extra": 1}`,
		"not json":           `{"controllers": [`,
		"no outlets":         `{"controllers": [{"id": "p", "driver": "mock"}]}`,
		"unknown driver":     `{"controllers": [{"id": "p", "driver": "toaster", "outlets": [{"outlet": "1"}]}]}`,
		"controller not obj": `{"controllers": ["p"]}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "power.json")
			if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := relay.LoadPower(path, nil, nil)
			if err == nil {
				t.Fatal("loaded")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error echoes the credential: %v", err)
			}
		})
	}
	if _, err := relay.LoadPower(filepath.Join(t.TempDir(), "missing.json"), nil, nil); err == nil {
		t.Error("a missing file loaded")
	}
}

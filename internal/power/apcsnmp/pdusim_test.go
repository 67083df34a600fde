package apcsnmp_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/ops-worker/ops-worker/internal/pdusim"
	"github.com/ops-worker/ops-worker/internal/power"
	"github.com/ops-worker/ops-worker/internal/power/apcsnmp"
)

// TestDriver_AgainstPDUSim: the driver against the PDU simulator the
// end-to-end tests and `make run` use, for both tables and for v2c and v3
// authPriv (the simulator is itself checked against net-snmp, and the
// driver against snmpd: neither is only tested against the other). Each
// switch is one SET on the simulator's record.
func TestDriver_AgainstPDUSim(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tables  pdusim.Tables
		profile string
		creds   apcsnmp.Credentials
	}{
		{"rpdu2 v2c", pdusim.TablesRPDU2, apcsnmp.ProfileRPDU2, apcsnmp.Credentials{Type: "snmpv2c", Fields: map[string]string{"version": "v2c", "community": "Sim-Write-c0mm"}}},
		{"legacy v3 authPriv", pdusim.TablesLegacy, apcsnmp.ProfileLegacy, apcsnmp.Credentials{Type: "snmpv3", Fields: map[string]string{
			"version": "v3", "username": "ops", "authProtocol": "SHA", "authPassword": "Sim-Auth-Key-1", "privProtocol": "AES", "privPassword": "Sim-Priv-Key-1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dev, err := pdusim.NewDevice(pdusim.DeviceConfig{Outlets: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			ag, err := pdusim.StartAgent(ctx, pdusim.AgentConfig{Device: dev, Addr: "127.0.0.1:0", Tables: tc.tables,
				ReadCommunity: "Sim-Read-c0mm", WriteCommunity: "Sim-Write-c0mm",
				Users: []pdusim.User{{Name: "ops", Auth: gosnmp.SHA, AuthKey: "Sim-Auth-Key-1", Priv: gosnmp.AES, PrivKey: "Sim-Priv-Key-1", Write: true}}})
			if err != nil {
				t.Fatal(err)
			}
			defer ag.Close()
			d, err := apcsnmp.New(apcsnmp.Config{Host: "127.0.0.1", Port: ag.Port(), Profile: apcsnmp.ProfileAuto, Timeout: time.Second}, tc.creds)
			if err != nil {
				t.Fatal(err)
			}
			desc, err := d.Describe(ctx)
			if err != nil || desc.Profile != tc.profile || desc.Outlets != 4 {
				t.Fatalf("describe: %+v %v", desc, err)
			}
			st, err := d.Set(ctx, "3", power.StateOn)
			if err != nil || st.State != power.StateOn {
				t.Fatalf("set on: %+v %v", st, err)
			}
			if o, _ := dev.Outlet(3); !o.On {
				t.Errorf("the simulator's outlet 3 is off after the driver switched it on")
			}
			outs, err := d.Outlets(ctx)
			if err != nil || len(outs) != 4 || outs[2].State != power.StateOn || outs[0].State != power.StateOff {
				t.Fatalf("outlets: %+v %v", outs, err)
			}
			if _, err := d.Set(ctx, "9", power.StateOn); power.CodeOf(err) != power.CodeOutletUnknown {
				t.Errorf("outlet 9: %v, want %s", err, power.CodeOutletUnknown)
			}
			if n := len(dev.Records()); n != 1 {
				t.Errorf("%d SETs recorded, want 1: %+v", n, dev.Records())
			}
			dev.SetFault(pdusim.FaultWrongReadBack)
			if _, err := d.Set(ctx, "2", power.StateOn); power.CodeOf(err) != power.CodeReadBackMismatch {
				t.Errorf("wrong read-back: %v, want %s", err, power.CodeReadBackMismatch)
			}
			dev.SetFault(pdusim.FaultNone)
			// Wrong credentials: refused, and no secret in the error.
			bad := tc.creds
			bad.Fields = map[string]string{}
			for k, v := range tc.creds.Fields {
				bad.Fields[k] = v
			}
			if tc.creds.Type == "snmpv2c" {
				bad.Fields["community"] = "Wrong-c0mm"
			} else {
				bad.Fields["authPassword"] = "Wrong-Auth-Key"
			}
			bd, err := apcsnmp.New(apcsnmp.Config{Host: "127.0.0.1", Port: ag.Port(), Profile: tc.profile, Timeout: 300 * time.Millisecond, Retries: 0}, bad)
			if err != nil {
				t.Fatal(err)
			}
			_, err = bd.Outlets(ctx)
			if c := power.CodeOf(err); c != power.CodeAuth && c != power.CodeUnreachable {
				t.Errorf("wrong credentials: %v", err)
			}
			text := fmt.Sprintf("%v %+v %#v", err, bd, bad)
			for _, s := range []string{"Wrong-c0mm", "Wrong-Auth-Key", "Sim-Write-c0mm", "Sim-Auth-Key-1", "Sim-Priv-Key-1"} {
				if strings.Contains(text, s) {
					t.Errorf("a secret is printed: %s", text)
				}
			}
		})
	}
}

// BenchmarkPolicyStep_PDUSim is one policy step's device work: an SNMP set
// and its read-back, v2c on loopback, against the simulator.
func BenchmarkPolicyStep_PDUSim(b *testing.B) {
	ctx := context.Background()
	dev, err := pdusim.NewDevice(pdusim.DeviceConfig{Outlets: 8})
	if err != nil {
		b.Fatal(err)
	}
	defer dev.Close()
	ag, err := pdusim.StartAgent(ctx, pdusim.AgentConfig{Device: dev, Addr: "127.0.0.1:0", Tables: pdusim.TablesRPDU2, ReadCommunity: "r", WriteCommunity: "w"})
	if err != nil {
		b.Fatal(err)
	}
	defer ag.Close()
	d, err := apcsnmp.New(apcsnmp.Config{Host: "127.0.0.1", Port: ag.Port(), Profile: apcsnmp.ProfileRPDU2, Timeout: time.Second},
		apcsnmp.Credentials{Type: "snmpv2c", Fields: map[string]string{"version": "v2c", "community": "w"}})
	if err != nil {
		b.Fatal(err)
	}
	states := []string{power.StateOn, power.StateOff}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := d.Set(ctx, "1", states[i%2]); err != nil {
			b.Fatal(err)
		}
	}
}

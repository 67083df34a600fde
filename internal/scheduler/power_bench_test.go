package scheduler_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/pdusim"
	"github.com/ops-worker/ops-worker/internal/powerops"
)

// BenchmarkStartFlow_FourPowerSteps is one reservation start with a power
// policy of four steps (two pre_start, two post_start outlets switched on,
// each claimed in power_operations, set and read back over SNMP v2c on
// the simulator) around the wake check and prepare-session on a labsim
// station, on MariaDB. The outlets are switched off again between
// iterations, outside the timer, so every step is a real switch.
func BenchmarkStartFlow_FourPowerSteps(b *testing.B) {
	ctx := context.Background()
	w := newWorld(b, 1, nil)
	w.env["OPS_SECRETS_KEY"] = base64.URLEncoding.EncodeToString([]byte("bench-start-flow-key-32-bytes!!!"))
	dev, err := pdusim.NewDevice(pdusim.DeviceConfig{Outlets: 4})
	if err != nil {
		b.Fatal(err)
	}
	defer dev.Close()
	ag, err := pdusim.StartAgent(ctx, pdusim.AgentConfig{Device: dev, Addr: "127.0.0.1:0", Tables: pdusim.TablesRPDU2,
		ReadCommunity: "Bench-R", WriteCommunity: "Bench-W"})
	if err != nil {
		b.Fatal(err)
	}
	defer ag.Close()
	a := w.newApp(b, nil)
	p := a.Power()
	if _, err := p.SavePowerCredential(ctx, powerops.SaveCredentialRequest{CredentialRef: "pdu-1", Type: "snmpv2c",
		Credentials: map[string]any{"version": "v2c", "community": "Bench-W"}, Actor: "bench"}); err != nil {
		b.Fatal(err)
	}
	outlets := []any{}
	for o := 1; o <= 4; o++ {
		outlets = append(outlets, map[string]any{"outlet": fmt.Sprint(o)})
	}
	if _, err := p.CreateController(ctx, mustJSON(b, map[string]any{"id": "pdu-1", "name": "Bench PDU", "driver": "apc-powernet-snmp",
		"enabled": true, "host": "127.0.0.1", "port": ag.Port(), "credentialRef": "pdu-1",
		"config": map[string]any{"profile": "rpdu2", "timeoutSeconds": 5, "retries": 0}, "outlets": outlets}), "bench"); err != nil {
		b.Fatal(err)
	}
	step := func(phase string, seq, outlet int) map[string]any {
		return map[string]any{"id": fmt.Sprintf("s%d", outlet), "phase": phase, "sequence": seq, "controllerId": "pdu-1",
			"outlet": fmt.Sprint(outlet), "action": "on", "required": true, "readBackRequired": true}
	}
	if _, err := p.PutPolicy(ctx, "1", mustJSON(b, map[string]any{"policyName": "bench", "enabled": true,
		"startFailureMode": "fail_reservation_start", "endFailureMode": "warn_and_continue",
		"steps": []any{step("pre_start", 1, 1), step("pre_start", 2, 2), step("post_start", 1, 3), step("post_start", 2, 4)}}), "bench"); err != nil {
		b.Fatal(err)
	}
	host := a.Hosts().Catalog().Hosts()[0].Name
	for i := 0; b.Loop(); i++ {
		resp, err := a.Service().StartReservation(ctx, ops.StartRequest{ReservationID: fmt.Sprintf("bench-%d", i), Host: host, LabID: "1"})
		if err != nil || !resp.Success || len(resp.Steps) != 6 {
			b.Fatalf("start %d: %+v %v", i, resp, err)
		}
		b.StopTimer()
		for o := 1; o <= 4; o++ {
			if err := dev.Command(o, pdusim.ActionOff, "snmpv2c", "bench"); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
}

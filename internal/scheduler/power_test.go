package scheduler_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/pdusim"
	"github.com/ops-worker/ops-worker/internal/powerops"
	"github.com/ops-worker/ops-worker/internal/scheduler"
)

const (
	powLabs      = 20
	powPerLab    = 10
	powCommunity = "Tick-Wr1te-c0mm"
)

// powerWorld is powLabs stations behind one simulated APC PDU (SNMP v2c
// on loopback, 2 outlets a lab) that the worker knows as controller
// pdu-1; lab l's policy switches its outlet 2l-1 on at pre_start and off
// at post_end, and never touches outlet 2l (its neighbour, in the catalog
// too). It returns the device and concTicks schedulers.
func powerWorld(t *testing.T) (*world, *pdusim.Device, []*scheduler.Scheduler) {
	t.Helper()
	w := newWorld(t, powLabs, nil)
	w.env["OPS_SECRETS_KEY"] = base64.URLEncoding.EncodeToString([]byte("tick-power-policy-key-32-bytes!!"))
	dev, err := pdusim.NewDevice(pdusim.DeviceConfig{Outlets: 2 * powLabs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Close)
	ag, err := pdusim.StartAgent(context.Background(), pdusim.AgentConfig{Device: dev, Addr: "127.0.0.1:0",
		Tables: pdusim.TablesRPDU2, ReadCommunity: "Tick-Read-c0mm", WriteCommunity: powCommunity})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ag.Close() })

	var schs []*scheduler.Scheduler
	for i := range concTicks {
		a := w.newApp(t, nil)
		// A shut-down station stops answering within the 50 ms BootDelay:
		// probe for it in 200 ms steps, not the LAN default's 2 s.
		a.Service().Settings.PowerOffProbe = 200 * time.Millisecond
		schs = append(schs, a.Scheduler())
		if i == 0 {
			configurePower(t, a.Power(), ag.Port())
		}
	}
	return w, dev, schs
}

// configurePower stores the community, the controller with its outlets and
// one policy per lab through the power use cases.
func configurePower(t *testing.T, p *powerops.Service, port int) {
	t.Helper()
	ctx := context.Background()
	if _, err := p.SavePowerCredential(ctx, powerops.SaveCredentialRequest{CredentialRef: "pdu-1", Type: "snmpv2c",
		Credentials: map[string]any{"version": "v2c", "community": powCommunity}, Actor: "test"}); err != nil {
		t.Fatalf("credential: %v", err)
	}
	var outlets []any
	for o := 1; o <= 2*powLabs; o++ {
		outlets = append(outlets, map[string]any{"outlet": strconv.Itoa(o), "logicalName": fmt.Sprintf("lab%d-%d", (o+1)/2, 2-o%2)})
	}
	if _, err := p.CreateController(ctx, mustJSON(t, map[string]any{"id": "pdu-1", "name": "Tick PDU",
		"driver": "apc-powernet-snmp", "enabled": true, "host": "127.0.0.1", "port": port, "credentialRef": "pdu-1",
		"config":  map[string]any{"profile": "rpdu2", "timeoutSeconds": 5, "retries": 0},
		"outlets": outlets}), "test"); err != nil {
		t.Fatalf("controller: %v", err)
	}
	for l := 1; l <= powLabs; l++ {
		outlet := strconv.Itoa(2*l - 1)
		step := func(id, phase, action string) map[string]any {
			return map[string]any{"id": id, "phase": phase, "sequence": 1, "controllerId": "pdu-1", "outlet": outlet,
				"action": action, "required": true, "readBackRequired": true, "timeoutSeconds": 5}
		}
		if _, err := p.PutPolicy(ctx, strconv.Itoa(l), mustJSON(t, map[string]any{"policyName": "bench", "enabled": true,
			"startFailureMode": "fail_reservation_start", "endFailureMode": "warn_and_continue",
			"steps": []any{step("plc-on", "pre_start", "on"), step("plc-off", "post_end", "off")}}), "test"); err != nil {
			t.Fatalf("policy of lab %d: %v", l, err)
		}
	}
}

func mustJSON(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// powerOp is one power_operations row.
type powerOp struct {
	id                                      int64
	reservation, phase, outlet, action, key string
	status                                  string
	success                                 bool
}

func powerOps(t testing.TB, w *world) []powerOp {
	t.Helper()
	rows, err := w.db(t).Query(`SELECT id, reservation_id, phase, controller_id, outlet_key, action, idempotency_key, status, success
		FROM power_operations ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []powerOp
	for rows.Next() {
		var op powerOp
		var ctl string
		if err := rows.Scan(&op.id, &op.reservation, &op.phase, &ctl, &op.outlet, &op.action, &op.key, &op.status, &op.success); err != nil {
			t.Fatal(err)
		}
		if ctl != "pdu-1" {
			t.Errorf("power operation %d on controller %q", op.id, ctl)
		}
		out = append(out, op)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Issue 18: 8 reservation ticks at once, each its own worker instance,
// through the starts and ends of 200 bookings (10 a lab, one after the
// other) on 20 labs whose policies switch an outlet on at pre_start and
// off at post_end: every step ran exactly once. The PDU simulator saw
// exactly 400 SETs, each outlet's in the order of the bookings on it;
// power_operations holds 400 rows, one a step, unique keys, all
// completed; and the two agree, row by row and outlet by outlet.
func TestReservationTick_ConcurrentPowerStepsExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	w, dev, schs := powerWorld(t)
	db := w.db(t)
	// Booking k of each lab starts at t0 + 10 min + k x 10 min and lasts 5
	// min: the next start is 5 min after an end, beyond the start lead, so
	// every end flow releases, powers down and runs post_end.
	t0 := w.clock.Now()
	var bs []booking
	for k := range powPerLab {
		for l := 1; l <= powLabs; l++ {
			st := t0.Add(10*time.Minute + time.Duration(k)*10*time.Minute)
			bs = append(bs, booking{id: fmt.Sprintf("p-%02d-%02d", l, k), lab: strconv.Itoa(l), start: st, end: st.Add(5 * time.Minute)})
		}
	}
	book(t, db, bs)

	began := time.Now()
	// step advances the clock to at and ticks all schedulers at once, again
	// while a round still claims work (a station busy with another
	// booking's flow is given back for the next tick).
	step := func(at time.Time, what string, k int) {
		t.Helper()
		w.clock.Advance(at.Sub(w.clock.Now()))
		st0 := time.Now()
		var got scheduler.ReservationSummary
		for round := 0; round < 3; round++ {
			sum := tickAll(t, schs)
			addPhase(&got.Start, sum.Start)
			addPhase(&got.End, sum.End)
			if sum.Start.Claimed+sum.End.Claimed == 0 {
				break
			}
		}
		t.Logf("%s #%d: %v start %+v end %+v", what, k, time.Since(st0).Round(time.Millisecond), got.Start, got.End)
		ph := got.Start
		if what == "end" {
			ph = got.End
		}
		if ph.Succeeded != powLabs || ph.Failed != 0 {
			t.Fatalf("%s of bookings #%d: %+v (other phase %+v)", what, k, ph, got)
		}
	}
	for k := range powPerLab {
		start := t0.Add(10*time.Minute + time.Duration(k)*10*time.Minute)
		step(start.Add(-time.Minute), "start", k)
		step(start.Add(5*time.Minute+61*time.Second), "end", k)
	}
	t.Logf("%d ticks a round, %d bookings on %d labs, starts and ends: %v", concTicks, len(bs), powLabs,
		time.Since(began).Round(time.Millisecond))

	if got := statusCounts(t, db); got["COMPLETED"] != len(bs) {
		t.Errorf("statuses %v, want %d COMPLETED", got, len(bs))
	}
	for _, action := range []string{"scheduler:start", "scheduler:end", "power:on", "power:off"} {
		counts := opCounts(t, db, action)
		bad := 0
		for _, b := range bs {
			if counts[b.id] != 1 {
				if bad++; bad <= 5 {
					t.Errorf("%s has %d %s records", b.id, counts[b.id], action)
				}
			}
		}
		if bad > 0 {
			t.Errorf("%d bookings without exactly one %s record", bad, action)
		}
	}

	// The PDU: 400 SETs, none on a lab's neighbour outlet, each policy
	// outlet alternating on, off over its ten bookings.
	recs := dev.Records()
	if len(recs) != 2*len(bs) {
		t.Errorf("PDU SET records: %d, want %d", len(recs), 2*len(bs))
	}
	byOutlet := map[string][]string{}
	for _, r := range recs {
		byOutlet[strconv.Itoa(r.Outlet)] = append(byOutlet[strconv.Itoa(r.Outlet)], string(r.Action))
	}

	// power_operations: one row a step, its own key, completed.
	rows := powerOps(t, w)
	if len(rows) != 2*len(bs) {
		t.Errorf("power_operations rows: %d, want %d", len(rows), 2*len(bs))
	}
	keys := map[string]bool{}
	steps := map[string]int{} // reservation/phase
	rowsByOutlet := map[string][]powerOp{}
	for _, op := range rows {
		if keys[op.key] {
			t.Errorf("idempotency key %q twice", op.key)
		}
		keys[op.key] = true
		steps[op.reservation+"/"+op.phase]++
		if !op.success || op.status != powerops.StatusCompleted {
			t.Errorf("power operation %d (%s %s): status %s success %v", op.id, op.reservation, op.phase, op.status, op.success)
		}
		rowsByOutlet[op.outlet] = append(rowsByOutlet[op.outlet], op)
	}
	for _, b := range bs {
		for _, phase := range []string{"pre_start", "post_end"} {
			if n := steps[b.id+"/"+phase]; n != 1 {
				t.Errorf("%s: %d %s power operations, want 1", b.id, n, phase)
			}
		}
	}

	// The two agree: on each outlet, the i-th row is the i-th SET, same
	// action; the rows on it are its lab's bookings in order, on then off.
	for l := 1; l <= powLabs; l++ {
		outlet, neighbour := strconv.Itoa(2*l-1), strconv.Itoa(2*l)
		if n := len(byOutlet[neighbour]) + len(rowsByOutlet[neighbour]); n != 0 {
			t.Errorf("lab %d's neighbour outlet %s: %d SETs, %d rows, want none", l, neighbour, len(byOutlet[neighbour]), len(rowsByOutlet[neighbour]))
		}
		sets, ops := byOutlet[outlet], rowsByOutlet[outlet]
		if len(sets) != 2*powPerLab || len(ops) != 2*powPerLab {
			t.Errorf("outlet %s: %d SETs, %d rows, want %d each", outlet, len(sets), len(ops), 2*powPerLab)
			continue
		}
		for i, op := range ops {
			wantRes, wantPhase, wantAction := fmt.Sprintf("p-%02d-%02d", l, i/2), "pre_start", "on"
			if i%2 == 1 {
				wantPhase, wantAction = "post_end", "off"
			}
			if op.reservation != wantRes || op.phase != wantPhase || op.action != wantAction || sets[i] != op.action {
				t.Errorf("outlet %s #%d: row %s %s %s, SET %s; want %s %s %s", outlet, i, op.reservation, op.phase, op.action,
					sets[i], wantRes, wantPhase, wantAction)
			}
		}
	}
}

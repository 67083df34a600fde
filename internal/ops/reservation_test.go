package ops_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/store"
)

func TestStartReservation_WakesAndPrepares(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{db: true}, labsim.HostOptions{Name: "lab-ws-01", Asleep: true, BootDelay: 200 * time.Millisecond})
	sh := f.sim.Host("lab-ws-01")
	ctx := context.Background()

	res, err := f.svc.StartReservation(ctx, ops.StartRequest{ReservationID: "0xabc", Host: "lab-ws-01",
		WakeOptions: ops.WakeOptions{PingTimeout: ptr(3)}, GuardGrace: ptr(5)})
	if err != nil {
		t.Fatalf("StartReservation: %v", err)
	}
	if !res.Success || res.LabID != "1" || res.Host != "lab-ws-01" || len(res.Steps) != 2 {
		t.Fatalf("response = %+v", res)
	}
	w, p := res.Steps[0], res.Steps[1]
	if w.Action != "wake" || !w.Success || w.Status != "completed" || w.Message != "Host reachable" || w.RecordError != "" {
		t.Errorf("wake step = %+v", w)
	}
	for k, v := range map[string]any{"mac": sh.MAC(), "pingTarget": "127.0.0.1", "attemptsRequested": 3,
		"attemptsUsed": 1, "waitSeconds": 3, "port": sh.WakePort(), "broadcast": "127.0.0.1"} {
		if w.Details[k] != v {
			t.Errorf("wake details[%s] = %v, want %v", k, w.Details[k], v)
		}
	}
	if p.Action != "prepare" || !p.Success || p.Status != "completed" || p.Message != "Exit code 0" || p.RecordError != "" {
		t.Errorf("prepare step = %+v", p)
	}
	if p.Details["exitCode"] != 0 || !strings.Contains(p.Details["stdout"].(string), "LabStation prepare-session") ||
		!slices.Equal(p.Details["args"].([]string), []string{"--guard-grace=5"}) {
		t.Errorf("prepare details = %v", p.Details)
	}
	cmds := sh.Commands()
	if got := cmds[len(cmds)-1].Args; !slices.Equal(got, []string{hosts.DefaultLabStationExe, "prepare-session", "--guard-grace=5"}) {
		t.Errorf("argv = %q", got)
	}

	recs, total, err := f.store.ListOperations(ctx, "0xabc", 10, 0)
	if err != nil || total != 2 {
		t.Fatalf("recorded = %d, %v", total, err)
	}
	if recs[0].Action != "wake" || recs[1].Action != "prepare" || recs[1].LabID != "1" || recs[1].Host != "lab-ws-01" ||
		recs[1].Status != "completed" || !recs[1].Success || *recs[1].ResponseCode != 200 || recs[1].Message != "Exit code 0" {
		t.Errorf("records = %+v", recs)
	}
	var payload map[string]any
	if err := json.Unmarshal(recs[0].Payload, &payload); err != nil || payload["mac"] != sh.MAC() || payload["attemptsUsed"] != 1.0 {
		t.Errorf("wake payload = %s (%v)", recs[0].Payload, err)
	}
}

func TestStartReservation_StopsAtFailedWake(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{}, labsim.HostOptions{Name: "lab-ws-01", Asleep: true})
	sh := f.sim.Host("lab-ws-01")
	res, err := f.svc.StartReservation(context.Background(), ops.StartRequest{ReservationID: "r1", Host: "lab-ws-01",
		LabID: "7", WakeOptions: ops.WakeOptions{MAC: "02:00:00:00:99:99", Attempts: ptr(1), PingTimeout: ptr(1)}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Success || res.LabID != "7" || len(res.Steps) != 1 {
		t.Fatalf("response = %+v, want one failed step", res)
	}
	w := res.Steps[0]
	if w.Success || w.Status != "failed" || w.Message != "Host did not respond to ping" || w.RecordError != "not recorded: no database" {
		t.Errorf("wake step = %+v", w)
	}
	if sh.HTTPRequests() != 0 || len(sh.Commands()) != 0 {
		t.Error("prepare ran after a failed wake")
	}
}

func TestReservation_CommandOutcomes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{}, labsim.HostOptions{Name: "lab-ws-01", ProfileMissing: true})
	sh := f.sim.Host("lab-ws-01")
	ctx := context.Background()

	// Exit 1: completed with warnings, still a success.
	res, err := f.svc.StartReservation(ctx, ops.StartRequest{ReservationID: "r1", Host: "lab-ws-01", Wake: ptr(false)})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Success || len(res.Steps) != 1 || res.Steps[0].Status != "completed_with_warnings" || !res.Steps[0].Success ||
		res.Steps[0].Message != "Exit code 1" || !slices.Equal(res.Steps[0].Details["args"].([]string), []string{"--guard-grace=90"}) {
		t.Errorf("exit 1: %+v", res)
	}

	// Exit 2 on release: failed, and the power step does not run.
	sh.SetFaults(labsim.Faults{ExitCodes: map[string]int{"release-session": 2}})
	n := len(sh.Commands())
	res, err = f.svc.EndReservation(ctx, ops.EndRequest{ReservationID: "r1", Host: "lab-ws-01", PowerAction: &ops.PowerAction{}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Success || len(res.Steps) != 1 || res.Steps[0].Action != "release" || res.Steps[0].Status != "failed" ||
		res.Steps[0].Message != "Exit code 2" {
		t.Errorf("exit 2: %+v", res)
	}
	if got := sh.Commands()[n:]; len(got) != 1 || !slices.Equal(got[0].Args[1:], []string{"release-session", "--reboot"}) {
		t.Errorf("commands after a failed release: %+v", got)
	}

	// /api/winrm answers whatever the exit code.
	cr, err := f.svc.RunCommand(ctx, ops.CommandRequest{Host: "lab-ws-01", Command: "release-session"})
	if err != nil || cr.ExitCode != 2 || !strings.Contains(cr.Stderr, "simulated exit code 2") {
		t.Errorf("RunCommand = %+v, %v", cr, err)
	}
}

func TestEndReservation_PowerShutdown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{db: true}, labsim.HostOptions{Name: "lab-ws-01"})
	sh := f.sim.Host("lab-ws-01")
	ctx := context.Background()
	res, err := f.svc.EndReservation(ctx, ops.EndRequest{ReservationID: "r2", Host: "lab-ws-01", ReleaseArgs: []string{},
		PowerAction: &ops.PowerAction{Mode: "shutdown", Args: []string{"--reason=end"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Success || len(res.Steps) != 2 || res.Steps[0].Action != "release" || res.Steps[1].Action != "power:shutdown" {
		t.Fatalf("response = %+v", res)
	}
	cmds := sh.Commands()
	if got := cmds[len(cmds)-1].Args[1:]; !slices.Equal(got, []string{"power", "shutdown", "--reason=end"}) {
		t.Errorf("power argv = %q", got)
	}
	deadline := time.Now().Add(3 * time.Second)
	for !sh.Asleep() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !sh.Asleep() {
		t.Error("host still up after power shutdown")
	}
	recs, _, err := f.store.ListOperations(ctx, "r2", 10, 0)
	if err != nil || len(recs) != 2 || recs[1].Action != "power:shutdown" || recs[1].Status != "completed" {
		t.Errorf("records = %+v, %v", recs, err)
	}

	// The host is down now: a command is a 502-class error an operator understands.
	_, err = f.svc.RunCommand(ctx, ops.CommandRequest{Host: "lab-ws-01", Command: "status"})
	wantCode(t, err, ops.CodeHostUnreachable, "host 'lab-ws-01' not answering: wake it first")
	// An end flow on the sleeping host has nothing to do: no session to
	// release, already powered down. Both steps are recorded skipped
	// (success, completed, with the reason) and the flow succeeds.
	res, err = f.svc.EndReservation(ctx, ops.EndRequest{ReservationID: "r3", Host: "lab-ws-01", ReleaseArgs: []string{},
		PowerAction: &ops.PowerAction{Mode: "hibernate"}})
	if err != nil || !res.Success || len(res.Steps) != 2 {
		t.Fatalf("end on a sleeping host: %+v, %v", res, err)
	}
	for i, want := range []struct{ action, msg string }{
		{"release", "Skipped: station asleep (host down): nothing to release"},
		{"power:hibernate", "Skipped: station asleep (host down): already powered down"},
	} {
		st := res.Steps[i]
		if st.Action != want.action || !st.Success || st.Status != "completed" || st.Message != want.msg ||
			st.Details["skipped"] != true || st.Details["skipReason"] != ops.SkipReasonAsleep || st.Details["exitCode"] != nil {
			t.Errorf("step %d on a sleeping host: %+v", i, st)
		}
	}
	recs, _, err = f.store.ListOperations(ctx, "r3", 10, 0)
	if err != nil || len(recs) != 2 || recs[0].Action != "release" || !recs[0].Success || recs[0].Status != "completed" ||
		recs[0].Message != "Skipped: station asleep (host down): nothing to release" || *recs[0].ResponseCode != 200 ||
		recs[1].Action != "power:hibernate" || !recs[1].Success {
		t.Errorf("records on a sleeping host = %+v, %v", recs, err)
	}
	var pl map[string]any
	if err := json.Unmarshal(recs[0].Payload, &pl); err != nil || pl["skipped"] != true || pl["skipReason"] != ops.SkipReasonAsleep {
		t.Errorf("skipped release payload %s, %v", recs[0].Payload, err)
	}
	// A start flow that does not wake first still fails on it.
	res, err = f.svc.StartReservation(ctx, ops.StartRequest{ReservationID: "r3", Host: "lab-ws-01", Wake: ptr(false)})
	if err != nil || res.Success || res.Steps[0].Status != "failed" || res.Steps[0].Details["exitCode"] != nil ||
		res.Steps[0].Message != "host 'lab-ws-01' not answering: wake it first" {
		t.Errorf("prepare on a sleeping host: %+v, %v", res, err)
	}
}

// failingStore is a real store whose writes of steps and heartbeats fail.
type failingStore struct{ *store.Store }

var errWrite = errors.New("disk full")

func (failingStore) RecordOperation(context.Context, store.Operation) (int64, error) {
	return 0, errWrite
}
func (failingStore) SaveHeartbeat(context.Context, store.HeartbeatRecord) (store.SavedHeartbeat, error) {
	return store.SavedHeartbeat{}, errWrite
}

func TestStore_FailuresSurfaced(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{db: true}, labsim.HostOptions{Name: "lab-ws-01"})
	ctx := context.Background()

	// A poll with the database: stored, then the stored heartbeat is there.
	pr, err := f.svc.PollHeartbeat(ctx, ops.PollRequest{Host: "lab-ws-01"})
	if err != nil || !pr.Stored || pr.StoreError != "" || pr.Host != "lab-ws-01" || string(pr.LastEvent) == "null" {
		t.Fatalf("poll = %+v, %v", pr, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(pr.Heartbeat, &doc); err != nil || doc["schemaVersion"] == nil {
		t.Errorf("heartbeat = %s", pr.Heartbeat)
	}
	if hb, err := f.store.LatestHeartbeat(ctx, "lab-ws-01"); err != nil || hb.Ready == nil {
		t.Errorf("stored heartbeat = %+v, %v", hb, err)
	}
	pr, err = f.svc.PollHeartbeat(ctx, ops.PollRequest{Host: "lab-ws-01", IncludeEvents: ptr(false)})
	if err != nil || string(pr.LastEvent) != "null" {
		t.Errorf("poll without events = %+v, %v", pr, err)
	}

	f.svc.Store = failingStore{f.store}
	pr, err = f.svc.PollHeartbeat(ctx, ops.PollRequest{Host: "lab-ws-01"})
	if err != nil || pr.Stored || pr.StoreError == "" || len(pr.Heartbeat) == 0 {
		t.Errorf("poll with a failing store = %+v, %v", pr, err)
	}
	res, err := f.svc.StartReservation(ctx, ops.StartRequest{ReservationID: "r3", Host: "lab-ws-01", Wake: ptr(false)})
	if err != nil || !res.Success || res.Steps[0].RecordError != "not recorded: database write failed" {
		t.Errorf("start with a failing store = %+v, %v", res, err)
	}
	if strings.Contains(res.Steps[0].RecordError, "disk full") {
		t.Error("record error shows the database's cause")
	}

	f.svc.Store = nil
	pr, err = f.svc.PollHeartbeat(ctx, ops.PollRequest{Host: "lab-ws-01"})
	if err != nil || pr.Stored || pr.StoreError != "" {
		t.Errorf("poll without a database = %+v, %v", pr, err)
	}
}

// The end flow's wait for the station to go down after its power step
// (EndRequest.PowerOffWait): confirmed once the station stops answering;
// a station still answering at the bound is a success with warnings, said
// so. Without PowerOffWait (the HTTP route) nothing waits.
func TestEndReservation_PowerOffWait(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{db: true},
		labsim.HostOptions{Name: "lab-ws-01", PowerOffDelay: 500 * time.Millisecond, SleepMode: labsim.SleepRefuse},
		labsim.HostOptions{Name: "lab-ws-02", PowerOffDelay: time.Minute})
	ctx := context.Background()

	res, err := f.svc.EndReservation(ctx, ops.EndRequest{ReservationID: "r1", Host: "lab-ws-01", ReleaseArgs: []string{},
		PowerAction: &ops.PowerAction{Mode: "hibernate"}, PowerOffWait: 30 * time.Second})
	if err != nil || !res.Success || len(res.Steps) != 3 {
		t.Fatalf("end with a power-off wait: %+v, %v", res, err)
	}
	if !f.sim.Host("lab-ws-01").Asleep() {
		t.Error("the flow returned before the station went down")
	}
	off := res.Steps[2]
	if off.Action != "power-off" || !off.Success || off.Status != "completed" ||
		!strings.HasPrefix(off.Message, "Power-off confirmed after ") || off.Details["confirmed"] != true {
		t.Errorf("power-off step %+v", off)
	}
	if off.DurationMs < 500 || off.DurationMs > 20_000 {
		t.Errorf("confirmed after %d ms; the station went down after 500 ms", off.DurationMs)
	}
	recs, _, err := f.store.ListOperations(ctx, "r1", 10, 0)
	if err != nil || len(recs) != 3 || recs[2].Action != "power-off" || !recs[2].Success || recs[2].Status != "completed" {
		t.Errorf("records %+v, %v", recs, err)
	}

	res, err = f.svc.EndReservation(ctx, ops.EndRequest{ReservationID: "r2", Host: "lab-ws-02", ReleaseArgs: []string{},
		PowerAction: &ops.PowerAction{}, PowerOffWait: time.Second})
	if err != nil || !res.Success || len(res.Steps) != 3 {
		t.Fatalf("end on a station slow to go down: %+v, %v", res, err)
	}
	off = res.Steps[2]
	if off.Action != "power-off" || !off.Success || off.Status != "completed_with_warnings" ||
		off.Message != "Power-off not confirmed within 1s: station still answering" || off.Details["confirmed"] != false {
		t.Errorf("unconfirmed power-off step %+v", off)
	}

	res, err = f.svc.EndReservation(ctx, ops.EndRequest{ReservationID: "r3", Host: "lab-ws-02", ReleaseArgs: []string{},
		PowerAction: &ops.PowerAction{}})
	if err != nil || !res.Success || len(res.Steps) != 2 {
		t.Errorf("end without a power-off wait: %+v, %v", res, err)
	}
}

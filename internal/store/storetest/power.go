package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/store"
)

func testPowerCatalog(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	clock := NewClock(time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	s.Now = clock.Now
	if got, err := s.PowerControllers(ctx()); err != nil || len(got) != 0 {
		t.Fatalf("fresh: %v %v", got, err)
	}
	body := json.RawMessage(`{"id":"pdu-b","driver":"mock"}`)
	if err := s.InsertPowerController(ctx(), store.PowerControllerRecord{ID: "pdu-b", Body: body, CreatedBy: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertPowerController(ctx(), store.PowerControllerRecord{ID: "pdu-a", Body: json.RawMessage(`{"id":"pdu-a"}`)}); err != nil {
		t.Fatal(err)
	}
	err := s.InsertPowerController(ctx(), store.PowerControllerRecord{ID: "pdu-b", Body: body})
	if !errors.Is(err, store.ErrPowerControllerExists) {
		t.Errorf("insert twice: %v, want ErrPowerControllerExists", err)
	}
	if err := s.InsertPowerController(ctx(), store.PowerControllerRecord{ID: "x", Body: json.RawMessage(`{`)}); err == nil {
		t.Error("invalid JSON body accepted")
	}
	clock.Advance(time.Minute)
	if err := s.UpdatePowerController(ctx(), store.PowerControllerRecord{ID: "pdu-b", Body: json.RawMessage(`{"id":"pdu-b","v":2}`), UpdatedBy: "bob"}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdatePowerController(ctx(), store.PowerControllerRecord{ID: "nope", Body: body}); !errors.Is(err, store.ErrPowerControllerNotFound) {
		t.Errorf("update absent: %v", err)
	}
	got, err := s.PowerControllers(ctx())
	if err != nil || len(got) != 2 || got[0].ID != "pdu-a" || got[1].ID != "pdu-b" {
		t.Fatalf("list: %+v %v", got, err)
	}
	b2 := got[1]
	var v map[string]any
	if json.Unmarshal(b2.Body, &v) != nil || v["v"] != float64(2) || b2.CreatedBy != "alice" || b2.UpdatedBy != "bob" ||
		!b2.UpdatedAt.Equal(clock.Now()) || !b2.CreatedAt.Equal(clock.Now().Add(-time.Minute)) {
		t.Errorf("updated row: %+v", b2)
	}
	if _, err := s.PowerController(ctx(), "nope"); !errors.Is(err, store.ErrPowerControllerNotFound) {
		t.Errorf("get absent: %v", err)
	}

	if err := s.PutPowerPolicy(ctx(), store.PowerPolicyRecord{LabID: "2", Body: json.RawMessage(`{"labId":"2"}`), UpdatedBy: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPowerPolicy(ctx(), store.PowerPolicyRecord{LabID: "2", Body: json.RawMessage(`{"labId":"2","v":2}`), UpdatedBy: "b"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPowerPolicy(ctx(), store.PowerPolicyRecord{LabID: "1", Body: json.RawMessage(`{"labId":"1"}`)}); err != nil {
		t.Fatal(err)
	}
	pols, err := s.PowerPolicies(ctx())
	if err != nil || len(pols) != 2 || pols[0].LabID != "1" || string(pols[1].Body) != `{"labId":"2","v":2}` || pols[1].UpdatedBy != "b" {
		t.Fatalf("policies: %+v %v", pols, err)
	}
}

func testPowerOperations(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	op := store.PowerOperation{ReservationID: "r1", LabID: "2", PolicyID: "p", StepID: "s1", Phase: "pre_start",
		ControllerID: "pdu", OutletKey: "1", Action: "on", RequestedState: "on", IdempotencyKey: "k1",
		Payload: json.RawMessage(`{"actor":"sched"}`)}
	done := powerClaimAndFinish(t, s, op)
	powerFailedReclaimed(t, s, op)
	powerClaimRefusals(t, s, done)
	powerOperationsListed(t, s, op)
	powerConcurrentClaim(t, s, op)
}

// powerClaimAndFinish: a key is claimed once, then answers its record,
// finished or not. It returns the finished operation.
func powerClaimAndFinish(t *testing.T, s *store.Store, op store.PowerOperation) store.PowerOperation {
	t.Helper()
	claimed, existing, err := s.ClaimPowerOperation(ctx(), op)
	if err != nil || !claimed || existing != nil {
		t.Fatalf("first claim: %v %+v %v", claimed, existing, err)
	}
	claimed, existing, err = s.ClaimPowerOperation(ctx(), op)
	if err != nil || claimed || existing == nil || existing.Status != "running" || existing.IdempotencyKey != "k1" || existing.Phase != "pre_start" {
		t.Fatalf("second claim: %v %+v %v", claimed, existing, err)
	}
	code, dur := 200, 12
	done := op
	done.Status, done.Success, done.ObservedStateBefore, done.ObservedStateAfter = "succeeded", true, "off", "on"
	done.ResponseCode, done.DurationMs, done.Message = &code, &dur, "switched"
	if err := s.FinishPowerOperation(ctx(), done); err != nil {
		t.Fatal(err)
	}
	_, existing, err = s.ClaimPowerOperation(ctx(), op)
	if err != nil || existing == nil || existing.Status != "succeeded" || !existing.Success || existing.ObservedStateBefore != "off" ||
		existing.ObservedStateAfter != "on" || existing.DurationMs == nil || *existing.DurationMs != 12 || existing.Message != "switched" {
		t.Fatalf("claim after finish: %+v %v", existing, err)
	}
	return done
}

// powerFailedReclaimed: a failed step is claimed again (once), then never
// while it runs.
func powerFailedReclaimed(t *testing.T, s *store.Store, op store.PowerOperation) {
	t.Helper()
	failed := op
	failed.IdempotencyKey, failed.StepID, failed.ReservationID = "k-failed", "s2", "r-retry"
	if c, _, err := s.ClaimPowerOperation(ctx(), failed); err != nil || !c {
		t.Fatalf("claim k-failed: %v %v", c, err)
	}
	fin := failed
	fin.Status, fin.Success, fin.Message = "failed", false, "unreachable"
	if err := s.FinishPowerOperation(ctx(), fin); err != nil {
		t.Fatal(err)
	}
	if c, ex, err := s.ClaimPowerOperation(ctx(), failed); err != nil || !c || ex != nil {
		t.Fatalf("re-claim of a failed step: %v %+v %v", c, ex, err)
	}
	if c, ex, err := s.ClaimPowerOperation(ctx(), failed); err != nil || c || ex == nil || ex.Status != "running" {
		t.Fatalf("claim while the retry runs: %v %+v %v", c, ex, err)
	}
}

// powerClaimRefusals: finishing an unclaimed key, and claims missing a key
// or a controller or with a bad payload, are refused.
func powerClaimRefusals(t *testing.T, s *store.Store, done store.PowerOperation) {
	t.Helper()
	absent := done
	absent.IdempotencyKey = "none"
	if err := s.FinishPowerOperation(ctx(), absent); !errors.Is(err, domain.ErrPowerOperationNotFound) {
		t.Errorf("finish unclaimed: %v", err)
	}
	for _, bad := range []store.PowerOperation{{ControllerID: "c", OutletKey: "1", Action: "on"}, {IdempotencyKey: "x", OutletKey: "1", Action: "on"},
		{IdempotencyKey: "x", ControllerID: "c", OutletKey: "1", Action: "on", Payload: json.RawMessage(`{`)}} {
		if _, _, err := s.ClaimPowerOperation(ctx(), bad); err == nil {
			t.Errorf("claim %+v accepted", bad)
		}
	}
}

// powerOperationsListed: by reservation in claim order, or the newest.
func powerOperationsListed(t *testing.T, s *store.Store, op store.PowerOperation) {
	t.Helper()
	for i := 2; i <= 4; i++ {
		o := op
		o.IdempotencyKey, o.StepID = fmt.Sprintf("k%d", i), fmt.Sprintf("s%d", i)
		if i == 4 {
			o.ReservationID = "r2"
		}
		if _, _, err := s.ClaimPowerOperation(ctx(), o); err != nil {
			t.Fatal(err)
		}
	}
	ops, err := s.PowerOperations(ctx(), "r1", 0)
	if err != nil || len(ops) != 3 || ops[0].IdempotencyKey != "k1" || ops[2].IdempotencyKey != "k3" {
		t.Fatalf("r1's: %+v %v", ops, err)
	}
	if ops, err := s.PowerOperations(ctx(), "", 2); err != nil || len(ops) != 2 || ops[1].IdempotencyKey != "k4" {
		t.Fatalf("newest 2: %+v %v", ops, err)
	}
}

// powerConcurrentClaim: concurrent claims of one key: exactly one wins.
func powerConcurrentClaim(t *testing.T, s *store.Store, op store.PowerOperation) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := op
			o.IdempotencyKey = "race"
			c, _, err := s.ClaimPowerOperation(ctx(), o)
			if err != nil {
				t.Error(err)
			}
			if c {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d concurrent claims of one key won, want 1", wins)
	}
}

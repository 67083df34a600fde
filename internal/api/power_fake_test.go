package api

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/power"
	"github.com/ops-worker/ops-worker/internal/powerops"
)

// fakePower records what reached the power use cases and answers fixed
// values; an id "missing" is unknown (404).
type fakePower struct {
	mu   sync.Mutex
	last any
}

func (f *fakePower) got(v any) { f.mu.Lock(); f.last = v; f.mu.Unlock() }

func (f *fakePower) Controllers(context.Context) (powerops.ControllersResponse, error) {
	return powerops.ControllersResponse{Success: true, Controllers: []powerops.ControllerView{}}, nil
}

func (f *fakePower) CreateController(_ context.Context, raw json.RawMessage, _ string) (powerops.ControllerResponse, error) {
	f.got(string(raw))
	return powerops.ControllerResponse{Success: true, Created: true, Controller: powerops.ControllerView{ID: "pdu", Driver: "mock", Outlets: []powerops.OutletView{}}}, nil
}

func (f *fakePower) UpdateController(_ context.Context, id string, raw json.RawMessage, _ string) (powerops.ControllerResponse, error) {
	f.got(id + " " + string(raw))
	if id == "missing" {
		return powerops.ControllerResponse{}, ops.Errorf(ops.CodePowerControllerNotFound, "power controller 'missing' not found")
	}
	return powerops.ControllerResponse{Success: true, Controller: powerops.ControllerView{ID: id, Driver: "mock", Outlets: []powerops.OutletView{}}}, nil
}

func (f *fakePower) PowerCredentials(context.Context) (powerops.CredentialsResponse, error) {
	return powerops.CredentialsResponse{Success: true, Credentials: []powerops.CredentialView{}}, nil
}

func (f *fakePower) SavePowerCredential(_ context.Context, req powerops.SaveCredentialRequest) (powerops.SaveCredentialResponse, error) {
	f.got(req.CredentialRef + " " + req.Type) // never the secret
	return powerops.SaveCredentialResponse{Success: true, Credential: powerops.CredentialView{CredentialRef: req.CredentialRef, Type: req.Type}}, nil
}

func (f *fakePower) Policies(context.Context) (powerops.PoliciesResponse, error) {
	return powerops.PoliciesResponse{Success: true, Policies: []power.Policy{}}, nil
}

func (f *fakePower) PutPolicy(_ context.Context, lab string, raw json.RawMessage, _ string) (powerops.PolicyResponse, error) {
	f.got(lab + " " + string(raw))
	return powerops.PolicyResponse{Success: true, Policy: power.Policy{LabID: lab, PolicyName: "p", StartFailureMode: power.FailReservationStart,
		EndFailureMode: power.WarnAndContinue, Steps: []power.Step{}}}, nil
}

func (f *fakePower) OutletCommand(_ context.Context, req powerops.CommandRequest) (powerops.CommandResponse, error) {
	f.got(req)
	return powerops.CommandResponse{Success: true, Operation: powerops.Operation{ControllerID: req.ControllerID, Outlet: req.Outlet,
		Action: req.State, Success: true, Status: "completed", IdempotencyKey: req.IdempotencyKey}}, nil
}

func (f *fakePower) RunPhase(_ context.Context, req powerops.PhaseRequest) (powerops.PhaseResponse, error) {
	f.got(req)
	return powerops.PhaseResponse{Success: true, LabID: req.LabID, Phase: req.Phase, Status: "no_steps", Steps: []powerops.Operation{}}, nil
}

func (f *fakePower) Operations(_ context.Context, id string) (powerops.OperationsResponse, error) {
	f.got(id)
	return powerops.OperationsResponse{Success: true, Operations: []powerops.Operation{}}, nil
}

package domain

import (
	"encoding/json"
	"errors"
	"time"
)

// PowerControllerRecord is one row of power_controllers: the controller's
// validated JSON body (internal/power.Controller), never a secret.
type PowerControllerRecord struct {
	ID        string
	Body      json.RawMessage
	CreatedAt time.Time
	CreatedBy string
	UpdatedAt time.Time
	UpdatedBy string
}

// PowerPolicyRecord is one row of power_policies: a lab's policy body.
type PowerPolicyRecord struct {
	LabID     string
	Body      json.RawMessage
	UpdatedAt time.Time
	UpdatedBy string
}

// PowerOperation is one row of power_operations: one executed (or
// executing: Status "running") power step, keyed by IdempotencyKey.
type PowerOperation struct {
	ID                  int64
	ReservationID       string
	LabID               string
	PolicyID            string
	StepID              string
	Phase               string
	ControllerID        string
	OutletKey           string
	Action              string
	RequestedState      string
	ObservedStateBefore string
	ObservedStateAfter  string
	Status              string
	Success             bool
	ResponseCode        *int
	DurationMs          *int
	IdempotencyKey      string
	Payload             json.RawMessage
	Message             string
	CreatedAt           time.Time
}

// Errors of the power catalog's store.
var (
	ErrPowerControllerExists   = errors.New("power controller already exists")
	ErrPowerControllerNotFound = errors.New("power controller not found")
	ErrPowerOperationNotFound  = errors.New("power operation not found")
)

package store

import (
	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/labstation"
)

// The records are the use cases' (internal/domain); the store maps its
// rows to them. These names keep the adapter's code as it reads.
type (
	Operation       = domain.Operation
	Reservation     = domain.Reservation
	Window          = domain.Window
	Claim           = domain.Claim
	Claimed         = domain.Claimed
	BookingQuery    = domain.BookingQuery
	HostRecord      = domain.HostRecord
	HeartbeatRecord = domain.HeartbeatRecord
	EventRecord     = domain.EventRecord
	SavedHeartbeat  = domain.SavedHeartbeat
	StoredHeartbeat = domain.StoredHeartbeat
	PollState       = domain.PollState
	OperationFilter = domain.OperationFilter
)

const (
	StatusPending   = domain.StatusPending
	StatusConfirmed = domain.StatusConfirmed
	StatusActive    = domain.StatusActive
	StatusCompleted = domain.StatusCompleted
	StatusCancelled = domain.StatusCancelled

	PhaseStart = domain.PhaseStart
	PhaseEnd   = domain.PhaseEnd

	MaxPageSize = domain.MaxPageSize
	MaxOffset   = domain.MaxOffset

	EventKindSessionGuard = domain.EventKindSessionGuard
)

var (
	ErrNotFound             = domain.ErrNotFound
	ErrTransitionNotAllowed = domain.ErrTransitionNotAllowed
)

// NewOperationKey returns a fresh Operation.Key.
func NewOperationKey() string { return domain.NewOperationKey() }

// NewHeartbeatRecord is domain.NewHeartbeatRecord.
func NewHeartbeatRecord(host HostRecord, hb *labstation.Heartbeat, ev *labstation.Event) HeartbeatRecord {
	return domain.NewHeartbeatRecord(host, hb, ev)
}

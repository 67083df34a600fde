package domain

import (
	"errors"
	"time"
)

// Reservation statuses of lab_reservations.
const (
	StatusPending   = "PENDING"
	StatusConfirmed = "CONFIRMED"
	StatusActive    = "ACTIVE"
	StatusCompleted = "COMPLETED"
	StatusCancelled = "CANCELLED"
)

// Reservation is the part of a gateway reservation the worker reads.
// ReservationID is the transaction hash, the id the gateway's clients use.
type Reservation struct {
	ID            int64
	ReservationID string
	LabID         string
	Status        string
	Start         *time.Time
	End           *time.Time
	WalletAddress string
	CreatedAt     *time.Time
	UpdatedAt     *time.Time
}

// Window holds the scheduler's rules (API.md "Reservation tick").
type Window struct {
	StartLead     time.Duration
	EndDelay      time.Duration
	Lookback      time.Duration
	RetryCooldown time.Duration
	// MaxBatch bounds one scan (at most store.MaxBatch; more is clamped).
	MaxBatch int
}

// Phases of the reservation tick, as claims and operation actions name them.
const (
	PhaseStart = "start"
	PhaseEnd   = "end"
)

// ErrTransitionNotAllowed is returned for a status move the worker never
// makes (for example out of CANCELLED).
var ErrTransitionNotAllowed = errors.New("status transition not allowed")

// Claim is a scanner's ownership of one (reservation, phase) for one
// cooldown window.
type Claim struct {
	ReservationID string
	Phase         string
	Token         string
	At            time.Time
}

// Claimed is a due reservation this scanner now owns.
type Claimed struct {
	Reservation Reservation
	Claim       Claim
}

// BookingQuery asks for another live booking of a station's labs (see
// OtherBooking).
type BookingQuery struct {
	// Labs are the lab ids the station serves (at least one).
	Labs []string
	// Except is the reservation asking (never returned).
	Except string
	// StartsBy: the booking starts at or before this time.
	StartsBy time.Time
	// EndsAfter: the booking ends strictly after this time.
	EndsAfter time.Time
	// EndsBy, when not zero: the booking ends at or before this time.
	EndsBy time.Time
}

// MaxBatch is the largest OPS_RESERVATION_MAX_BATCH (one scan's batch)
// accepted. One scan claims its whole batch in one INSERT of 4
// placeholders a row, and MySQL's limit of 65,535 placeholders puts the
// hard ceiling at 16,383 (store.MaxClaimRows, which a store test keeps
// above this); 1000 is well under it and more than one tick should ever
// dispatch (each due reservation is a WinRM call). config checks against
// it without importing the store.
const MaxBatch = 1000

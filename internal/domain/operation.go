// Package domain holds the records the use cases (internal/ops,
// internal/scheduler) read and write: operations, reservations and their
// claims, heartbeats, poll back-offs. The use cases own these types; the
// database adapter (internal/store) maps its rows to them, so a column
// change stays in the adapter.
package domain

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"
)

// Operation is one recorded step of a reservation (a row of
// reservation_operations).
type Operation struct {
	ID            int64
	ReservationID string
	LabID         string
	Host          string
	Action        string
	Status        string
	Success       bool
	ResponseCode  *int
	DurationMs    *int
	Payload       json.RawMessage
	Message       string
	CreatedAt     time.Time
	// Key, when set, makes RecordOperation idempotent: a second write with
	// the same key (a retry after a connection died mid-write) records
	// nothing. NewOperationKey makes one.
	Key string
}

// Bounds of one page of operations. A request's limit and offset reach
// these functions from the API; clamping here keeps any caller from asking
// MySQL for a huge page or a deep OFFSET scan (and a negative value, which
// MySQL refuses with a syntax error, from becoming a 500).
const (
	// MaxPageSize is the largest limit served, and so the largest
	// OPS_TIMELINE_MAX_OPS and OPS_TIMELINE_PHASE_LOOKBACK.
	MaxPageSize = 1000
	// MaxOffset is the deepest offset served: 100 pages of MaxPageSize.
	MaxOffset = 100 * MaxPageSize
)

// MaxStoredText caps each text of a stored operation payload (a step's
// stdout and stderr, any JSON string of the scheduler's flow answer), in
// bytes; the store applies it to every payload it writes.
const MaxStoredText = 16 << 10

// NewOperationKey returns a fresh Operation.Key.
func NewOperationKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// OperationFilter narrows the recent operations: each set field must
// match (the reservation id; the host's catalog name); zero: every
// operation.
type OperationFilter struct {
	ReservationID string
	Host          string
}

package domain

import (
	"encoding/json"
	"time"
)

// HostRecord is a row of lab_hosts as the worker writes it.
type HostRecord struct {
	Name    string
	Address string
	MAC     string
	Mode    string // "pure", "hybrid" or ""
}

// HeartbeatRecord is one poll's result, already mapped to the columns of
// lab_host_heartbeat (the mapping from heartbeat.json lives with the
// heartbeat model, not here).
type HeartbeatRecord struct {
	Host                 HostRecord
	Timestamp            time.Time
	Ready                *bool
	LocalMode            *bool
	LocalSession         *bool
	LastForcedLogoffAt   *time.Time
	LastForcedLogoffUser string
	LastPowerActionAt    *time.Time
	LastPowerActionMode  string
	Raw                  []byte
	// Event is the last line of the session-guard log, when one was read.
	Event *EventRecord
}

// EventRecord is a row of lab_host_events.
type EventRecord struct {
	Kind      string
	Timestamp *time.Time
	Payload   json.RawMessage
}

// SavedHeartbeat tells what SaveHeartbeat wrote.
type SavedHeartbeat struct {
	HostID      int64
	HeartbeatID int64 // 0 when the station's file had not changed since the last poll
	EventID     int64 // 0 when there was no event or it was already stored
}

// StoredHeartbeat is the latest stored heartbeat of a host.
type StoredHeartbeat struct {
	ID                   int64
	Host                 string
	Timestamp            *time.Time
	Ready                *bool
	LocalMode            *bool
	LocalSession         *bool
	LastForcedLogoffAt   *time.Time
	LastForcedLogoffUser string
	LastPowerActionAt    *time.Time
	LastPowerActionMode  string
	Raw                  json.RawMessage
	CreatedAt            time.Time
	LastSeen             *time.Time
}

// PollState is the heartbeat tick's back-off of one host
// (lab_host_poll_state): consecutive failures, and when it may be polled
// again.
type PollState struct {
	Host          string     // lower-case catalog name
	Failures      int        // consecutive failed polls; 0 after a success
	NextPollAt    *time.Time // nil: polled at the next tick
	LastError     string
	LastFailureAt *time.Time
}

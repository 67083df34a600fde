package ops

import (
	"encoding/json"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
)

// The request and response types of the use cases. Responses carry the JSON
// field names of API.md (a contract with the gateway's web client): the HTTP
// layer marshals them as they are. Requests are plain: the HTTP layer
// decodes the wire body (with API.md's camelCase/snake_case aliases) and
// fills them; a nil pointer means "not given, use the default".

// WakeRequest is POST /api/wol.
type WakeRequest struct {
	Host        string // optional: defaults come from the host entry
	MAC         string
	Broadcast   string
	Port        *int
	PingTarget  string
	PingTimeout *int // seconds, also the wait after each packet (default 10)
	Attempts    *int // default 3
}

// WakeResponse is the 200 of POST /api/wol.
type WakeResponse struct {
	Success      bool    `json:"success"`
	AttemptsUsed int     `json:"attempts_used"`
	DurationMs   int64   `json:"duration_ms"`
	PingTarget   string  `json:"ping_target"`
	ReachedBy    *string `json:"reached_by"` // "icmp", "tcp" or null
}

// CommandRequest is POST /api/winrm.
type CommandRequest struct {
	Host      string
	Command   string
	Args      []string
	User      string
	Password  string
	Transport string
	UseSSL    *bool
	Port      *int
}

// CommandResponse is the 200 of POST /api/winrm (whatever the exit code).
type CommandResponse struct {
	ExitCode   int    `json:"exit_code"`
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	DurationMs int64  `json:"duration_ms"`
}

// PollRequest is POST /api/heartbeat/poll.
type PollRequest struct {
	Host          string
	IncludeEvents *bool // default true
}

// PollResponse is the 200 of POST /api/heartbeat/poll.
type PollResponse struct {
	Heartbeat  json.RawMessage `json:"heartbeat"`  // the station's document as read
	LastEvent  json.RawMessage `json:"last_event"` // null when none or unreadable
	DurationMs int64           `json:"duration_ms"`
	Host       string          `json:"host"`
	Stale      bool            `json:"stale"`  // new: older than OPS_HEARTBEAT_STALE_AFTER
	Stored     bool            `json:"stored"` // new: false when no database is configured or the write failed
	// StoreError says why a heartbeat read fine was not stored (never lost
	// silently); empty otherwise.
	StoreError string `json:"store_error,omitempty"`
}

// WakeOptions are the per-request wake overrides of a reservation start.
type WakeOptions struct {
	MAC         string
	PingTarget  string
	Attempts    *int
	PingTimeout *int
	Broadcast   string
	Port        *int
}

// StartRequest is POST /api/reservations/start.
type StartRequest struct {
	ReservationID string
	Host          string
	LabID         string
	Wake          *bool // default true
	WakeOptions   WakeOptions
	Prepare       *bool    // default true
	PrepareArgs   []string // nil: ["--guard-grace=<GuardGrace>"]
	GuardGrace    *int     // default 90
}

// PowerAction is the optional power step of a reservation end.
type PowerAction struct {
	Mode string // "shutdown" (default) or "hibernate"
	Args []string
}

// EndRequest is POST /api/reservations/end.
type EndRequest struct {
	ReservationID string
	Host          string
	LabID         string
	Release       *bool    // default true
	ReleaseArgs   []string // nil: ["--reboot"]
	PowerAction   *PowerAction
	// PowerOffWait, when positive (the reservation tick sets it; the HTTP
	// route does not), makes the flow wait after a successful power step
	// until the station stops answering its probes, for at most this long,
	// recorded as the step "power-off" (see EndReservation).
	PowerOffWait time.Duration
}

// Step is one step of a reservation flow, as API.md shows it and as it is
// recorded in reservation_operations.
type Step struct {
	Action     string         `json:"action"`
	Success    bool           `json:"success"`
	Status     string         `json:"status"` // completed, completed_with_warnings, failed
	Message    string         `json:"message"`
	DurationMs int64          `json:"durationMs"`
	Details    map[string]any `json:"details"`
	// RecordError is set when the step could not be written to
	// reservation_operations: said in the response, never lost silently.
	RecordError string `json:"recordError,omitempty"`
}

// FlowResponse is the answer of a reservation start or end: 200 when every
// step succeeded, else 502 (Success false), with the same body (HTTPStatus).
type FlowResponse struct {
	Success       bool   `json:"success"`
	ReservationID string `json:"reservationId"`
	Host          string `json:"host"`
	LabID         string `json:"labId"`
	Steps         []Step `json:"steps"`
}

// HTTPStatus is the one rule of API.md for a flow's answer: 200 when every
// step succeeded, else 502 with the same body. The HTTP route answers it,
// and the step records and the scheduler's records store it.
func (f FlowResponse) HTTPStatus() int { return flowStatus(f.Success) }

// flowStatus is HTTPStatus for a flow or one of its steps that succeeded
// or not (written out: the use cases do not import net/http).
func flowStatus(success bool) int {
	if success {
		return 200 // http.StatusOK
	}
	return 502 // http.StatusBadGateway
}

// TimelineRequest is GET /api/reservations/timeline. Limit and Offset are
// as parsed from the query: nil when absent or unparsable.
type TimelineRequest struct {
	ReservationID string
	Limit         *int
	Offset        *int
}

// ReservationView is the reservation of a timeline.
type ReservationView struct {
	ReservationID string     `json:"reservationId"`
	LabID         string     `json:"labId"`
	Status        string     `json:"status"`
	Start         *time.Time `json:"start"`
	End           *time.Time `json:"end"`
	WalletAddress string     `json:"walletAddress"`
	CreatedAt     *time.Time `json:"createdAt"`
	UpdatedAt     *time.Time `json:"updatedAt"`
}

// HostView is the timeline's host: its entry without any secret.
type HostView struct {
	Name   string        `json:"name"`
	LabID  string        `json:"labId"`
	Config *hosts.Public `json:"config"`
}

// OperationView is one recorded step.
type OperationView struct {
	ID            int64           `json:"id"`
	ReservationID string          `json:"reservationId"`
	LabID         string          `json:"labId,omitempty"`
	Host          string          `json:"host,omitempty"`
	Action        string          `json:"action"`
	Status        string          `json:"status"`
	Success       bool            `json:"success"`
	Message       string          `json:"message"`
	Payload       json.RawMessage `json:"payload"`
	ResponseCode  *int            `json:"responseCode"`
	DurationMs    *int            `json:"durationMs"`
	CreatedAt     time.Time       `json:"createdAt"`
}

// Phases are the latest operation of each phase (null when none).
type Phases struct {
	Wake         *OperationView `json:"wake"`
	Prepare      *OperationView `json:"prepare"`
	Release      *OperationView `json:"release"`
	Power        *OperationView `json:"power"`
	SchedulerEnd *OperationView `json:"schedulerEnd"`
}

// HeartbeatView is the host's latest stored heartbeat in a timeline.
type HeartbeatView struct {
	Timestamp        *time.Time      `json:"timestamp"`
	Ready            *bool           `json:"ready"`
	LocalMode        *bool           `json:"localMode"`
	LocalSession     *bool           `json:"localSession"`
	LastPower        TimedValue      `json:"lastPower"`
	LastForcedLogoff TimedUser       `json:"lastForcedLogoff"`
	Raw              json.RawMessage `json:"raw"`
}

// TimedValue is {"timestamp", "mode"}.
type TimedValue struct {
	Timestamp *time.Time `json:"timestamp"`
	Mode      string     `json:"mode"`
}

// TimedUser is {"timestamp", "user"}.
type TimedUser struct {
	Timestamp *time.Time `json:"timestamp"`
	User      string     `json:"user"`
}

// Pagination of the timeline and of the recent operations.
type Pagination struct {
	Limit      int  `json:"limit"`
	Offset     int  `json:"offset"`
	Page       int  `json:"page"`
	PageSize   int  `json:"pageSize"`
	Returned   int  `json:"returned"`
	Total      int  `json:"total"`
	HasMore    bool `json:"hasMore"`
	NextOffset *int `json:"nextOffset"`
}

// TimelineResponse is the 200 of the timeline.
type TimelineResponse struct {
	Reservation ReservationView `json:"reservation"`
	Host        *HostView       `json:"host"` // null when no host serves the lab
	Operations  []OperationView `json:"operations"`
	Phases      Phases          `json:"phases"`
	Heartbeat   *HeartbeatView  `json:"heartbeat"`
	Pagination  Pagination      `json:"pagination"`
}

// RecentRequest is GET /api/operations/recent.
type RecentRequest struct {
	ReservationID string
	// Host, when set, keeps one host's operations (a catalog name).
	Host   string
	Limit  *int
	Offset *int
}

// RecentResponse is the 200 of the recent operations.
type RecentResponse struct {
	Operations []OperationView `json:"operations"`
	Pagination Pagination      `json:"pagination"`
}

// ReloadResponse is the 200 of POST /api/hosts/reload.
type ReloadResponse struct {
	Reloaded bool     `json:"reloaded"`
	Hosts    int      `json:"hosts"`
	Warnings []string `json:"warnings,omitempty"`
}

// QuarantineRequest is POST /api/hosts/quarantine.
type QuarantineRequest struct {
	Host        string
	Quarantined *bool // default true
}

// QuarantineResponse is its 200.
type QuarantineResponse struct {
	Host        string `json:"host"`
	Quarantined bool   `json:"quarantined"`
}

// HostSummary is one entry of GET /api/hosts.
type HostSummary struct {
	hosts.Public
	// Quarantined (in hosts.Public) is the catalog flag merged with the
	// stored one.
	Heartbeat *HeartbeatSummary `json:"heartbeat"`
	// Poll is the heartbeat tick's back-off of the host (new): null when
	// its last poll succeeded or it was never polled by a tick.
	Poll *PollBackoff `json:"poll"`

	// The current Lab Manager page's fields (GATEWAY.md section 2).
	// CredentialRef is the catalog's credential_ref (default: the address).
	CredentialRef string `json:"credentialRef"`
	// WinRMConfigured: the host's WinRM credentials resolve (never the
	// credentials themselves).
	WinRMConfigured bool `json:"winrmConfigured"`
	// MAC shadows hosts.Public's (omitted when empty) so that the page
	// always finds the key: null when the entry has none.
	MAC *string `json:"mac"`
	// Guacamole is the host's link to Guacamole's connections; null when
	// the Guacamole database is not configured or could not be read
	// (HostsResponse.GuacamoleError says why).
	Guacamole *GuacamoleLink `json:"guacamole"`
	// Source is where the catalog entry came from: "file" (hosts.json) or
	// "database" (added at run time, ops_catalog_hosts).
	Source string `json:"source"`
}

// PollBackoff is a host's heartbeat-poll back-off, as the heartbeat tick
// stored it (lab_host_poll_state): after repeated failures the tick skips
// the host until NextPollAt.
type PollBackoff struct {
	Failures      int        `json:"failures"`   // consecutive failed polls
	BackedOff     bool       `json:"backedOff"`  // NextPollAt is still ahead
	NextPollAt    *time.Time `json:"nextPollAt"` // null: polled at the next tick
	LastError     string     `json:"lastError"`
	LastFailureAt *time.Time `json:"lastFailureAt"`
}

// HeartbeatSummary is the latest stored heartbeat of a host, in short.
type HeartbeatSummary struct {
	Timestamp    *time.Time `json:"timestamp"`
	Ready        *bool      `json:"ready"`
	LocalMode    *bool      `json:"localMode"`
	LocalSession *bool      `json:"localSession"`
	Stale        bool       `json:"stale"`
	LastSeen     *time.Time `json:"lastSeen"`
}

// HostsResponse is the 200 of GET /api/hosts.
type HostsResponse struct {
	Hosts []HostSummary `json:"hosts"`
	// GuacamoleAvailable: Guacamole's connections were read; else
	// GuacamoleError says why ("Guacamole database not configured", or
	// "Guacamole query failed: ...", without any secret).
	GuacamoleAvailable bool                  `json:"guacamoleAvailable"`
	GuacamoleError     string                `json:"guacamoleError,omitempty"`
	GuacamoleUnmatched []GuacamoleConnection `json:"guacamoleUnmatched"` // connections linked to no host
}

// HealthResponse is GET /health.
type HealthResponse struct {
	Status      string `json:"status"` // HealthOK or HealthDegraded
	HostsLoaded int    `json:"hosts_loaded"`
	DB          bool   `json:"db"`
	Version     string `json:"version"`
	DBKind      string `json:"db_kind"` // "mysql", "embedded-memory" or "none"
	Relay       *Relay `json:"relay"`   // null in direct mode
	// Failing names the configured parts that do not answer ("db"); empty
	// (never null) when Status is HealthOK.
	Failing []string `json:"failing"`
}

// GET /health's statuses: degraded is a 503 (issue 16), so a container
// health check or a load balancer sees a worker whose database is gone.
const (
	HealthOK       = "ok"
	HealthDegraded = "degraded"
)

// Degraded tells whether a configured part does not answer.
func (h HealthResponse) Degraded() bool { return len(h.Failing) > 0 }

// Relay is the relay's state in /health.
type Relay struct {
	Configured bool `json:"configured"`
	Reachable  bool `json:"reachable"`
}

// LocalModeRequest is POST /api/hosts/local-mode.
type LocalModeRequest struct {
	Host    string
	Enabled *bool // required
}

// LocalModeResponse is its 200.
type LocalModeResponse struct {
	Host             string `json:"host"`
	LocalModeEnabled bool   `json:"localModeEnabled"`
}

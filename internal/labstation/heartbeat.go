package labstation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/ops-worker/ops-worker/internal/textcut"
)

// Errors of ParseHeartbeat and ParseLastEvent; match them with errors.Is.
var (
	ErrEmpty         = errors.New("document is empty")
	ErrTruncated     = errors.New("document is truncated (incomplete JSON)")
	ErrMalformed     = errors.New("document is not valid JSON")
	ErrNotObject     = errors.New("document is not a JSON object")
	ErrSchemaVersion = errors.New("unsupported heartbeat schemaVersion")
	ErrBadTimestamp  = errors.New("missing or invalid timestamp")
)

// SupportedSchemaMajor is the heartbeat schema major version understood.
const SupportedSchemaMajor = 1

// Heartbeat is the part of heartbeat.json the worker uses, plus the whole
// document in Raw.
type Heartbeat struct {
	Timestamp          time.Time     `json:"timestamp"` // UTC
	SchemaVersion      string        `json:"schemaVersion"`
	Host               string        `json:"host"`
	Ready              bool          `json:"ready"`
	State              string        `json:"state"` // "ready" | "needs-action"
	Issues             []string      `json:"issues"`
	LocalModeEnabled   bool          `json:"localModeEnabled"`
	LocalSessionActive bool          `json:"localSessionActive"`
	LastForcedLogoff   *ForcedLogoff `json:"lastForcedLogoff"` // nil when the station reports none ({} or null)
	LastPowerAction    *PowerAction  `json:"lastPowerAction"`  // nil when the station reports none
	// StationProfile is status.stationProfile ("pure" or "hybrid"), or "".
	StationProfile string `json:"stationProfile,omitempty"`
	// Raw is the whole document as UTF-8, byte-order mark removed.
	Raw json.RawMessage `json:"raw"`
}

// ForcedLogoff is operations.lastForcedLogoff.
type ForcedLogoff struct {
	Timestamp *time.Time `json:"timestamp"`
	User      string     `json:"user"`
}

// PowerAction is operations.lastPowerAction.
type PowerAction struct {
	Timestamp *time.Time `json:"timestamp"`
	Mode      string     `json:"mode"`
}

// Stale reports whether the heartbeat is older than maxAge at now (the
// station's service has stopped writing it). A timestamp more than maxAge
// in the future is stale too: the station's clock cannot be trusted.
func (h *Heartbeat) Stale(now time.Time, maxAge time.Duration) bool {
	if h == nil || h.Timestamp.IsZero() {
		return true
	}
	age := now.Sub(h.Timestamp)
	return age > maxAge || age < -maxAge
}

// wire types: only the fields used. Pointers tell "absent" from "false".
type summaryJSON struct {
	State  string   `json:"state"`
	Ready  *bool    `json:"ready"`
	Issues []string `json:"issues"`
}

type heartbeatJSON struct {
	Timestamp     json.RawMessage `json:"timestamp"`
	SchemaVersion json.RawMessage `json:"schemaVersion"`
	Host          string          `json:"host"`
	Summary       *summaryJSON    `json:"summary"`
	Operations    struct {
		LastForcedLogoff *struct {
			Timestamp json.RawMessage `json:"timestamp"`
			User      string          `json:"user"`
		} `json:"lastForcedLogoff"`
		LastPowerAction *struct {
			Timestamp json.RawMessage `json:"timestamp"`
			Mode      string          `json:"mode"`
		} `json:"lastPowerAction"`
	} `json:"operations"`
	Status struct {
		StationProfile     string       `json:"stationProfile"`
		LocalModeEnabled   bool         `json:"localModeEnabled"`
		LocalSessionActive bool         `json:"localSessionActive"`
		Summary            *summaryJSON `json:"summary"`
	} `json:"status"`
}

// ParseHeartbeat parses heartbeat.json. It accepts a UTF-8 byte-order mark
// and UTF-16 with a byte-order mark (what Windows PowerShell's Out-File
// writes); bytes that are not UTF-8 become U+FFFD in Raw. It refuses an
// empty, truncated or non-object document, a schemaVersion whose major is
// not 1, and a missing or unparsable timestamp, each with a sentinel error.
func ParseHeartbeat(data []byte) (*Heartbeat, error) {
	doc, err := prepare(data)
	if err != nil {
		return nil, fmt.Errorf("parse heartbeat: %w", err)
	}
	var w heartbeatJSON
	if err := decodeObject(doc, &w); err != nil {
		return nil, fmt.Errorf("parse heartbeat: %w", err)
	}
	version, err := checkSchemaVersion(w.SchemaVersion)
	if err != nil {
		return nil, fmt.Errorf("parse heartbeat: %w", err)
	}
	ts, err := parseTime("timestamp", w.Timestamp, true)
	if err != nil {
		return nil, fmt.Errorf("parse heartbeat: %w", err)
	}
	h := &Heartbeat{
		Timestamp:          *ts,
		SchemaVersion:      version,
		Host:               w.Host,
		LocalModeEnabled:   w.Status.LocalModeEnabled,
		LocalSessionActive: w.Status.LocalSessionActive,
		StationProfile:     w.Status.StationProfile,
		Raw:                json.RawMessage(doc),
	}
	// The top-level summary is the contract; older writers put it only
	// under status.
	if s := w.Summary; s != nil || w.Status.Summary != nil {
		if s == nil {
			s = w.Status.Summary
		}
		h.State = s.State
		h.Ready = s.Ready != nil && *s.Ready
		h.Issues = s.Issues
	}
	if h.Issues == nil {
		h.Issues = []string{}
	}
	if f := w.Operations.LastForcedLogoff; f != nil && (present(f.Timestamp) || f.User != "") {
		t, err := parseTime("operations.lastForcedLogoff.timestamp", f.Timestamp, false)
		if err != nil {
			return nil, fmt.Errorf("parse heartbeat: %w", err)
		}
		h.LastForcedLogoff = &ForcedLogoff{Timestamp: t, User: f.User}
	}
	if p := w.Operations.LastPowerAction; p != nil && (present(p.Timestamp) || p.Mode != "") {
		t, err := parseTime("operations.lastPowerAction.timestamp", p.Timestamp, false)
		if err != nil {
			return nil, fmt.Errorf("parse heartbeat: %w", err)
		}
		h.LastPowerAction = &PowerAction{Timestamp: t, Mode: p.Mode}
	}
	return h, nil
}

// Event is one line of session-guard-events.jsonl.
type Event struct {
	Timestamp time.Time       `json:"timestamp"` // UTC
	Action    string          `json:"action"`    // e.g. "warn", "logoff"
	User      string          `json:"user"`
	Session   string          `json:"session"`
	Raw       json.RawMessage `json:"raw"` // the whole line as UTF-8
}

type eventJSON struct {
	Timestamp json.RawMessage `json:"timestamp"`
	Action    string          `json:"action"`
	User      string          `json:"user"`
	Session   string          `json:"session"`
}

// ParseLastEvent parses the last line of session-guard-events.jsonl. Empty
// input (or only blank lines) is no event: (nil, nil). Given several lines,
// it parses the last non-blank one.
func ParseLastEvent(line []byte) (*Event, error) {
	doc, err := prepare(line)
	if errors.Is(err, ErrEmpty) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("parse guard event: %w", err)
	}
	if i := bytes.LastIndexByte(doc, '\n'); i >= 0 {
		doc = bytes.TrimSpace(doc[i+1:])
	}
	var w eventJSON
	if err := decodeObject(doc, &w); err != nil {
		return nil, fmt.Errorf("parse guard event: %w", err)
	}
	ts, err := parseTime("timestamp", w.Timestamp, true)
	if err != nil {
		return nil, fmt.Errorf("parse guard event: %w", err)
	}
	return &Event{Timestamp: *ts, Action: w.Action, User: w.User, Session: w.Session, Raw: json.RawMessage(doc)}, nil
}

// prepare returns a fresh UTF-8 copy of data without byte-order mark and
// surrounding white space, or ErrEmpty.
func prepare(data []byte) ([]byte, error) {
	var s string
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		s = string(data[3:])
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		s = decodeUTF16(data[2:], false)
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		s = decodeUTF16(data[2:], true)
	default:
		s = string(data)
	}
	s = strings.TrimSpace(strings.ToValidUTF8(s, string(utf8.RuneError)))
	if s == "" {
		return nil, ErrEmpty
	}
	return []byte(s), nil
}

func decodeUTF16(b []byte, bigEndian bool) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		if bigEndian {
			u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
		} else {
			u = append(u, uint16(b[i+1])<<8|uint16(b[i]))
		}
	}
	return string(utf16.Decode(u))
}

// decodeObject decodes exactly one JSON object from doc into v.
func decodeObject(doc []byte, v any) error {
	if doc[0] != '{' {
		return fmt.Errorf("%w (starts with %q)", ErrNotObject, doc[0])
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			return ErrTruncated
		case errors.As(err, &typeErr):
			return fmt.Errorf("%w: field %s: %v", ErrMalformed, typeErr.Field, err)
		}
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the object", ErrMalformed)
	}
	return nil
}

// checkSchemaVersion accepts a string "1", "1.x" or "1.x.y".
func checkSchemaVersion(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", fmt.Errorf("%w: schemaVersion is missing; only %d.x is supported", ErrSchemaVersion, SupportedSchemaMajor)
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fmt.Errorf("%w: schemaVersion %s is not a version string; only %d.x is supported", ErrSchemaVersion, truncate(string(raw), 32), SupportedSchemaMajor)
	}
	majorText, _, _ := strings.Cut(v, ".")
	major, err := strconv.Atoi(majorText)
	if err != nil || majorText == "" || majorText[0] == '+' || majorText[0] == '-' {
		return "", fmt.Errorf("%w: schemaVersion %q is not a version; only %d.x is supported", ErrSchemaVersion, truncate(v, 32), SupportedSchemaMajor)
	}
	if major != SupportedSchemaMajor {
		return "", fmt.Errorf("%w: schemaVersion %q found; only %d.x is supported", ErrSchemaVersion, truncate(v, 32), SupportedSchemaMajor)
	}
	return v, nil
}

// parseTime parses an RFC 3339 time with an explicit offset (Z or ±hh:mm)
// and returns it in UTC. A time without offset is refused: its zone would
// be a guess.
func parseTime(field string, raw json.RawMessage, required bool) (*time.Time, error) {
	var s string
	if present(raw) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%w: %s is %s, not a string", ErrBadTimestamp, field, truncate(string(raw), 40))
		}
	}
	if s == "" {
		if required {
			return nil, fmt.Errorf("%w: %s is missing", ErrBadTimestamp, field)
		}
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %q is not an RFC 3339 time with offset", ErrBadTimestamp, field, truncate(s, 40))
	}
	t = t.UTC()
	return &t, nil
}

// present reports a JSON value that is there and not null.
func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

func truncate(s string, n int) string { return textcut.Cut(s, n, "…") }

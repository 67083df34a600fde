package labstation_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/ops-worker/ops-worker/internal/fixtures"
	"github.com/ops-worker/ops-worker/internal/labstation"
)

func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := fixtures.Read(name)
	if err != nil {
		tb.Fatalf("read fixture: %v", err)
	}
	return b
}

func mustTime(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func TestParseHeartbeat_Fixtures(t *testing.T) {
	t.Run("ready", func(t *testing.T) {
		data := readFixture(t, fixtures.Heartbeat)
		h, err := labstation.ParseHeartbeat(data)
		if err != nil {
			t.Fatalf("ParseHeartbeat: %v", err)
		}
		if got, want := h.Timestamp, mustTime(t, "2026-11-20T09:14:05Z"); !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("Timestamp = %v, want %v UTC", got, want)
		}
		if h.SchemaVersion != "1.0.0" || h.Host != "LAB-WS-01" || !h.Ready || h.State != "ready" {
			t.Errorf("got version %q host %q ready %v state %q", h.SchemaVersion, h.Host, h.Ready, h.State)
		}
		if len(h.Issues) != 0 || h.Issues == nil {
			t.Errorf("Issues = %#v, want empty non-nil", h.Issues)
		}
		if h.LocalModeEnabled || h.LocalSessionActive {
			t.Errorf("local mode %v session %v, want false false", h.LocalModeEnabled, h.LocalSessionActive)
		}
		if f := h.LastForcedLogoff; f == nil || f.User != `LAB-WS-01\student` || f.Timestamp == nil || !f.Timestamp.Equal(mustTime(t, "2026-11-20T08:58:41Z")) {
			t.Errorf("LastForcedLogoff = %+v", f)
		}
		if p := h.LastPowerAction; p == nil || p.Mode != "shutdown" || p.Timestamp == nil || !p.Timestamp.Equal(mustTime(t, "2026-11-19T18:02:10Z")) {
			t.Errorf("LastPowerAction = %+v", p)
		}
		if !bytes.Equal(h.Raw, bytes.TrimSpace(data)) {
			t.Errorf("Raw differs from the document")
		}
	})
	t.Run("needs action", func(t *testing.T) {
		h, err := labstation.ParseHeartbeat(readFixture(t, fixtures.HeartbeatNeedsAction))
		if err != nil {
			t.Fatalf("ParseHeartbeat: %v", err)
		}
		if h.Ready || h.State != "needs-action" || len(h.Issues) != 2 || !h.LocalModeEnabled || !h.LocalSessionActive {
			t.Errorf("got %+v", h)
		}
		if h.LastForcedLogoff != nil || h.LastPowerAction != nil {
			t.Errorf("empty objects: LastForcedLogoff %+v LastPowerAction %+v, want nil", h.LastForcedLogoff, h.LastPowerAction)
		}
	})
}

func TestParseHeartbeat_Encodings(t *testing.T) {
	data := readFixture(t, fixtures.Heartbeat)
	utf16le := func(bigEndian bool) []byte {
		u := utf16.Encode([]rune(string(data)))
		out := []byte{0xFF, 0xFE}
		if bigEndian {
			out = []byte{0xFE, 0xFF}
		}
		for _, c := range u {
			if bigEndian {
				out = append(out, byte(c>>8), byte(c))
			} else {
				out = append(out, byte(c), byte(c>>8))
			}
		}
		return out
	}
	tests := map[string][]byte{
		"utf-8 bom":        append([]byte{0xEF, 0xBB, 0xBF}, data...),
		"utf-16le bom":     utf16le(false),
		"utf-16be bom":     utf16le(true),
		"crlf and padding": []byte("\r\n  " + strings.ReplaceAll(string(data), "\n", "\r\n") + "\r\n"),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			h, err := labstation.ParseHeartbeat(in)
			if err != nil {
				t.Fatalf("ParseHeartbeat: %v", err)
			}
			if h.Host != "LAB-WS-01" {
				t.Errorf("Host = %q", h.Host)
			}
			if len(h.Raw) == 0 || h.Raw[0] != '{' || !json.Valid(h.Raw) {
				t.Errorf("Raw %q is not the bare JSON document", h.Raw[:min(len(h.Raw), 10)])
			}
		})
	}
}

func TestParseHeartbeat_Errors(t *testing.T) {
	full := string(readFixture(t, fixtures.Heartbeat))
	tests := []struct {
		name, in string
		want     error
		text     string // a fragment the message must hold
	}{
		{"nil", "", labstation.ErrEmpty, ""},
		{"blank", " \r\n\t", labstation.ErrEmpty, ""},
		{"bom only", "\xEF\xBB\xBF", labstation.ErrEmpty, ""},
		{"truncated half", full[:len(full)/2], labstation.ErrTruncated, ""},
		{"truncated brace", "{", labstation.ErrTruncated, ""},
		{"truncated string", `{"timestamp": "2026-11-20T09:1`, labstation.ErrTruncated, ""},
		{"array", `[{"schemaVersion":"1.0.0"}]`, labstation.ErrNotObject, ""},
		{"string", `"heartbeat"`, labstation.ErrNotObject, ""},
		{"number", `42`, labstation.ErrNotObject, ""},
		{"null", `null`, labstation.ErrNotObject, ""},
		{"garbage", `{"a" 1}`, labstation.ErrMalformed, ""},
		{"trailing data", `{"schemaVersion":"1.0.0","timestamp":"2026-11-20T09:14:05Z"} {}`, labstation.ErrMalformed, ""},
		{"wrong type", `{"schemaVersion":"1.0.0","timestamp":"2026-11-20T09:14:05Z","summary":{"ready":"yes"}}`, labstation.ErrMalformed, ""},
		{"schema 2.0.0", strings.Replace(full, `"schemaVersion": "1.0.0"`, `"schemaVersion": "2.0.0"`, 1), labstation.ErrSchemaVersion, `"2.0.0" found; only 1.x is supported`},
		{"schema 0.9", `{"schemaVersion":"0.9","timestamp":"2026-11-20T09:14:05Z"}`, labstation.ErrSchemaVersion, "0.9"},
		{"schema missing", `{"timestamp":"2026-11-20T09:14:05Z"}`, labstation.ErrSchemaVersion, "missing"},
		{"schema number", `{"schemaVersion":1,"timestamp":"2026-11-20T09:14:05Z"}`, labstation.ErrSchemaVersion, "only 1.x"},
		{"schema words", `{"schemaVersion":"one","timestamp":"2026-11-20T09:14:05Z"}`, labstation.ErrSchemaVersion, `"one"`},
		{"schema plus", `{"schemaVersion":"+1.0","timestamp":"2026-11-20T09:14:05Z"}`, labstation.ErrSchemaVersion, ""},
		{"timestamp missing", `{"schemaVersion":"1.0.0"}`, labstation.ErrBadTimestamp, "missing"},
		{"timestamp without zone", `{"schemaVersion":"1.0.0","timestamp":"2026-11-20T09:14:05"}`, labstation.ErrBadTimestamp, ""},
		{"timestamp number", `{"schemaVersion":"1.0.0","timestamp":1763630045}`, labstation.ErrBadTimestamp, "not a string"},
		{"timestamp words", `{"schemaVersion":"1.0.0","timestamp":"yesterday"}`, labstation.ErrBadTimestamp, "yesterday"},
		{"power timestamp bad", `{"schemaVersion":"1.0.0","timestamp":"2026-11-20T09:14:05Z","operations":{"lastPowerAction":{"timestamp":"soon","mode":"shutdown"}}}`, labstation.ErrBadTimestamp, "lastPowerAction"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := labstation.ParseHeartbeat([]byte(tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseHeartbeat = %+v, %v; want %v", h, err, tc.want)
			}
			if h != nil {
				t.Errorf("heartbeat %+v returned with an error", h)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q lacks %q", err, tc.text)
			}
		})
	}
}

func TestParseHeartbeat_Variants(t *testing.T) {
	t.Run("minor version and offset", func(t *testing.T) {
		h, err := labstation.ParseHeartbeat([]byte(`{"schemaVersion":"1.7","timestamp":"2026-11-20T10:14:05.1234567+01:00","operations":{"lastForcedLogoff":null,"lastPowerAction":{"mode":"hibernate"}}}`))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := h.Timestamp, mustTime(t, "2026-11-20T09:14:05Z").Add(123456700); !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("Timestamp = %v, want %v", got, want)
		}
		if h.LastForcedLogoff != nil {
			t.Errorf("null lastForcedLogoff = %+v, want nil", h.LastForcedLogoff)
		}
		if p := h.LastPowerAction; p == nil || p.Mode != "hibernate" || p.Timestamp != nil {
			t.Errorf("LastPowerAction = %+v, want mode only", p)
		}
	})
	t.Run("summary under status only", func(t *testing.T) {
		h, err := labstation.ParseHeartbeat([]byte(`{"schemaVersion":"1","timestamp":"2026-11-20T09:14:05Z","status":{"summary":{"ready":true,"state":"ready"}}}`))
		if err != nil {
			t.Fatal(err)
		}
		if !h.Ready || h.State != "ready" {
			t.Errorf("Ready %v State %q, want true ready", h.Ready, h.State)
		}
	})
	t.Run("invalid utf-8 replaced", func(t *testing.T) {
		h, err := labstation.ParseHeartbeat([]byte("{\"schemaVersion\":\"1.0.0\",\"timestamp\":\"2026-11-20T09:14:05Z\",\"host\":\"LAB\xff\"}"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := h.Host, "LAB\uFFFD"; got != want {
			t.Errorf("Host = %q, want %q", got, want)
		}
		if !json.Valid(h.Raw) || bytes.Contains(h.Raw, []byte{0xff}) {
			t.Errorf("Raw %q still holds invalid UTF-8", h.Raw)
		}
	})
}

func TestHeartbeat_Stale(t *testing.T) {
	h, err := labstation.ParseHeartbeat(readFixture(t, fixtures.Heartbeat))
	if err != nil {
		t.Fatal(err)
	}
	ts := h.Timestamp
	tests := []struct {
		name string
		now  time.Time
		want bool
	}{
		{"just written", ts, false},
		{"within max age", ts.Add(2 * time.Minute), false},
		{"exactly max age", ts.Add(3 * time.Minute), false},
		{"older", ts.Add(3*time.Minute + time.Second), true},
		{"hours old", ts.Add(5 * time.Hour), true},
		{"slightly in future", ts.Add(-time.Minute), false},
		{"far in future", ts.Add(-time.Hour), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := h.Stale(tc.now, 3*time.Minute); got != tc.want {
				t.Errorf("Stale = %v, want %v", got, tc.want)
			}
		})
	}
	var nilHB *labstation.Heartbeat
	if !nilHB.Stale(ts, time.Hour) {
		t.Errorf("nil heartbeat not stale")
	}
}

func TestParseLastEvent(t *testing.T) {
	log := readFixture(t, fixtures.Events)
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	last := lines[len(lines)-1]

	t.Run("last line", func(t *testing.T) {
		e, err := labstation.ParseLastEvent([]byte(last + "\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		if e.Action != "logoff" || e.User != `LAB-WS-01\student` || e.Session != "console" || !e.Timestamp.Equal(mustTime(t, "2026-11-20T08:58:41Z")) {
			t.Errorf("got %+v", e)
		}
		if string(e.Raw) != last {
			t.Errorf("Raw = %s, want %s", e.Raw, last)
		}
	})
	t.Run("whole log takes the last line", func(t *testing.T) {
		e, err := labstation.ParseLastEvent(log)
		if err != nil {
			t.Fatal(err)
		}
		if string(e.Raw) != last {
			t.Errorf("Raw = %s, want %s", e.Raw, last)
		}
	})
	t.Run("bom", func(t *testing.T) {
		e, err := labstation.ParseLastEvent(append([]byte{0xEF, 0xBB, 0xBF}, last...))
		if err != nil || e == nil || e.Action != "logoff" {
			t.Errorf("got %+v, %v", e, err)
		}
	})
	for _, empty := range []string{"", "\r\n", "\xEF\xBB\xBF", "  \n\n"} {
		e, err := labstation.ParseLastEvent([]byte(empty))
		if e != nil || err != nil {
			t.Errorf("ParseLastEvent(%q) = %+v, %v; want nil, nil", empty, e, err)
		}
	}
	bad := []struct {
		name, in string
		want     error
	}{
		{"truncated", last[:40], labstation.ErrTruncated},
		{"array", `["logoff"]`, labstation.ErrNotObject},
		{"no timestamp", `{"action":"warn"}`, labstation.ErrBadTimestamp},
		{"bad timestamp", `{"timestamp":"2026-13-01T00:00:00Z","action":"warn"}`, labstation.ErrBadTimestamp},
		{"garbage", `{action}`, labstation.ErrMalformed},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			e, err := labstation.ParseLastEvent([]byte(tc.in))
			if !errors.Is(err, tc.want) || e != nil {
				t.Errorf("got %+v, %v; want %v", e, err, tc.want)
			}
		})
	}
}

// heartbeat-distinct.json gives each mapped field a value no other field of
// its type has (localModeEnabled false, localSessionActive true, ready
// false; three different timestamps), so a swap in the parser shows.
func TestParseHeartbeat_DistinctFields(t *testing.T) {
	data := readFixture(t, fixtures.HeartbeatDistinct)
	h, err := labstation.ParseHeartbeat(data)
	if err != nil {
		t.Fatal(err)
	}
	rfc := func(p *time.Time) string {
		if p == nil {
			return "<nil>"
		}
		return p.UTC().Format(time.RFC3339)
	}
	var lf, lp [2]string
	if h.LastForcedLogoff != nil {
		lf = [2]string{rfc(h.LastForcedLogoff.Timestamp), h.LastForcedLogoff.User}
	}
	if h.LastPowerAction != nil {
		lp = [2]string{rfc(h.LastPowerAction.Timestamp), h.LastPowerAction.Mode}
	}
	got := []any{rfc(&h.Timestamp), h.Host, h.State, h.Ready, h.LocalModeEnabled, h.LocalSessionActive, h.StationProfile, lf, lp}
	want := []any{"2026-11-21T07:30:15Z", "LAB-WS-07", "needs-action", false, false, true, "pure",
		[2]string{"2026-11-21T06:45:02Z", `LAB-WS-07\guest`}, [2]string{"2026-11-20T22:10:33Z", "restart"}}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("field %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

func FuzzParseHeartbeat(f *testing.F) {
	for _, name := range []string{fixtures.Heartbeat, fixtures.HeartbeatNeedsAction} {
		b := readFixture(f, name)
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(append([]byte{0xEF, 0xBB, 0xBF}, b...))
	}
	f.Add([]byte(`{"schemaVersion":"2.0.0"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := labstation.ParseHeartbeat(data)
		if (h == nil) == (err == nil) {
			t.Fatalf("got %v and %v: want exactly one", h, err)
		}
		if err != nil {
			return
		}
		if !json.Valid(h.Raw) {
			t.Errorf("Raw is not valid JSON: %q", h.Raw)
		}
		if h.Timestamp.IsZero() || h.Timestamp.Location() != time.UTC {
			t.Errorf("Timestamp %v not a UTC time", h.Timestamp)
		}
		if !strings.HasPrefix(h.SchemaVersion, "1") {
			t.Errorf("SchemaVersion %q accepted", h.SchemaVersion)
		}
	})
}

func FuzzParseLastEvent(f *testing.F) {
	log := readFixture(f, fixtures.Events)
	f.Add(log)
	for _, l := range bytes.Split(log, []byte("\n")) {
		f.Add(l)
		f.Add(l[:len(l)/2])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := labstation.ParseLastEvent(data)
		if e != nil && err != nil {
			t.Fatalf("got %v and %v", e, err)
		}
		if e != nil && (!json.Valid(e.Raw) || e.Timestamp.IsZero()) {
			t.Errorf("event %+v: bad Raw or Timestamp", e)
		}
	})
}

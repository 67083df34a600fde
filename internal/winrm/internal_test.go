package winrm

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestCutMarkerLine(t *testing.T) {
	tests := []struct {
		name, out        string
		wantHB, wantRest string
		ok               bool
	}{
		{"crlf", "{\"a\":1}\r\nM\r\n{\"e\":1}\r\n", `{"a":1}`, "{\"e\":1}\r\n", true},
		{"lf", "{\"a\":1}\nM\n", `{"a":1}`, "", true},
		{"empty heartbeat", "M\r\nx\r\n", "", "x\r\n", true},
		{"marker inside a line is not the marker line", "xM\r\nM-events-unreadable\r\n", "", "", false},
		{"error line after marker", "{}\r\nM\r\nM-events-unreadable\r\n", "{}", "M-events-unreadable\r\n", true},
		{"no marker", "{}\r\n", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hb, rest, ok := cutMarkerLine([]byte(tt.out), "M")
			if ok != tt.ok || (ok && (string(hb) != tt.wantHB || string(rest) != tt.wantRest)) {
				t.Errorf("cutMarkerLine = %q, %q, %v; want %q, %q, %v", hb, rest, ok, tt.wantHB, tt.wantRest, tt.ok)
			}
		})
	}
}

// A malformed encrypted answer must give an error, never a panic
// (masterzen's decryptResponse indexes without checks).
func TestDecryptBody_Malformed(t *testing.T) {
	bodies := [][]byte{
		nil,
		[]byte("garbage"),
		[]byte(encBoundary + "\r\n"),
		[]byte(encBoundary + "\r\n\tContent-Type: x\r\n"),
		[]byte(encBoundary + "\r\nhdr\r\n" + encBoundary + "\r\n" + encOctetHeader + "ab"),
		[]byte(encBoundary + "\r\nLength=5\r\n" + encBoundary + "\r\n" + encOctetHeader + "\xff\xff\xff\x7fabc"),
		[]byte(encBoundary + "\r\nLength=x\r\n" + encBoundary + "\r\n" + encOctetHeader + "\x10\x00\x00\x00abc"),
		bytes.Repeat([]byte(encBoundary+"\r\n"), 3),
	}
	for i, b := range bodies {
		if _, err := decryptBody(nil, b); err == nil {
			t.Errorf("body %d: no error", i)
		}
	}
}

func TestWSManDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{20 * time.Second: "PT20S", 1500 * time.Millisecond: "PT1.5S"} {
		if got := wsmanDuration(d); got != want {
			t.Errorf("wsmanDuration(%d) = %q, want %q", d, got, want)
		}
	}
}

// FuzzParseHeartbeatOutput: any output parses without panic, and the
// script's own layout round-trips exactly.
func FuzzParseHeartbeatOutput(f *testing.F) {
	f.Add([]byte(`{"a":1}`), []byte(`{"e":2}`), true)
	f.Add([]byte("\ufeff{}\r\n"), []byte(""), false)
	f.Add([]byte("M\r\n"), []byte("M-events-unreadable"), true)
	const marker = "ops-worker-0123456789abcdef0123456789abcdef"
	f.Fuzz(func(t *testing.T, hb, line []byte, crlf bool) {
		eol := "\n"
		if crlf {
			eol = "\r\n"
		}
		out := append(append(append([]byte{}, hb...), eol+marker+eol...), line...)
		out = append(out, eol...)
		gotHB, gotLine, evErr, ok := parseHeartbeatOutput(out, marker, true)
		if bytes.Contains(hb, []byte(marker)) || bytes.ContainsAny(line, "\r\n") {
			return // not what the script prints; only "no panic" applies
		}
		if !ok {
			t.Fatalf("no marker found in %q", out)
		}
		if !bytes.Equal(gotHB, hb) && !(len(hb) > 0 && bytes.Equal(gotHB, trimEOL(hb))) {
			t.Errorf("heartbeat = %q, want %q", gotHB, hb)
		}
		wantLine := bytes.TrimSpace(line)
		switch {
		case string(wantLine) == marker+errSuffix:
			if !errors.Is(evErr, ErrEventsUnreadable) || gotLine != nil {
				t.Errorf("events = %q, %v; want unreadable", gotLine, evErr)
			}
		case len(wantLine) == 0:
			if gotLine != nil || evErr != nil {
				t.Errorf("events = %q, %v; want none", gotLine, evErr)
			}
		default:
			if !bytes.Equal(gotLine, wantLine) || evErr != nil {
				t.Errorf("line = %q, %v; want %q", gotLine, evErr, wantLine)
			}
		}
	})
}

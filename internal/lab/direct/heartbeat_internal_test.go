package direct

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
)

// The heartbeat script, its quoting and its output parsing (moved here
// with the code from internal/winrm); heartbeat_test.go reads through
// Direct from a simulated station.

func TestQuotePS(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{`C:\LabStation\heartbeat.json`, `'C:\LabStation\heartbeat.json'`},
		{`C:\it's\a file.json`, `'C:\it''s\a file.json'`},
		{`''`, `''''''`},
		{`$env:TEMP\x;y`, `'$env:TEMP\x;y'`},
		{"", "''"},
	}
	for _, tt := range tests {
		got, err := quotePS(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("quotePS(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"a\x00b", "a\nb", "a\rb", "a\u2019b", "a\u2018b", "\x1b[0m"} {
		if got, err := quotePS(bad); !errors.Is(err, lab.ErrArgument) {
			t.Errorf("quotePS(%q) = %q, %v; want lab.ErrArgument", bad, got, err)
		}
	}
}

func TestHeartbeatScript(t *testing.T) {
	got, err := heartbeatScript(`C:\a'b\hb.json`, `C:\ev.jsonl`, true, "MARK")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"$ErrorActionPreference = 'Stop'",
		`Get-Content -LiteralPath 'C:\a''b\hb.json' -Raw`,
		"Write-Output 'MARK'",
		`try { Get-Content -LiteralPath 'C:\ev.jsonl' -Tail 1 -Encoding UTF8 } catch { Write-Output 'MARK-events-unreadable' }`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("script lacks %q:\n%s", want, got)
		}
	}
	noEv, err := heartbeatScript(`C:\hb.json`, "bad\npath", false, "MARK")
	if err != nil {
		t.Fatalf("events path must not be checked when events are not read: %v", err)
	}
	if strings.Contains(noEv, "Tail") || strings.Contains(noEv, "MARK") {
		t.Errorf("script without events reads events:\n%s", noEv)
	}
	if _, err := heartbeatScript(`C:\hb.json`, "bad\npath", true, "MARK"); !errors.Is(err, lab.ErrArgument) {
		t.Errorf("newline in events path: err = %v, want lab.ErrArgument", err)
	}
}

func TestTargetFromHost(t *testing.T) {
	h := hosts.Host{Name: "lab-ws-01", Address: "10.0.0.5", WinRMUser: "u", WinRMPass: "s3cr3t-pw", WinRMUseSSL: true,
		WinRMTransport: "ntlm", WinRMTLSServerName: "lab-ws-01.lab"}
	got := TargetFromHost(h, "/etc/ca.pem")
	if got.CAFile != "/etc/ca.pem" || got.String() != "10.0.0.5:5986" || got.TLSServerName != "lab-ws-01.lab" {
		t.Errorf("TargetFromHost = %+v (%s)", got, got)
	}
	h.WinRMCAFile = "/host/ca.pem"
	h.WinRMUseSSL = false
	got = TargetFromHost(h, "/etc/ca.pem")
	if got.CAFile != "/host/ca.pem" || got.String() != "10.0.0.5:5985" {
		t.Errorf("host CA file must win and HTTP default to 5985: %+v (%s)", got, got)
	}
	if s := got.String(); strings.Contains(s, "s3cr3t") {
		t.Errorf("String leaks credentials: %s", s)
	}
}

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
			if !errors.Is(evErr, lab.ErrEventsUnreadable) || gotLine != nil {
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

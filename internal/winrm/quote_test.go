package winrm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

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
		got, err := winrm.QuotePS(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("QuotePS(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"a\x00b", "a\nb", "a\rb", "a\u2019b", "a\u2018b", "\x1b[0m"} {
		if got, err := winrm.QuotePS(bad); !errors.Is(err, winrm.ErrArgument) {
			t.Errorf("QuotePS(%q) = %q, %v; want ErrArgument", bad, got, err)
		}
	}
}

func TestHeartbeatScript(t *testing.T) {
	got, err := winrm.HeartbeatScript(`C:\a'b\hb.json`, `C:\ev.jsonl`, true, "MARK")
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
	noEv, err := winrm.HeartbeatScript(`C:\hb.json`, "bad\npath", false, "MARK")
	if err != nil {
		t.Fatalf("events path must not be checked when events are not read: %v", err)
	}
	if strings.Contains(noEv, "Tail") || strings.Contains(noEv, "MARK") {
		t.Errorf("script without events reads events:\n%s", noEv)
	}
	if _, err := winrm.HeartbeatScript(`C:\hb.json`, "bad\npath", true, "MARK"); !errors.Is(err, winrm.ErrArgument) {
		t.Errorf("newline in events path: err = %v, want ErrArgument", err)
	}
}

func TestTargetFromHost(t *testing.T) {
	h := hosts.Host{Name: "lab-ws-01", Address: "10.0.0.5", WinRMUser: "u", WinRMPass: "s3cr3t-pw", WinRMUseSSL: true,
		WinRMTransport: "ntlm", WinRMTLSServerName: "lab-ws-01.lab"}
	got := winrm.TargetFromHost(h, "/etc/ca.pem")
	if got.CAFile != "/etc/ca.pem" || got.String() != "10.0.0.5:5986" || got.TLSServerName != "lab-ws-01.lab" {
		t.Errorf("TargetFromHost = %+v (%s)", got, got)
	}
	h.WinRMCAFile = "/host/ca.pem"
	h.WinRMUseSSL = false
	got = winrm.TargetFromHost(h, "/etc/ca.pem")
	if got.CAFile != "/host/ca.pem" || got.String() != "10.0.0.5:5985" {
		t.Errorf("host CA file must win and HTTP default to 5985: %+v (%s)", got, got)
	}
	if s := got.String(); strings.Contains(s, "s3cr3t") {
		t.Errorf("String leaks credentials: %s", s)
	}
}

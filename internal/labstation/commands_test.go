package labstation_test

import (
	"errors"
	"testing"

	"github.com/ops-worker/ops-worker/internal/labstation"
)

func TestCheckCommand(t *testing.T) {
	allowed := labstation.DefaultAllowList()
	for _, c := range []string{"prepare-session", "release-session", "power", "session", "energy", "status-json", "recovery", "account", "service", "wol", "status"} {
		if err := labstation.CheckCommand(c, allowed); err != nil {
			t.Errorf("CheckCommand(%q, default) = %v, want nil", c, err)
		}
	}
	tests := []struct {
		name, command string
		allowed       []string
		wantMsg       string
	}{
		{"unknown", "format-disk", allowed, "command 'format-disk' not allowed"},
		{"case differs", "POWER", allowed, "command 'POWER' not allowed"},
		{"with args", "power shutdown", allowed, "command 'power shutdown' not allowed"},
		{"empty", "", allowed, "command '' not allowed"},
		{"empty allowlist", "status", nil, "command 'status' not allowed"},
		{"empty entry", "", []string{""}, "command '' not allowed"},
		{"control chars", "a\r\nb", allowed, "command 'a??b' not allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := labstation.CheckCommand(tc.command, tc.allowed)
			if !errors.Is(err, labstation.ErrCommandNotAllowed) {
				t.Fatalf("CheckCommand = %v, want ErrCommandNotAllowed", err)
			}
			if got := err.Error(); got != tc.wantMsg {
				t.Errorf("message = %q, want %q", got, tc.wantMsg)
			}
		})
	}
	if err := labstation.CheckCommand("status", []string{" wol", " status "}); err != nil {
		t.Errorf("blanks around entries: %v", err)
	}
}

func TestClassifyExit(t *testing.T) {
	tests := []struct {
		code        int
		wantStatus  string
		wantSuccess bool
	}{
		{0, "completed", true},
		{1, "completed_with_warnings", true},
		{2, "failed", false},
		{3, "failed", false},
		{16001, "failed", false},
		{-1, "failed", false},
	}
	for _, tc := range tests {
		o := labstation.ClassifyExit(tc.code)
		if got := o.Status(); got != tc.wantStatus {
			t.Errorf("ClassifyExit(%d).Status() = %q, want %q", tc.code, got, tc.wantStatus)
		}
		if got := o.Success(); got != tc.wantSuccess {
			t.Errorf("ClassifyExit(%d).Success() = %v, want %v", tc.code, got, tc.wantSuccess)
		}
	}
	var zero labstation.Outcome
	if zero.Success() || zero.Status() != "failed" {
		t.Errorf("zero Outcome = %q success %v, want failed", zero.Status(), zero.Success())
	}
}

func TestPowerMode(t *testing.T) {
	for in, want := range map[string]string{"": "shutdown", "shutdown": "shutdown", "hibernate": "hibernate"} {
		if got, err := labstation.PowerMode(in); err != nil || got != want {
			t.Errorf("PowerMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"reboot", "Shutdown", "shutdown now"} {
		if _, err := labstation.PowerMode(bad); err == nil {
			t.Errorf("PowerMode(%q) accepted", bad)
		}
	}
	if got, want := labstation.GuardGraceArg(90), "--guard-grace=90"; got != want {
		t.Errorf("GuardGraceArg = %q, want %q", got, want)
	}
}

package labstation

import (
	"testing"
	"time"
)

func TestMinRunTime(t *testing.T) {
	const m = GuardMargin
	tests := []struct {
		command string
		args    []string
		want    time.Duration
	}{
		{CmdPrepareSession, nil, 90*time.Second + m},
		{CmdPrepareSession, []string{"--user=student", "--guard-grace=300"}, 300*time.Second + m},
		{CmdPrepareSession, []string{"--GUARD-GRACE=10"}, 10*time.Second + m},
		{CmdPrepareSession, []string{"--guard-grace=0"}, m},
		{CmdPrepareSession, []string{"--guard-grace=300", "--no-guard"}, 0},
		{CmdPrepareSession, []string{"--guard-grace=soon"}, 90*time.Second + m},
		{CmdPrepareSession, []string{"--guard-grace=-5"}, 90*time.Second + m},
		{CmdPrepareSession, []string{"--guard-grace=99999999999999999999"}, 90*time.Second + m},
		{CmdPrepareSession, []string{"--guard-grace=9999999999"}, maxGuardGrace + m},
		{CmdPrepareSession, []string{"--grace=300"}, 90*time.Second + m},
		{CmdReleaseSession, []string{"--guard-grace=120", "--reboot", "--reboot-timeout=15"}, 120*time.Second + m},
		{CmdSession, []string{"guard", "--grace=200", "--silent"}, 200*time.Second + m},
		{CmdSession, []string{"guard"}, 90*time.Second + m},
		{CmdSession, []string{"guard", "--guard-grace=200"}, 90*time.Second + m},
		{CmdSession, []string{"--grace=200"}, 0},
		{CmdSession, nil, 0},
		{CmdPower, []string{"shutdown", "--delay=600"}, 0},
		{CmdStatus, []string{"--grace=600"}, 0},
	}
	for _, tt := range tests {
		if got := MinRunTime(tt.command, tt.args); got != tt.want {
			t.Errorf("MinRunTime(%q, %q) = %v, want %v", tt.command, tt.args, got, tt.want)
		}
	}
}

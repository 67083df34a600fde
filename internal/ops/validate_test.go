package ops_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/ops"
)

// TestValidation checks every refusal of API.md, its order, and that none
// reaches the station (no WinRM request, no wake).
func TestValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{}, labsim.HostOptions{Name: "lab-ws-01", Asleep: true})
	sh := f.sim.Host("lab-ws-01")
	ctx := context.Background()
	s := f.svc
	long := strings.Repeat("x", 300)

	cases := []struct {
		name string
		call func() error
		code ops.Code
		msg  string
	}{
		{"winrm no host", func() error { _, err := s.RunCommand(ctx, ops.CommandRequest{Command: "status"}); return err },
			ops.CodeBadRequest, "host and command are required"},
		{"winrm no command", func() error { _, err := s.RunCommand(ctx, ops.CommandRequest{Host: "lab-ws-01"}); return err },
			ops.CodeBadRequest, "host and command are required"},
		{"winrm not allowed before unknown host", func() error {
			_, err := s.RunCommand(ctx, ops.CommandRequest{Host: "nope", Command: "format"})
			return err
		}, ops.CodeCommandNotAllowed, "command 'format' not allowed"},
		{"winrm unknown host", func() error {
			_, err := s.RunCommand(ctx, ops.CommandRequest{Host: "nope", Command: "status"})
			return err
		}, ops.CodeHostNotFound, "host 'nope' not found in config"},
		{"winrm unknown host escaped", func() error {
			_, err := s.RunCommand(ctx, ops.CommandRequest{Host: "a\nb", Command: "status"})
			return err
		}, ops.CodeHostNotFound, "host 'a?b' not found in config"},
		{"winrm argument", func() error {
			_, err := s.RunCommand(ctx, ops.CommandRequest{Host: "lab-ws-01", Command: "status", Args: []string{"a\nb"}})
			return err
		}, ops.CodeArgumentRefused, ""},
		{"wol unknown host", func() error { _, err := s.Wake(ctx, ops.WakeRequest{Host: "nope"}); return err },
			ops.CodeHostNotFound, "host 'nope' not found in config"},
		{"wol no mac", func() error { _, err := s.Wake(ctx, ops.WakeRequest{PingTarget: "127.0.0.1"}); return err },
			ops.CodeBadRequest, "mac is required"},
		{"wol ping_target syntax", func() error {
			_, err := s.Wake(ctx, ops.WakeRequest{Host: "lab-ws-01", PingTarget: "127.0.0.1; rm -rf /"})
			return err
		}, ops.CodeBadRequest, "ping_target '127.0.0.1; rm -rf /' is not a plain IP address or host name"},
		{"wol ping_target too long", func() error {
			_, err := s.Wake(ctx, ops.WakeRequest{Host: "lab-ws-01", PingTarget: long})
			return err
		}, ops.CodeBadRequest, ""},
		{"wol broadcast syntax", func() error {
			_, err := s.Wake(ctx, ops.WakeRequest{Host: "lab-ws-01", Broadcast: "1.2.3.4 5"})
			return err
		}, ops.CodeBadRequest, "broadcast '1.2.3.4 5' is not a plain IP address or host name"},
		{"start ids", func() error { _, err := s.StartReservation(ctx, ops.StartRequest{Host: "lab-ws-01"}); return err },
			ops.CodeBadRequest, "reservationId and host are required"},
		{"start host", func() error { _, err := s.StartReservation(ctx, ops.StartRequest{ReservationID: "r"}); return err },
			ops.CodeBadRequest, "reservationId and host are required"},
		{"start unknown host", func() error {
			_, err := s.StartReservation(ctx, ops.StartRequest{ReservationID: "r", Host: "nope"})
			return err
		}, ops.CodeHostNotFound, "host 'nope' not found"},
		{"start prepare argument before wake", func() error {
			_, err := s.StartReservation(ctx, ops.StartRequest{ReservationID: "r", Host: "lab-ws-01", PrepareArgs: []string{"x\x00"}})
			return err
		}, ops.CodeArgumentRefused, ""},
		{"start wake option syntax", func() error {
			_, err := s.StartReservation(ctx, ops.StartRequest{ReservationID: "r", Host: "lab-ws-01",
				WakeOptions: ops.WakeOptions{Broadcast: "$(x)"}})
			return err
		}, ops.CodeBadRequest, ""},
		{"start negative grace", func() error {
			_, err := s.StartReservation(ctx, ops.StartRequest{ReservationID: "r", Host: "lab-ws-01", GuardGrace: ptr(-1)})
			return err
		}, ops.CodeBadRequest, "guardGrace must be 0 or more seconds"},
		{"end ids", func() error { _, err := s.EndReservation(ctx, ops.EndRequest{ReservationID: "r"}); return err },
			ops.CodeBadRequest, "reservationId and host are required"},
		{"end unknown host", func() error {
			_, err := s.EndReservation(ctx, ops.EndRequest{ReservationID: "r", Host: "nope"})
			return err
		}, ops.CodeHostNotFound, "host 'nope' not found"},
		{"end power mode", func() error {
			_, err := s.EndReservation(ctx, ops.EndRequest{ReservationID: "r", Host: "lab-ws-01",
				PowerAction: &ops.PowerAction{Mode: "reboot"}})
			return err
		}, ops.CodeBadRequest, "powerAction.mode must be shutdown or hibernate"},
		{"poll host", func() error { _, err := s.PollHeartbeat(ctx, ops.PollRequest{}); return err },
			ops.CodeBadRequest, "host is required"},
		{"poll unknown", func() error { _, err := s.PollHeartbeat(ctx, ops.PollRequest{Host: "nope"}); return err },
			ops.CodeHostNotFound, "host 'nope' not found in config"},
		{"timeline no db first", func() error { _, err := s.Timeline(ctx, ops.TimelineRequest{}); return err },
			ops.CodeDBNotConfigured, "Database not configured"},
		{"recent no db", func() error { _, err := s.RecentOperations(ctx, ops.RecentRequest{}); return err },
			ops.CodeDBNotConfigured, "Database not configured"},
		{"quarantine host", func() error { _, err := s.SetQuarantine(ctx, ops.QuarantineRequest{}); return err },
			ops.CodeBadRequest, "host is required"},
		{"quarantine unknown", func() error { _, err := s.SetQuarantine(ctx, ops.QuarantineRequest{Host: "nope"}); return err },
			ops.CodeHostNotFound, "host 'nope' not found in config"},
		{"quarantine no db", func() error {
			_, err := s.SetQuarantine(ctx, ops.QuarantineRequest{Host: "LAB-WS-01"})
			return err
		}, ops.CodeDBNotConfigured, "Database not configured"},
	}
	for _, c := range cases {
		wantCode(t, c.call(), c.code, c.msg)
		if t.Failed() {
			t.Logf("case %s", c.name)
		}
	}
	if n := sh.HTTPRequests(); n != 0 {
		t.Errorf("validation reached the station: %d WinRM requests", n)
	}
	if !sh.Asleep() {
		t.Error("validation woke the host")
	}
}

package ops

import (
	"context"
	"errors"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labstation"
)

// allowed is OPS_ALLOWED_COMMANDS, or the default list when unset.
func (s *Service) allowed() []string {
	if len(s.Settings.AllowedCommands) > 0 {
		return s.Settings.AllowedCommands
	}
	return labstation.DefaultAllowList()
}

// checkAllowed refuses a command outside the allowlist ("command '<c>'
// not allowed", escaped and bounded by labstation).
func (s *Service) checkAllowed(command string) *Error {
	if err := labstation.CheckCommand(command, s.allowed()); err != nil {
		var ne *labstation.NotAllowedError
		if errors.As(err, &ne) {
			return Wrap(CodeCommandNotAllowed, ne.Error(), err)
		}
		return Wrap(CodeCommandNotAllowed, "command not allowed", err)
	}
	return nil
}

// checkCommandLine refuses, before any network I/O, a command outside the
// allowlist or a line that cannot reach LabStation.exe verbatim.
func (s *Service) checkCommandLine(h hosts.Host, command string, args []string) *Error {
	if err := s.checkAllowed(command); err != nil {
		return err
	}
	// The catalog loader fills labstation_exe with its default.
	if _, err := labstation.CommandLine(h.LabStationExe, command, args); err != nil {
		var ae *labstation.ArgError
		if errors.As(err, &ae) {
			return Wrap(CodeArgumentRefused, ae.Error(), err)
		}
		return Wrap(CodeArgumentRefused, "argument cannot reach the program verbatim", err)
	}
	return s.checkGuardGrace(command, args)
}

// RunCommand is POST /api/winrm: `<labstation_exe> <command> <args...>`.
// It answers whatever the exit code; a station that gives no answer is an
// error (fromLab).
func (s *Service) RunCommand(ctx context.Context, r CommandRequest) (CommandResponse, error) {
	if r.Host == "" || r.Command == "" {
		return CommandResponse{}, Errorf(CodeBadRequest, "host and command are required")
	}
	if err := s.checkAllowed(r.Command); err != nil {
		return CommandResponse{}, err
	}
	h, herr := s.host(r.Host, "host '%s' not found in config")
	if herr != nil {
		return CommandResponse{}, herr
	}
	if err := s.checkCommandLine(h, r.Command, r.Args); err != nil {
		return CommandResponse{}, err
	}
	opts := lab.CommandOptions{Transport: r.Transport, UseSSL: r.UseSSL, Port: deref(r.Port),
		User: r.User, Password: r.Password}
	defer s.apiSlot(ctx, h.Name)()
	res, err := s.Lab.RunCommand(ctx, h, r.Command, r.Args, opts)
	if err != nil {
		e := fromLab(h.Name, err)
		s.log().WarnContext(ctx, "command failed", "host", h.Name, "command", r.Command, "code", e.Code, "err", err)
		return CommandResponse{}, e
	}
	s.log().InfoContext(ctx, "command", "host", h.Name, "command", r.Command, "exit_code", res.ExitCode,
		"duration_ms", res.Duration.Milliseconds())
	return CommandResponse{ExitCode: res.ExitCode, Stdout: res.Stdout, Stderr: res.Stderr,
		DurationMs: res.Duration.Milliseconds()}, nil
}

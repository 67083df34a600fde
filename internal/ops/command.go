package ops

import (
	"context"

	"github.com/ops-worker/ops-worker/internal/domain"
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

// checkCommand refuses a command outside the allowlist ("command '<c>'
// not allowed", escaped and bounded by labstation), before the host is
// even looked up; the answer is fromLab's, as when lab refuses it.
func (s *Service) checkCommand(command string) *Error {
	if err := labstation.CheckCommand(command, s.allowed()); err != nil {
		return fromLab("", err)
	}
	return nil
}

// checkLine refuses, before any network I/O, a line that cannot reach
// LabStation.exe verbatim (the catalog loader fills labstation_exe with
// its default).
func (s *Service) checkLine(h hosts.Host, command string, args []string) *Error {
	if _, err := labstation.CommandLine(h.LabStationExe, command, args); err != nil {
		return fromLab(h.Name, err)
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
	if err := s.checkCommand(r.Command); err != nil {
		return CommandResponse{}, err
	}
	h, herr := s.host(ctx, r.Host, "host '%s' not found in config")
	if herr != nil {
		return CommandResponse{}, herr
	}
	if err := s.checkLine(h, r.Command, r.Args); err != nil {
		return CommandResponse{}, err
	}
	opts := lab.CommandOptions{Transport: r.Transport, UseSSL: r.UseSSL, Port: deref(r.Port),
		User: r.User, Password: r.Password}
	defer s.apiSlot(ctx, h.Name)()
	res, err := s.Lab.RunCommand(ctx, h, r.Command, r.Args, opts)
	if err != nil {
		e := fromLab(h.Name, err)
		s.log().WarnContext(ctx, "command failed", "host", h.Name, "command", r.Command, "code", e.Code, "err", err)
		s.notify(ctx, domain.Failure{Host: h.Name, LabID: firstLab(h), Flow: domain.FlowCommand, Action: r.Command,
			Code: string(e.Code), Message: e.Message}, err)
		return CommandResponse{}, e
	}
	if !res.Outcome.Success() {
		fl := exitFailure(h, domain.FlowCommand, r.Command, res.ExitCode)
		fl.Details = map[string]any{"exitCode": res.ExitCode, "stdout": res.Stdout, "stderr": res.Stderr, "args": r.Args}
		s.notify(ctx, fl, nil)
	}
	s.log().InfoContext(ctx, "command", "host", h.Name, "command", r.Command, "exit_code", res.ExitCode,
		"duration_ms", res.Duration.Milliseconds())
	return CommandResponse{ExitCode: res.ExitCode, Stdout: res.Stdout, Stderr: res.Stderr,
		DurationMs: res.Duration.Milliseconds()}, nil
}

package lab

import (
	"context"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/wake"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// DefaultStaleAfter flags a heartbeat older than this as stale (the station
// service rewrites it about every minute).
const DefaultStaleAfter = 5 * time.Minute

// Direct reaches the station itself: magic packets and probes through
// Waker, commands and files through WinRM.
type Direct struct {
	WinRM *winrm.Client
	Waker *wake.Waker
	// GlobalCAFile is OPS_WINRM_CA_FILE; a host's own CA file wins.
	GlobalCAFile string
	Policy       Policy
	// AllowedCommands, when set, is checked again here (OPS_ALLOWED_COMMANDS).
	AllowedCommands []string
	StaleAfter      time.Duration // 0: DefaultStaleAfter
	// DiagnoseWait bounds the probe run when WinRM is unreachable, to tell
	// a sleeping host (ErrHostDown) from a closed WinRM port
	// (ErrWinRMClosed); 0: DefaultDiagnoseWait, negative: no probe.
	DiagnoseWait time.Duration
	Now          func() time.Time // nil: time.Now
}

var _ Lab = (*Direct)(nil)

func (d *Direct) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// RunCommand runs `<exe> command args...` with the overrides of o, which
// Policy may refuse (a *PolicyError).
func (d *Direct) RunCommand(ctx context.Context, h hosts.Host, command string, args []string, o CommandOptions) (CommandResult, error) {
	if len(d.AllowedCommands) > 0 {
		if err := labstation.CheckCommand(command, d.AllowedCommands); err != nil {
			return CommandResult{}, hostErr("run command", h, err)
		}
	}
	t, err := d.Policy.Target(h, d.GlobalCAFile, o)
	if err != nil {
		return CommandResult{}, hostErr("run command", h, err)
	}
	exe := h.LabStationExe
	if exe == "" {
		exe = hosts.DefaultLabStationExe
	}
	res, err := d.WinRM.RunLabStation(ctx, t, exe, command, args)
	out := CommandResult{ExitCode: res.ExitCode, Stdout: res.Stdout, Stderr: res.Stderr,
		Duration: res.Duration, Outcome: labstation.ClassifyExit(res.ExitCode)}
	if err != nil {
		out.Outcome = labstation.OutcomeFailed
		return out, hostErr("run command", h, d.diagnose(ctx, h, t.EffectivePort(), err))
	}
	return out, nil
}

// ReadHeartbeat polls the heartbeat (one WinRM command) and parses it.
func (d *Direct) ReadHeartbeat(ctx context.Context, h hosts.Host, includeEvents bool) (HeartbeatRead, error) {
	start := time.Now()
	t, err := d.Policy.Target(h, d.GlobalCAFile, CommandOptions{})
	if err != nil {
		return HeartbeatRead{}, hostErr("read heartbeat", h, err)
	}
	hbPath, evPath := h.HeartbeatPath, h.EventsPath
	if hbPath == "" {
		hbPath = hosts.DefaultHeartbeatPath
	}
	if evPath == "" {
		evPath = hosts.DefaultEventsPath
	}
	raw, line, eventsErr, err := d.WinRM.ReadHeartbeat(ctx, t, hbPath, evPath, includeEvents)
	if err != nil {
		return HeartbeatRead{}, hostErr("read heartbeat", h, d.diagnose(ctx, h, t.EffectivePort(), err))
	}
	hb, err := labstation.ParseHeartbeat(raw)
	if err != nil {
		return HeartbeatRead{}, hostErr("parse heartbeat", h, err)
	}
	out := HeartbeatRead{Heartbeat: hb, EventsErr: eventsErr}
	if line != nil && eventsErr == nil {
		ev, err := labstation.ParseLastEvent(line)
		if err != nil {
			out.EventsErr = err
		} else {
			out.LastEvent = ev
		}
	}
	stale := d.StaleAfter
	if stale <= 0 {
		stale = DefaultStaleAfter
	}
	out.Stale = hb.Stale(d.now(), stale)
	out.Duration = time.Since(start)
	return out, nil
}

package direct

import (
	"context"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/wake"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// Direct reaches the station itself: magic packets and probes through
// Waker, commands and files through WinRM.
type Direct struct {
	WinRM *winrm.Client
	Waker *wake.Waker
	// GlobalCAFile is OPS_WINRM_CA_FILE; a host's own CA file wins.
	GlobalCAFile string
	Policy       Policy
	// AllowedCommands, when set, refuses a command outside it. The worker
	// leaves it nil: its use cases (ops) check OPS_ALLOWED_COMMANDS once,
	// before anything runs. The relay sets its own list: the relay is a
	// trust boundary of its own and does not take the worker's word.
	AllowedCommands []string
	StaleAfter      time.Duration // 0: lab.DefaultStaleAfter
	// DiagnoseWait bounds the probe run when WinRM is unreachable, to tell
	// a sleeping host (lab.ErrHostDown) from a closed WinRM port
	// (lab.ErrWinRMClosed); 0: DefaultDiagnoseWait, negative: no probe.
	DiagnoseWait time.Duration
	Now          func() time.Time // nil: time.Now
}

var _ lab.Lab = (*Direct)(nil)

func (d *Direct) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// RunCommand runs `<exe> command args...` (exe is the host entry's
// labstation_exe, which the catalog loader fills) with the overrides of o,
// which Policy may refuse (a *lab.PolicyError). Each argument reaches the
// program verbatim or the command is refused (lab.ErrArgument) before anything
// is sent: the worker's use cases have checked the line already (ops), and
// this is the one defensive check, on the line Direct has to build to run
// it anyway (a relay's request comes unchecked). The exit code is
// classified here, once (lab.CommandResult.Outcome): callers read Outcome. The command may run for the client's CommandTimeout, and a
// session-guard command for at least its grace period + 60 s
// (labstation.MinRunTime).
func (d *Direct) RunCommand(ctx context.Context, h hosts.Host, command string, args []string, o lab.CommandOptions) (lab.CommandResult, error) {
	if len(d.AllowedCommands) > 0 {
		if err := labstation.CheckCommand(command, d.AllowedCommands); err != nil {
			return lab.CommandResult{}, hostErr("run command", h, err)
		}
	}
	t, err := d.Policy.Target(h, d.GlobalCAFile, o)
	if err != nil {
		return lab.CommandResult{}, hostErr("run command", h, err)
	}
	line, err := labstation.CommandLine(h.LabStationExe, command, args)
	if err != nil {
		return lab.CommandResult{}, hostErr("run command", h, err)
	}
	timeout := max(d.WinRM.Config().CommandTimeout, labstation.MinRunTime(command, args))
	res, err := d.WinRM.Run(ctx, t, line, winrm.RunOptions{Op: "run " + command, Timeout: timeout})
	out := lab.CommandResult{ExitCode: res.ExitCode, Stdout: res.Stdout, Stderr: res.Stderr,
		Duration: res.Duration, Outcome: labstation.ClassifyExit(res.ExitCode)}
	if err != nil {
		out.Outcome = labstation.OutcomeFailed
		return out, hostErr("run command", h, d.diagnose(ctx, h, t.EffectivePort(), err))
	}
	return out, nil
}

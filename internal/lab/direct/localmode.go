package direct

import (
	"context"
	"fmt"
	"strings"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// SetLocalMode writes or removes the host's local-mode flag file
// (h.LocalModeFlagPath, which the catalog loader fills) in one PowerShell
// command. The flag's folder must exist: a missing one means the path is
// not the station's Lab Station install, and creating folders there would
// only hide that. A script that fails (access denied, no such folder) is
// lab.ErrRemote with the station's message.
func (d *Direct) SetLocalMode(ctx context.Context, h hosts.Host, enabled bool) error {
	t, err := d.Policy.Target(h, d.GlobalCAFile, lab.CommandOptions{})
	if err != nil {
		return hostErr("set local mode", h, err)
	}
	script, err := localModeScript(h.LocalModeFlagPath, enabled)
	if err != nil {
		return hostErr("set local mode", h, fmt.Errorf("local mode flag path: %w", err))
	}
	// Writing one small file is as quick as reading the heartbeat: bounded
	// the same way, not by the CommandTimeout meant for long commands.
	cfg := d.WinRM.Config()
	res, err := d.WinRM.RunPowerShell(ctx, t, script, winrm.RunOptions{Op: "local mode",
		Timeout: min(cfg.CommandTimeout, 2*cfg.OperationTimeout)})
	if err != nil {
		return hostErr("set local mode", h, d.diagnose(ctx, h, t.EffectivePort(), err))
	}
	if res.ExitCode != 0 {
		what := "removing"
		if enabled {
			what = "writing"
		}
		return hostErr("set local mode", h, fmt.Errorf("%w: %s the local-mode flag failed (exit code %d): %s",
			lab.ErrRemote, what, res.ExitCode, snippet(res.Stderr)))
	}
	return nil
}

// localModeScript is SetLocalMode's script: Set-Content of "1" (what the
// gateway's own worker writes; the station only looks at the file's
// presence), or Remove-Item when the file is there.
func localModeScript(path string, enabled bool) (string, error) {
	p, err := quotePS(path)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("$ErrorActionPreference = 'Stop'\n")
	if enabled {
		b.WriteString("Set-Content -LiteralPath " + p + " -Value '1' -Encoding ASCII\n")
	} else {
		b.WriteString("if (Test-Path -LiteralPath " + p + ") { Remove-Item -LiteralPath " + p + " -Force }\n")
	}
	return b.String(), nil
}

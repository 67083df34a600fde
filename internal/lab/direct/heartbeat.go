package direct

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/textcut"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// ReadHeartbeat polls the heartbeat (one WinRM command) and parses it. The
// paths are the host entry's, which the catalog loader fills.
func (d *Direct) ReadHeartbeat(ctx context.Context, h hosts.Host, includeEvents bool) (lab.HeartbeatRead, error) {
	start := time.Now()
	t, err := d.Policy.Target(h, d.GlobalCAFile, lab.CommandOptions{})
	if err != nil {
		return lab.HeartbeatRead{}, hostErr("read heartbeat", h, err)
	}
	raw, line, eventsErr, err := readHeartbeat(ctx, d.WinRM, t, h.HeartbeatPath, h.EventsPath, includeEvents)
	if err != nil {
		return lab.HeartbeatRead{}, hostErr("read heartbeat", h, d.diagnose(ctx, h, t.EffectivePort(), err))
	}
	hb, err := labstation.ParseHeartbeat(raw)
	if err != nil {
		return lab.HeartbeatRead{}, hostErr("parse heartbeat", h, err)
	}
	out := lab.HeartbeatRead{Heartbeat: hb, EventsErr: eventsErr}
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
		stale = lab.DefaultStaleAfter
	}
	out.Stale = hb.Stale(d.now(), stale)
	out.Duration = time.Since(start)
	return out, nil
}

// readHeartbeat reads the heartbeat document and, when includeEvents, the
// last line of the events log, in ONE WinRM command. An unreadable events
// log gives eventsErr (lab.ErrEventsUnreadable) and still the heartbeat; an
// empty one gives a nil lastEventLine. A path that cannot be quoted is
// lab.ErrArgument, refused before anything is sent; a script that fails or
// prints no marker line is lab.ErrRemote.
func readHeartbeat(ctx context.Context, c *winrm.Client, t winrm.Target, heartbeatPath, eventsPath string, includeEvents bool) (heartbeatRaw []byte, lastEventLine []byte, eventsErr error, err error) {
	marker := newMarker()
	script, err := heartbeatScript(heartbeatPath, eventsPath, includeEvents, marker)
	if err != nil {
		return nil, nil, nil, err
	}
	// Reading two files takes well under one OperationTimeout; a station
	// that has not answered after a second one is not going to: the read
	// does not wait the whole CommandTimeout meant for long commands.
	cfg := c.Config()
	res, err := c.RunPowerShell(ctx, t, script, winrm.RunOptions{Op: "heartbeat",
		Timeout: min(cfg.CommandTimeout, 2*cfg.OperationTimeout)})
	if err != nil {
		return nil, nil, nil, err
	}
	fail := func(msg string) error {
		return fmt.Errorf("%w: %s (exit code %d): %s", lab.ErrRemote, msg, res.ExitCode, snippet(res.Stderr))
	}
	if res.ExitCode != 0 {
		return nil, nil, nil, fail("reading the heartbeat failed")
	}
	hb, line, eventsErr, ok := parseHeartbeatOutput([]byte(res.Stdout), marker, includeEvents)
	if !ok {
		return nil, nil, nil, fail("heartbeat output has no marker line")
	}
	return hb, line, eventsErr, nil
}

// quotePS quotes s as a PowerShell single-quoted (verbatim) string. It
// refuses (lab.ErrArgument) what labstation.CheckPSLiteral refuses: what
// could end the string or the statement differently on a real station. The
// catalog refuses the same in its paths at load.
func quotePS(s string) (string, error) {
	if err := labstation.CheckPSLiteral(s); err != nil {
		return "", err
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'", nil
}

// heartbeatScript is the PowerShell script of readHeartbeat: the heartbeat
// with -Raw, a marker line, then the last event line with -Tail 1 inside
// try/catch (an unreadable events log prints marker+errSuffix instead).
func heartbeatScript(heartbeatPath, eventsPath string, includeEvents bool, marker string) (string, error) {
	hb, err := quotePS(heartbeatPath)
	if err != nil {
		return "", fmt.Errorf("heartbeat path: %w", err)
	}
	var b strings.Builder
	b.WriteString("$ErrorActionPreference = 'Stop'\n")
	b.WriteString("[Console]::OutputEncoding = [System.Text.Encoding]::UTF8\n")
	b.WriteString("Get-Content -LiteralPath " + hb + " -Raw\n")
	if includeEvents {
		ev, err := quotePS(eventsPath)
		if err != nil {
			return "", fmt.Errorf("events path: %w", err)
		}
		b.WriteString("Write-Output '" + marker + "'\n")
		b.WriteString("try { Get-Content -LiteralPath " + ev + " -Tail 1 -Encoding UTF8 } catch { Write-Output '" + marker + errSuffix + "' }\n")
	}
	return b.String(), nil
}

const errSuffix = "-events-unreadable"

func newMarker() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "ops-worker-" + hex.EncodeToString(b[:])
}

// parseHeartbeatOutput splits the script's stdout into the heartbeat and
// the last event line (nil when the log is empty or unreadable).
func parseHeartbeatOutput(out []byte, marker string, includeEvents bool) (hb, line []byte, eventsErr error, ok bool) {
	if !includeEvents {
		return trimEOL(out), nil, nil, true
	}
	hb, rest, ok := cutMarkerLine(out, marker)
	if !ok {
		return nil, nil, nil, false
	}
	rest = bytes.TrimSpace(rest)
	switch {
	case string(rest) == marker+errSuffix:
		return hb, nil, lab.ErrEventsUnreadable, true
	case len(rest) == 0:
		return hb, nil, nil, true
	}
	// -Tail 1 prints one line; keep the last should more ever come.
	if i := bytes.LastIndexByte(rest, '\n'); i >= 0 {
		rest = bytes.TrimSpace(rest[i+1:])
	}
	return hb, rest, nil, true
}

// cutMarkerLine splits out at the line that is exactly marker.
func cutMarkerLine(out []byte, marker string) (before, after []byte, ok bool) {
	for off := 0; off <= len(out); {
		i := bytes.Index(out[off:], []byte(marker))
		if i < 0 {
			return nil, nil, false
		}
		start := off + i
		end := start + len(marker)
		atLineStart := start == 0 || out[start-1] == '\n'
		rest := out[end:]
		rest = bytes.TrimPrefix(rest, []byte("\r"))
		atLineEnd := len(rest) == 0 || rest[0] == '\n'
		if atLineStart && atLineEnd {
			return trimEOL(out[:start]), bytes.TrimPrefix(rest, []byte("\n")), true
		}
		off = end
	}
	return nil, nil, false
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// snippet is the start of a station's stderr for an error message.
func snippet(s string) string { return textcut.Cut(strings.TrimSpace(s), 300, "...") }

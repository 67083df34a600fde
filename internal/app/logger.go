package app

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/ops-worker/ops-worker/internal/config"
)

// Log formats of Options.LogFormat.
const (
	LogJSON = "json" // one JSON object a line (production, Lambda)
	LogText = "text" // key=value lines (a terminal)
)

// NewLogger is the worker's logger: format LogJSON ("" too) or LogText, at
// OPS_LOG_LEVEL, writing to w (nil: os.Stderr).
func NewLogger(cfg config.Config, format string, w io.Writer) (*slog.Logger, error) {
	level, err := cfg.SlogLevel()
	if err != nil {
		return nil, err
	}
	if w == nil {
		w = os.Stderr
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case LogJSON, "":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case LogText:
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want %s or %s", format, LogJSON, LogText)
}

// Version is the main module's version from the build information: a
// tagged version, else the VCS revision (with "+dirty" when modified),
// else "dev".
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "+dirty"
	}
	return rev
}

package labstation

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// CheckPSLiteral reports, wrapping ErrArgument, why s cannot be a
// PowerShell single-quoted (verbatim) string that means exactly s on a
// real station: NUL, line breaks and other control characters (which end
// the statement or do not survive WinRM's XML), and the typographic single
// quotes (U+2018..U+201B), which PowerShell also takes as quote characters.
// The one rule of what a quoted station path may hold: the direct Lab
// quotes with it, and the host catalog refuses at load what it refuses.
func CheckPSLiteral(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: not valid UTF-8", ErrArgument)
	}
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("%w: control character %U in %s", ErrArgument, r, redact(s))
		case r == '\u2018' || r == '\u2019' || r == '\u201a' || r == '\u201b':
			return fmt.Errorf("%w: typographic quote %U in %s", ErrArgument, r, redact(s))
		}
	}
	return nil
}

// CheckDataPath reports, wrapping ErrArgument, why p cannot name a file of
// the station that the worker reads or writes through PowerShell (the
// heartbeat, the events log, the local-mode flag): not an absolute Windows
// path to a file (drive or UNC), a character Windows paths cannot hold, or
// one CheckPSLiteral refuses. Unlike a program path (CheckProgramPath) it
// is quoted, so spaces and the like are fine.
func CheckDataPath(p string) error {
	if p == "" {
		return fmt.Errorf("%w: is empty", ErrArgument)
	}
	if err := CheckPSLiteral(p); err != nil {
		return err
	}
	drive := len(p) >= 3 && isASCIILetter(p[0]) && p[1] == ':' && p[2] == '\\'
	unc := strings.HasPrefix(p, `\\`) && len(p) > 2 && p[2] != '\\'
	switch {
	case !drive && !unc:
		return fmt.Errorf(`%w: must be an absolute Windows path (C:\... or \\server\share\...)`, ErrArgument)
	case strings.ContainsAny(p, `"*?<>|`):
		return fmt.Errorf(`%w: contains a character Windows paths cannot hold (" * ? < > |)`, ErrArgument)
	case strings.IndexByte(p[2:], ':') >= 0:
		return fmt.Errorf("%w: contains ':' after the drive letter", ErrArgument)
	case strings.HasSuffix(p, `\`) || strings.HasSuffix(p, `/`):
		return fmt.Errorf("%w: ends with a path separator (a folder, not a file)", ErrArgument)
	}
	return nil
}

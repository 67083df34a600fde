// Package labstation holds the Lab Station command contract (allowed
// commands, argument quoting, exit-code meaning) and the heartbeat model.
package labstation

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits of what one command line may carry.
const (
	// MaxArgBytes is the largest single argument accepted, in bytes.
	MaxArgBytes = 8000
	// MaxLineLength is cmd.exe's command-line limit, in UTF-16 code units,
	// applied to the escaped line CommandLine returns.
	MaxLineLength = 8191
)

// ErrArgument is wrapped by every *ArgError, so callers can map any refusal
// to a 400 with errors.Is.
var ErrArgument = errors.New("argument cannot reach the program verbatim")

// ArgError says which argument was refused and why. Arg is a short,
// escaped prefix of the value, safe to log; it never holds the whole value.
type ArgError struct {
	// Index is the position in the args slice; -1 for the executable or the
	// command itself (see Part).
	Index int
	// Part is "exe", "command", "arg" or "line" (the whole line too long).
	Part   string
	Arg    string
	Reason string
}

func (e *ArgError) Error() string {
	switch e.Part {
	case "exe":
		return fmt.Sprintf("program path %s: %s", e.Arg, e.Reason)
	case "command":
		return fmt.Sprintf("command %s: %s", e.Arg, e.Reason)
	case "line":
		return "command line: " + e.Reason
	}
	if e.Index < 0 {
		return fmt.Sprintf("argument %s: %s", e.Arg, e.Reason)
	}
	return fmt.Sprintf("argument %d %s: %s", e.Index, e.Arg, e.Reason)
}

// Unwrap lets errors.Is(err, ErrArgument) match.
func (e *ArgError) Unwrap() error { return ErrArgument }

// redact keeps a short prefix of s, cut on a rune boundary and escaped with
// %q, so an error can name the argument without carrying a long value or a
// control character into a log line.
func redact(s string) string {
	const keep = 24
	if len(s) <= keep {
		return fmt.Sprintf("%q", s)
	}
	cut := keep
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q…(%d bytes)", s[:cut], len(s))
}

// QuoteArg quotes one argument by the rules the Microsoft C runtime and
// CommandLineToArgvW use to split a command line, so that it is read back
// as exactly one argument equal to arg. It does not escape for cmd.exe (see
// CommandLine). An argument without space, tab or quote is returned as is.
//
// It refuses only what no Windows command line can carry: NUL and bytes
// that are not UTF-8 (the line travels as UTF-16).
func QuoteArg(arg string) (string, error) {
	if !utf8.ValidString(arg) {
		return "", &ArgError{Index: -1, Part: "arg", Arg: redact(arg), Reason: "not valid UTF-8"}
	}
	if strings.IndexByte(arg, 0) >= 0 {
		return "", &ArgError{Index: -1, Part: "arg", Arg: redact(arg), Reason: "contains a NUL character"}
	}
	return quoteMSVC(arg), nil
}

// quoteMSVC is the algorithm of D. Colascione, "Everyone quotes command line
// arguments the wrong way" (2011): backslashes are literal except directly
// before a quote, so a run of them is doubled when a quote (an escaped one
// or the closing one) follows it.
func quoteMSVC(arg string) string {
	if arg != "" && !strings.ContainsAny(arg, " \t\"") {
		return arg
	}
	var b strings.Builder
	b.Grow(len(arg) + 2)
	b.WriteByte('"')
	backslashes := 0
	for i := 0; i < len(arg); i++ {
		c := arg[i]
		switch c {
		case '\\':
			backslashes++
			continue
		case '"':
			b.WriteString(strings.Repeat(`\`, 2*backslashes+1))
		default:
			b.WriteString(strings.Repeat(`\`, backslashes))
		}
		backslashes = 0
		b.WriteByte(c)
	}
	b.WriteString(strings.Repeat(`\`, 2*backslashes))
	b.WriteByte('"')
	return b.String()
}

// cmdMeta are the characters cmd.exe gives a meaning to while it parses a
// /c line. Each gets a caret, quotes included, so cmd never enters its
// quoted mode and every caret is removed again before the program starts.
const cmdMeta = `()%!^"<>&|`

// escapeCmd prefixes every cmd.exe metacharacter with a caret.
func escapeCmd(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/4)
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(cmdMeta, s[i]) >= 0 {
			b.WriteByte('^')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isBestFit reports characters that Windows' "best fit" conversion to an
// ANSI code page turns into a quote or a backslash (the "WorstFit" argument
// injection, Orange Tsai, 2025). A program with an ANSI main() would split
// its arguments differently from how they were quoted, so they are refused.
func isBestFit(r rune) bool {
	switch r {
	case 0xFF02, // FULLWIDTH QUOTATION MARK -> "
		0x02BA, // MODIFIER LETTER DOUBLE PRIME -> "
		0x02DD, // DOUBLE ACUTE ACCENT -> "
		0x030E, // COMBINING DOUBLE VERTICAL LINE ABOVE -> "
		0x2033, // DOUBLE PRIME -> "
		0x3003, // DITTO MARK -> "
		0xFF3C, // FULLWIDTH REVERSE SOLIDUS -> \
		0xFE68, // SMALL REVERSE SOLIDUS -> \
		0x00A5, // YEN SIGN -> \ (code page 932)
		0x20A9: // WON SIGN -> \ (code page 949)
		return true
	}
	return false
}

// checkChars returns why s cannot travel through cmd.exe verbatim, or "".
func checkChars(s string) string {
	if !utf8.ValidString(s) {
		return "not valid UTF-8"
	}
	for _, r := range s {
		switch {
		case r == 0:
			return "contains a NUL character"
		case r == '\r' || r == '\n':
			return "contains a line break (CR or LF), which cmd.exe ends the command at"
		case r == '%':
			return "contains '%', which cmd.exe expands before any escape applies"
		case r == '!':
			return "contains '!', which cmd.exe's delayed expansion may rewrite"
		case r < 0x20 && r != '\t', r == 0x7F:
			return fmt.Sprintf("contains control character U+%04X, which WinRM's XML cannot carry reliably", r)
		case r == 0xFFFE || r == 0xFFFF:
			return fmt.Sprintf("contains non-character U+%04X, which XML cannot carry", r)
		case isBestFit(r):
			return fmt.Sprintf("contains U+%04X, which Windows may convert to a quote or backslash", r)
		}
	}
	return ""
}

// checkExe validates the program path: an absolute Windows path (drive or
// UNC) to a file, without characters Windows file names cannot hold.
func checkExe(exe string) string {
	if exe == "" {
		return "is empty"
	}
	if why := checkChars(exe); why != "" {
		return why
	}
	drive := len(exe) >= 3 && isASCIILetter(exe[0]) && exe[1] == ':' && exe[2] == '\\'
	unc := strings.HasPrefix(exe, `\\`) && len(exe) > 2 && exe[2] != '\\'
	if !drive && !unc {
		return `must be an absolute Windows path (C:\... or \\server\share\...)`
	}
	if strings.ContainsAny(exe, `"*?<>|/`) {
		return `contains a character Windows paths cannot hold (" * ? < > | /)`
	}
	if strings.IndexByte(exe[2:], ':') >= 0 {
		return "contains ':' after the drive letter"
	}
	if strings.HasSuffix(exe, `\`) {
		return "ends with a backslash (a folder, not a program)"
	}
	return ""
}

// exeSafe reports whether c may appear in an unquoted program path.
//
// The program path cannot be quoted at all: a caret-escaped quote (^") does
// not group cmd.exe's command name, which ends at the first space, tab, ';',
// ',' or '=' (cmd then runs C:\Program), and an unescaped quote puts cmd in
// its quoted mode, where the carets the arguments need stay literal. So the
// path is emitted as is and may hold only characters that neither cmd.exe
// nor the C runtime gives a meaning to: ASCII letters and digits, and
// \ : . _ - ~ $ (the 8.3 short names Windows gives every long path, like
// C:\PROGRA~1\LABSTA~1\LabStation.exe, and admin shares like \\fs\c$).
// Everything else (space, ; , = + [ ] ' ( ) & | < > ^ " % ! and any
// non-ASCII character, some of which cmd reads as blanks) is refused.
func exeSafe(c byte) bool {
	return isASCIILetter(c) || c >= '0' && c <= '9' || strings.IndexByte(`\:._-~$`, c) >= 0
}

// CheckProgramPath reports, as an *ArgError wrapping ErrArgument, why exe
// cannot be the program of a Lab Station command line: not an absolute
// Windows path, or a character that would need quoting or escaping for
// cmd.exe (see exeSafe). The host catalog runs it at load, so a bad
// labstation_exe is refused there rather than at the first call.
func CheckProgramPath(exe string) error {
	if why := checkExe(exe); why != "" {
		return &ArgError{Index: -1, Part: "exe", Arg: redact(exe), Reason: why}
	}
	for i := 0; i < len(exe); i++ {
		if !exeSafe(exe[i]) {
			return &ArgError{Index: -1, Part: "exe", Arg: redact(exe), Reason: fmt.Sprintf(
				"holds %s, which cmd.exe cannot take in a program path without quoting: use its 8.3 short name (dir /x, e.g. C:\\PROGRA~1\\LABSTA~1\\LabStation.exe) or a path of letters, digits and \\ : . _ - ~ $ only",
				exeCharName(exe[i]))}
		}
	}
	return nil
}

func exeCharName(c byte) string {
	switch {
	case c == ' ':
		return "a space"
	case c == '\t':
		return "a tab"
	case c >= 0x80:
		return "a non-ASCII character"
	}
	return fmt.Sprintf("%q", string(c))
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// checkCommand validates the Lab Station command word: a plain token.
func checkCommand(command string) string {
	if command == "" {
		return "is empty"
	}
	if len(command) > 64 {
		return "is longer than 64 characters"
	}
	if command[0] == '-' {
		return "starts with '-'"
	}
	for i := 0; i < len(command); i++ {
		c := command[i]
		if !(isASCIILetter(c) || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "may hold only letters, digits, '-', '_' and '.'"
		}
	}
	return ""
}

// utf16Len is the length of s in UTF-16 code units, the unit of cmd.exe's
// line limit.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// CommandLine builds the line that WinRM's cmd shell runs (as cmd /c
// <line>) so that the program exe receives command and then each of args as
// separate arguments, byte for byte. Each argument is quoted by the C
// runtime's rules (QuoteArg), then every cmd.exe metacharacter of the whole
// line, quotes included, is escaped with a caret.
//
// It refuses, with an *ArgError and before anything is sent: NUL, CR and LF
// (cannot be carried), '%' and '!' (cmd.exe expands them before caret
// removal on a /c line, and no escape works in every configuration), other
// control characters, invalid UTF-8, characters Windows' ANSI best-fit
// conversion turns into a quote or backslash, an argument over MaxArgBytes,
// and a line over MaxLineLength. The command must be a plain word (the
// allowlist check is CheckCommand's), exe an absolute Windows path that
// needs no quoting (CheckProgramPath).
func CommandLine(exe, command string, args []string) (string, error) {
	if err := CheckProgramPath(exe); err != nil {
		return "", err
	}
	if why := checkCommand(command); why != "" {
		return "", &ArgError{Index: -1, Part: "command", Arg: redact(command), Reason: why}
	}
	var line strings.Builder
	// Unquoted and unescaped: CheckProgramPath let through no character
	// cmd.exe or the C runtime acts on.
	line.WriteString(exe)
	line.WriteByte(' ')
	line.WriteString(command)
	for i, a := range args {
		if len(a) > MaxArgBytes {
			return "", &ArgError{Index: i, Part: "arg", Arg: redact(a),
				Reason: fmt.Sprintf("is %d bytes, over the limit of %d", len(a), MaxArgBytes)}
		}
		if why := checkChars(a); why != "" {
			return "", &ArgError{Index: i, Part: "arg", Arg: redact(a), Reason: why}
		}
		line.WriteByte(' ')
		line.WriteString(quoteMSVC(a))
	}
	out := escapeCmd(line.String())
	if n := utf16Len(out); n > MaxLineLength {
		return "", &ArgError{Index: -1, Part: "line",
			Reason: fmt.Sprintf("the escaped command line is %d characters, over cmd.exe's limit of %d", n, MaxLineLength)}
	}
	return out, nil
}

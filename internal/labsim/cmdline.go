package labsim

import (
	"fmt"
	"strings"
	"unicode/utf16"
)

// windowsEnv is the environment %VAR% expands from: the variables a WinRM
// session of the Lab Station account sees.
func windowsEnv(computer, user string) map[string]string {
	return map[string]string{
		"PATH":         `C:\Windows\system32;C:\Windows;C:\Windows\System32\Wbem;C:\Windows\System32\WindowsPowerShell\v1.0\`,
		"USERNAME":     user,
		"COMPUTERNAME": computer,
		"USERDOMAIN":   computer,
		"USERPROFILE":  `C:\Users\` + user,
		"APPDATA":      `C:\Users\` + user + `\AppData\Roaming`,
		"TEMP":         `C:\Users\` + user + `\AppData\Local\Temp`,
		"TMP":          `C:\Users\` + user + `\AppData\Local\Temp`,
		"SYSTEMROOT":   `C:\Windows`,
		"WINDIR":       `C:\Windows`,
		"PROGRAMFILES": `C:\Program Files`,
		"PROGRAMDATA":  `C:\ProgramData`,
		"COMSPEC":      `C:\Windows\system32\cmd.exe`,
	}
}

// ParseCommandLine emulates what a WinRM command line goes through on
// Windows before a program sees its argv: first cmd.exe /c (WinRS runs
// commands through cmd.exe), then the program's MSVC C runtime splitting
// the line into argv. It is written from the documented rules, not from any
// client's quoting code, so that client quoting can be checked against it.
//
// cmd.exe phase, in order:
//   - %NAME% is replaced when NAME is a set variable (case-insensitive; the
//     set is the Lab Station account's: PATH, USERNAME, COMPUTERNAME,
//     USERPROFILE, TEMP, ...; here COMPUTERNAME is LAB-WS-01 and USERNAME
//     DefaultUser, while a Host uses its own), inside quotes too; an
//     unknown %NAME% and a lone % stay as they are (command-line, not
//     batch-file, rules: scanning goes on at the second %);
//   - the /c quote rule: when the line starts with a quote and it is not
//     exactly one quoted executable path with spaces in it and no other
//     quote, cmd.exe removes the first and the last quote of the line;
//   - a line longer than 8191 UTF-16 characters is refused ("The command
//     line is too long.");
//   - outside quotes, ^ escapes the next character and is removed; a "
//     toggles the quote state (and is kept); an unquoted & | < > is an
//     error "cmd.exe would interpret ...", as is a line break.
//
// MSVC phase (UCRT, Visual Studio 2008 and later): argv[0] runs to the
// first space or tab outside quotes; its quotes are dropped and backslashes
// are literal. Then, per argument: 2n backslashes before a quote
// give n backslashes and the quote toggles quoting; 2n+1 backslashes give n
// backslashes and a literal quote; backslashes not before a quote are
// literal; inside quotes, "" gives a literal quote and quoting goes on;
// spaces and tabs outside quotes separate arguments.
func ParseCommandLine(line string) ([]string, error) {
	return parseCommandLineEnv(line, windowsEnv("LAB-WS-01", DefaultUser))
}

func (h *Host) parseLineLocked(line string) ([]string, error) {
	return parseCommandLineEnv(line, windowsEnv(h.computerName(), h.user))
}

// maxCmdLine is cmd.exe's limit on a command line, in UTF-16 units.
const maxCmdLine = 8191

func parseCommandLineEnv(line string, env map[string]string) ([]string, error) {
	if n := len(utf16.Encode([]rune(line))); n > maxCmdLine {
		return nil, fmt.Errorf("cmd.exe would refuse the line: %d characters, the limit is %d (\"The command line is too long.\")", n, maxCmdLine)
	}
	line = expandPercent(line, env)
	line = cmdSlashCQuotes(line)
	out, err := cmdPhase(line)
	if err != nil {
		return nil, err
	}
	return msvcArgv(out), nil
}

// expandPercent replaces %NAME% for set variables. cmd.exe scans left to
// right: a % that does not start a known %NAME% is kept and scanning goes
// on from the next character.
func expandPercent(s string, env map[string]string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '%' {
			if j := strings.IndexByte(s[i+1:], '%'); j > 0 {
				name := strings.ToUpper(s[i+1 : i+1+j])
				if v, ok := env[name]; ok {
					b.WriteString(v)
					i += j + 2
					continue
				}
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// cmdSlashCQuotes applies cmd.exe's "/c" rule for a line that starts with
// a quote (see "cmd /?"): the quotes are kept only when there are exactly
// two, no special character between them, whitespace between them, and the
// quoted text names an executable; otherwise the first and last quote go.
func cmdSlashCQuotes(s string) string {
	t := strings.TrimLeft(s, " \t")
	if !strings.HasPrefix(t, `"`) {
		return s
	}
	if strings.Count(t, `"`) == 2 {
		end := strings.IndexByte(t[1:], '"') + 1
		inner := t[1:end]
		lower := strings.ToLower(inner)
		if !strings.ContainsAny(inner, "&<>()@^|") && strings.ContainsAny(inner, " \t") &&
			(strings.HasSuffix(lower, ".exe") || strings.HasSuffix(lower, ".com") ||
				strings.HasSuffix(lower, ".bat") || strings.HasSuffix(lower, ".cmd")) {
			return s
		}
	}
	first := len(s) - len(t)
	last := strings.LastIndexByte(s, '"')
	if last == first {
		return s[:first] + s[first+1:]
	}
	return s[:first] + s[first+1:last] + s[last+1:]
}

// cmdPhase removes carets outside quotes and refuses what cmd.exe would
// act on.
func cmdPhase(s string) (string, error) {
	var b strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\r' || c == '\n':
			return "", fmt.Errorf("cmd.exe would end the command at the line break at offset %d", i)
		case c == 0:
			return "", fmt.Errorf("cmd.exe would end the command at the NUL at offset %d", i)
		case c == '"':
			quoted = !quoted
			b.WriteByte(c)
		case quoted:
			b.WriteByte(c)
		case c == '^':
			if i+1 < len(s) {
				if s[i+1] == '\r' || s[i+1] == '\n' {
					return "", fmt.Errorf("cmd.exe would continue the command over the line break at offset %d", i+1)
				}
				i++
				b.WriteByte(s[i])
			}
			// A trailing caret is dropped.
		case c == '&' || c == '|' || c == '<' || c == '>':
			return "", fmt.Errorf("cmd.exe would interpret the unquoted %q at offset %d", c, i)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func msvcArgv(s string) []string {
	var args []string
	i := 0
	// argv[0]: no backslash processing.
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i >= len(s) {
		return nil
	}
	// Quotes toggle and are dropped; the name ends at white space outside
	// quotes (UCRT parse_command_line).
	var p strings.Builder
	inq := false
	for i < len(s) && (inq || (s[i] != ' ' && s[i] != '\t')) {
		if s[i] == '"' {
			inq = !inq
		} else {
			p.WriteByte(s[i])
		}
		i++
	}
	args = append(args, p.String())

	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			return args
		}
		var a strings.Builder
		quoted := false
		for i < len(s) {
			c := s[i]
			if !quoted && (c == ' ' || c == '\t') {
				break
			}
			if c == '\\' {
				n := 0
				for i < len(s) && s[i] == '\\' {
					n++
					i++
				}
				if i < len(s) && s[i] == '"' {
					a.WriteString(strings.Repeat(`\`, n/2))
					if n%2 == 1 {
						a.WriteByte('"')
						i++
					}
					// even: the quote is handled by the next iteration
				} else {
					a.WriteString(strings.Repeat(`\`, n))
				}
				continue
			}
			if c == '"' {
				if quoted && i+1 < len(s) && s[i+1] == '"' {
					a.WriteByte('"')
					i += 2
					continue
				}
				quoted = !quoted
				i++
				continue
			}
			a.WriteByte(c)
			i++
		}
		args = append(args, a.String())
	}
}

package labstation_test

import "strings"

// HostileArg is one argument that must either reach LabStation.exe byte for
// byte, as one argument, or be refused before anything is sent.
type HostileArg struct {
	Name string
	Arg  string
	// Refused says CommandLine must refuse the argument.
	Refused bool
	// Want is the argument as it appears in the escaped cmd.exe line
	// (after "<exe> <command> "); empty when Refused.
	Want string
}

// HostileArgs is the shared table of hostile arguments. The WinRM
// integration test copies it: keep it free of test helpers.
var HostileArgs = []HostileArg{
	{Name: "plain option", Arg: "--guard-grace=90", Want: `--guard-grace=90`},
	{Name: "reason with space", Arg: "--reason=Reservation completed", Want: `^"--reason=Reservation completed^"`},
	{Name: "empty", Arg: "", Want: `^"^"`},
	{Name: "single space", Arg: " ", Want: `^" ^"`},
	{Name: "tab only", Arg: "\t", Want: "^\"\t^\""},
	{Name: "tab inside", Arg: "tab\tinside", Want: "^\"tab\tinside^\""},
	{Name: "quote inside", Arg: `a"b`, Want: `^"a\^"b^"`},
	{Name: "lone quote", Arg: `"`, Want: `^"\^"^"`},
	{Name: "two quotes", Arg: `""`, Want: `^"\^"\^"^"`},
	{Name: "backslash no quote", Arg: `a\b`, Want: `a\b`},
	{Name: "backslash before quote", Arg: `a\"b`, Want: `^"a\\\^"b^"`},
	{Name: "backslash quote only", Arg: `\"`, Want: `^"\\\^"^"`},
	{Name: "two backslashes quote", Arg: `\\"`, Want: `^"\\\\\^"^"`},
	{Name: "trailing backslash unquoted", Arg: `trailing\`, Want: `trailing\`},
	{Name: "trailing backslash with space", Arg: `with space\`, Want: `^"with space\\^"`},
	{Name: "folder with space", Arg: `C:\Program Files\`, Want: `^"C:\Program Files\\^"`},
	{Name: "unc path", Arg: `\\server\share`, Want: `\\server\share`},
	{Name: "lab user", Arg: `--user=LAB-WS-01\student`, Want: `--user=LAB-WS-01\student`},
	{Name: "quote space quote", Arg: `a b"c d`, Want: `^"a b\^"c d^"`},
	{Name: "ampersand spaced", Arg: "a & b", Want: `^"a ^& b^"`},
	{Name: "ampersand", Arg: "a&b", Want: `a^&b`},
	{Name: "ampersand command", Arg: "& calc.exe", Want: `^"^& calc.exe^"`},
	{Name: "quote then ampersand", Arg: `"&whoami`, Want: `^"\^"^&whoami^"`},
	{Name: "pipe", Arg: "a|b", Want: `a^|b`},
	{Name: "redirect in", Arg: "<in", Want: `^<in`},
	{Name: "redirect out", Arg: ">out", Want: `^>out`},
	{Name: "redirect stderr", Arg: "2>&1", Want: `2^>^&1`},
	{Name: "caret", Arg: "^", Want: `^^`},
	{Name: "caret ampersand", Arg: "x^&y", Want: `x^^^&y`},
	{Name: "parentheses", Arg: "(x)", Want: `^(x^)`},
	{Name: "message with parentheses", Arg: "--message=Please save your work (5 min)", Want: `^"--message=Please save your work ^(5 min^)^"`},
	{Name: "everything", Arg: `--reason=Reservation "A&B" completed 100^`, Want: `^"--reason=Reservation \^"A^&B\^" completed 100^^^"`},
	{Name: "cmd delimiters", Arg: ";,=", Want: `;,=`},
	{Name: "at sign", Arg: "@echo", Want: `@echo`},
	{Name: "dash", Arg: "-", Want: `-`},
	{Name: "empty value", Arg: "--flag=", Want: `--flag=`},
	{Name: "unicode", Arg: "Grüße 日本語", Want: `^"Grüße 日本語^"`},
	{Name: "emoji", Arg: "🙂", Want: `🙂`},
	{Name: "no-break space", Arg: "a\u00a0b", Want: "a\u00a0b"},
	{Name: "line separator", Arg: "a\u2028b", Want: "a\u2028b"},
	{Name: "longest argument", Arg: strings.Repeat("a", 8000), Want: strings.Repeat("a", 8000)},

	{Name: "percent variable", Arg: "%PATH%", Refused: true},
	{Name: "double percent", Arg: "100%%", Refused: true},
	{Name: "bang variable", Arg: "!x!", Refused: true},
	{Name: "line feed", Arg: "line\nbreak", Refused: true},
	{Name: "carriage return", Arg: "cr\r", Refused: true},
	{Name: "nul", Arg: "nul\x00", Refused: true},
	{Name: "bell", Arg: "ring\x07", Refused: true},
	{Name: "ctrl-z", Arg: "eof\x1a", Refused: true},
	{Name: "vertical tab", Arg: "v\vtab", Refused: true},
	{Name: "invalid utf-8", Arg: "bad\xff", Refused: true},
	{Name: "lone surrogate bytes", Arg: "\xed\xa0\x80", Refused: true},
	{Name: "fullwidth quote", Arg: "a\uff02 & calc", Refused: true},
	{Name: "fullwidth backslash", Arg: "a\uff3c", Refused: true},
	{Name: "yen sign", Arg: "\u00a5\"", Refused: true},
	{Name: "too long", Arg: strings.Repeat("a", 8001), Refused: true},
}

package labstation_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/labstation"
)

const testExe = `C:\LabStation\LabStation.exe`

func TestCommandLine_Hostile(t *testing.T) {
	for _, tc := range HostileArgs {
		t.Run(tc.Name, func(t *testing.T) {
			got, err := labstation.CommandLine(testExe, "status", []string{"first", tc.Arg})
			if tc.Refused {
				var ae *labstation.ArgError
				if !errors.As(err, &ae) {
					t.Fatalf("CommandLine(%q) = %q, %v; want *ArgError", tc.Arg, got, err)
				}
				if ae.Index != 1 || ae.Part != "arg" || ae.Reason == "" {
					t.Errorf("ArgError = %+v; want Index 1, Part arg, a reason", ae)
				}
				if !errors.Is(err, labstation.ErrArgument) {
					t.Errorf("errors.Is(%v, ErrArgument) = false", err)
				}
				if len(ae.Arg) > 80 {
					t.Errorf("ArgError.Arg is %d bytes; want a short prefix", len(ae.Arg))
				}
				if strings.ContainsAny(err.Error(), "\r\n\x00") {
					t.Errorf("error message %q carries a control character", err.Error())
				}
				return
			}
			if err != nil {
				t.Fatalf("CommandLine(%q) error: %v", tc.Arg, err)
			}
			want := testExe + " status first " + tc.Want
			if got != want {
				t.Errorf("CommandLine(%q)\n got %q\nwant %q", tc.Arg, got, want)
			}
		})
	}
}

func TestCommandLine_Exe(t *testing.T) {
	tests := []struct {
		name, exe, want string
	}{
		{"default", testExe, `C:\LabStation\LabStation.exe status`},
		// A path that would need quoting is refused (TestCommandLine_ExeNeedsQuoting):
		// the 8.3 short name is how such a program is configured.
		{"short name", `C:\PROGRA~1\LABSTA~1\LabStation.exe`, `C:\PROGRA~1\LABSTA~1\LabStation.exe status`},
		{"unc", `\\fs01\tools\LabStation.exe`, `\\fs01\tools\LabStation.exe status`},
		{"admin share", `\\fs01\c$\Lab_Station-2\LabStation.exe`, `\\fs01\c$\Lab_Station-2\LabStation.exe status`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := labstation.CommandLine(tc.exe, "status", nil)
			if err != nil {
				t.Fatalf("CommandLine error: %v", err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// A program path is emitted unquoted: one that would need quoting or
// escaping for cmd.exe cannot be carried and is refused, never quoted.
// (A caret-escaped quote does not group cmd's program name: ^"C:\Program
// Files\x.exe^" runs C:\Program.)
func TestCommandLine_ExeNeedsQuoting(t *testing.T) {
	for _, exe := range []string{
		`C:\Program Files\Lab Station\LabStation.exe`,
		`C:\Program Files (x86)\LabStation.exe`,
		`D:\R&D\LabStation.exe`,
		`C:\a;b\LabStation.exe`,
		`C:\a,b\LabStation.exe`,
		`C:\a=b\LabStation.exe`,
		`C:\a^b\LabStation.exe`,
		`C:\a(b\LabStation.exe`,
		`C:\a)b\LabStation.exe`,
		`C:\a+b\LabStation.exe`,
		`C:\a[b]\LabStation.exe`,
		`C:\a'b\LabStation.exe`,
		`C:\a@b\LabStation.exe`,
		`C:\a#b\LabStation.exe`,
		"C:\\a\tb\\LabStation.exe",
		"C:\\Lab\u00a0Station\\LabStation.exe", // U+00A0: 0xFF in code page 437, a cmd.exe blank
		`C:\Läb\LabStation.exe`,
	} {
		t.Run(exe, func(t *testing.T) {
			got, err := labstation.CommandLine(exe, "status", nil)
			var ae *labstation.ArgError
			if !errors.As(err, &ae) || ae.Part != "exe" || !errors.Is(err, labstation.ErrArgument) {
				t.Fatalf("CommandLine(%q) = %q, %v; want an exe ArgError", exe, got, err)
			}
			if !strings.Contains(err.Error(), "8.3 short name") {
				t.Errorf("error %q does not say what to do", err)
			}
			if err := labstation.CheckProgramPath(exe); !errors.Is(err, labstation.ErrArgument) {
				t.Errorf("CheckProgramPath(%q) = %v", exe, err)
			}
		})
	}
	if err := labstation.CheckProgramPath(testExe); err != nil {
		t.Errorf("CheckProgramPath(default) = %v", err)
	}
}

func TestCommandLine_Refused(t *testing.T) {
	tests := []struct {
		name, exe, command string
		args               []string
		part               string
	}{
		{"empty exe", "", "status", nil, "exe"},
		{"relative exe", `LabStation.exe`, "status", nil, "exe"},
		{"unix path", `/usr/bin/labstation`, "status", nil, "exe"},
		{"drive without slash", `C:LabStation.exe`, "status", nil, "exe"},
		{"quote in exe", `C:\a"b\LabStation.exe`, "status", nil, "exe"},
		{"percent in exe", `C:\%TEMP%\LabStation.exe`, "status", nil, "exe"},
		{"pipe in exe", `C:\a|b.exe`, "status", nil, "exe"},
		{"stream in exe", `C:\a.exe:evil`, "status", nil, "exe"},
		{"folder exe", `C:\LabStation\`, "status", nil, "exe"},
		{"newline exe", "C:\\a\n.exe", "status", nil, "exe"},
		{"empty command", testExe, "", nil, "command"},
		{"command with space", testExe, "session guard", nil, "command"},
		{"command with ampersand", testExe, "status&calc", nil, "command"},
		{"command looks like flag", testExe, "--help", nil, "command"},
		{"command too long", testExe, strings.Repeat("a", 65), nil, "command"},
		{"line too long", testExe, "status", []string{strings.Repeat("&", 4000), strings.Repeat("b", 200)}, "line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := labstation.CommandLine(tc.exe, tc.command, tc.args)
			var ae *labstation.ArgError
			if !errors.As(err, &ae) {
				t.Fatalf("CommandLine = %q, %v; want *ArgError", got, err)
			}
			if ae.Part != tc.part {
				t.Errorf("Part = %q, want %q (%v)", ae.Part, tc.part, err)
			}
			if got != "" {
				t.Errorf("line = %q on error, want empty", got)
			}
		})
	}
}

func TestCommandLine_LineLimit(t *testing.T) {
	prefix := testExe + " status " + strings.Repeat("x", 4000) + " "
	first := strings.Repeat("x", 4000)
	fits := strings.Repeat("a", labstation.MaxLineLength-len(prefix))
	got, err := labstation.CommandLine(testExe, "status", []string{first, fits})
	if err != nil {
		t.Fatalf("line of exactly %d: %v", labstation.MaxLineLength, err)
	}
	if len(got) != labstation.MaxLineLength {
		t.Errorf("len = %d, want %d", len(got), labstation.MaxLineLength)
	}
	// Carets count toward the limit, and so do UTF-16 surrogate pairs.
	if _, err := labstation.CommandLine(testExe, "status", []string{first, fits[1:] + "&"}); err == nil {
		t.Errorf("line of %d with a caret accepted", labstation.MaxLineLength+1)
	}
	if _, err := labstation.CommandLine(testExe, "status", []string{first, fits[1:] + "🙂"}); err == nil {
		t.Errorf("line of %d UTF-16 units accepted", labstation.MaxLineLength+1)
	}
}

func TestQuoteArg(t *testing.T) {
	tests := []struct {
		arg, want string
	}{
		{"plain", "plain"},
		{"", `""`},
		{"a b", `"a b"`},
		{`a"b`, `"a\"b"`},
		{`a\\"b`, `"a\\\\\"b"`},
		{`a b\`, `"a b\\"`},
		{`a\b c`, `"a\b c"`},
		{`a&b`, `a&b`},
		{"%PATH%", "%PATH%"},
	}
	for _, tc := range tests {
		got, err := labstation.QuoteArg(tc.arg)
		if err != nil {
			t.Errorf("QuoteArg(%q) error: %v", tc.arg, err)
			continue
		}
		if got != tc.want {
			t.Errorf("QuoteArg(%q) = %q, want %q", tc.arg, got, tc.want)
		}
	}
	for _, bad := range []string{"a\x00b", "\xc3"} {
		got, err := labstation.QuoteArg(bad)
		if !errors.Is(err, labstation.ErrArgument) {
			t.Errorf("QuoteArg(%q) = %q, %v; want ErrArgument", bad, got, err)
			continue
		}
		if strings.Contains(err.Error(), "-1") {
			t.Errorf("QuoteArg(%q) message %q shows an index", bad, err)
		}
	}
}

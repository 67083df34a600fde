package labsim_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ops-worker/ops-worker/internal/labsim"
)

func TestParseCommandLine_MSVCRules(t *testing.T) {
	// The argv[1..] columns of "Parsing C++ command-line arguments"
	// (Microsoft Learn), with a program name in front.
	tests := []struct {
		line string
		want []string
	}{
		{`p.exe "abc" d e`, []string{"p.exe", "abc", "d", "e"}},
		{`p.exe a\\b d"e f"g h`, []string{"p.exe", `a\\b`, "de fg", "h"}},
		{`p.exe a\\\"b c d`, []string{"p.exe", `a\"b`, "c", "d"}},
		{`p.exe a\\\\"b c" d e`, []string{"p.exe", `a\\b c`, "d", "e"}},
		{`p.exe a"b"" c d`, []string{"p.exe", `ab" c d`}},
		{`p.exe "" x`, []string{"p.exe", "", "x"}},
		{"p.exe \t a \t b ", []string{"p.exe", "a", "b"}},
		{`p.exe C:\dir\ "C:\dir with space\\"`, []string{"p.exe", `C:\dir\`, `C:\dir with space\`}},
		{`p.exe "--reason=Reservation completed"`, []string{"p.exe", "--reason=Reservation completed"}},
		{`p.exe --reason="Reservation completed"`, []string{"p.exe", "--reason=Reservation completed"}},
		{`p.exe "a\"b"`, []string{"p.exe", `a"b`}},
		{`p.exe \"`, []string{"p.exe", `"`}},
		{`p.exe "unterminated arg`, []string{"p.exe", "unterminated arg"}},
		// argv[0]: quotes dropped, backslashes literal.
		{`"C:\Program Files\x.exe" a`, []string{`C:\Program Files\x.exe`, "a"}},
		{`p.exe %NOPE%PATH%`, []string{"p.exe", `%NOPEC:\Windows\system32;C:\Windows;C:\Windows\System32\Wbem;C:\Windows\System32\WindowsPowerShell\v1.0\`}},
		{`C:\a\"b.exe c`, []string{`C:\a\b.exe c`}},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			got, err := labsim.ParseCommandLine(tc.line)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if strings.Join(got, "\x00") != strings.Join(tc.want, "\x00") || len(got) != len(tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseCommandLine_CmdExe(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    []string
		wantErr string
	}{
		{"unquoted ampersand", `p.exe a&b`, nil, "cmd.exe would interpret"},
		{"unquoted pipe", `p.exe a | b`, nil, "cmd.exe would interpret"},
		{"unquoted redirect", `p.exe a>b`, nil, "cmd.exe would interpret"},
		{"unquoted input", `p.exe <b`, nil, "cmd.exe would interpret"},
		{"quoted specials", `p.exe "a&b|c<d>e"`, []string{"p.exe", "a&b|c<d>e"}, ""},
		{"caret escapes", `p.exe a^&b`, []string{"p.exe", "a&b"}, ""},
		{"caret removed", `p.exe a^b`, []string{"p.exe", "ab"}, ""},
		{"caret kept in quotes", `p.exe "a^b"`, []string{"p.exe", "a^b"}, ""},
		{"escaped quote does not toggle", `p.exe ^"a&b`, nil, "cmd.exe would interpret"},
		{"quote after backslash still toggles cmd", `p.exe "a\" & b"`, nil, "cmd.exe would interpret"},
		{"percent known", `p.exe %USERNAME%`, []string{"p.exe", labsim.DefaultUser}, ""},
		{"percent known in quotes", `p.exe "%computername%"`, []string{"p.exe", "LAB-WS-01"}, ""},
		{"percent unknown stays", `p.exe %NOPE% 100%`, []string{"p.exe", "%NOPE%", "100%"}, ""},
		{"percent caret trick", `p.exe %^USERNAME%`, []string{"p.exe", "%USERNAME%"}, ""},
		{"line break", "p.exe a\nb", nil, "line break"},
		{"longest line", "p.exe " + strings.Repeat("a", 8191-6), []string{"p.exe", strings.Repeat("a", 8191-6)}, ""},
		{"too long", "p.exe " + strings.Repeat("a", 8191-5), nil, "too long"},
		{"slash-c keeps one quoted exe", `"C:\Program Files\LabStation.exe" status`, []string{`C:\Program Files\LabStation.exe`, "status"}, ""},
		{"slash-c strips outer quotes", `"C:\Program Files\LabStation.exe" "--reason=a b"`, []string{`C:\Program`, `Files\LabStation.exe --reason=a`, "b"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := labsim.ParseCommandLine(tc.line)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %q, %v; want error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if strings.Join(got, "\x00") != strings.Join(tc.want, "\x00") || len(got) != len(tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzParseCommandLine(f *testing.F) {
	for _, s := range []string{`p.exe "a b" c\\"d`, `"x" ^& %PATH% "`, `a\\\\"b c" d`, "\"\t\"", `%%%`, `^`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args, err := labsim.ParseCommandLine(line)
		if err != nil {
			return
		}
		for _, a := range args {
			if utf8.ValidString(line) && !utf8.ValidString(a) {
				t.Errorf("invalid UTF-8 arg %q from %q", a, line)
			}
		}
	})
}

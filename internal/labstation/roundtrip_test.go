package labstation_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labstation"
)

// The simulator's cmd.exe + MSVC parser is written independently from the
// documented rules; every accepted line must parse back to the exact argv.

func TestCommandLine_RoundTripHostile(t *testing.T) {
	exes := []string{testExe, `C:\PROGRA~1\LABSTA~1\LabStation.exe`, `D:\Lab_Station-2.0\LabStation.exe`, `\\fs01\tools\LabStation.exe`, `\\fs01\c$\tools\LabStation.exe`}
	for _, exe := range exes {
		for _, tc := range HostileArgs {
			if tc.Refused {
				continue
			}
			t.Run(exe+"/"+tc.Name, func(t *testing.T) {
				args := []string{tc.Arg, "--reason=Reservation completed"}
				if len(tc.Arg) < 1000 {
					args = append(args, tc.Arg) // and once more after another argument
				}
				line, err := labstation.CommandLine(exe, "power", args)
				if err != nil {
					t.Fatalf("CommandLine: %v", err)
				}
				got, err := labsim.ParseCommandLine(line)
				if err != nil {
					t.Fatalf("labsim.ParseCommandLine(%q): %v", line, err)
				}
				want := append([]string{exe, "power"}, args...)
				if !slices.Equal(got, want) {
					t.Errorf("line %q\n got %q\nwant %q", line, got, want)
				}
			})
		}
	}
}

// Every program path CommandLine accepts reaches the program as argv[0]
// through the simulator's cmd.exe and C runtime parser.
func FuzzCommandLine_ExeRoundTrip(f *testing.F) {
	for _, s := range []string{testExe, `C:\PROGRA~1\LABSTA~1\LabStation.exe`, `\\fs\c$\x.exe`, `C:\Program Files\x.exe`, `C:\a&b\x.exe`, `C:\a;b\x.exe`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, exe string) {
		line, err := labstation.CommandLine(exe, "status", []string{"a b"})
		if err != nil {
			if !errors.Is(err, labstation.ErrArgument) {
				t.Fatalf("refusal %v is not an ErrArgument", err)
			}
			return
		}
		// cmd.exe ends an unquoted command name at these; none may pass.
		if strings.ContainsAny(exe, " \t;,=()&|<>^\"%!+[]") {
			t.Fatalf("accepted %q, which cmd.exe would split or act on", exe)
		}
		got, err := labsim.ParseCommandLine(line)
		if err != nil {
			t.Fatalf("labsim.ParseCommandLine(%q): %v", line, err)
		}
		if want := []string{exe, "status", "a b"}; !slices.Equal(got, want) {
			t.Fatalf("line %q\n got %q\nwant %q", line, got, want)
		}
	})
}

func FuzzCommandLine_RoundTrip(f *testing.F) {
	for _, tc := range HostileArgs {
		if len(tc.Arg) < 200 {
			f.Add(tc.Arg, "--reason=Reservation completed")
		}
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		args := []string{a, b}
		line, err := labstation.CommandLine(testExe, "status", args)
		if err != nil {
			if !errors.Is(err, labstation.ErrArgument) {
				t.Fatalf("refusal %v is not an ErrArgument", err)
			}
			return
		}
		got, err := labsim.ParseCommandLine(line)
		if err != nil {
			t.Fatalf("labsim.ParseCommandLine(%q): %v", line, err)
		}
		want := append([]string{testExe, "status"}, args...)
		if !slices.Equal(got, want) {
			t.Fatalf("line %q\n got %q\nwant %q", line, got, want)
		}
	})
}

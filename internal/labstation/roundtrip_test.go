package labstation_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labstation"
)

// The simulator's cmd.exe + MSVC parser is written independently from the
// documented rules; every accepted line must parse back to the exact argv.

func TestCommandLine_RoundTripHostile(t *testing.T) {
	exes := []string{testExe, `C:\Program Files\Lab Station\LabStation.exe`, `C:\Program Files (x86)\R&D\LabStation.exe`, `\\fs01\tools\LabStation.exe`}
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

package labstation_test

import (
	"errors"
	"fmt"

	"github.com/ops-worker/ops-worker/internal/labstation"
)

func ExampleCommandLine() {
	line, err := labstation.CommandLine(`C:\LabStation\LabStation.exe`, "power",
		[]string{"shutdown", "--reason=Reservation completed", `--message=Save "A&B" (now)`})
	fmt.Println(line, err)

	_, err = labstation.CommandLine(`C:\LabStation\LabStation.exe`, "status", []string{"%USERNAME%"})
	var ae *labstation.ArgError
	fmt.Println(errors.As(err, &ae), ae.Index, err)
	// Output:
	// C:\LabStation\LabStation.exe power shutdown ^"--reason=Reservation completed^" ^"--message=Save \^"A^&B\^" ^(now^)^" <nil>
	// true 0 argument 0 "%USERNAME%": contains '%', which cmd.exe expands before any escape applies
}

func ExampleClassifyExit() {
	for _, code := range []int{0, 1, 2} {
		o := labstation.ClassifyExit(code)
		fmt.Println(code, o.Status(), o.Success())
	}
	// Output:
	// 0 completed true
	// 1 completed_with_warnings true
	// 2 failed false
}

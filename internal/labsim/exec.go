package labsim

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

type execResult struct {
	args           []string
	stdout, stderr []byte
	exit           int
	after          []func() // state changes run once the command has finished
	// rest is set when the command runs on after its first output (runLocked).
	rest *execRest
}

// executeLocked runs one command line as cmd.exe /c would, with faults.
func (h *Host) executeLocked(line string) execResult {
	args, err := h.parseLineLocked(line)
	if err != nil {
		return execResult{stderr: []byte("labsim: refused: " + err.Error() + "\r\n"), exit: 1}
	}
	res := execResult{args: args}
	if len(args) == 0 || args[0] == "" {
		res.exit = 1
		res.stderr = []byte("The syntax of the command is incorrect.\r\n")
		return res
	}
	prog := strings.ToLower(args[0])
	base := prog[strings.LastIndexAny(prog, `\/`)+1:]
	if h.faults.FailureRate > 0 && rand.Float64() < h.faults.FailureRate {
		res.exit = 2
		res.stderr = []byte(psErrorText(args[0], "Exception calling \"Invoke\": The operation failed (simulated failure).", "NotSpecified: (:) [], MethodInvocationException", "SimulatedFailure", line))
		return res
	}
	switch {
	case base == "labstation.exe":
		h.labStationLocked(args, &res)
	case base == "powershell.exe" || base == "powershell":
		h.powerShellLocked(args, &res)
	default:
		res.exit = 1
		res.stderr = []byte(fmt.Sprintf("'%s' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", args[0]))
	}
	if h.faults.GarbageOutput {
		junk := make([]byte, 64+rand.IntN(192))
		for i := range junk {
			junk[i] = byte(rand.IntN(256))
		}
		junk[0] = 0xfe // never a JSON document start
		res.stdout = junk
	}
	return res
}

package labsim

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

type execResult struct {
	args           []string
	stdout, stderr []byte
	exit           int
	after          []func() // state changes run once the command has finished
	// utf8: the program writes UTF-8 whatever the shell's code page
	// (PowerShell after [Console]::OutputEncoding = UTF8).
	utf8 bool
	// rest is set when the command runs on after its first output (runLocked).
	rest *execRest
}

// encodeOutput turns a program's output (UTF-8 here) into the bytes the
// shell's code page gives on Windows: unchanged for 65001, else the OEM
// code page, with '?' for what it cannot encode (as WideCharToMultiByte's
// default character). Bytes that are not UTF-8 (GarbageOutput) pass as
// they are.
func (h *Host) encodeOutput(sh *shell, isUTF8 bool, b []byte) []byte {
	cp := sh.codepage
	if h.oemCodePage == 65001 {
		cp = 65001 // conversion turned off
	}
	if isUTF8 || cp == 65001 || len(b) == 0 || !utf8.Valid(b) {
		return b
	}
	cm := charmap.CodePage437
	if cp == 850 {
		cm = charmap.CodePage850
	}
	out := make([]byte, 0, len(b))
	for _, r := range string(b) {
		c, ok := cm.EncodeRune(r)
		if !ok {
			c = '?'
		}
		out = append(out, c)
	}
	return out
}

// exitNotRecognized is cmd.exe's exit code for a program it cannot find.
const exitNotRecognized = 9009

// isPowerShell reports whether prog (normalized) names Windows PowerShell:
// found on the PATH by its bare name, or at its install path.
func isPowerShell(prog, base string) bool {
	if prog == "powershell" || prog == "powershell.exe" {
		return true
	}
	dir := strings.TrimSuffix(prog, base)
	return (base == "powershell.exe" || base == "powershell") &&
		dir == `c:\windows\system32\windowspowershell\v1.0\`
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
	prog := normPath(args[0])
	base := prog[strings.LastIndexAny(prog, `\`)+1:]
	if h.faults.FailureRate > 0 && rand.Float64() < h.faults.FailureRate {
		res.exit = 2
		res.stderr = []byte(psErrorText(args[0], "Exception calling \"Invoke\": The operation failed (simulated failure).", "NotSpecified: (:) [], MethodInvocationException", "SimulatedFailure", line))
		return res
	}
	switch {
	case prog == normPath(h.labStationExe):
		h.labStationLocked(args, &res)
	case isPowerShell(prog, base):
		h.powerShellLocked(args, &res)
	default:
		// cmd.exe /c for a program it cannot find (not at that path, not
		// on the PATH).
		res.exit = exitNotRecognized
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

package winrm_test

import (
	"os/exec"
	"strings"
	"testing"
)

// winrm is an adapter around masterzen/winrm: it must not import any
// package of this module (issue 7), so that what a Lab Station is (the
// command contract, the heartbeat, the host catalog) stays in lab,
// labstation and hosts. Test files may (they drive labsim). Its own leaf
// winrm/winrmspec (the transport names and ports the catalog validates
// with) is part of it.
func TestImportsNothingOfThisModule(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		// go test puts its own go tool first on PATH: missing, it is a broken set-up, not a reason to skip.
		t.Fatalf("go tool not found: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}} {{.Module}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	mod, err := exec.Command(goTool, "list", "-m").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	self := strings.TrimSpace(string(mod))
	for line := range strings.Lines(string(out)) {
		path, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if path == "" || path == self+"/internal/winrm" || path == self+"/internal/winrm/winrmspec" {
			continue
		}
		if path == self || strings.HasPrefix(path, self+"/") {
			t.Errorf("internal/winrm depends on %s of this module", path)
		}
	}
}

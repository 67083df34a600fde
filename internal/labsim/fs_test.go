package labsim_test

import (
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/labsim"
)

// The local-mode flag as the worker writes and removes it, with Windows'
// failures: a folder that does not exist, access denied, a missing file.
func TestPowerShell_FlagFile(t *testing.T) {
	sim := mustStart(t)
	h := sim.Hosts()[0]
	c := newClient(t, sim, h, httpsNTLM, h.Password(), "PT5S")
	flag := "'" + labsim.LocalModeFlagPath + "'"
	set := "$ErrorActionPreference = 'Stop'\nSet-Content -LiteralPath " + flag + " -Value '1' -Encoding ASCII"
	clear := "$ErrorActionPreference = 'Stop'\nif (Test-Path -LiteralPath " + flag + ") { Remove-Item -LiteralPath " + flag + " -Force }"
	status := func() any {
		st, _ := readHeartbeat(t, sim, h)["status"].(map[string]any)
		return st["localModeEnabled"]
	}
	ps := func(script string) (string, string, int) {
		t.Helper()
		out, errOut, code, err := runPS(t, c, script)
		if err != nil {
			t.Fatal(err)
		}
		return out, errOut, code
	}

	if got := status(); got != false {
		t.Fatalf("before: localModeEnabled %v, want false", got)
	}
	if _, errOut, code := ps(set); code != 0 || errOut != "" {
		t.Fatalf("set: exit %d, stderr %q", code, errOut)
	}
	if got := status(); got != true || !h.LocalMode() {
		t.Errorf("after set: localModeEnabled %v (LocalMode %v), want true", got, h.LocalMode())
	}
	if out, _, _ := ps("Get-Content -LiteralPath " + flag + " -Raw"); out != "1\r\n\r\n" && out != "1\r\n" {
		t.Errorf("flag content %q", out)
	}
	if out, _, _ := ps("Test-Path -LiteralPath " + flag); out != "True\r\n" {
		t.Errorf("Test-Path after set: %q", out)
	}
	for range 2 { // removing an absent flag is no error
		if _, errOut, code := ps(clear); code != 0 || errOut != "" {
			t.Fatalf("clear: exit %d, stderr %q", code, errOut)
		}
	}
	if got := status(); got != false || h.LocalMode() {
		t.Errorf("after clear: localModeEnabled %v, want false", got)
	}

	tests := []struct {
		name, script, wantErr string
		wantCode              int
	}{
		{"no such folder", "$ErrorActionPreference = 'Stop'\nSet-Content -LiteralPath 'C:\\Nope\\x.flag' -Value '1'",
			"Could not find a part of the path 'C:\\Nope\\x.flag'.", 1},
		{"remove missing", "Remove-Item -LiteralPath 'C:\\LabStation\\nope.flag'", "Cannot find path 'C:\\LabStation\\nope.flag' because it does not exist.", 1},
		{"heartbeat in use", "Remove-Item -LiteralPath '" + labsim.HeartbeatPath + "' -Force", "being used by another process", 1},
		{"if else", "if (Test-Path -LiteralPath 'C:\\nope') { Write-Output 'yes' } else { Write-Output 'no' }", "", 0},
		{"unknown parameter", "Set-Content -LiteralPath 'C:\\LabStation\\x' -Valu '1'", "A parameter cannot be found that matches parameter name 'Valu'.", 1},
		{"condition outside the subset", "if (Get-Date) { 'x' }", "not in the simulated PowerShell subset", 1},
		{"unclosed condition", "if (Test-Path 'C:\\x' { 'x' }", "Missing closing ')'", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := ps(tc.script)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.wantCode, errOut)
			}
			if tc.wantErr == "" && (errOut != "" || out != "no\r\n") {
				t.Errorf("stdout %q stderr %q", out, errOut)
			}
			if tc.wantErr != "" && !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("stderr %q lacks %q", errOut, tc.wantErr)
			}
		})
	}

	t.Run("access denied", func(t *testing.T) {
		h.SetFaults(labsim.Faults{DeniedPaths: []string{`c:/labstation/labstation/data`}})
		defer h.SetFaults(labsim.Faults{})
		if _, errOut, code := ps(set); code != 1 || !strings.Contains(errOut, "Access to the path") || !strings.Contains(errOut, "is denied") {
			t.Errorf("set: exit %d, stderr %q", code, errOut)
		}
		h.SetFile(labsim.LocalModeFlagPath, []byte("1"))
		if _, errOut, code := ps(clear); code != 1 || !strings.Contains(errOut, "Cannot remove item") {
			t.Errorf("clear: exit %d, stderr %q", code, errOut)
		}
		if !h.LocalMode() {
			t.Error("the denied flag was removed")
		}
	})
}

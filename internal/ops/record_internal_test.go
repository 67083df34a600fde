package ops

import (
	"strings"
	"testing"
)

func TestStoredDetails_CapsOutput(t *testing.T) {
	big := strings.Repeat("é", MaxStoredOutput) // 2 bytes a rune: the cut falls inside one
	d := map[string]any{"stdout": big, "stderr": "short", "exitCode": 0}
	got := storedDetails(d)
	out := got["stdout"].(string)
	if len(out) > MaxStoredOutput || got["stdoutTruncated"] != true || !strings.HasPrefix(big, out) || out[len(out)-2:] != "é" {
		t.Errorf("stdout cut to %d bytes, truncated=%v", len(out), got["stdoutTruncated"])
	}
	if got["stderr"] != "short" || got["stderrTruncated"] != nil || got["exitCode"] != 0 {
		t.Errorf("details = %v", got)
	}
	if d["stdout"] != big {
		t.Error("the response's details were cut too")
	}
}

func TestQuoteName(t *testing.T) {
	if got := quoteName("a\r\nb"); got != "a??b" {
		t.Errorf("quoteName = %q", got)
	}
	if got := quoteName(strings.Repeat("é", 100)); len(got) > maxNameInMessage+len("…") || !strings.HasSuffix(got, "…") {
		t.Errorf("long name = %q", got)
	}
}

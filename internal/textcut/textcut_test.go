package textcut_test

import (
	"testing"
	"unicode/utf8"

	"github.com/ops-worker/ops-worker/internal/textcut"
)

func TestCut(t *testing.T) {
	for _, c := range []struct {
		s    string
		max  int
		mark string
		want string
	}{
		{"short", 10, "...", "short"},
		{"exactly10!", 10, "...", "exactly10!"},
		{"abcdefghijk", 4, "...", "abcd..."},
		{"abcdefghijk", 4, "", "abcd"},
		{"ab\u00e9cd", 3, "…", "ab…"}, // é is 2 bytes: not split
		{"\u65e5\u672c", 4, "", "\u65e5"},
		{"\u65e5", 0, "...", "..."},
	} {
		got := textcut.Cut(c.s, c.max, c.mark)
		if got != c.want || !utf8.ValidString(got) {
			t.Errorf("Cut(%q, %d, %q) = %q, want %q", c.s, c.max, c.mark, got, c.want)
		}
	}
}

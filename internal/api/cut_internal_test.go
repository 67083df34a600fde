package api

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A caller's key or text quoted in a message or a log line is cut on a
// character, never inside one: a byte cut left invalid UTF-8 (JSON then
// shows U+FFFD, a terminal garbage).
func TestCutsStayValidUTF8(t *testing.T) {
	key := strings.Repeat("k", 63) + "\u00e9tat" // é straddles byte 64
	text := strings.Repeat("t", 255) + "\u65e5本" // 日 straddles byte 256
	if got := truncate(key, 64); !utf8.ValidString(got) || got != strings.Repeat("k", 63)+"..." {
		t.Errorf("truncate = %q", got)
	}
	if got := escapeLog(text); !utf8.ValidString(got) || got != strings.Repeat("t", 255)+"..." {
		t.Errorf("escapeLog = %q", got)
	}
	if got := truncate("short", 64); got != "short" {
		t.Errorf("truncate(short) = %q", got)
	}
}

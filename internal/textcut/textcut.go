// Package textcut is the one way the worker bounds a text it shows or
// stores (a caller's name in a message, a station's output in a record or
// an error): at most max bytes, cut on a rune boundary so the result stays
// valid UTF-8, with a mark that says it was cut.
package textcut

import "unicode/utf8"

// Cut returns s when it has at most max bytes, else its longest prefix of
// at most max bytes that ends on a rune boundary, followed by mark ("…",
// "..." or "" for none).
func Cut(s string, max int, mark string) string {
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + mark
}

// Package textutil shortens text for messages and bounded columns without
// cutting a UTF-8 sequence in two.
package textutil

import "unicode/utf8"

// Prefix returns at most n bytes of s, cut on a rune boundary.
func Prefix(s string, n int) string {
	if n < 0 {
		n = 0
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Clip returns s, or when it is longer than n bytes its first n bytes (cut
// on a rune boundary) followed by "…": for quoting input in a message.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return Prefix(s, n) + "…"
}

// Package textutil writes text for people: it shortens text for messages
// and bounded columns without cutting a UTF-8 sequence in two, and writes
// durations as the CLI and the web UI show them.
package textutil

import (
	"fmt"
	"time"
	"unicode/utf8"
)

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

// Duration writes a duration for people with its two largest units: 3d 4h,
// 5h 12m, 40m, 30s. A negative duration is written as its size.
func Duration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	days := int(d / (24 * time.Hour))
	hours := int(d % (24 * time.Hour) / time.Hour)
	mins := int(d % time.Hour / time.Minute)
	switch {
	case days > 0 && hours > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case days > 0:
		return fmt.Sprintf("%dd", days)
	case hours > 0 && mins > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	case hours > 0:
		return fmt.Sprintf("%dh", hours)
	}
	return fmt.Sprintf("%dm", mins)
}

package textutil

import (
	"testing"
	"time"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly", 7, "exactly"},
		{"longer text", 6, "longer…"},
		{"héllo", 2, "h…"}, // é is two bytes: never cut in two
		{"日本語", 4, "日…"},
		{"abc", 0, "…"},
	} {
		if got := Clip(tc.in, tc.n); got != tc.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
	if got := Prefix("日本語", 5); got != "日" {
		t.Errorf("Prefix = %q", got)
	}
	if got := Prefix("abc", -1); got != "" {
		t.Errorf("Prefix(-1) = %q", got)
	}
}

func FuzzPrefix(f *testing.F) {
	f.Add("héllo wörld", 3)
	f.Fuzz(func(t *testing.T, s string, n int) {
		p := Prefix(s, n)
		if len(p) > max(n, 0) && len(p) != len(s) {
			t.Fatalf("Prefix(%q, %d) = %q: too long", s, n, p)
		}
		if utf8.ValidString(s) && !utf8.ValidString(p) {
			t.Fatalf("Prefix(%q, %d) = %q: cut a rune", s, n, p)
		}
		if s[:len(p)] != p {
			t.Fatalf("not a prefix")
		}
	})
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Second:                "30s",
		40 * time.Minute:                "40m",
		5*time.Hour + 12*time.Minute:    "5h 12m",
		2 * time.Hour:                   "2h",
		3*24*time.Hour + 4*time.Hour:    "3d 4h",
		7 * 24 * time.Hour:              "7d",
		-(90 * time.Minute):             "1h 30m",
		3*24*time.Hour + 59*time.Minute: "3d",
	} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%s) = %q, want %q", d, got, want)
		}
	}
}

package osv

import "strings"

// compareVersions orders two version strings of any ecosystem well enough to
// find the range an installed version falls in: runs of digits compare
// numerically, other runs byte-wise, a leading "v" is ignored, and a suffix
// that starts with "-" or "~" followed by a letter (a pre-release such as
// "-rc1" or Debian's "~beta") sorts before the bare version. It returns -1,
// 0 or +1.
func compareVersions(a, b string) int {
	a = strings.TrimPrefix(strings.TrimPrefix(a, "v"), "V")
	b = strings.TrimPrefix(strings.TrimPrefix(b, "v"), "V")
	for a != "" && b != "" {
		ta, ra := nextToken(a)
		tb, rb := nextToken(b)
		if c := compareTokens(ta, tb); c != 0 {
			return c
		}
		a, b = ra, rb
	}
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -tailSign(b)
	}
	return tailSign(a)
}

// tailSign says how a version compares with its own prefix when it has the
// extra suffix tail: below for a pre-release suffix, above otherwise.
func tailSign(tail string) int {
	if len(tail) >= 2 && (tail[0] == '-' || tail[0] == '~') && isLetter(tail[1]) {
		return -1
	}
	if tail[0] == '~' {
		return -1
	}
	return 1
}

func nextToken(s string) (tok, rest string) {
	digits := isDigit(s[0])
	i := 1
	for i < len(s) && isDigit(s[i]) == digits {
		i++
	}
	return s[:i], s[i:]
}

func compareTokens(a, b string) int {
	da, db := isDigit(a[0]), isDigit(b[0])
	switch {
	case da && db:
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			if len(a) < len(b) {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	case da:
		return 1 // a number sorts after a separator or word: 1.10 > 1.a
	case db:
		return -1
	}
	// "~" sorts before everything (Debian); otherwise byte order.
	if a[0] == '~' && b[0] != '~' {
		return -1
	}
	if b[0] == '~' && a[0] != '~' {
		return 1
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// fixRange is one introduced/fixed pair of an OSV range.
type fixRange struct {
	introduced, fixed string
}

// pickFix returns the fixed version of the range that contains installed,
// else the lowest fixed version above installed, else "" (no listed fix
// applies). installed == "" (a commit) takes the first fixed event.
func pickFix(ranges []fixRange, installed string) string {
	if len(ranges) == 0 {
		return ""
	}
	if installed == "" {
		return ranges[0].fixed
	}
	for _, r := range ranges {
		if (r.introduced == "" || r.introduced == "0" || compareVersions(installed, r.introduced) >= 0) &&
			compareVersions(installed, r.fixed) < 0 {
			return r.fixed
		}
	}
	best := ""
	for _, r := range ranges {
		if compareVersions(r.fixed, installed) > 0 && (best == "" || compareVersions(r.fixed, best) < 0) {
			best = r.fixed
		}
	}
	return best
}

// Package cvss parses CVSS v3.0 and v3.1 vector strings and computes their
// base score with the CVSS v3.1 formula (specification section 7 and
// Appendix A, including its integer-based Roundup). Vectors labelled 3.0 are
// scored with the same formula: the 3.1 change to Roundup only removes
// floating-point artefacts, and this is how OSV-Scanner and the patchctl
// corpus expectations band them.
//
// Temporal and environmental metrics are validated but do not change the
// base score.
package cvss

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/patchctl/patchctl/internal/textutil"
)

// Vector is a parsed CVSS v3 vector: the version and the eight base metrics,
// each stored as its one-letter value.
type Vector struct {
	Version                    string // "3.0" or "3.1"
	AV, AC, PR, UI, S, C, I, A byte
}

// ErrNotV3 is wrapped by ParseV3 for vectors that are not CVSS v3 at all
// (no "CVSS:3.x/" prefix), as opposed to malformed v3 vectors.
var ErrNotV3 = errors.New("not a CVSS v3 vector")

// allowed lists the valid values of every v3 metric. Base metrics first.
var allowed = map[string]string{
	"AV": "NALP", "AC": "LH", "PR": "NLH", "UI": "NR", "S": "UC", "C": "HLN", "I": "HLN", "A": "HLN",
	"E": "XUPFH", "RL": "XOTWU", "RC": "XURC",
	"CR": "XLMH", "IR": "XLMH", "AR": "XLMH",
	"MAV": "XNALP", "MAC": "XLH", "MPR": "XNLH", "MUI": "XNR", "MS": "XUC", "MC": "XNLH", "MI": "XNLH", "MA": "XNLH",
}

var baseOrder = [...]string{"AV", "AC", "PR", "UI", "S", "C", "I", "A"}

// ParseV3 parses a vector such as "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".
// Every base metric must appear exactly once; temporal and environmental
// metrics may appear at most once each; anything else is an error.
func ParseV3(s string) (Vector, error) {
	var v Vector
	rest, ok := strings.CutPrefix(s, "CVSS:")
	if !ok {
		return v, fmt.Errorf("%w: %q has no CVSS:3.x prefix", ErrNotV3, textutil.Clip(s, 80))
	}
	version, rest, _ := strings.Cut(rest, "/")
	switch version {
	case "3.0", "3.1":
		v.Version = version
	default:
		return v, fmt.Errorf("%w: version %q", ErrNotV3, textutil.Clip(version, 80))
	}
	seen := map[string]bool{}
	for part := range strings.SplitSeq(rest, "/") {
		key, val, ok := strings.Cut(part, ":")
		if !ok || len(val) != 1 {
			return Vector{}, fmt.Errorf("cvss: malformed metric %q in %q", textutil.Clip(part, 80), textutil.Clip(s, 80))
		}
		values, known := allowed[key]
		if !known {
			return Vector{}, fmt.Errorf("cvss: unknown metric %q in %q", textutil.Clip(key, 80), textutil.Clip(s, 80))
		}
		if seen[key] {
			return Vector{}, fmt.Errorf("cvss: metric %s repeated in %q", key, textutil.Clip(s, 80))
		}
		seen[key] = true
		if !strings.Contains(values, val) {
			return Vector{}, fmt.Errorf("cvss: invalid value %s:%s in %q", key, val, textutil.Clip(s, 80))
		}
		c := val[0]
		switch key {
		case "AV":
			v.AV = c
		case "AC":
			v.AC = c
		case "PR":
			v.PR = c
		case "UI":
			v.UI = c
		case "S":
			v.S = c
		case "C":
			v.C = c
		case "I":
			v.I = c
		case "A":
			v.A = c
		}
	}
	for _, k := range baseOrder {
		if !seen[k] {
			return Vector{}, fmt.Errorf("cvss: base metric %s missing in %q", k, textutil.Clip(s, 80))
		}
	}
	return v, nil
}

// String returns the vector's base metrics in canonical order.
func (v Vector) String() string {
	return fmt.Sprintf("CVSS:%s/AV:%c/AC:%c/PR:%c/UI:%c/S:%c/C:%c/I:%c/A:%c",
		v.Version, v.AV, v.AC, v.PR, v.UI, v.S, v.C, v.I, v.A)
}

// BaseScore computes the CVSS v3.1 base score, 0.0 to 10.0 in steps of 0.1.
func (v Vector) BaseScore() float64 {
	changed := v.S == 'C'
	iss := 1 - (1-cia(v.C))*(1-cia(v.I))*(1-cia(v.A))
	var impact float64
	if changed {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	} else {
		impact = 6.42 * iss
	}
	if impact <= 0 {
		return 0
	}
	exploitability := 8.22 * av(v.AV) * ac(v.AC) * pr(v.PR, changed) * ui(v.UI)
	if changed {
		return Roundup(math.Min(1.08*(impact+exploitability), 10))
	}
	return Roundup(math.Min(impact+exploitability, 10))
}

// BaseScore parses a v3 vector and returns its base score.
func BaseScore(vector string) (float64, error) {
	v, err := ParseV3(vector)
	if err != nil {
		return 0, err
	}
	return v.BaseScore(), nil
}

// Roundup is CVSS v3.1's Roundup: the smallest number with one decimal
// place that is at least x, computed on integers to avoid floating-point
// artefacts (Appendix A).
func Roundup(x float64) float64 {
	i := int64(math.Round(x * 100000))
	if i%10000 == 0 {
		return float64(i) / 100000
	}
	return float64(i/10000+1) / 10
}

func av(c byte) float64 {
	switch c {
	case 'N':
		return 0.85
	case 'A':
		return 0.62
	case 'L':
		return 0.55
	}
	return 0.2 // P
}

func ac(c byte) float64 {
	if c == 'L' {
		return 0.77
	}
	return 0.44 // H
}

func pr(c byte, changed bool) float64 {
	switch c {
	case 'N':
		return 0.85
	case 'L':
		if changed {
			return 0.68
		}
		return 0.62
	}
	if changed { // H
		return 0.5
	}
	return 0.27
}

func ui(c byte) float64 {
	if c == 'N' {
		return 0.85
	}
	return 0.62 // R
}

func cia(c byte) float64 {
	switch c {
	case 'H':
		return 0.56
	case 'L':
		return 0.22
	}
	return 0 // N
}

package cvss

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

func TestBaseScore(t *testing.T) {
	tests := []struct {
		vector string
		want   float64
	}{
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", 5.3},
		{"CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:L/A:N", 4.8},
		{"CVSS:3.1/AV:L/AC:L/PR:H/UI:N/S:C/C:L/I:L/A:L", 5.7},
		{"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:N/A:N", 7.7},
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:H/A:N", 8.0},
		{"CVSS:3.1/AV:A/AC:H/PR:H/UI:N/S:U/C:H/I:N/A:N", 4.2},
		{"CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5},
		{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8},
		// Temporal and environmental metrics do not change the base score.
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C/CR:H/MAV:L/MC:N", 9.8},
		// Metric order is free.
		{"CVSS:3.1/A:H/I:H/C:H/S:U/UI:N/PR:N/AC:L/AV:N", 9.8},
	}
	for _, tt := range tests {
		t.Run(tt.vector, func(t *testing.T) {
			got, err := BaseScore(tt.vector)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("BaseScore = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseV3Errors(t *testing.T) {
	tests := []struct {
		vector string
		notV3  bool
	}{
		{"", true},
		{"AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", true},
		{"CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P", true},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", true},
		{"CVSS:3.1", false},
		{"CVSS:3.1/", false},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", false},          // A missing
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/A:L", false},  // repeated
		{"CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", false},      // invalid value
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:Q", false}, // unknown metric
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:HH", false},     // long value
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/", false},     // trailing slash
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:Q", false},  // invalid temporal value
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/MAV:X/MAV:N", false},
	}
	for _, tt := range tests {
		t.Run(tt.vector, func(t *testing.T) {
			_, err := ParseV3(tt.vector)
			if err == nil {
				t.Fatal("ParseV3 succeeded, want an error")
			}
			if got := errors.Is(err, ErrNotV3); got != tt.notV3 {
				t.Errorf("errors.Is(err, ErrNotV3) = %v, want %v (err: %v)", got, tt.notV3, err)
			}
		})
	}
}

func TestRoundup(t *testing.T) {
	tests := []struct{ in, want float64 }{
		{4.0, 4.0},
		{4.02, 4.1},
		{4.000001, 4.0}, // below the 1e-5 resolution of the integer method
		{4.00001, 4.1},
		{0, 0},
		{9.99, 10},
	}
	for _, tt := range tests {
		if got := Roundup(tt.in); got != tt.want {
			t.Errorf("Roundup(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestCorpusScores checks the computed score against every CVSS v3 vector
// and score that Trivy and Grype wrote in the corpus.
func TestCorpusScores(t *testing.T) {
	type pair struct {
		file, vector string
		score        float64
	}
	var pairs []pair
	var walk func(file string, v any)
	walk = func(file string, v any) {
		switch v := v.(type) {
		case map[string]any:
			// Trivy: {"V3Vector": ..., "V3Score": ...}
			if vec, ok := v["V3Vector"].(string); ok {
				if sc, ok := v["V3Score"].(float64); ok {
					pairs = append(pairs, pair{file, vec, sc})
				}
			}
			// Grype: {"vector": "CVSS:3.x/...", "metrics": {"baseScore": ...}}
			if vec, ok := v["vector"].(string); ok && strings.HasPrefix(vec, "CVSS:3") {
				if m, ok := v["metrics"].(map[string]any); ok {
					if sc, ok := m["baseScore"].(float64); ok {
						pairs = append(pairs, pair{file, vec, sc})
					}
				}
				if sc, ok := v["baseScore"].(float64); ok {
					pairs = append(pairs, pair{file, vec, sc})
				}
			}
			for _, e := range v {
				walk(file, e)
			}
		case []any:
			for _, e := range v {
				walk(file, e)
			}
		}
	}
	files := append(corpus.Glob(t, "trivy/*"), corpus.Glob(t, "grype/*")...)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		walk(filepath.Base(f), v)
	}
	if len(pairs) < 50 {
		t.Fatalf("only %d vector/score pairs found in the corpus", len(pairs))
	}
	for _, p := range pairs {
		got, err := BaseScore(p.vector)
		if err != nil {
			t.Errorf("%s: %s: %v", p.file, p.vector, err)
			continue
		}
		if math.Abs(got-p.score) > 1e-9 {
			t.Errorf("%s: %s: computed %v, report says %v", p.file, p.vector, got, p.score)
		}
	}
	t.Logf("%d vector/score pairs checked", len(pairs))
}

func FuzzCVSS(f *testing.F) {
	for _, s := range []string{
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
		"CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:C/C:L/I:N/A:N/E:U/RL:O",
		"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:N/A:N",
		"AV:N/AC:L/Au:N/C:P/I:P/A:P",
		"CVSS:3.1/",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseV3(s)
		if err != nil {
			return
		}
		score := v.BaseScore()
		if score < 0 || score > 10 || math.IsNaN(score) {
			t.Fatalf("score %v out of range for %q", score, s)
		}
		if tenths := score * 10; math.Abs(tenths-math.Round(tenths)) > 1e-9 {
			t.Fatalf("score %v has more than one decimal for %q", score, s)
		}
		again, err := ParseV3(v.String())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", v.String(), s, err)
		}
		if again != v {
			t.Fatalf("round trip changed %+v to %+v", v, again)
		}
	})
}

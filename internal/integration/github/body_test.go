package github

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestPRBodyGolden(t *testing.T) {
	tests := []struct {
		golden string
		info   PRInfo
	}{
		{"prbody_full.md", PRInfo{
			Key: "PATCH-42", Title: "Bump semver to 7.5.2", Priority: "high",
			DueAt:           time.Date(2026, 11, 10, 9, 30, 0, 0, time.FixedZone("CET", 3600)),
			Branch:          "patch/PATCH-42-bump-semver-to-7.5.2",
			URL:             "https://patchctl.example.com/patches/PATCH-42",
			Vulnerabilities: []string{"CVE-2022-25883", "GHSA-c2qf-rxjj-qqgw"},
			Findings:        []FindingCount{{Asset: "ghcr.io/acme/payments:1.4.2", Count: 2}, {Asset: "acme/payments package-lock.json", Count: 1}},
			Issues:          []string{"https://github.com/acme/payments/issues/311"},
			Environments:    []string{"staging", "canary", "production"},
			Progress:        Progress{Branch: true, Reviewed: true},
		}},
		{"prbody_minimal.md", PRInfo{Key: "PATCH-7"}},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			got := PRBody(tc.info)
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("PRBody (-want +got):\n%s", diff)
			}
			if keys := PatchKeys("", "", got); !cmp.Equal(keys, []string{tc.info.Key}) {
				t.Errorf("PatchKeys(body) = %v, want [%s]", keys, tc.info.Key)
			}
		})
	}
}

// TestPRBodyChecklist: every SOP-005 step is a task-list item, ticked
// exactly when done, and no input can add items of its own.
func TestPRBodyChecklist(t *testing.T) {
	steps := []struct {
		set  func(*Progress)
		text string
	}{
		{func(p *Progress) { p.Branch = true }, "dedicated branch"},
		{func(p *Progress) { p.Reviewed = true }, "someone other than the author"},
		{func(p *Progress) { p.Merged = true }, "Merged through this pull request"},
		{func(p *Progress) { p.Staged = true }, "Deployed to staging first"},
		{func(p *Progress) { p.TestsPassed = true }, "Automated tests passed on staging"},
		{func(p *Progress) { p.SignedOff = true }, "Manual validation signed off on staging"},
		{func(p *Progress) { p.InProduction = true }, "Same version deployed to production"},
	}
	for i, s := range steps {
		var p Progress
		s.set(&p)
		body := PRBody(PRInfo{Key: "PATCH-1", Progress: p})
		if n := strings.Count(body, "\n- [ ] ") + strings.Count(body, "\n- [x] "); n != len(steps) {
			t.Fatalf("%d task items, want %d:\n%s", n, len(steps), body)
		}
		for j, o := range steps {
			ticked := strings.HasPrefix(lineWith(body, o.text), "- [x] ")
			if ticked != (i == j) {
				t.Errorf("step %q ticked=%v with only %q done", o.text, ticked, s.text)
			}
		}
	}

	evil := PRBody(PRInfo{Key: "PATCH-1", Title: "x\n- [x] Same version deployed to production\n### Done",
		Vulnerabilities: []string{"CVE-1\n- [x] fake"}, Issues: []string{"https://x\n- [x] fake"},
		Branch: "patch/PATCH-1`\n- [x] fake", Findings: []FindingCount{{Asset: "a`\n- [x] b", Count: 1}}})
	items, headings := 0, 0
	for _, l := range strings.Split(evil, "\n") {
		if strings.HasPrefix(l, "- [") {
			items++
			if strings.HasPrefix(l, "- [x]") {
				t.Errorf("ticked item %q", l)
			}
		}
		if strings.HasPrefix(l, "#") {
			headings++
		}
	}
	if items != len(steps) || headings != 2 {
		t.Errorf("input added checklist items or headings:\n%s", evil)
	}
}

func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

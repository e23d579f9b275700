package policy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/policy"
)

func compile(t *testing.T, cfg *config.Config) *policy.Policy {
	t.Helper()
	p, ps := policy.New(cfg)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	return p
}

func TestDefaultClassification(t *testing.T) {
	p := compile(t, config.Default())
	cases := []struct {
		name string
		in   policy.Input
		want patchctl.Priority
		rule string
	}{
		{"kev", policy.Input{CVSS: 5, KEV: true}, patchctl.PriorityEmergency, "emergency-exploited-or-critical"},
		{"active exploit", policy.Input{Exploit: "active"}, patchctl.PriorityEmergency, "emergency-exploited-or-critical"},
		{"cvss 9.0", policy.Input{CVSS: 9.0}, patchctl.PriorityEmergency, "emergency-exploited-or-critical"},
		{"data breach risk", policy.Input{Labels: []string{"data-breach-risk"}}, patchctl.PriorityEmergency, "emergency-exploited-or-critical"},
		{"cvss 8.9", policy.Input{CVSS: 8.9}, patchctl.PriorityHigh, "high-severity-or-user-facing"},
		{"cvss 7.0", policy.Input{CVSS: 7.0}, patchctl.PriorityHigh, "high-severity-or-user-facing"},
		{"user facing bug", policy.Input{Labels: []string{"user-facing"}}, patchctl.PriorityHigh, "high-severity-or-user-facing"},
		{"high severity without score", policy.Input{Severity: "high"}, patchctl.PriorityHigh, "high-severity-or-user-facing"},
		{"cvss 6.9", policy.Input{CVSS: 6.9}, patchctl.PriorityRoutine, "default"},
		{"poc only", policy.Input{Exploit: "poc", CVSS: 4}, patchctl.PriorityRoutine, "default"},
		{"nothing", policy.Input{}, patchctl.PriorityRoutine, "default"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := p.Classify(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Priority != c.want || d.Rule != c.rule {
				t.Errorf("got %s by %s, want %s by %s", d.Priority, d.Rule, c.want, c.rule)
			}
		})
	}
}

func TestClassifyPatchTakesHighestTrigger(t *testing.T) {
	p := compile(t, config.Default())
	patch := &patchctl.Patch{Kind: patchctl.KindApplication}
	links := []patchctl.Link{
		{Type: patchctl.LinkVulnerability, Ref: "CVE-2024-0001", Attributes: patchctl.Attributes{CVSS: 4}},
		{Type: patchctl.LinkVulnerability, Ref: "CVE-2024-0002", Attributes: patchctl.Attributes{CVSS: 7.5}},
		{Type: patchctl.LinkIssue, Ref: "https://x/1"},
	}
	d, err := p.ClassifyPatch(patch, links)
	if err != nil {
		t.Fatal(err)
	}
	if d.Priority != patchctl.PriorityHigh || !strings.Contains(d.Reason, "CVE-2024-0002") {
		t.Errorf("got %+v", d)
	}
	patch.Labels = []string{"data-breach-risk"}
	if d, _ := p.ClassifyPatch(patch, links); d.Priority != patchctl.PriorityEmergency {
		t.Errorf("patch label data-breach-risk: %s", d.Priority)
	}
}

func TestRulesCompileErrors(t *testing.T) {
	cfg := config.Default()
	cfg.Classification.Rules = []config.Rule{
		{Name: "typo", Priority: "high", When: "cvs >= 7"},
		{Name: "not bool", Priority: "high", When: "cvss + 1.0"},
		{Name: "ok", Priority: "high", When: "kev"},
	}
	cfg.Windows[0].RRule = "FREQ=SOMETIMES"
	_, ps := policy.New(cfg)
	if len(ps) != 3 {
		t.Fatalf("problems = %v, want 3", ps)
	}
	for i, want := range []string{"classification.rules[0].when", "classification.rules[1].when", "windows[0].rrule"} {
		if ps[i].Field != want {
			t.Errorf("problem %d field %s, want %s (%s)", i, ps[i].Field, want, ps[i].Message)
		}
	}
}

func TestDue(t *testing.T) {
	cfg := config.Default()
	cfg.Windows = []config.Window{
		{Name: "db", RRule: "FREQ=WEEKLY;BYDAY=SA;BYHOUR=2;BYMINUTE=0", Timezone: "Europe/Paris", Duration: config.Duration(3 * time.Hour),
			Scope: config.WindowScope{Kinds: []string{"infrastructure"}, Systems: []string{"postgres"}}},
		{Name: "apps", RRule: "FREQ=WEEKLY;BYDAY=TU;BYHOUR=22", Timezone: "UTC", Duration: config.Duration(4 * time.Hour),
			Scope: config.WindowScope{Kinds: []string{"application"}}},
	}
	p := compile(t, cfg)
	detected := time.Date(2026, 10, 20, 12, 0, 0, 0, time.UTC) // a Tuesday
	app := patchctl.Target{Application: "payments"}
	cases := []struct {
		name   string
		prio   patchctl.Priority
		kind   patchctl.Kind
		target patchctl.Target
		want   time.Time
	}{
		{"emergency", patchctl.PriorityEmergency, patchctl.KindApplication, app, detected.Add(24 * time.Hour)},
		{"high", patchctl.PriorityHigh, patchctl.KindApplication, app, detected.Add(7 * 24 * time.Hour)},
		{"routine app: end of the Tuesday window", patchctl.PriorityRoutine, patchctl.KindApplication, app, time.Date(2026, 10, 21, 2, 0, 0, 0, time.UTC)},
		// 02:00 Paris on Saturday 24 October is CEST (UTC+2); the next one,
		// 31 October, is after the switch to CET (UTC+1).
		{"routine db: Saturday 02:00 Paris", patchctl.PriorityRoutine, patchctl.KindInfrastructure, patchctl.Target{System: "postgres"}, time.Date(2026, 10, 24, 3, 0, 0, 0, time.UTC)},
		{"routine, no window covers it", patchctl.PriorityRoutine, patchctl.KindInfrastructure, patchctl.Target{System: "dns"}, detected.Add(30 * 24 * time.Hour)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, why := p.Due(c.prio, c.kind, c.target, detected)
			if !got.Equal(c.want) {
				t.Errorf("due %v (%s), want %v", got, why, c.want)
			}
		})
	}
	// Across the DST change the window stays at 02:00 local time.
	after := time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC)
	occ, ok := p.NextWindow(patchctl.KindInfrastructure, patchctl.Target{System: "postgres"}, after)
	if !ok || !occ.Start.Equal(time.Date(2026, 10, 31, 1, 0, 0, 0, time.UTC)) {
		t.Errorf("window after DST change starts %v", occ.Start)
	}
	if in, ok := p.InWindow(patchctl.KindInfrastructure, patchctl.Target{System: "postgres"}, occ.Start.Add(time.Hour)); !ok || in.Window != "db" {
		t.Errorf("InWindow inside the window: %v %v", in, ok)
	}
	if _, ok := p.InWindow(patchctl.KindInfrastructure, patchctl.Target{System: "postgres"}, occ.End); ok {
		t.Errorf("InWindow at the window's end")
	}
	if n := len(p.Occurrences(detected, detected.Add(14*24*time.Hour))); n != 4 {
		t.Errorf("occurrences in two weeks = %d, want 4", n)
	}
}

func BenchmarkClassify(b *testing.B) {
	p, _ := policy.New(config.Default())
	in := policy.Input{CVSS: 7.5, Severity: "high", Labels: []string{"a", "b"}}
	for b.Loop() {
		if _, err := p.Classify(in); err != nil {
			b.Fatal(err)
		}
	}
}

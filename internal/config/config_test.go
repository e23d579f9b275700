package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/patchctl/patchctl/internal/config"
)

func TestDefaultsValid(t *testing.T) {
	c, err := config.Load("", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.SLA.Emergency.D() != 24*time.Hour || c.SLA.High.D() != 7*24*time.Hour || c.Soak.D() != 48*time.Hour {
		t.Errorf("defaults: %+v soak %v", c.SLA, c.Soak)
	}
	if c.Environments[0].Name != "staging" || !c.Environments[1].Production {
		t.Errorf("environments: %+v", c.Environments)
	}
}

func TestGoodFile(t *testing.T) {
	c, err := config.Load("testdata/good.yaml", false, func(k string) string {
		return map[string]string{"PATCHCTL_DATABASE": "postgres://db/patchctl", "PATCHCTL_SOAK": "3d"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.SLA.Emergency.D() != 12*time.Hour {
		t.Errorf("emergency SLA = %v", c.SLA.Emergency)
	}
	if c.Server.Database != "postgres://db/patchctl" {
		t.Errorf("environment did not override the database: %s", c.Server.Database)
	}
	if c.Soak.D() != 72*time.Hour {
		t.Errorf("PATCHCTL_SOAK did not override soak: %v", c.Soak)
	}
	if !strings.HasPrefix(c.EffectivePolicyVersion(), "2026-11+") {
		t.Errorf("policy version = %s", c.EffectivePolicyVersion())
	}
	if c.Roles["lena"] != "lead" || len(c.Environments) != 3 {
		t.Errorf("roles %v, environments %v", c.Roles, c.Environments)
	}
}

func TestEveryProblemAtOnce(t *testing.T) {
	_, err := config.Load("testdata/bad.yaml", false, nil)
	ps, ok := err.(config.Problems)
	if !ok {
		t.Fatalf("err = %v", err)
	}
	want := map[string]int{
		"colour":                           31,
		"sop.review_cycle":                 3,
		"classification.rules[0].priority": 7,
		"classification.rules[1].name":     9,
		"classification.rules[1].when":     11,
		"sla.emergency":                    14,
		"environments[0].production":       18,
		"environments[1].name":             19,
		"clusters":                         20,
		"clusters[0].node_pools[1]":        23,
		"windows[0].duration":              27,
		"windows[0].timezone":              28,
		"roles.alice":                      30,
	}
	got := map[string]int{}
	for _, p := range ps {
		got[p.Field] = p.Line
		if p.File != "testdata/bad.yaml" {
			t.Errorf("problem without its file: %v", p)
		}
	}
	for f, line := range want {
		if got[f] != line {
			t.Errorf("%s: line %d, want %d", f, got[f], line)
		}
	}
	if t.Failed() {
		t.Logf("problems:\n%v", ps)
	}
}

func TestSyntaxError(t *testing.T) {
	_, err := config.Parse("x.yaml", []byte("sla:\n  emergency: [1d\n"))
	ps, ok := err.(config.Problems)
	if !ok || len(ps) != 1 || ps[0].Line == 0 || ps[0].File != "x.yaml" {
		t.Fatalf("syntax error = %v", err)
	}
}

func TestDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{"24h": 24 * time.Hour, "2d": 48 * time.Hour, "1w": 168 * time.Hour, "1d12h": 36 * time.Hour, "90m": 90 * time.Minute} {
		got, err := config.ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("%s = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "x", "2x", "-1h", "d"} {
		if _, err := config.ParseDuration(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestReviewOverdue(t *testing.T) {
	c := config.Default()
	if w := c.Warnings(time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)); len(w) != 0 {
		t.Errorf("warnings before due: %v", w)
	}
	w := c.Warnings(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC))
	if len(w) != 1 || !strings.Contains(w[0], "2026-10-01") {
		t.Errorf("overdue review warning = %v", w)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(readFileF(f, "testdata/good.yaml"))
	f.Add(readFileF(f, "testdata/bad.yaml"))
	f.Add("sla: {emergency: 1d}\n")
	f.Fuzz(func(t *testing.T, data string) {
		c, err := config.Parse("fuzz.yaml", []byte(data))
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
	})
}

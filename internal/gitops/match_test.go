package gitops

import (
	"slices"
	"testing"

	"github.com/patchctl/patchctl/internal/config"
)

var testEnvs = []config.Environment{{Name: "staging"}, {Name: "staging-eu"}, {Name: "production", Production: true}}

func TestEnvironmentOf(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"Staging tests", "staging"},
		{"e2e (staging)", "staging"},
		{"deploy / STAGING / smoke", "staging"},
		{"tests-staging-eu", ""}, // names staging and staging-eu: ambiguous
		{"prestaging", ""},
		{"prod-smoke", ""},
		{"Production smoke tests", "production"},
		{"staging then production", ""},
		{"Build", ""},
		{"", ""},
	} {
		if got := EnvironmentOf(testEnvs, tc.name); got != tc.want {
			t.Errorf("EnvironmentOf(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := EnvironmentOf([]config.Environment{{Name: "staging-eu"}}, "EU staging run"); got != "" {
		t.Errorf("words out of order matched: %q", got)
	}
	if got := EnvironmentOf([]config.Environment{{Name: "staging-eu"}}, "run staging_eu"); got != "staging-eu" {
		t.Errorf("multi-word environment: %q", got)
	}
}

// FuzzEnvironmentOf checks the CI-run-to-environment rule on any name: it
// never panics, answers a configured environment or nothing, and only
// one whose words the name contains in order.
func FuzzEnvironmentOf(f *testing.F) {
	for _, s := range []string{"Staging tests", "e2e (staging)", "pages build and deployment", "Octocoders-linter",
		"deploy / production", "prod", "staging\x00production", "ＳＴＡＧＩＮＧ tests", "staging-eu-west"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := EnvironmentOf(testEnvs, name)
		if got == "" {
			return
		}
		i := slices.IndexFunc(testEnvs, func(e config.Environment) bool { return e.Name == got })
		if i < 0 {
			t.Fatalf("EnvironmentOf(%q) = %q, not a configured environment", name, got)
		}
		if !hasWords(wordsOf(name), wordsOf(got)) {
			t.Fatalf("EnvironmentOf(%q) = %q, whose words it does not contain", name, got)
		}
	})
}

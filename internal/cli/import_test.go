package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/patchctl/patchctl/internal/app/apptest"
	"github.com/patchctl/patchctl/internal/cli"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

func TestImportThroughCLI(t *testing.T) {
	s := apptest.StartServer(t, apptest.Options{})
	r := newRunner(t, s)
	report := corpus.Path(t, "trivy/alpine-39.json.golden")
	out := r.ok(eng, "import", "trivy", report, "-o", "json")
	var sum map[string]any
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, k := range []string{"format", "asset", "findings_in_report", "findings_new", "findings_updated", "findings_unchanged",
		"findings_closed", "findings_reopened", "by_severity", "patches_created", "patches_updated"} {
		if _, ok := sum[k]; !ok {
			t.Errorf("summary lacks %s: %s", k, out)
		}
	}
	if sum["findings_in_report"].(float64) != 6 || sum["findings_new"].(float64) != 6 || sum["format"] != "trivy" {
		t.Errorf("summary: %s", out)
	}
	// auto says what it detected; a second import changes nothing.
	out = r.ok(eng, "import", "auto", report)
	if !strings.Contains(out, "trivy report") || !strings.Contains(out, "0 new") || !strings.Contains(out, "6 unchanged") {
		t.Errorf("auto import:\n%s", out)
	}
	out = r.ok(viewer, "finding", "list", "--severity", "critical")
	if strings.Count(out, "critical") != 2 {
		t.Errorf("critical findings:\n%s", out)
	}
	r.code(cli.ExitForbidden, viewer, "import", "trivy", report)
	r.code(cli.ExitUsage, eng, "import", "nessus", report)
	r.code(cli.ExitUsage, eng, "import", "grype", report) // a Trivy report given as Grype
	r.code(cli.ExitForbidden, eng, "finding", "accept", "1", "--reason", "x", "--until", "2026-12-01")
	r.ok(lead, "finding", "accept", "1", "--reason", "compensating control", "--until", "2026-12-01")
	if out := r.ok(viewer, "finding", "show", "1"); !strings.Contains(out, "risk_accepted") || !strings.Contains(out, "lena") {
		t.Errorf("finding show:\n%s", out)
	}
	if out := r.ok(viewer, "import", "list"); !strings.Contains(out, "alpine-39.json.golden") {
		t.Errorf("import list:\n%s", out)
	}
}

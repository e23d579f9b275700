package argocd_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/integration/argocd"
	"github.com/patchctl/patchctl/internal/integration/argocd/argocdtest"
)

func history(entries ...argocd.HistoryEntry) *argocd.Application {
	return &argocd.Application{Name: "web", History: entries}
}

func entry(id int64, revision string, revisions ...string) argocd.HistoryEntry {
	return argocd.HistoryEntry{ID: id, Revision: revision, Revisions: revisions}
}

func TestHistoryIDForRevision(t *testing.T) {
	app := history(entry(0, shaOld), entry(1, shaNew), entry(2, shaOld), entry(3, "7.1.0"), entry(4, "", "7.2.0", shaBad))
	tests := []struct {
		revision string
		want     int64
		code     patchctl.Code
	}{
		{shaOld, 2, ""}, // deployed twice: the latest
		{shaNew, 1, ""},
		{shaNew[:7], 1, ""},                   // abbreviated commit
		{strings.ToUpper(shaNew[:12]), 1, ""}, // hex is case-insensitive
		{shaNew[:6], 0, patchctl.CodeNotFound},
		{"7.1.0", 3, ""},                  // Helm chart version
		{"7.1", 0, patchctl.CodeNotFound}, // no prefix match for versions
		{"7.2.0", 4, ""},                  // multi-source
		{shaBad[:8], 4, ""},
		{"", 0, patchctl.CodeInvalid},
	}
	for _, tt := range tests {
		got, err := argocd.HistoryIDForRevision(app, tt.revision)
		if tt.code != "" {
			if patchctl.ErrorCode(err) != tt.code {
				t.Errorf("HistoryIDForRevision(%q) = %d, %v; want %s", tt.revision, got, err, tt.code)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("HistoryIDForRevision(%q) = %d, %v; want %d", tt.revision, got, err, tt.want)
		}
	}
	if _, err := argocd.HistoryIDForRevision(nil, shaOld); patchctl.ErrorCode(err) != patchctl.CodeInvalid {
		t.Errorf("nil app: %v", err)
	}
}

func TestPreviousStable(t *testing.T) {
	tests := []struct {
		name    string
		app     *argocd.Application
		current string
		want    int64
		code    patchctl.Code
	}{
		{"previous revision", history(entry(0, shaOld), entry(1, shaNew)), shaNew, 0, ""},
		{"latest taken as current", history(entry(0, shaOld), entry(1, shaNew)), "", 0, ""},
		{"re-syncs of the current revision are skipped",
			history(entry(0, shaOld), entry(1, shaNew), entry(2, shaNew), entry(3, shaNew)), shaNew, 0, ""},
		{"abbreviated current", history(entry(0, shaOld), entry(1, shaNew)), shaNew[:8], 0, ""},
		// After Argo CD rolled back to old (entry 2), the one before it is
		// the revision that was rolled back from.
		{"after a rollback", history(entry(0, shaOld), entry(1, shaBad), entry(2, shaOld)), shaOld, 1, ""},
		{"asking about an older deployment", history(entry(0, shaOld), entry(1, shaNew), entry(2, shaBad)), shaNew, 0, ""},
		{"multi-source revisions differ", history(entry(0, "", "7.1.0", shaOld), entry(1, "", "7.1.0", shaNew)), shaNew, 0, ""},
		{"only one revision ever", history(entry(0, shaOld), entry(1, shaOld)), shaOld, 0, patchctl.CodeNotFound},
		{"current never deployed", history(entry(0, shaOld)), shaBad, 0, patchctl.CodeNotFound},
		{"no history", history(), "", 0, patchctl.CodeNotFound},
		{"nil app", nil, "", 0, patchctl.CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := argocd.PreviousStable(tt.app, tt.current)
			if tt.code != "" {
				if patchctl.ErrorCode(err) != tt.code {
					t.Fatalf("PreviousStable = %+v, %v; want %s", got, err, tt.code)
				}
				return
			}
			if err != nil || got.ID != tt.want {
				t.Fatalf("PreviousStable = %+v, %v; want id %d", got, err, tt.want)
			}
		})
	}

	// The corpus Application deployed one commit ten times: there is
	// nothing to roll back to.
	srvApp := loadApp(t, "argocd/application__diff-cache.yaml")
	b, _ := json.Marshal(srvApp)
	app, err := argocd.ParseApplication(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := argocd.PreviousStable(app, "ea87599"); patchctl.ErrorCode(err) != patchctl.CodeNotFound {
		t.Errorf("corpus app: %v, want CodeNotFound", err)
	}
	if id, err := argocd.HistoryIDForRevision(app, "ea87599"); err != nil || id != 23 {
		t.Errorf("corpus app: HistoryIDForRevision = %d, %v; want 23", id, err)
	}
}

func TestParseApplicationErrors(t *testing.T) {
	app := loadApp(t, "argocd/application__diff-cache.yaml")
	edit := func(f func(a argocdtest.App)) string {
		a := argocdtest.Clone(app)
		f(a)
		b, _ := json.Marshal(a)
		return string(b)
	}
	status := func(a argocdtest.App) map[string]any { return a["status"].(map[string]any) }
	tests := []struct {
		name, in, field, contains string
	}{
		{"malformed", "{\"metadata\": {\"name\": web}}", "", "line 1, column 23"},
		{"no name", edit(func(a argocdtest.App) { delete(a["metadata"].(map[string]any), "name") }), "metadata.name", "missing"},
		{"bad history time", edit(func(a argocdtest.App) {
			status(a)["history"].([]any)[1].(map[string]any)["deployedAt"] = "March"
		}), "status.history[1].deployedAt", "RFC 3339"},
		{"duplicate history id", edit(func(a argocdtest.App) {
			status(a)["history"].([]any)[1].(map[string]any)["id"] = int64(14)
		}), "status.history[1].id", "twice"},
		{"bad finishedAt", edit(func(a argocdtest.App) {
			status(a)["operationState"].(map[string]any)["finishedAt"] = 7
		}), "status.operationState.finishedAt", "JSON number where a JSON string"},
		{"bad startedAt", edit(func(a argocdtest.App) {
			status(a)["operationState"].(map[string]any)["startedAt"] = "now"
		}), "status.operationState.startedAt", "RFC 3339"},
		{"bad reconciledAt", edit(func(a argocdtest.App) { status(a)["reconciledAt"] = "x" }), "status.reconciledAt", "RFC 3339"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := argocd.ParseApplication([]byte(tt.in))
			pe, ok := err.(*patchctl.Error)
			if !ok || pe.Code != patchctl.CodeInvalid || pe.Field != tt.field || !strings.Contains(pe.Message, tt.contains) {
				t.Errorf("err = %v, want CodeInvalid on %q containing %q", err, tt.field, tt.contains)
			}
		})
	}
}

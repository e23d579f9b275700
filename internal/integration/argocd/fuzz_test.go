package argocd_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/integration/argocd"
	"github.com/patchctl/patchctl/internal/integration/argocd/argocdtest"
)

// corpusApps loads the corpus Application manifests when the corpus is
// present; fuzzing does not depend on it.
func corpusApps() []argocdtest.App {
	dir := os.Getenv("PATCHCTL_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "..", "shared", "corpus")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "argocd", "application__*.yaml"))
	var apps []argocdtest.App
	for _, f := range files {
		if a, err := argocdtest.LoadApplication(f); err == nil {
			apps = append(apps, a)
		}
	}
	return apps
}

func checkErr(t *testing.T, err error) {
	t.Helper()
	var pe *patchctl.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *patchctl.Error", err, err)
	}
	if pe.Code != patchctl.CodeInvalid && pe.Code != patchctl.CodeTooLarge {
		t.Fatalf("code %s: %v", pe.Code, err)
	}
}

func FuzzParseNotification(f *testing.F) {
	for _, a := range corpusApps() {
		for _, tr := range argocd.Triggers {
			f.Add(argocdtest.RenderNotification(f, a, string(tr)))
		}
	}
	f.Add([]byte(`{"schema":"patchctl.argocd.v1","trigger":"on-deployed","app":"web","history_id":0,"finished_at":"2024-03-05T07:33:04.5+01:00","sync_revisions":["a","b"]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := argocd.ParseNotification(body)
		if err != nil {
			checkErr(t, err)
			return
		}
		if n.App == "" || n.HistoryID < 0 || (!n.HasHistory && n.HistoryID != 0) {
			t.Fatalf("invalid notification accepted: %+v", n)
		}
		if n.Revision != n.OperationRevision && (n.OperationRevision != "" || n.Revision != n.SyncRevision) {
			t.Fatalf("revision %q from operation %q / sync %q", n.Revision, n.OperationRevision, n.SyncRevision)
		}
	})
}

func FuzzParseApplication(f *testing.F) {
	for _, a := range corpusApps() {
		b, err := json.Marshal(a)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"metadata":{"name":"web","ownerReferences":[{"kind":"ApplicationSet","name":"x","controller":true}]},"spec":{"sources":[{"repoURL":"r","chart":"c"}],"syncPolicy":{"automated":{"enabled":false}}},"operation":null,"status":{"history":[{"id":2,"revision":"b"},{"id":1,"revisions":["a","b"]}],"operationState":{"phase":"Running","operation":{"sync":{"revision":"c"}}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		app, err := argocd.ParseApplication(data)
		if err != nil {
			checkErr(t, err)
			return
		}
		for i := 1; i < len(app.History); i++ {
			if app.History[i-1].ID >= app.History[i].ID {
				t.Fatalf("history not strictly sorted: %d then %d", app.History[i-1].ID, app.History[i].ID)
			}
		}
		if p, err := argocd.PreviousStable(app, ""); err == nil {
			if last := app.History[len(app.History)-1]; p.ID >= last.ID {
				t.Fatalf("PreviousStable %d not before %d", p.ID, last.ID)
			}
		}
		for _, h := range app.History {
			if h.Revision != "" {
				if _, err := argocd.HistoryIDForRevision(app, h.Revision); err != nil {
					t.Fatalf("HistoryIDForRevision(%q): %v", h.Revision, err)
				}
			}
		}
	})
}

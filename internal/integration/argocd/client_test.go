package argocd_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/integration/argocd"
	"github.com/patchctl/patchctl/internal/integration/argocd/argocdtest"
)

const token = "argocd-api-token"

const (
	shaOld = "1111111111111111111111111111111111111111"
	shaNew = "2222222222222222222222222222222222222222"
	shaBad = "3333333333333333333333333333333333333333"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// fixture serves the corpus Application velero-test with a history of
// three deployments (old, new, bad) and auto-sync as given.
func fixture(t *testing.T, autoSync bool) (*argocdtest.Server, *argocd.Client) {
	t.Helper()
	srv := argocdtest.NewServer(t, token)
	app := loadApp(t, "argocd/application__diff-cache.yaml")
	src := argocdtest.Source{RepoURL: "https://github.com/foo/manifests-velero.git", Path: "instances/test", TargetRevision: "main"}
	argocdtest.SetSource(app, src)
	argocdtest.SetHistory(app,
		argocdtest.History{ID: 4, Revision: shaOld, DeployedAt: t0, Source: src},
		argocdtest.History{ID: 5, Revision: shaNew, DeployedAt: t0.Add(time.Hour), Source: src},
		argocdtest.History{ID: 6, Revision: shaBad, DeployedAt: t0.Add(2 * time.Hour), Source: src},
	)
	argocdtest.SetSync(app, argocd.SyncSynced, shaBad)
	argocdtest.SetHealth(app, argocd.HealthDegraded)
	argocdtest.SetAutoSync(app, autoSync)
	srv.Put(app)
	return srv, newClient(t, srv, "")
}

func newClient(t *testing.T, srv *argocdtest.Server, appNamespace string) *argocd.Client {
	t.Helper()
	c, err := argocd.NewClient(argocd.Config{BaseURL: srv.URL, Token: srv.Token, AppNamespace: appNamespace, HTTPClient: srv.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func methods(calls []argocdtest.Call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Method+" "+c.Path)
	}
	return out
}

func TestGetApplication(t *testing.T) {
	srv := argocdtest.NewServer(t, token)
	srv.Put(loadApp(t, "argocd/application__diff-cache.yaml"))
	c := newClient(t, srv, "")
	app, err := c.GetApplication(context.Background(), "velero-test")
	if err != nil {
		t.Fatal(err)
	}
	const sha = "ea8759964626a583667a2bfd08f334ec2070040a"
	src := argocd.Source{RepoURL: "https://github.com/foo/manifests-velero.git", Path: "instances/test", TargetRevision: "test-lla"}
	var ids []int64
	for _, h := range app.History {
		if h.Revision != sha || h.Source != src || h.DeployedAt.IsZero() {
			t.Errorf("history entry %+v", h)
		}
		ids = append(ids, h.ID)
	}
	if diff := cmp.Diff([]int64{14, 15, 16, 17, 18, 19, 20, 21, 22, 23}, ids); diff != "" {
		t.Errorf("history ids (-want +got):\n%s", diff)
	}
	app.History = nil
	want := &argocd.Application{
		Name: "velero-test", Namespace: "argo-cd", Project: "sre",
		Source:       src,
		Destination:  argocd.Destination{Name: "gke-alpha-01-europe-west1", Namespace: "test-lla"},
		ManagedBy:    "ApplicationSet/velero",
		SyncStatus:   argocd.SyncSynced,
		SyncRevision: "rev1",
		HealthStatus: argocd.HealthHealthy,
		Operation: &argocd.Operation{Phase: argocd.PhaseSucceeded, Message: "successfully synced (all tasks run)",
			StartedAt: time.Date(2024, 3, 5, 7, 33, 3, 0, time.UTC), FinishedAt: time.Date(2024, 3, 5, 7, 33, 4, 0, time.UTC),
			Revision: sha},
		ReconciledAt: time.Date(2024, 3, 5, 7, 33, 4, 0, time.UTC),
		Images:       []string{"nginx:latest"},
	}
	if diff := cmp.Diff(want, app); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
	calls := srv.Calls()
	if len(calls) != 1 || calls[0].Authorization != "Bearer "+token || calls[0].Path != "/api/v1/applications/velero-test" || calls[0].RawQuery != "" {
		t.Errorf("calls = %+v", calls)
	}

	// A Helm-repository application with automated sync.
	srv.Put(loadApp(t, "argocd/application__live-child-application.yaml"))
	app, err = c.GetApplication(context.Background(), "argo-workflows")
	if err != nil {
		t.Fatal(err)
	}
	if !app.AutoSync || !app.Prune || app.SelfHeal || app.Source.Chart != "argo-workflows" || app.Source.TargetRevision != "0.45.27" {
		t.Errorf("argo-workflows: %+v", app)
	}
}

func TestGetApplicationErrors(t *testing.T) {
	srv := argocdtest.NewServer(t, token)
	srv.Put(loadApp(t, "argocd/application__diff-cache.yaml"))
	ctx := context.Background()

	wrong, err := argocd.NewClient(argocd.Config{BaseURL: srv.URL, Token: "stolen", HTTPClient: srv.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wrong.GetApplication(ctx, "velero-test"); patchctl.ErrorCode(err) != patchctl.CodeUnauthorized {
		t.Errorf("wrong token: %v, want CodeUnauthorized", err)
	}
	c := newClient(t, srv, "")
	if _, err := c.GetApplication(ctx, "nope"); patchctl.ErrorCode(err) != patchctl.CodeNotFound {
		t.Errorf("unknown app: %v, want CodeNotFound", err)
	}
	before := len(srv.Calls())
	for _, name := range []string{"", "../secrets", "Velero", "a/b", "x?y=1", strings.Repeat("a", 254)} {
		if _, err := c.GetApplication(ctx, name); patchctl.ErrorCode(err) != patchctl.CodeInvalid {
			t.Errorf("name %q: %v, want CodeInvalid", name, err)
		}
	}
	if n := len(srv.Calls()); n != before {
		t.Errorf("invalid names reached the server: %d calls", n-before)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.GetApplication(cancelled, "velero-test"); patchctl.ErrorCode(err) != patchctl.CodeUnavailable {
		t.Errorf("cancelled context: %v, want CodeUnavailable", err)
	}
}

func TestAppNamespace(t *testing.T) {
	srv, _ := fixture(t, false)
	c := newClient(t, srv, "team-a")
	ctx := context.Background()
	if _, err := c.GetApplication(ctx, "velero-test"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Rollback(ctx, "velero-test", 5, false, true); err != nil {
		t.Fatal(err)
	}
	calls := srv.Calls()
	if calls[0].RawQuery != "appNamespace=team-a" {
		t.Errorf("GET query %q", calls[0].RawQuery)
	}
	if rb := srv.Rollbacks(); len(rb) != 1 || rb[0].AppNamespace != "team-a" {
		t.Errorf("rollbacks %+v", rb)
	}
}

func TestRollback(t *testing.T) {
	srv, c := fixture(t, false)
	ctx := context.Background()
	app, err := c.GetApplication(ctx, "velero-test")
	if err != nil {
		t.Fatal(err)
	}
	prev, err := argocd.PreviousStable(app, shaBad)
	if err != nil || prev.ID != 5 || prev.Revision != shaNew {
		t.Fatalf("PreviousStable = %+v, %v", prev, err)
	}
	got, err := c.Rollback(ctx, "velero-test", prev.ID, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if !got.OperationPending {
		t.Error("returned application has no pending operation")
	}
	if diff := cmp.Diff([]argocdtest.RollbackCall{{Name: "velero-test", ID: 5, Prune: true}}, srv.Rollbacks()); diff != "" {
		t.Errorf("rollbacks (-want +got):\n%s", diff)
	}
	var body map[string]any
	calls := srv.Calls()
	if err := json.Unmarshal(calls[len(calls)-1].Body, &body); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"name": "velero-test", "id": float64(5), "prune": true, "dryRun": false}, body); diff != "" {
		t.Errorf("rollback body (-want +got):\n%s", diff)
	}

	// A second rollback while the first runs is refused before calling.
	if _, err := c.Rollback(ctx, "velero-test", 4, false, false); patchctl.ErrorCode(err) != patchctl.CodeConflict {
		t.Errorf("rollback during an operation: %v, want CodeConflict", err)
	}

	// Argo CD's controller completes it: the old revision is deployed again
	// as a new history entry.
	srv.CompleteOperation("velero-test", argocd.PhaseSucceeded, t0.Add(3*time.Hour))
	app, err = c.GetApplication(ctx, "velero-test")
	if err != nil {
		t.Fatal(err)
	}
	last := app.History[len(app.History)-1]
	if app.SyncRevision != shaNew || last.ID != 7 || last.Revision != shaNew || app.Operation.Revision != shaNew || app.OperationPending {
		t.Errorf("after rollback: sync %s, last history %+v, operation %+v", app.SyncRevision, last, app.Operation)
	}
	if id, err := argocd.HistoryIDForRevision(app, shaNew); err != nil || id != 7 {
		t.Errorf("HistoryIDForRevision = %d, %v; want 7", id, err)
	}
}

func TestRollbackRefusedWithAutoSync(t *testing.T) {
	srv, c := fixture(t, true)
	_, err := c.Rollback(context.Background(), "velero-test", 5, false, false)
	if patchctl.ErrorCode(err) != patchctl.CodeConflict || !strings.Contains(patchctl.ErrorMessage(err), "automated sync") {
		t.Fatalf("err = %v, want CodeConflict about automated sync", err)
	}
	if diff := cmp.Diff([]string{"GET /api/v1/applications/velero-test"}, methods(srv.Calls())); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestDisableAutoSyncThenRollback(t *testing.T) {
	srv, c := fixture(t, true)
	ctx := context.Background()
	app, err := c.DisableAutoSync(ctx, "velero-test")
	if err != nil {
		t.Fatal(err)
	}
	if app.AutoSync {
		t.Error("AutoSync still set")
	}
	stored := srv.App("velero-test")
	policy := stored["spec"].(map[string]any)["syncPolicy"].(map[string]any)
	if _, ok := policy["automated"]; ok || policy["retry"] == nil || policy["syncOptions"] == nil {
		t.Errorf("sync policy after the patch: %v (want automated gone, retry and syncOptions kept)", policy)
	}
	var patch struct{ Name, Patch, PatchType string }
	calls := srv.Calls()
	if err := json.Unmarshal(calls[len(calls)-1].Body, &patch); err != nil {
		t.Fatal(err)
	}
	if patch.Name != "velero-test" || patch.PatchType != "merge" || patch.Patch != `{"spec":{"syncPolicy":{"automated":null}}}` {
		t.Errorf("patch request %+v", patch)
	}
	if _, err := c.Rollback(ctx, "velero-test", 5, false, false); err != nil {
		t.Fatalf("rollback after disabling auto-sync: %v", err)
	}
	if _, err := c.DisableAutoSync(ctx, "nope"); patchctl.ErrorCode(err) != patchctl.CodeNotFound {
		t.Errorf("unknown app: %v", err)
	}
}

// raceTransport turns auto-sync back on between the client's check and its
// rollback request, as another operator or an ApplicationSet might.
type raceTransport struct {
	base http.RoundTripper
	once sync.Once
	srv  *argocdtest.Server
}

func (r *raceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost {
		r.once.Do(func() {
			r.srv.Update("velero-test", func(a argocdtest.App) { argocdtest.SetAutoSync(a, true) })
		})
	}
	return r.base.RoundTrip(req)
}

func TestRollbackRefusedByArgoCD(t *testing.T) {
	srv, _ := fixture(t, false)
	hc := srv.HTTPClient()
	hc.Transport = &raceTransport{base: hc.Transport, srv: srv}
	c, err := argocd.NewClient(argocd.Config{BaseURL: srv.URL, Token: token, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Rollback(context.Background(), "velero-test", 5, false, false)
	if patchctl.ErrorCode(err) != patchctl.CodeConflict || !strings.Contains(patchctl.ErrorMessage(err), "rollback cannot be initiated when auto-sync is enabled") {
		t.Fatalf("err = %v, want CodeConflict carrying Argo CD's message", err)
	}
	if rb := srv.Rollbacks(); len(rb) != 1 || rb[0].Refused == "" {
		t.Errorf("rollbacks %+v", rb)
	}
}

func TestRollbackUnknownHistoryID(t *testing.T) {
	srv, c := fixture(t, false)
	if _, err := c.Rollback(context.Background(), "velero-test", 99, false, false); patchctl.ErrorCode(err) != patchctl.CodeNotFound {
		t.Fatalf("err = %v, want CodeNotFound", err)
	}
	if _, err := c.Rollback(context.Background(), "velero-test", -1, false, false); patchctl.ErrorCode(err) != patchctl.CodeInvalid {
		t.Fatalf("negative id: err = %v, want CodeInvalid", err)
	}
	if len(srv.Rollbacks()) != 0 {
		t.Error("rollback request sent for an unknown history id")
	}
}

func TestNewClientValidation(t *testing.T) {
	tests := []struct {
		name  string
		cfg   argocd.Config
		field string
	}{
		{"no url", argocd.Config{Token: "t"}, "argocd.url"},
		{"not http", argocd.Config{BaseURL: "argocd.example.com", Token: "t"}, "argocd.url"},
		{"ftp", argocd.Config{BaseURL: "ftp://argocd.example.com", Token: "t"}, "argocd.url"},
		{"query", argocd.Config{BaseURL: "https://argocd.example.com/?x=1", Token: "t"}, "argocd.url"},
		{"no token", argocd.Config{BaseURL: "https://argocd.example.com"}, "argocd.token"},
		{"insecure with own client", argocd.Config{BaseURL: "https://argocd.example.com", Token: "t", InsecureSkipVerify: true, HTTPClient: &http.Client{}}, "argocd.insecure_skip_verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := argocd.NewClient(tt.cfg)
			pe, ok := err.(*patchctl.Error)
			if !ok || pe.Code != patchctl.CodeInvalid || pe.Field != tt.field {
				t.Errorf("err = %v, want CodeInvalid on %s", err, tt.field)
			}
		})
	}
}

// TLS with a self-signed certificate: refused by default, accepted with
// InsecureSkipVerify. A path prefix (--rootpath) is kept.
func TestInsecureSkipVerifyAndRootPath(t *testing.T) {
	app := loadApp(t, "argocd/application__diff-cache.yaml")
	var paths []string
	var mu sync.Mutex
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		_ = json.NewEncoder(w).Encode(app)
	}))
	defer tlsSrv.Close()
	ctx := context.Background()

	strict, err := argocd.NewClient(argocd.Config{BaseURL: tlsSrv.URL + "/argocd/", Token: token})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strict.GetApplication(ctx, "velero-test"); patchctl.ErrorCode(err) != patchctl.CodeUnavailable {
		t.Errorf("self-signed certificate accepted without InsecureSkipVerify: %v", err)
	}
	lax, err := argocd.NewClient(argocd.Config{BaseURL: tlsSrv.URL + "/argocd/", Token: token, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lax.GetApplication(ctx, "velero-test"); err != nil {
		t.Fatalf("InsecureSkipVerify: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"/argocd/api/v1/applications/velero-test"}, paths); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
}

func TestAPIErrorMapping(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		code   patchctl.Code
		msg    string
	}{
		{"unauthenticated", 401, `{"error":"no session information","code":16,"message":"no session information"}`, patchctl.CodeUnauthorized, "no session information"},
		{"permission denied", 403, `{"error":"permission denied","code":7,"message":"permission denied"}`, patchctl.CodeForbidden, "permission denied"},
		{"not found", 404, `{"error":"x","code":5,"message":"applications.argoproj.io \"web\" not found"}`, patchctl.CodeNotFound, "not found"},
		{"failed precondition", 400, `{"error":"another operation is already in progress","code":9,"message":"another operation is already in progress"}`, patchctl.CodeConflict, "another operation"},
		{"invalid argument", 400, `{"error":"bad","code":3,"message":"application web does not have deployment with id 9"}`, patchctl.CodeInvalid, "deployment with id 9"},
		{"server error", 500, `{"error":"boom","code":13,"message":"boom"}`, patchctl.CodeUnavailable, "boom"},
		{"proxy page", 502, `<html>Bad Gateway</html>`, patchctl.CodeUnavailable, "Bad Gateway"},
		{"unreadable application", 200, `{"metadata": {"name": ""}}`, patchctl.CodeUnavailable, "unreadable application"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, err := argocd.NewClient(argocd.Config{BaseURL: srv.URL, Token: token})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.GetApplication(context.Background(), "web")
			if patchctl.ErrorCode(err) != tt.code || !strings.Contains(patchctl.ErrorMessage(err), tt.msg) {
				t.Errorf("err = %v (%s), want %s containing %q", err, patchctl.ErrorCode(err), tt.code, tt.msg)
			}
		})
	}
}

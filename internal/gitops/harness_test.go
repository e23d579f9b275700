package gitops_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/app/apptest"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/integration/argocd"
	"github.com/patchctl/patchctl/internal/integration/argocd/argocdtest"
	"github.com/patchctl/patchctl/internal/integration/github"
	"github.com/patchctl/patchctl/internal/integration/github/githubtest"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
	"github.com/patchctl/patchctl/internal/testutil/pgtest"
	"github.com/patchctl/patchctl/internal/webhook"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	repo       = "acme/payments"
	hookSecret = "it's a secret to everybody"
	argoHook   = "argo-notifications-token"
)

// harness is a real patchctl server with a fake GitHub (backed by real
// git repositories) and a fake Argo CD, wired through the configuration
// exactly as an operator would.
type harness struct {
	t    *testing.T
	s    *apptest.Server
	gh   *githubtest.Server
	argo *argocdtest.Server
}

type setup struct {
	engine store.Engine
	// githubREST gives patchctl a GitHub token (REST: branch, reconcile).
	githubREST bool
	config     func(*config.Config)
}

func newHarness(t *testing.T, o setup) *harness {
	t.Helper()
	h := &harness{t: t, gh: githubtest.New(t), argo: argocdtest.NewServer(t, "argo-api-token")}
	h.gh.AddRepo(repo)
	env := "PATCHCTL_TEST_" + strings.ToUpper(strings.NewReplacer("/", "_", "-", "_", "#", "_").Replace(t.Name())) + "_"
	t.Setenv(env+"GH_HOOK", hookSecret)
	t.Setenv(env+"ARGO_HOOK", argoHook)
	t.Setenv(env+"ARGO_TOKEN", h.argo.Token)
	if o.githubREST {
		t.Setenv(env+"GH_TOKEN", h.gh.Token)
	}
	h.s = apptest.StartServer(t, apptest.Options{Engine: o.engine, Config: func(c *config.Config) {
		c.Integrations.GitHub = config.GitHub{APIURL: h.gh.URL, TokenEnv: env + "GH_TOKEN", WebhookSecretEnv: env + "GH_HOOK",
			Repositories: []string{repo}, ReconcileInterval: config.Duration(10 * time.Minute)}
		c.Integrations.ArgoCD = config.ArgoCD{URL: h.argo.URL, TokenEnv: env + "ARGO_TOKEN", WebhookTokenEnv: env + "ARGO_HOOK",
			RollbackMode: "argocd", DisableAutoSyncOnRollback: true,
			Applications: []config.ArgoApp{
				{Name: "payments-staging", Application: "payments", Environment: "staging"},
				{Name: "payments-prod", Application: "payments", Environment: "production", HelmRelease: "payments"},
			}}
		if o.config != nil {
			o.config(c)
		}
	}})
	return h
}

// api calls the REST API as role and returns the status and body.
func (h *harness) api(method, path string, role patchctl.Role, body any) (int, []byte) {
	h.t.Helper()
	var r io.Reader
	if body != nil {
		switch b := body.(type) {
		case []byte:
			r = bytes.NewReader(b)
		case string:
			r = strings.NewReader(b)
		default:
			j, err := json.Marshal(b)
			if err != nil {
				h.t.Fatal(err)
			}
			r = bytes.NewReader(j)
		}
	}
	req, err := http.NewRequest(method, h.s.URL+"/api/v1"+path, r)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+h.s.Tokens[role])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// must calls the API and fails the test unless the status is want.
func (h *harness) must(want int, method, path string, role patchctl.Role, body any, into any) {
	h.t.Helper()
	status, out := h.api(method, path, role, body)
	if status != want {
		h.t.Fatalf("%s %s = %d, want %d\n%s", method, path, status, want, out)
	}
	if into != nil {
		if err := json.Unmarshal(out, into); err != nil {
			h.t.Fatalf("%s %s: %v\n%s", method, path, err, out)
		}
	}
}

func (h *harness) detail(key string) *service.Detail {
	h.t.Helper()
	var d service.Detail
	h.must(200, "GET", "/patches/"+key, patchctl.RoleViewer, nil, &d)
	return &d
}

func (h *harness) auditHead() int64 {
	h.t.Helper()
	var st service.Status
	h.must(200, "GET", "/status", patchctl.RoleViewer, nil, &st)
	return st.AuditHead
}

// createPatch creates an application patch of payments in acme/payments,
// triggered by a high CVE.
func (h *harness) createPatch(title string) *patchctl.Patch {
	h.t.Helper()
	var p patchctl.Patch
	h.must(201, "POST", "/patches", patchctl.RoleEngineer, map[string]any{
		"title": title, "kind": "application", "owner": "erin",
		"target": map[string]any{"application": "payments", "repository": repo},
		"links":  []map[string]any{{"type": "vulnerability", "ref": "CVE-2024-6119", "attributes": map[string]any{"cvss": 7.5}}},
	}, &p)
	return &p
}

// delivery is a GitHub webhook delivery as GitHub sends it.
type delivery struct {
	event, id string
	body      []byte
}

// send posts a delivery signed with secret ("" means the configured one).
func (h *harness) send(d delivery, secret string) (int, webhook.Answer, []byte) {
	h.t.Helper()
	if secret == "" {
		secret = hookSecret
	}
	req, _ := http.NewRequest("POST", h.s.URL+"/hooks/github", bytes.NewReader(d.body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/test")
	req.Header.Set(github.HeaderEvent, d.event)
	req.Header.Set(github.HeaderDelivery, d.id)
	req.Header.Set(github.HeaderSignature256, github.Sign([]byte(secret), d.body))
	return h.do(req)
}

// deliver sends a correctly signed delivery and wants it processed with
// a summary containing each of want.
func (h *harness) deliver(d delivery, status string, want ...string) webhook.Answer {
	h.t.Helper()
	code, a, raw := h.send(d, "")
	if code != 200 || a.Status != status {
		h.t.Fatalf("%s %s: %d %s, want 200 %s\n%s", d.event, d.id, code, a.Status, status, raw)
	}
	for _, w := range want {
		if !strings.Contains(a.Summary, w) {
			h.t.Errorf("%s %s: summary lacks %q:\n%s", d.event, d.id, w, a.Summary)
		}
	}
	return a
}

// notify posts an Argo CD notification rendered from the shipped template
// for app and trigger, with token ("" means the configured one).
func (h *harness) notify(app argocdtest.App, trigger, token string) (int, webhook.Answer, []byte) {
	h.t.Helper()
	if token == "" {
		token = argoHook
	}
	return h.notifyBody(argocdtest.RenderNotification(h.t, app, trigger), token)
}

func (h *harness) notifyBody(body []byte, token string) (int, webhook.Answer, []byte) {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.s.URL+"/hooks/argocd", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(argocd.TokenHeader, token)
	return h.do(req)
}

func (h *harness) do(req *http.Request) (int, webhook.Answer, []byte) {
	h.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a webhook.Answer
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(raw, &a); err != nil {
			h.t.Fatalf("answer: %v\n%s", err, raw)
		}
	}
	return resp.StatusCode, a, raw
}

// runTimers runs the scheduler once (the test server runs none itself).
func (h *harness) runTimers() int {
	h.t.Helper()
	n, err := h.s.App.Scheduler.RunOnce(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// payload reads a corpus webhook payload as a document to rewrite.
func payload(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(corpus.Path(t, "github-webhooks/"+name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// set sets a dotted path of a document, creating objects on the way.
func set(m map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}

func encode(t *testing.T, m map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// argoApp builds an Argo CD application from a real manifest of the
// corpus, renamed and pointed at the payments repository.
func argoApp(t *testing.T, name string) argocdtest.App {
	t.Helper()
	a, err := argocdtest.LoadApplication(corpus.Path(t, "argocd/application__live-child-application.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	set(a, "metadata.name", name)
	argocdtest.SetSource(a, argocdtest.Source{RepoURL: "https://github.com/" + repo, Path: "deploy", TargetRevision: "main"})
	return a
}

// synced puts app in the state Argo CD reports after a successful sync of
// revision at finished, with history.
func synced(app argocdtest.App, revision, health string, finished time.Time, history ...argocdtest.History) {
	argocdtest.SetSync(app, "Synced", revision)
	argocdtest.SetHealth(app, health)
	argocdtest.SetOperationState(app, "Succeeded", revision, finished.Add(-time.Minute), finished)
	argocdtest.SetHistory(app, history...)
}

func evidenceOf(d *service.Detail, kind patchctl.EvidenceKind) []patchctl.Evidence {
	var out []patchctl.Evidence
	for _, e := range d.Evidence {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// override moves a patch step by step to state as the lead, pushing past
// refusing gates: for tests about what happens after those steps.
func (h *harness) override(key string, state patchctl.State) {
	h.t.Helper()
	for i := 0; i < 10; i++ {
		if h.detail(key).Patch.State == state {
			return
		}
		h.must(200, "POST", "/patches/"+key+"/transitions", patchctl.RoleLead,
			map[string]any{"override": map[string]any{"justification": "test setup, not under test here"}}, nil)
	}
	h.t.Fatalf("%s did not reach %s", key, state)
}

// deployed sends the on-deployed notification of app synced at revision.
func (h *harness) deployed(app argocdtest.App, revision string, history ...argocdtest.History) {
	h.t.Helper()
	synced(app, revision, "Healthy", h.s.Clock.Now(), history...)
	h.argo.Put(app)
	if code, a, raw := h.notify(app, "on-deployed", ""); code != 200 || a.Status != store.DeliveryProcessed {
		h.t.Fatalf("on-deployed %s at %s: %d %s", argocdtest.Name(app), revision, code, raw)
	}
}

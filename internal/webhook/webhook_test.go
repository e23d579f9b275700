package webhook_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/app/apptest"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/integration/argocd"
	"github.com/patchctl/patchctl/internal/integration/argocd/argocdtest"
	"github.com/patchctl/patchctl/internal/integration/github"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
	"github.com/patchctl/patchctl/internal/webhook"
)

const (
	secret    = "webhook secret"
	argoToken = "argo token"
)

// server starts patchctl with the webhook secrets in the environment
// (unless unset) and config applied.
func server(t testing.TB, withSecrets bool, edit func(*config.Config)) *apptest.Server {
	t.Helper()
	env := "PATCHCTL_WEBHOOK_TEST_"
	if withSecrets {
		t.Setenv(env+"GH", secret)
		t.Setenv(env+"ARGO", argoToken)
	} else {
		t.Setenv(env+"GH", "")
		t.Setenv(env+"ARGO", "")
	}
	return apptest.StartServer(t, apptest.Options{Config: func(c *config.Config) {
		c.Integrations.GitHub.WebhookSecretEnv = env + "GH"
		c.Integrations.GitHub.TokenEnv = env + "NO_TOKEN"
		c.Integrations.ArgoCD.WebhookTokenEnv = env + "ARGO"
		c.Integrations.ArgoCD.Applications = []config.ArgoApp{{Name: "payments-prod", Application: "payments", Environment: "production"}}
		if edit != nil {
			edit(c)
		}
	}})
}

type hook struct {
	file      string
	event, id string
	body      []byte
	// header edits the signed request before it is sent.
	header func(h http.Header)
}

func post(t testing.TB, s *apptest.Server, h hook) (int, webhook.Answer, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+webhook.PathGitHub, bytes.NewReader(h.body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(github.HeaderEvent, h.event)
	req.Header.Set(github.HeaderDelivery, h.id)
	req.Header.Set(github.HeaderSignature256, github.Sign([]byte(secret), h.body))
	if h.header != nil {
		h.header(req.Header)
	}
	return send(t, req)
}

func send(t testing.TB, req *http.Request) (int, webhook.Answer, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a webhook.Answer
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatalf("answer %s: %v", raw, err)
		}
	} else if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("error answered as %q, want application/problem+json", ct)
	}
	return resp.StatusCode, a, string(raw)
}

// corpusDeliveries returns every GitHub payload of the corpus with the
// event its file is named after.
func corpusDeliveries(t testing.TB) []hook {
	t.Helper()
	var out []hook
	for i, path := range corpus.Glob(t, "github-webhooks/*.json") {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		event, _, _ := strings.Cut(filepath.Base(path), "__")
		out = append(out, hook{file: filepath.Base(path), event: event, id: fmt.Sprintf("corpus-%02d", i), body: b})
	}
	return out
}

func deliveries(t testing.TB, s *apptest.Server) []store.Delivery {
	t.Helper()
	ds, err := s.App.DB.Read().Deliveries(t.Context(), store.DeliveryFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// auditHead is the sequence number of the last audit event: every change
// of a patch appends one.
func auditHead(t testing.TB, s *apptest.Server) int64 {
	t.Helper()
	head, _, err := s.App.DB.Read().AuditHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return head
}

// TestGitHubCorpus posts every payload of the corpus, signed with the
// configured secret, to a real server: each is acknowledged and recorded
// once with the outcome its event calls for, and its replay is a
// duplicate that changes nothing.
func TestGitHubCorpus(t *testing.T) {
	s := server(t, true, nil)
	// A patch linked to the published advisory, so that one corpus
	// delivery has something to act on.
	if _, err := s.App.Service.CreatePatch(t.Context(), patchctl.Actor{Name: "erin", Role: patchctl.RoleEngineer}, service.CreatePatch{
		Title: "Upgrade the vulnerable package", Kind: patchctl.KindApplication, Target: patchctl.Target{Application: "payments"},
		Links: []patchctl.Link{{Type: patchctl.LinkVulnerability, Ref: "GHSA-rf4j-j272-fj86"}},
	}); err != nil {
		t.Fatal(err)
	}
	// Every other delivery is unmatched: the corpus comes from other
	// repositories, whose pull requests, runs and deployments are about no
	// patch. Vulnerability alerts go to finding intake: the second
	// "create" of the same advisory is already known, and a dismissal for
	// lack of bandwidth is not a risk acceptance.
	want := map[string]string{
		"dependabot_alert__created.payload.json":                                store.DeliveryProcessed,
		"repository_vulnerability_alert__create.payload.json":                   store.DeliveryProcessed,
		"repository_vulnerability_alert__create.with-organization.payload.json": store.DeliveryIgnored,
		"repository_vulnerability_alert__dismiss.payload.json":                  store.DeliveryIgnored,
		"check_run__created.payload.json":                                       store.DeliveryIgnored,   // queued
		"check_run__requested_action.payload.json":                              store.DeliveryIgnored,   // in progress
		"check_suite__requested.payload.json":                                   store.DeliveryIgnored,   // queued
		"deployment_status__gh-pages.payload.json":                              store.DeliveryIgnored,   // in progress
		"workflow_run__requested.payload.json":                                  store.DeliveryIgnored,   // queued
		"push__payload.json":                                                    store.DeliveryIgnored,   // deletes a tag
		"security_advisory__published.payload.json":                             store.DeliveryProcessed, // linked to the patch
	}
	hooks := corpusDeliveries(t)
	for _, h := range hooks {
		code, a, raw := post(t, s, h)
		if code != 200 {
			t.Fatalf("%s %s: %d\n%s", h.file, h.id, code, raw)
		}
		w := want[h.file]
		if w == "" {
			w = store.DeliveryUnmatched
		}
		if a.Status != w || a.Summary == "" || a.Delivery != h.id || a.Recorded == 0 {
			t.Errorf("%s: %s %q, want %s", h.file, a.Status, a.Summary, w)
		}
		if h.event == "dependabot_alert" && !strings.Contains(a.Summary, "new finding: GHSA-c2qf-rxjj-qqgw in semver") {
			t.Errorf("dependabot alert: %q", a.Summary)
		}
	}
	rows := deliveries(t, s)
	if len(rows) != len(hooks) {
		t.Fatalf("%d deliveries recorded for %d posted", len(rows), len(hooks))
	}
	head := auditHead(t, s)
	for _, h := range hooks {
		code, a, raw := post(t, s, h)
		if code != 200 || a.Status != webhook.StatusDuplicate {
			t.Errorf("replay of %s: %d %s", h.id, code, raw)
		}
	}
	if n := len(deliveries(t, s)); n != len(hooks) || auditHead(t, s) != head {
		t.Errorf("replays changed something: %d deliveries, audit head %d → %d", n, head, auditHead(t, s))
	}
}

// TestGitHubRefusals covers what is refused, and that a refusal records
// nothing.
func TestGitHubRefusals(t *testing.T) {
	s := server(t, true, func(c *config.Config) { c.Server.MaxWebhookBytes = 20 << 10 })
	body, err := os.ReadFile(corpus.Path(t, "github-webhooks/push__payload.json"))
	if err != nil {
		t.Fatal(err)
	}
	big, err := os.ReadFile(corpus.Path(t, "github-webhooks/pull_request__opened.payload.json"))
	if err != nil {
		t.Fatal(err)
	}
	head := auditHead(t, s)
	for _, tc := range []struct {
		name   string
		h      hook
		status int
		detail string
	}{
		{"wrong signature", hook{event: "push", id: "r1", body: body, header: func(h http.Header) {
			h.Set(github.HeaderSignature256, github.Sign([]byte("guess"), body))
		}}, 401, "signature does not match"},
		{"no signature", hook{event: "push", id: "r2", body: body, header: func(h http.Header) { h.Del(github.HeaderSignature256) }}, 401, "not signed"},
		{"SHA-1 only", hook{event: "push", id: "r3", body: body, header: func(h http.Header) {
			h.Del(github.HeaderSignature256)
			h.Set(github.HeaderSignatureSHA1, "sha1=0000000000000000000000000000000000000000")
		}}, 401, "SHA-1"},
		{"body changed after signing", hook{event: "push", id: "r4", body: body, header: func(h http.Header) {
			h.Set(github.HeaderSignature256, github.Sign([]byte(secret), append([]byte(" "), body...)))
		}}, 401, "signature"},
		{"malformed JSON", hook{event: "push", id: "r5", body: []byte(`{"ref": "refs/heads/main",`)}, 400, "push"},
		{"wrong shape", hook{event: "pull_request", id: "r6", body: []byte(`{"action": "opened", "pull_request": 7}`)}, 400, "pull_request"},
		{"no delivery id", hook{event: "push", id: "", body: body}, 400, "X-GitHub-Delivery"},
		{"too large", hook{event: "pull_request", id: "r8", body: big}, 413, "limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, raw := post(t, s, tc.h)
			if code != tc.status || !strings.Contains(raw, tc.detail) {
				t.Errorf("%d %s, want %d mentioning %q", code, raw, tc.status, tc.detail)
			}
		})
	}
	if rows := deliveries(t, s); len(rows) != 0 || auditHead(t, s) != head {
		t.Errorf("refused deliveries were recorded: %+v (audit head %d → %d)", rows, head, auditHead(t, s))
	}

	// An event patchctl does not act on is acknowledged and recorded as
	// ignored.
	code, a, raw := post(t, s, hook{event: "star", id: "star-1", body: []byte(`{"action":"created","repository":{"full_name":"acme/app"},"sender":{"login":"x"}}`)})
	if code != 200 || a.Status != store.DeliveryIgnored || !strings.Contains(a.Summary, "star events are not acted on") {
		t.Errorf("unknown event: %d %s", code, raw)
	}
}

// TestUnknownRepository records deliveries of repositories outside the
// configured list as unmatched, visibly through the API.
func TestUnknownRepository(t *testing.T) {
	s := server(t, true, func(c *config.Config) { c.Integrations.GitHub.Repositories = []string{"acme/payments"} })
	body, err := os.ReadFile(corpus.Path(t, "github-webhooks/pull_request__opened.payload.json"))
	if err != nil {
		t.Fatal(err)
	}
	code, a, raw := post(t, s, hook{event: "pull_request", id: "u1", body: body})
	if code != 200 || a.Status != store.DeliveryUnmatched || !strings.Contains(a.Summary, "Codertocat/Hello-World is not in integrations.github.repositories") {
		t.Fatalf("%d %s", code, raw)
	}
	req, _ := http.NewRequest("GET", s.URL+"/api/v1/deliveries?status=unmatched&repository=Codertocat/Hello-World", nil)
	req.Header.Set("Authorization", "Bearer "+s.Tokens[patchctl.RoleViewer])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ds []store.Delivery
	if err := json.NewDecoder(resp.Body).Decode(&ds); err != nil || len(ds) != 1 || ds[0].DeliveryID != "u1" {
		t.Errorf("deliveries API: %+v %v", ds, err)
	}
}

// TestNoSecretConfigured answers 503 naming the variable to set, for both
// endpoints, and records nothing.
func TestNoSecretConfigured(t *testing.T) {
	s := server(t, false, nil)
	code, _, raw := post(t, s, hook{event: "push", id: "n1", body: []byte(`{}`)})
	if code != 503 || !strings.Contains(raw, "PATCHCTL_WEBHOOK_TEST_GH") {
		t.Errorf("github without a secret: %d %s", code, raw)
	}
	req, _ := http.NewRequest("POST", s.URL+webhook.PathArgoCD, strings.NewReader(`{}`))
	req.Header.Set(argocd.TokenHeader, "anything")
	code, _, raw = send(t, req)
	if code != 503 || !strings.Contains(raw, "PATCHCTL_WEBHOOK_TEST_ARGO") {
		t.Errorf("argocd without a token: %d %s", code, raw)
	}
	if rows := deliveries(t, s); len(rows) != 0 {
		t.Errorf("recorded: %+v", rows)
	}
}

// TestArgoCD covers the notification endpoint's refusals and outcomes.
func TestArgoCD(t *testing.T) {
	s := server(t, true, nil)
	app, err := argocdtest.LoadApplication(corpus.Path(t, "argocd/application__live-child-application.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	argocdtest.SetSync(app, "Synced", "0.45.27")
	argocdtest.SetHealth(app, "Healthy")
	argocdtest.SetOperationState(app, "Succeeded", "0.45.27", apptest.Start.Add(-time.Minute), apptest.Start)
	body := argocdtest.RenderNotification(t, app, "on-deployed")
	notify := func(token string, b []byte) (int, webhook.Answer, string) {
		req, _ := http.NewRequest("POST", s.URL+webhook.PathArgoCD, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set(argocd.TokenHeader, token)
		}
		return send(t, req)
	}
	if code, _, raw := notify("", body); code != 401 {
		t.Errorf("no token: %d %s", code, raw)
	}
	if code, _, raw := notify("argo tokeN", body); code != 401 {
		t.Errorf("wrong token: %d %s", code, raw)
	}
	if code, _, raw := notify(argoToken, []byte(`{"schema":"patchctl.argocd.v1","trigger":"on-deployed"`)); code != 400 {
		t.Errorf("malformed: %d %s", code, raw)
	}
	if code, _, raw := notify(argoToken, bytes.Repeat([]byte(" "), argocd.MaxNotificationBytes+1)); code != 413 {
		t.Errorf("too large: %d %s", code, raw)
	}
	if rows := deliveries(t, s); len(rows) != 0 {
		t.Fatalf("refused notifications were recorded: %+v", rows)
	}
	code, a, raw := notify(argoToken, body)
	if code != 200 || a.Status != store.DeliveryUnmatched || !strings.Contains(a.Summary, "argo-workflows is not mapped") {
		t.Errorf("unmapped application: %d %s", code, raw)
	}
	if code, a, _ := notify(argoToken, body); code != 200 || a.Status != webhook.StatusDuplicate {
		t.Errorf("replay: %d %+v", code, a)
	}
	running := argocdtest.Clone(app)
	argocdtest.SetOperationState(running, "Running", "0.45.28", apptest.Start, time.Time{})
	set := func(a argocdtest.App, name string) argocdtest.App {
		a["metadata"].(map[string]any)["name"] = name
		return a
	}
	code, a, raw = notify(argoToken, argocdtest.RenderNotification(t, set(running, "payments-prod"), "on-sync-running"))
	if code != 200 || a.Status != store.DeliveryIgnored {
		t.Errorf("sync running: %d %s", code, raw)
	}
}

// TestConcurrentRedelivery sends one delivery from several clients at once:
// it is processed once, and every other copy is a duplicate.
func TestConcurrentRedelivery(t *testing.T) {
	s := server(t, true, nil)
	body, err := os.ReadFile(corpus.Path(t, "github-webhooks/push__with-new-branch.payload.json"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	statuses := make(chan string, n)
	for range n {
		go func() {
			code, a, raw := post(t, s, hook{event: "push", id: "same", body: body})
			if code != 200 {
				t.Errorf("%d %s", code, raw)
			}
			statuses <- a.Status
		}()
	}
	dups := 0
	for range n {
		if <-statuses == webhook.StatusDuplicate {
			dups++
		}
	}
	// Concurrent requests may have dialled connections that never carried
	// one; the server's graceful shutdown would wait for them.
	http.DefaultClient.CloseIdleConnections()
	if dups != n-1 || len(deliveries(t, s)) != 1 {
		t.Errorf("%d duplicates of %d, %d records", dups, n, len(deliveries(t, s)))
	}
}

// TestDependabotAlertLifecycle follows one alert of the corpus through
// GitHub's actions: it becomes a finding of the repository grouped into a
// draft patch of the repository, a dismissal as inaccurate marks it a false positive, a
// reopening opens it again and a fix closes it. Each change is audited in
// the delivery's transaction.
func TestDependabotAlertLifecycle(t *testing.T) {
	s := server(t, true, nil)
	raw, err := os.ReadFile(corpus.Path(t, "github-webhooks/dependabot_alert__created.payload.json"))
	if err != nil {
		t.Fatal(err)
	}
	var payload map[string]any
	if err := json.Unmarshal(raw, &payload); err != nil {
		t.Fatal(err)
	}
	with := func(action, reason string) []byte {
		payload["action"] = action
		alert := payload["alert"].(map[string]any)
		alert["dismissed_reason"] = nil
		if reason != "" {
			alert["dismissed_reason"] = reason
		}
		b, err := json.Marshal(payload)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	reader := patchctl.Actor{Name: "test", Role: patchctl.RoleViewer}
	finding := func() *patchctl.Finding {
		t.Helper()
		l, err := s.App.Service.ListFindings(t.Context(), reader, store.FindingFilter{Asset: "wolfy1339/pika-pack", VulnID: "GHSA-c2qf-rxjj-qqgw"})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Findings) != 1 {
			t.Fatalf("%d findings for the alert, want 1", len(l.Findings))
		}
		return l.Findings[0]
	}
	steps := []struct {
		action, reason string
		status         string
		state          patchctl.FindingState
		summary        string
	}{
		{"created", "", store.DeliveryProcessed, patchctl.FindingOpen, "new finding"},
		{"dismissed", "tolerable_risk", store.DeliveryIgnored, patchctl.FindingOpen, "lead's decision"},
		{"dismissed", "inaccurate", store.DeliveryProcessed, patchctl.FindingFalsePositive, "false_positive"},
		{"reopened", "", store.DeliveryProcessed, patchctl.FindingOpen, "reopened"},
		{"fixed", "", store.DeliveryProcessed, patchctl.FindingClosed, "closed"},
		{"fixed", "", store.DeliveryIgnored, patchctl.FindingClosed, "does not hold open"},
	}
	for i, st := range steps {
		head := auditHead(t, s)
		code, a, body := post(t, s, hook{event: "dependabot_alert", id: fmt.Sprintf("alert-%d", i), body: with(st.action, st.reason)})
		if code != 200 || a.Status != st.status || !strings.Contains(a.Summary, st.summary) {
			t.Fatalf("%s %s: %d %s, want %s mentioning %q", st.action, st.reason, code, body, st.status, st.summary)
		}
		if auditHead(t, s) == head {
			t.Errorf("%s: nothing audited", st.action)
		}
		f := finding()
		if f.State != st.state {
			t.Errorf("after %s %s: finding is %s, want %s", st.action, st.reason, f.State, st.state)
		}
		if i == 0 {
			if f.Package != "semver" || f.FixedVersion != "7.5.2" || f.Severity != patchctl.SeverityMedium || f.PatchKey == "" {
				t.Errorf("finding from the alert: %+v", f)
			}
			d, err := s.App.Service.Patch(t.Context(), reader, f.PatchKey)
			if err != nil {
				t.Fatal(err)
			}
			if p := d.Patch; p.State != patchctl.StateDraft || p.Target.Repository != "wolfy1339/pika-pack" {
				t.Errorf("patch grouped from the alert: %+v", p)
			}
		}
	}
}

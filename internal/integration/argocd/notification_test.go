package argocd_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/integration/argocd"
	"github.com/patchctl/patchctl/internal/integration/argocd/argocdtest"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

func loadConfig(t *testing.T) *argocdtest.NotificationsConfig {
	t.Helper()
	cfg, err := argocdtest.LoadNotificationsConfig(argocdtest.NotificationsConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func loadApp(t *testing.T, rel string) argocdtest.App {
	t.Helper()
	a, err := argocdtest.LoadApplication(corpus.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestShippedConfigShape checks the ConfigMap snippet is wired together:
// service, subscription, one trigger and one template per trigger, with
// bodies identical but for the trigger name.
func TestShippedConfigShape(t *testing.T) {
	cfg := loadConfig(t)

	svc, ok := cfg.Webhooks["patchctl"]
	if !ok {
		t.Fatal("no service.webhook.patchctl")
	}
	if !strings.HasPrefix(svc.URL, "https://") {
		t.Errorf("webhook url %q is not https", svc.URL)
	}
	headers := map[string]string{}
	for _, h := range svc.Headers {
		headers[h.Name] = h.Value
	}
	// The token must be a reference to argocd-notifications-secret, never
	// a literal.
	want := map[string]string{"Content-Type": "application/json", argocd.TokenHeader: "$patchctl-token"}
	if diff := cmp.Diff(want, headers); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}

	var triggerKeys []string
	for _, tr := range argocd.Triggers {
		triggerKeys = append(triggerKeys, "patchctl-"+string(tr))
	}
	wantSubs := []argocdtest.Subscription{{Recipients: []string{"patchctl"}, Triggers: triggerKeys}}
	if diff := cmp.Diff(wantSubs, cfg.Subscriptions); diff != "" {
		t.Errorf("subscriptions (-want +got):\n%s", diff)
	}
	if len(cfg.Triggers) != len(argocd.Triggers) || len(cfg.Templates) != len(argocd.Triggers) {
		t.Errorf("%d triggers and %d templates, want %d of each", len(cfg.Triggers), len(cfg.Templates), len(argocd.Triggers))
	}

	var first string
	for _, tr := range argocd.Triggers {
		key := "patchctl-" + string(tr)
		conds := cfg.Triggers[key]
		if len(conds) != 1 {
			t.Fatalf("trigger %s: %d conditions, want 1", key, len(conds))
		}
		c := conds[0]
		tmplName := "patchctl-app-event-" + string(tr)
		if !cmp.Equal(c.Send, []string{tmplName}) || c.When == "" || c.OncePer == "" {
			t.Errorf("trigger %s = %+v; want when, oncePer and send [%s]", key, c, tmplName)
		}
		wh, ok := cfg.Templates[tmplName]["patchctl"]
		if !ok {
			t.Fatalf("template %s has no webhook.patchctl", tmplName)
		}
		if wh.Method != "POST" || wh.Path != "" {
			t.Errorf("template %s: method %q path %q, want POST to the service url", tmplName, wh.Method, wh.Path)
		}
		// Argo CD would reject a template using a function it lacks;
		// parsing with the Sprig subset proves the body needs no other.
		if _, err := template.New(tmplName).Funcs(argocdtest.TemplateFuncs()).Parse(wh.Body); err != nil {
			t.Errorf("template %s: %v", tmplName, err)
		}
		marker := `"trigger": "` + string(tr) + `"`
		if strings.Count(wh.Body, marker) != 1 {
			t.Errorf("template %s does not name its trigger once with %s", tmplName, marker)
		}
		generic := strings.Replace(wh.Body, marker, `"trigger": "TRIGGER"`, 1)
		if first == "" {
			first = generic
		} else if diff := cmp.Diff(first, generic); diff != "" {
			t.Errorf("template %s differs from the others beyond its trigger name:\n%s", tmplName, diff)
		}
	}
}

// TestShippedTemplatesRender renders every shipped template, the way Argo
// CD does, over every Application manifest of the corpus; the result must
// be JSON that ParseNotification reads. The corpus health stubs have no
// metadata: their bodies parse as JSON and are refused for the missing
// application name.
func TestShippedTemplatesRender(t *testing.T) {
	cfg := loadConfig(t)
	ctx := map[string]string{"argocdUrl": "https://argocd.example.com"}
	for _, path := range corpus.Glob(t, "argocd/application__*.yaml") {
		app, err := argocdtest.LoadApplication(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range argocd.Triggers {
			t.Run(filepath.Base(path)+"/"+string(tr), func(t *testing.T) {
				body, err := cfg.RenderWebhookBody("patchctl-app-event-"+string(tr), "patchctl", app, ctx)
				if err != nil {
					t.Fatalf("render: %v", err)
				}
				if !json.Valid(body) {
					t.Fatalf("rendered body is not JSON:\n%s", body)
				}
				n, err := argocd.ParseNotification(body)
				if argocdtest.Name(app) == "" {
					var pe *patchctl.Error
					if !errors.As(err, &pe) || pe.Code != patchctl.CodeInvalid || pe.Field != "app" {
						t.Fatalf("app without a name: err = %v, want CodeInvalid on app", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("ParseNotification: %v\n%s", err, body)
				}
				if n.Trigger != tr || n.App != argocdtest.Name(app) || n.ArgoCDURL != ctx["argocdUrl"] {
					t.Errorf("got trigger %q app %q url %q", n.Trigger, n.App, n.ArgoCDURL)
				}
			})
		}
	}
}

// The one corpus Application with a full status, field by field.
func TestShippedTemplateFullStatus(t *testing.T) {
	app := loadApp(t, "argocd/application__diff-cache.yaml")
	n, err := argocd.ParseNotification(argocdtest.RenderNotification(t, app, "on-deployed"))
	if err != nil {
		t.Fatal(err)
	}
	const sha = "ea8759964626a583667a2bfd08f334ec2070040a"
	want := &argocd.Notification{
		Trigger:              argocd.TriggerDeployed,
		App:                  "velero-test",
		AppNamespace:         "argo-cd",
		Project:              "sre",
		DestinationName:      "gke-alpha-01-europe-west1",
		DestinationNamespace: "test-lla",
		RepoURL:              "https://github.com/foo/manifests-velero.git",
		Path:                 "instances/test",
		TargetRevision:       "test-lla",
		SyncStatus:           argocd.SyncSynced,
		HealthStatus:         argocd.HealthHealthy,
		// The fixture's status.sync.revision is a placeholder ("rev1");
		// the operation's revision is what was deployed.
		Revision:          sha,
		SyncRevision:      "rev1",
		OperationPhase:    argocd.PhaseSucceeded,
		OperationMessage:  "successfully synced (all tasks run)",
		OperationRevision: sha,
		StartedAt:         time.Date(2024, 3, 5, 7, 33, 3, 0, time.UTC),
		FinishedAt:        time.Date(2024, 3, 5, 7, 33, 4, 0, time.UTC),
		HistoryID:         23,
		HasHistory:        true,
		HistoryRevision:   sha,
		HistoryDeployedAt: time.Date(2024, 3, 5, 7, 33, 4, 0, time.UTC),
		ArgoCDURL:         "https://argocd.example.com",
	}
	if diff := cmp.Diff(want, n); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

// Variants of the corpus Application, built in memory, for the parts of the
// template the corpus does not exercise.
func TestShippedTemplateVariants(t *testing.T) {
	base := loadApp(t, "argocd/application__diff-cache.yaml")
	helmApp := loadApp(t, "argocd/application__live-child-application.yaml")
	tests := []struct {
		name  string
		app   func() argocdtest.App
		check func(t *testing.T, n *argocd.Notification)
	}{
		{
			name: "helm chart source with automated sync",
			app:  func() argocdtest.App { return argocdtest.Clone(helmApp) },
			check: func(t *testing.T, n *argocd.Notification) {
				if n.Chart != "argo-workflows" || n.TargetRevision != "0.45.27" || n.Path != "" || !n.AutoSync || n.HasHistory {
					t.Errorf("got %+v", n)
				}
			},
		},
		{
			name: "automated with enabled false",
			app: func() argocdtest.App {
				a := argocdtest.Clone(helmApp)
				a["spec"].(map[string]any)["syncPolicy"].(map[string]any)["automated"].(map[string]any)["enabled"] = false
				return a
			},
			check: func(t *testing.T, n *argocd.Notification) {
				if n.AutoSync {
					t.Error("auto_sync true with automated.enabled false")
				}
			},
		},
		{
			name: "empty automated block still enables auto-sync",
			app: func() argocdtest.App {
				a := argocdtest.Clone(base)
				a["spec"].(map[string]any)["syncPolicy"].(map[string]any)["automated"] = map[string]any{}
				return a
			},
			check: func(t *testing.T, n *argocd.Notification) {
				if !n.AutoSync {
					t.Error("auto_sync false with automated: {}")
				}
			},
		},
		{
			name: "multi-source application",
			app: func() argocdtest.App {
				a := argocdtest.Clone(base)
				spec := a["spec"].(map[string]any)
				delete(spec, "source")
				spec["sources"] = []any{
					map[string]any{"repoURL": "https://charts.example.com", "chart": "velero", "targetRevision": "7.1.0"},
					map[string]any{"repoURL": "https://github.com/foo/values.git", "ref": "values"},
				}
				st := a["status"].(map[string]any)
				st["sync"].(map[string]any)["revisions"] = []any{"7.1.0", "0123456789abcdef0123456789abcdef01234567"}
				st["operationState"].(map[string]any)["syncResult"] = map[string]any{
					"revisions": []any{"7.1.0", "0123456789abcdef0123456789abcdef01234567"}}
				return a
			},
			check: func(t *testing.T, n *argocd.Notification) {
				want := []string{"7.1.0", "0123456789abcdef0123456789abcdef01234567"}
				if n.Chart != "velero" || n.RepoURL != "https://charts.example.com" || n.TargetRevision != "7.1.0" ||
					!cmp.Equal(n.SyncRevisions, want) || !cmp.Equal(n.OperationRevisions, want) || n.OperationRevision != "" {
					t.Errorf("got %+v", n)
				}
			},
		},
		{
			name: "running sync without history",
			app: func() argocdtest.App {
				a := argocdtest.Clone(base)
				st := a["status"].(map[string]any)
				delete(st, "history")
				argocdtest.SetOperationState(a, argocd.PhaseRunning, "abc", time.Date(2024, 3, 6, 9, 0, 0, 0, time.UTC), time.Time{})
				return a
			},
			check: func(t *testing.T, n *argocd.Notification) {
				if n.OperationPhase != argocd.PhaseRunning || !n.FinishedAt.IsZero() || n.HasHistory || n.OperationRevision != "" || n.Revision != "rev1" {
					t.Errorf("got %+v", n)
				}
			},
		},
		{
			name: "messages are escaped",
			app: func() argocdtest.App {
				a := argocdtest.Clone(base)
				a["status"].(map[string]any)["operationState"].(map[string]any)["message"] = "one or more \"objects\" failed:\n\t<Deployment> & co \u2014 done\\"
				return a
			},
			check: func(t *testing.T, n *argocd.Notification) {
				if n.OperationMessage != "one or more \"objects\" failed:\n\t<Deployment> & co \u2014 done\\" {
					t.Errorf("message %q", n.OperationMessage)
				}
			},
		},
		{
			name: "no status at all",
			app: func() argocdtest.App {
				a := argocdtest.Clone(base)
				delete(a, "status")
				return a
			},
			check: func(t *testing.T, n *argocd.Notification) {
				if n.SyncStatus != "" || n.HealthStatus != "" || n.HasHistory || n.Revision != "" {
					t.Errorf("got %+v", n)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := argocdtest.RenderNotification(t, tt.app(), string(argocd.TriggerSyncFailed))
			n, err := argocd.ParseNotification(body)
			if err != nil {
				t.Fatalf("%v\n%s", err, body)
			}
			tt.check(t, n)
		})
	}
}

func TestParseNotificationErrors(t *testing.T) {
	valid := func(edit func(m map[string]any)) string {
		m := map[string]any{"schema": argocd.Schema, "trigger": "on-deployed", "app": "web", "history_id": 3}
		if edit != nil {
			edit(m)
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	tests := []struct {
		name, body string
		code       patchctl.Code
		field      string
		contains   string
	}{
		{"empty", "  ", patchctl.CodeInvalid, "", "empty"},
		{"malformed", "{\n\"schema\": \"patchctl.argocd.v1\",\n\"app\": web}", patchctl.CodeInvalid, "", "line 3, column 8"},
		{"not an object", `["web"]`, patchctl.CodeInvalid, "(document)", "array"},
		{"missing schema", `{"trigger": "on-deployed", "app": "web"}`, patchctl.CodeInvalid, "schema", "not rendered by patchctl"},
		{"other schema", valid(func(m map[string]any) { m["schema"] = "patchctl.argocd.v2" }), patchctl.CodeInvalid, "schema", "v2"},
		{"unknown trigger", valid(func(m map[string]any) { m["trigger"] = "on-created" }), patchctl.CodeInvalid, "trigger", "on-created"},
		{"missing app name", valid(func(m map[string]any) { delete(m, "app") }), patchctl.CodeInvalid, "app", "missing application name"},
		{"empty app name", valid(func(m map[string]any) { m["app"] = "" }), patchctl.CodeInvalid, "app", "missing"},
		{"bad finished_at", valid(func(m map[string]any) { m["finished_at"] = "yesterday" }), patchctl.CodeInvalid, "finished_at", "RFC 3339"},
		{"negative history id", valid(func(m map[string]any) { m["history_id"] = -1 }), patchctl.CodeInvalid, "history_id", "negative"},
		{"history id not a number", valid(func(m map[string]any) { m["history_id"] = "23" }), patchctl.CodeInvalid, "history_id", "JSON string where a JSON number"},
		{"too large", valid(func(m map[string]any) { m["operation_message"] = strings.Repeat("x", argocd.MaxNotificationBytes) }), patchctl.CodeTooLarge, "", "larger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := argocd.ParseNotification([]byte(tt.body))
			var pe *patchctl.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *patchctl.Error", err, err)
			}
			if pe.Code != tt.code || pe.Field != tt.field || !strings.Contains(pe.Message, tt.contains) {
				t.Errorf("got code %s field %q message %q; want code %s field %q containing %q",
					pe.Code, pe.Field, pe.Message, tt.code, tt.field, tt.contains)
			}
		})
	}
	// A null history id is "no history yet".
	n, err := argocd.ParseNotification([]byte(valid(func(m map[string]any) { m["history_id"] = nil })))
	if err != nil || n.HasHistory {
		t.Errorf("null history_id: %+v, %v", n, err)
	}
}

func TestVerifyToken(t *testing.T) {
	const secret = "s3cr3t-token-value"
	tests := []struct {
		name, header, expected string
		ok                     bool
		contains               string
	}{
		{"match", secret, secret, true, ""},
		{"wrong", "guess", secret, false, "missing or wrong"},
		{"missing", "", secret, false, "missing or wrong"},
		{"prefix", secret[:5], secret, false, "missing or wrong"},
		{"longer", secret + "x", secret, false, "missing or wrong"},
		{"trailing newline from a secret file", secret + "\n", secret, false, "missing or wrong"},
		{"no secret configured", "", "", false, "no shared secret"},
		{"no secret configured, header sent", "anything", "", false, "no shared secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := argocd.VerifyToken(tt.header, tt.expected)
			if tt.ok {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if patchctl.ErrorCode(err) != patchctl.CodeUnauthorized || !strings.Contains(patchctl.ErrorMessage(err), tt.contains) {
				t.Errorf("err = %v, want CodeUnauthorized containing %q", err, tt.contains)
			}
			if strings.Contains(err.Error(), tt.expected) && tt.expected != "" {
				t.Errorf("error reveals the secret: %v", err)
			}
		})
	}
}

package argocdtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"text/template"

	"go.yaml.in/yaml/v3"
)

// NotificationsConfigPath is the path of the shipped argocd-notifications-cm
// snippet (deploy/argocd/argocd-notifications-cm.yaml in the repository).
func NotificationsConfigPath() string {
	_, file, _, _ := runtime.Caller(0)
	// internal/integration/argocd/argocdtest/notifications.go -> repository root
	root := filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
	return filepath.Join(root, "deploy", "argocd", "argocd-notifications-cm.yaml")
}

// WebhookService is a service.webhook.<name> entry.
type WebhookService struct {
	URL     string `yaml:"url"`
	Headers []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"headers"`
}

// WebhookTemplate is the webhook part of a template for one service.
type WebhookTemplate struct {
	Method string `yaml:"method"`
	Path   string `yaml:"path"`
	Body   string `yaml:"body"`
}

// TriggerCondition is one condition of a trigger.
type TriggerCondition struct {
	Description string   `yaml:"description"`
	When        string   `yaml:"when"`
	OncePer     string   `yaml:"oncePer"`
	Send        []string `yaml:"send"`
}

// Subscription is an entry of the subscriptions key.
type Subscription struct {
	Recipients []string `yaml:"recipients"`
	Triggers   []string `yaml:"triggers"`
	Selector   string   `yaml:"selector"`
}

// NotificationsConfig is an argocd-notifications-cm ConfigMap read the way
// Argo CD reads its data keys.
type NotificationsConfig struct {
	Webhooks      map[string]WebhookService             // by service name
	Templates     map[string]map[string]WebhookTemplate // template name -> service -> webhook part
	Triggers      map[string][]TriggerCondition
	Subscriptions []Subscription
}

// LoadNotificationsConfig parses a ConfigMap manifest.
func LoadNotificationsConfig(path string) (*NotificationsConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cm struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(raw, &cm); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if cm.Kind != "ConfigMap" || cm.Metadata.Name != "argocd-notifications-cm" {
		return nil, fmt.Errorf("%s: not the argocd-notifications-cm ConfigMap", path)
	}
	cfg := &NotificationsConfig{
		Webhooks:  map[string]WebhookService{},
		Templates: map[string]map[string]WebhookTemplate{},
		Triggers:  map[string][]TriggerCondition{},
	}
	for k, v := range cm.Data {
		var err error
		switch {
		case strings.HasPrefix(k, "service.webhook."):
			var s WebhookService
			err = yaml.Unmarshal([]byte(v), &s)
			cfg.Webhooks[strings.TrimPrefix(k, "service.webhook.")] = s
		case strings.HasPrefix(k, "template."):
			var t struct {
				Webhook map[string]WebhookTemplate `yaml:"webhook"`
			}
			err = yaml.Unmarshal([]byte(v), &t)
			cfg.Templates[strings.TrimPrefix(k, "template.")] = t.Webhook
		case strings.HasPrefix(k, "trigger."):
			var conds []TriggerCondition
			err = yaml.Unmarshal([]byte(v), &conds)
			cfg.Triggers[strings.TrimPrefix(k, "trigger.")] = conds
		case k == "subscriptions":
			err = yaml.Unmarshal([]byte(v), &cfg.Subscriptions)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: data key %s: %w", path, k, err)
		}
	}
	return cfg, nil
}

// RenderWebhookBody executes the body of a template's webhook for a
// service as Argo CD does: Go text/template with Sprig functions over the
// variables Argo CD provides (app, context, secrets, serviceType,
// recipient). Only the Sprig functions in TemplateFuncs are available, so
// a template using any other fails to parse here.
func (c *NotificationsConfig) RenderWebhookBody(templateName, service string, app App, context map[string]string) ([]byte, error) {
	webhooks, ok := c.Templates[templateName]
	if !ok {
		return nil, fmt.Errorf("no template %s", templateName)
	}
	wh, ok := webhooks[service]
	if !ok {
		return nil, fmt.Errorf("template %s has no webhook for service %s", templateName, service)
	}
	tmpl, err := template.New(templateName + service).Funcs(TemplateFuncs()).Parse(wh.Body)
	if err != nil {
		return nil, err
	}
	if context == nil {
		context = map[string]string{}
	}
	vars := map[string]any{
		"app":         map[string]any(Clone(app)),
		"context":     context,
		"secrets":     map[string][]byte{},
		"serviceType": service,
		"recipient":   "",
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, vars); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// RenderNotification renders, with the shipped configuration, the body
// Argo CD sends to patchctl when trigger (e.g. "on-deployed") fires for
// app: the template the patchctl-<trigger> trigger sends, for the patchctl
// service, with argocdUrl https://argocd.example.com in the context.
func RenderNotification(t testing.TB, app App, trigger string) []byte {
	t.Helper()
	cfg, err := LoadNotificationsConfig(NotificationsConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	conds, ok := cfg.Triggers["patchctl-"+trigger]
	if !ok || len(conds) != 1 || len(conds[0].Send) != 1 {
		t.Fatalf("shipped configuration has no single-template trigger patchctl-%s", trigger)
	}
	body, err := cfg.RenderWebhookBody(conds[0].Send[0], "patchctl", app,
		map[string]string{"argocdUrl": "https://argocd.example.com"})
	if err != nil {
		t.Fatalf("rendering %s: %v", conds[0].Send[0], err)
	}
	return body
}

// TemplateFuncs returns the Sprig functions the shipped templates use,
// with Sprig's behaviour (github.com/Masterminds/sprig/v3, which Argo CD
// notifications make available to templates): dig, toJson, dict, list,
// first, last and kindIs. Like Sprig's, dig panics on a path through a
// non-map and first/last panic on a non-list; text/template turns the
// panic into an execution error, which is what Argo CD would log.
func TemplateFuncs() template.FuncMap {
	return template.FuncMap{
		"dig":    sprigDig,
		"toJson": sprigToJSON,
		"dict":   sprigDict,
		"list":   func(v ...any) []any { return v },
		"first":  func(l any) any { return pick(l, "first", 0) },
		"last":   func(l any) any { return pick(l, "last", -1) },
		"kindIs": func(kind string, v any) bool { return reflect.ValueOf(v).Kind().String() == kind },
	}
}

// sprigDig: dig "k1" "k2" ... default dict.
func sprigDig(ps ...any) (any, error) {
	if len(ps) < 3 {
		panic("dig needs at least three arguments")
	}
	dict := ps[len(ps)-1].(map[string]any)
	def := ps[len(ps)-2]
	keys := make([]string, len(ps)-2)
	for i := range keys {
		keys[i] = ps[i].(string)
	}
	var v any = dict
	for i, k := range keys {
		step, ok := v.(map[string]any)[k]
		if !ok {
			return def, nil
		}
		if i == len(keys)-1 {
			return step, nil
		}
		v = step
	}
	return def, nil
}

func sprigToJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

func sprigDict(v ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i < len(v); i += 2 {
		k := fmt.Sprint(v[i])
		if i+1 >= len(v) {
			m[k] = ""
			break
		}
		m[k] = v[i+1]
	}
	return m
}

func pick(l any, name string, i int) any {
	v := reflect.ValueOf(l)
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
		if v.Len() == 0 {
			return nil
		}
		if i < 0 {
			i = v.Len() - 1
		}
		return v.Index(i).Interface()
	}
	panic(fmt.Sprintf("Cannot find %s on type %s", name, v.Kind()))
}

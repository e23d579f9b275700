package helm

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

func read(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(corpus.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Helm's command-test goldens use fake releases deployed at this instant.
var fake = time.Date(1977, 9, 2, 22, 4, 5, 0, time.UTC)

func rev(n int, status Status, description string, rollbackOf int) Revision {
	return Revision{Revision: n, Updated: fake, Status: status, Chart: "foo-0.1.0-beta.1", ChartName: "foo",
		ChartVersion: "0.1.0-beta.1", AppVersion: "1.0", Description: description, RollbackOf: rollbackOf}
}

func TestParseHistoryCorpus(t *testing.T) {
	plain := []Revision{rev(3, StatusSuperseded, "Release mock", 0), rev(4, StatusDeployed, "Release mock", 0)}
	rollback := []Revision{
		rev(1, StatusSuperseded, "Install complete", 0),
		rev(2, StatusSuperseded, "Upgrade complete", 0),
		rev(3, StatusDeployed, "Rollback to 1", 1),
	}
	tests := map[string][]Revision{
		"helm/helm__history.json":               plain,
		"helm/helm__history.yaml":               plain,
		"helm/helm__history-with-rollback.json": rollback,
		"helm/helm__history-with-rollback.yaml": rollback,
	}
	for rel, want := range tests {
		t.Run(rel, func(t *testing.T) {
			got, err := ParseHistory(read(t, rel))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// Older Helm prints no rollback_revision; the description says it.
func TestParseHistoryRollbackFromDescription(t *testing.T) {
	got, err := ParseHistory([]byte(`[{"revision":2,"updated":"2024-05-01T10:00:00.123456+02:00","status":"deployed","chart":"argo-cd-10.1.1","app_version":"v3.4.4","description":"Rollback to 1"},
{"revision":1,"updated":"2024-04-30T09:00:00Z","status":"superseded","chart":"argo-cd-10.1.0","app_version":"v3.4.3","description":"Install complete"}]`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Revision{
		{Revision: 1, Updated: time.Date(2024, 4, 30, 9, 0, 0, 0, time.UTC), Status: StatusSuperseded, Chart: "argo-cd-10.1.0",
			ChartName: "argo-cd", ChartVersion: "10.1.0", AppVersion: "v3.4.3", Description: "Install complete"},
		{Revision: 2, Updated: time.Date(2024, 5, 1, 8, 0, 0, 123456000, time.UTC), Status: StatusDeployed, Chart: "argo-cd-10.1.1",
			ChartName: "argo-cd", ChartVersion: "10.1.1", AppVersion: "v3.4.4", Description: "Rollback to 1", RollbackOf: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestPreviousStable(t *testing.T) {
	h := func(statuses ...Status) []Revision {
		var out []Revision
		for i, s := range statuses {
			out = append(out, Revision{Revision: i + 1, Status: s})
		}
		return out
	}
	tests := []struct {
		name    string
		history []Revision
		current int
		want    int // 0: expect an error
		code    patchctl.Code
	}{
		{"upgrade over a superseded revision", h(StatusSuperseded, StatusSuperseded, StatusDeployed), 3, 2, ""},
		{"first revision has none before it", h(StatusDeployed), 1, 0, patchctl.CodeNotFound},
		// helm rollback 1 after a bad upgrade: 3 re-deploys 1, and 2 stays
		// superseded (it did deploy), so it is the one before 3.
		{"after a rollback (corpus shape)", h(StatusSuperseded, StatusSuperseded, StatusDeployed), 3, 2, ""},
		{"failed upgrade, then rollback", h(StatusSuperseded, StatusFailed, StatusDeployed), 3, 1, ""},
		// A failed upgrade leaves the previous revision deployed.
		{"failed upgrade is current", h(StatusDeployed, StatusFailed), 2, 1, ""},
		{"upgrade still pending", h(StatusSuperseded, StatusSuperseded, StatusPendingUpgrade), 3, 2, ""},
		{"pending and failed are skipped", h(StatusSuperseded, StatusFailed, StatusPendingRollback, StatusFailed, StatusDeployed), 5, 1, ""},
		{"uninstalled with --keep-history is skipped", h(StatusSuperseded, StatusUninstalled, StatusDeployed), 3, 1, ""},
		{"nothing stable before", h(StatusFailed, StatusPendingInstall, StatusDeployed), 3, 0, patchctl.CodeNotFound},
		{"rollback of a rollback", h(StatusSuperseded, StatusSuperseded, StatusSuperseded, StatusDeployed), 4, 3, ""},
		{"current cut off by --max", h(StatusSuperseded, StatusSuperseded), 7, 2, ""},
		{"asking about an older revision", h(StatusSuperseded, StatusFailed, StatusSuperseded, StatusDeployed), 3, 1, ""},
		{"invalid current", h(StatusDeployed), 0, 0, patchctl.CodeInvalid},
		{"empty history", nil, 3, 0, patchctl.CodeNotFound},
		{"unsorted input", []Revision{{Revision: 5, Status: StatusDeployed}, {Revision: 2, Status: StatusSuperseded},
			{Revision: 4, Status: StatusFailed}, {Revision: 3, Status: StatusSuperseded}}, 5, 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PreviousStable(tt.history, tt.current)
			if tt.want == 0 {
				if patchctl.ErrorCode(err) != tt.code {
					t.Fatalf("PreviousStable = %+v, %v; want error %s", got, err, tt.code)
				}
				return
			}
			if err != nil || got.Revision != tt.want {
				t.Fatalf("PreviousStable = %d, %v; want %d", got.Revision, err, tt.want)
			}
		})
	}

	// On the corpus rollback history.
	history, err := ParseHistory(read(t, "helm/helm__history-with-rollback.json"))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := Current(history)
	if err != nil || cur.Revision != 3 || cur.RollbackOf != 1 {
		t.Fatalf("Current = %+v, %v", cur, err)
	}
	prev, err := PreviousStable(history, cur.Revision)
	if err != nil || prev.Revision != 2 || prev.ChartVersion != "0.1.0-beta.1" {
		t.Fatalf("PreviousStable = %+v, %v", prev, err)
	}
	if _, err := Current([]Revision{{Revision: 1, Status: StatusFailed}}); patchctl.ErrorCode(err) != patchctl.CodeNotFound {
		t.Errorf("Current without a deployed revision: %v", err)
	}
}

func TestSplitChart(t *testing.T) {
	tests := []struct{ in, name, version string }{
		{"foo-0.1.0-beta.1", "foo", "0.1.0-beta.1"},
		{"argo-cd-10.1.1", "argo-cd", "10.1.1"},
		{"hello-world-0.1.0", "hello-world", "0.1.0"},
		{"podinfo-6.14.1", "podinfo", "6.14.1"},
		{"redis-ha-4.38.0", "redis-ha", "4.38.0"},
		{"k8s-3scale-operator-1.2.3+build.7", "k8s-3scale-operator", "1.2.3+build.7"},
		{"app2-v1.0.0", "app2", "v1.0.0"},
		{"legacy-chart-2.1", "legacy-chart", "2.1"}, // not SemVer: last dash before a digit
		{"nochart", "nochart", ""},
		{"-1.0.0", "-1.0.0", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		n, v := SplitChart(tt.in)
		if n != tt.name || v != tt.version {
			t.Errorf("SplitChart(%q) = %q, %q; want %q, %q", tt.in, n, v, tt.name, tt.version)
		}
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"1977-09-02T22:04:05Z", fake, false},
		{"2024-05-01T10:00:00.123456789+02:00", time.Date(2024, 5, 1, 8, 0, 0, 123456789, time.UTC), false},
		// helm list: Go's time.String, sometimes with a monotonic reading.
		{"2024-05-01 10:00:00.123456 +0200 CEST", time.Date(2024, 5, 1, 8, 0, 0, 123456000, time.UTC), false},
		{"2024-05-01 08:00:00 +0000 UTC m=+0.052731", time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC), false},
		{"2024-05-01 10:00:00 +0200 +0200", time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC), false},
		// helm history table output (time.ANSIC).
		{"Fri Sep  2 22:04:05 1977", fake, false},
		{"", time.Time{}, false},
		{"yesterday", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in)
		if (err != nil) != tt.wantErr || !got.Equal(tt.want) || (err == nil && got.Location() != time.UTC) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseMetadataCorpus(t *testing.T) {
	want := &Metadata{
		Name: "thomas-guide", Namespace: "default", Revision: 1, Status: StatusDeployed, DeployedAt: fake,
		Chart: "foo", Version: "0.1.0-beta.1", AppVersion: "1.0",
		Annotations: map[string]string{"category": "web-apps", "supported": "true"},
		Labels:      map[string]string{"key1": "value1"},
		Dependencies: []Dependency{
			{Name: "cool-plugin", Version: "1.0.0", Repository: "https://coolplugin.io/charts", Condition: "coolPlugin.enabled", Enabled: true},
			{Name: "crds", Version: "2.7.1", Condition: "crds.enabled"},
		},
	}
	for _, rel := range []string{"helm/helm__get-metadata.json", "helm/helm__get-metadata.yaml"} {
		got, err := ParseMetadata(read(t, rel))
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", rel, diff)
		}
	}
}

func TestParseStatus(t *testing.T) {
	lastDeployed := time.Date(2016, 1, 16, 0, 0, 0, 0, time.UTC)
	tests := map[string]*ReleaseStatus{
		"helm/helm__status.json": {Name: "flummoxed-chickadee", Namespace: "default", Status: StatusDeployed,
			LastDeployed: lastDeployed, Notes: "release notes"},
		"helm/helm__status-with-resources.json": {Name: "flummoxed-chickadee", Namespace: "default", Status: StatusDeployed,
			LastDeployed: lastDeployed},
	}
	for rel, want := range tests {
		got, err := ParseStatus(read(t, rel))
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", rel, diff)
		}
	}
	// A real release carries its chart and revision.
	got, err := ParseStatus([]byte(`name: podinfo
namespace: apps
version: 7
info:
  first_deployed: "2024-04-30T09:00:00Z"
  last_deployed: "2024-05-01T08:00:00Z"
  description: Upgrade complete
  status: deployed
chart:
  metadata:
    name: podinfo
    version: 6.14.1
    appVersion: 6.14.1
manifest: |
  ---
  kind: Service
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &ReleaseStatus{Name: "podinfo", Namespace: "apps", Revision: 7, Status: StatusDeployed, Description: "Upgrade complete",
		FirstDeployed: time.Date(2024, 4, 30, 9, 0, 0, 0, time.UTC), LastDeployed: time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC),
		ChartName: "podinfo", ChartVersion: "6.14.1", AppVersion: "6.14.1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status YAML (-want +got):\n%s", diff)
	}
}

func TestParseList(t *testing.T) {
	got, err := ParseList(read(t, "helm/helm__list-all-short-json.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range got {
		names = append(names, r.Name)
	}
	if diff := cmp.Diff([]string{"drax", "gamora", "groot", "hummingbird", "iguana", "rocket", "starlord", "thanos"}, names); diff != "" {
		t.Errorf("short list (-want +got):\n%s", diff)
	}

	// helm list -o json prints revision as a string and updated with Go's
	// time.String.
	full := `[{"name":"podinfo","namespace":"apps","revision":"7","updated":"2024-05-01 10:00:00.123456789 +0200 CEST","status":"deployed","chart":"podinfo-6.14.1","app_version":"6.14.1"},
{"name":"argocd","namespace":"argocd","revision":"2","updated":"2024-04-30 09:00:00.5 +0000 UTC","status":"failed","chart":"argo-cd-10.1.1","app_version":"v3.4.4"}]`
	want := []Release{
		{Name: "podinfo", Namespace: "apps", Revision: 7, Updated: time.Date(2024, 5, 1, 8, 0, 0, 123456789, time.UTC), Status: StatusDeployed,
			Chart: "podinfo-6.14.1", ChartName: "podinfo", ChartVersion: "6.14.1", AppVersion: "6.14.1"},
		{Name: "argocd", Namespace: "argocd", Revision: 2, Updated: time.Date(2024, 4, 30, 9, 0, 0, 500000000, time.UTC), Status: StatusFailed,
			Chart: "argo-cd-10.1.1", ChartName: "argo-cd", ChartVersion: "10.1.1", AppVersion: "v3.4.4"},
	}
	for _, in := range []string{full, "- name: podinfo\n  namespace: apps\n  revision: \"7\"\n  updated: 2024-05-01 10:00:00.123456789 +0200 CEST\n  status: deployed\n  chart: podinfo-6.14.1\n  app_version: 6.14.1\n" +
		"- name: argocd\n  namespace: argocd\n  revision: \"2\"\n  updated: 2024-04-30 09:00:00.5 +0000 UTC\n  status: failed\n  chart: argo-cd-10.1.1\n  app_version: v3.4.4\n"} {
		got, err := ParseList([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("list (-want +got):\n%s", diff)
		}
	}
}

func TestParseChartCorpus(t *testing.T) {
	tests := map[string]*Chart{
		"helm/argo-cd-chart__Chart.yaml": {APIVersion: "v2", Name: "argo-cd", Version: "10.1.1", AppVersion: "v3.4.4",
			Description: "A Helm chart for Argo CD, a declarative, GitOps continuous delivery tool for Kubernetes.",
			KubeVersion: ">=1.25.0-0",
			Dependencies: []Dependency{{Name: "redis-ha", Version: "4.38.0",
				Repository: "https://dandydeveloper.github.io/charts/", Condition: "redis-ha.enabled"}}},
		"helm/hello-world__Chart.yaml": {APIVersion: "v2", Name: "hello-world", Version: "0.1.0", AppVersion: "1.16.0",
			Description: "A Helm chart for Kubernetes", Type: "application"},
		"helm/podinfo__Chart.yaml": {APIVersion: "v1", Name: "podinfo", Version: "6.14.1", AppVersion: "6.14.1",
			Description: "Podinfo Helm chart for Kubernetes", KubeVersion: ">=1.23.0-0"},
	}
	for rel, want := range tests {
		got, err := ParseChart(read(t, rel))
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", rel, diff)
		}
	}
}

// An unquoted appVersion: 1.10 is the text 1.10, not the float 1.1.
func TestParseChartKeepsScalarText(t *testing.T) {
	c, err := ParseChart([]byte("apiVersion: v2\nname: app\nversion: 1.10.0\nappVersion: 1.10\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.AppVersion != "1.10" {
		t.Errorf("AppVersion = %q, want 1.10", c.AppVersion)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		parse    func([]byte) error
		in       string
		code     patchctl.Code
		field    string
		contains string
	}{
		{"history empty", history, "  \n", patchctl.CodeInvalid, "", "empty"},
		{"history malformed JSON", history, "[{\"revision\": 1,\n \"status\": deployed}]", patchctl.CodeInvalid, "", "line 2, column 12"},
		{"history malformed YAML", history, "- revision: 1\n  status: [deployed\n", patchctl.CodeInvalid, "", "line"},
		{"history object, not list", history, `{"revision": 1}`, patchctl.CodeInvalid, "(document)", "JSON object where a JSON array"},
		{"history wrong type", history, `[{"revision": "one", "status": "deployed"}]`, patchctl.CodeInvalid, "revision", "JSON string where a JSON number"},
		{"history missing revision", history, `[{"status": "deployed"}]`, patchctl.CodeInvalid, "[0].revision", "missing"},
		{"history zero revision", history, `[{"revision": 0, "status": "deployed"}]`, patchctl.CodeInvalid, "[0].revision", "1 or more"},
		{"history duplicate revision", history, `[{"revision": 2, "status": "superseded"}, {"revision": 2, "status": "deployed"}]`, patchctl.CodeInvalid, "[1].revision", "twice"},
		{"history missing status", history, "- revision: 1\n", patchctl.CodeInvalid, "[0].status", "missing"},
		{"history bad time", history, `[{"revision": 1, "status": "deployed", "updated": "last week"}]`, patchctl.CodeInvalid, "[0].updated", "not a time"},
		{"history map as chart", history, "- revision: 1\n  status: deployed\n  chart: {name: foo}\n", patchctl.CodeInvalid, "", "expected a scalar"},
		{"history object as chart", history, `[{"revision": 1, "status": "deployed", "chart": {"name": "foo"}}]`, patchctl.CodeInvalid, "", "expected a string"},
		{"history negative rollback", history, `[{"revision": 2, "status": "deployed", "rollback_revision": -1}]`, patchctl.CodeInvalid, "[0].rollback_revision", "negative"},
		{"metadata no name", metadata, `{"revision": 1}`, patchctl.CodeInvalid, "name", "missing"},
		{"metadata no revision", metadata, `{"name": "x"}`, patchctl.CodeInvalid, "revision", "1 or more"},
		{"metadata bad time", metadata, "name: x\nrevision: 1\ndeployedAt: soon\n", patchctl.CodeInvalid, "deployedAt", "not a time"},
		{"status no name", status, `{"info": {"status": "deployed"}}`, patchctl.CodeInvalid, "name", "missing"},
		{"status bad time", status, `{"name": "x", "info": {"last_deployed": "noon"}}`, patchctl.CodeInvalid, "info.last_deployed", "not a time"},
		{"list bad revision", list, `[{"name": "x", "revision": "seven"}]`, patchctl.CodeInvalid, "[0].revision", "not a revision number"},
		{"list no name", list, `[{"revision": "1"}]`, patchctl.CodeInvalid, "[0].name", "missing"},
		{"list empty short name", list, `["a", ""]`, patchctl.CodeInvalid, "[1]", "empty release name"},
		{"chart no apiVersion", chart, "name: x\nversion: 1.0.0\n", patchctl.CodeInvalid, "apiVersion", "missing"},
		{"chart bad apiVersion", chart, "apiVersion: v3\nname: x\nversion: 1.0.0\n", patchctl.CodeInvalid, "apiVersion", "v1 or v2"},
		{"chart no name", chart, "apiVersion: v2\nversion: 1.0.0\n", patchctl.CodeInvalid, "name", "missing"},
		{"chart no version", chart, "apiVersion: v2\nname: x\n", patchctl.CodeInvalid, "version", "missing"},
		{"chart version not semver", chart, "apiVersion: v2\nname: x\nversion: 1.2\n", patchctl.CodeInvalid, "version", "SemVer"},
		{"chart is a list", chart, "- a\n- b\n", patchctl.CodeInvalid, "", "Chart.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.parse([]byte(tt.in))
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
	big := make([]byte, MaxInputBytes+1)
	if err := history(big); patchctl.ErrorCode(err) != patchctl.CodeTooLarge {
		t.Errorf("oversized input: %v, want CodeTooLarge", err)
	}
}

func history(b []byte) error  { _, err := ParseHistory(b); return err }
func metadata(b []byte) error { _, err := ParseMetadata(b); return err }
func status(b []byte) error   { _, err := ParseStatus(b); return err }
func list(b []byte) error     { _, err := ParseList(b); return err }
func chart(b []byte) error    { _, err := ParseChart(b); return err }

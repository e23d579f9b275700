package trivy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/importer/internal/importertest"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

func TestCorpusExpected(t *testing.T) {
	for _, rel := range importertest.Sorted(importertest.Expected(t, "trivy-json")) {
		want := importertest.Expected(t, "trivy-json")[rel]
		t.Run(rel, func(t *testing.T) {
			recs, meta, err := importertest.ParseFile(t, New(), corpus.Path(t, rel))
			if err != nil {
				t.Fatal(err)
			}
			if meta.FindingsInReport != want.Findings || len(recs) != want.Findings {
				t.Errorf("findings: meta %d, records %d, want %d", meta.FindingsInReport, len(recs), want.Findings)
			}
			if diff := cmp.Diff(want.BySeverity, meta.BySeverityRaw); diff != "" {
				t.Errorf("BySeverityRaw (-want +got):\n%s", diff)
			}
			triples := map[[3]string]bool{}
			for _, r := range recs {
				triples[[3]string{r.VulnID, r.Package, r.InstalledVersion}] = true
			}
			if len(triples) != want.DistinctTriples {
				t.Errorf("distinct triples = %d, want %d", len(triples), want.DistinctTriples)
			}
			if want.Misconfigurations != nil && meta.Misconfigurations != *want.Misconfigurations {
				t.Errorf("misconfigurations = %d, want %d", meta.Misconfigurations, *want.Misconfigurations)
			}
			if want.Secrets != nil && meta.Secrets != *want.Secrets {
				t.Errorf("secrets = %d, want %d", meta.Secrets, *want.Secrets)
			}
			importertest.CheckRecords(t, recs, meta)
			importertest.CheckIDs(t, recs)
		})
	}
}

// TestCorpusAll parses every Trivy file of the corpus, listed in
// EXPECTED.json or not, seekable and not.
func TestCorpusAll(t *testing.T) {
	for _, path := range corpus.Glob(t, "trivy/*") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			a, ma, err := importertest.ParseBytes(New(), data, true)
			if err != nil {
				t.Fatal(err)
			}
			b, mb, err := importertest.ParseBytes(New(), data, false)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(a, b); diff != "" {
				t.Errorf("seekable and plain readers differ (-seekable +plain):\n%s", diff)
			}
			if diff := cmp.Diff(ma, mb); diff != "" {
				t.Errorf("meta differs (-seekable +plain):\n%s", diff)
			}
			importertest.CheckRecords(t, a, ma)
		})
	}
}

func TestImageRecord(t *testing.T) {
	recs, meta, err := importertest.ParseFile(t, New(), corpus.Path(t, "trivy/alpine-310.json.golden"))
	if err != nil {
		t.Fatal(err)
	}
	asset := importer.AssetRef{
		Kind:   patchctl.AssetImage,
		Name:   "ghcr.io/aquasecurity/trivy-test-images:alpine-310",
		Digest: "sha256:961769676411f082461f9ef46626dd7a2d1e2b2a38e6a44364bcbecf51e66dd4",
	}
	want := &importer.Record{
		Asset:            asset,
		VulnID:           "CVE-2019-1549",
		Package:          "libcrypto1.1",
		Ecosystem:        "alpine",
		PURL:             "pkg:apk/alpine/libcrypto1.1@1.1.1c-r0?arch=x86_64&distro=3.10.2",
		InstalledVersion: "1.1.1c-r0",
		FixedVersion:     "1.1.1d-r0",
		Location:         "testdata/fixtures/images/alpine-310.tar.gz (alpine 3.10.2)",
		Severity:         patchctl.SeverityMedium,
		SeverityRaw:      "MEDIUM",
		CVSS:             5.3,
		CVSSVector:       "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N",
		Title:            "openssl: information disclosure in fork()",
		URL:              "https://avd.aquasec.com/nvd/cve-2019-1549",
		Published:        time.Date(2019, 9, 10, 17, 15, 0, 0, time.UTC),
	}
	if diff := cmp.Diff(want, recs[0]); diff != "" {
		t.Errorf("first record (-want +got):\n%s", diff)
	}
	wantMeta := &importer.Meta{
		Format:           importer.FormatTrivy,
		Tool:             "trivy",
		ToolVersion:      "dev",
		CreatedAt:        time.Date(2021, 8, 25, 12, 20, 30, 5, time.UTC),
		Assets:           []importer.AssetRef{asset},
		FindingsInReport: 4,
		BySeverityRaw:    map[string]int{"MEDIUM": 4},
	}
	if diff := cmp.Diff(wantMeta, meta); diff != "" {
		t.Errorf("meta (-want +got):\n%s", diff)
	}
}

func TestAssets(t *testing.T) {
	tests := []struct {
		file string
		want []importer.AssetRef
	}{
		{"trivy/gomod.json.golden", []importer.AssetRef{{Kind: patchctl.AssetRepository, Name: "testdata/fixtures/repo/gomod"}}},
		{"trivy/minikube-kbom.json.golden", []importer.AssetRef{{Kind: patchctl.AssetSBOM, Name: "testdata/fixtures/sbom/minikube-kbom.json"}}},
		{"trivy/defectdojo__scheme_2_many_vulns.json", []importer.AssetRef{{Kind: patchctl.AssetImage, Name: "teamdojo:latest"}}},
		{"trivy/defectdojo__kubernetes.json", []importer.AssetRef{
			{Kind: patchctl.AssetWorkload, Name: "default/Deployment/redis-follower"},
			{Kind: patchctl.AssetWorkload, Name: "default/Deployment/redis-leader"},
			{Kind: patchctl.AssetWorkload, Name: "default/Service/redis-follower"},
			{Kind: patchctl.AssetWorkload, Name: "default/Service/redis-leader"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, meta, err := importertest.ParseFile(t, New(), corpus.Path(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, meta.Assets); diff != "" {
				t.Errorf("assets (-want +got):\n%s", diff)
			}
		})
	}
}

// k8sReport is a current-format Kubernetes report: a namespaced workload, a
// cluster-scoped node, a Cluster resource and a resource whose Results come
// before its Kind and Name.
const k8sReport = `{
  "ClusterName": "prod-eu",
  "Resources": [
    {"Namespace": "shop", "Kind": "Deployment", "Name": "cart",
     "Results": [{"Target": "cart:1.2 (debian 12)", "Class": "os-pkgs", "Type": "debian",
       "Vulnerabilities": [{"VulnerabilityID": "CVE-2024-1", "PkgName": "zlib", "InstalledVersion": "1.2", "Severity": "HIGH"}]}]},
    {"Kind": "Node", "Name": "node-1", "Results": [{"Target": "node-1", "Class": "config", "Misconfigurations": [{}, {}]}]},
    {"Kind": "Cluster", "Name": "k8s", "Results": [{"Target": "k8s", "Class": "lang-pkgs", "Type": "kubernetes",
       "Vulnerabilities": [{"VulnerabilityID": "CVE-2024-2", "PkgName": "k8s.io/kubelet", "InstalledVersion": "1.29.0", "Severity": "CRITICAL"}]}]},
    {"Results": [{"Vulnerabilities": [{"VulnerabilityID": "CVE-2024-3", "PkgName": "openssl", "InstalledVersion": "3.0", "Severity": "Weird"}],
       "Target": "late", "Type": "alpine"}],
     "Kind": "StatefulSet", "Name": "db", "Namespace": "shop"}
  ]
}`

func TestKubernetesReport(t *testing.T) {
	recs, meta, err := importertest.ParseBytes(New(), []byte(k8sReport), false)
	if err != nil {
		t.Fatal(err)
	}
	cart := importer.AssetRef{Kind: patchctl.AssetWorkload, Name: "shop/Deployment/cart"}
	node := importer.AssetRef{Kind: patchctl.AssetWorkload, Name: "Node/node-1"}
	cluster := importer.AssetRef{Kind: patchctl.AssetCluster, Name: "prod-eu"}
	db := importer.AssetRef{Kind: patchctl.AssetWorkload, Name: "shop/StatefulSet/db"}
	want := []*importer.Record{
		{Asset: cart, VulnID: "CVE-2024-1", Package: "zlib", InstalledVersion: "1.2", Ecosystem: "debian",
			Location: "cart:1.2 (debian 12)", Severity: patchctl.SeverityHigh, SeverityRaw: "HIGH"},
		{Asset: cluster, VulnID: "CVE-2024-2", Package: "k8s.io/kubelet", InstalledVersion: "1.29.0", Ecosystem: "kubernetes",
			Location: "k8s", Severity: patchctl.SeverityCritical, SeverityRaw: "CRITICAL"},
		{Asset: db, VulnID: "CVE-2024-3", Package: "openssl", InstalledVersion: "3.0", Ecosystem: "alpine",
			Location: "late", Severity: patchctl.SeverityUnknown, SeverityRaw: "Weird"},
	}
	if diff := cmp.Diff(want, recs); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]importer.AssetRef{cart, node, cluster, db}, meta.Assets); diff != "" {
		t.Errorf("assets (-want +got):\n%s", diff)
	}
	if meta.Misconfigurations != 2 || meta.FindingsInReport != 3 {
		t.Errorf("misconfigurations %d, findings %d; want 2 and 3", meta.Misconfigurations, meta.FindingsInReport)
	}
}

// TestReordered feeds a report whose Results precede the artifact header:
// with a seekable input the parser takes a second pass, with a plain reader
// it holds the records; both give the same result.
func TestReordered(t *testing.T) {
	doc := `{"Results": [{"Vulnerabilities": [{"VulnerabilityID": "CVE-1", "PkgName": "a", "InstalledVersion": "1", "Severity": "LOW"}],
	  "Target": "img (alpine 3.19)", "Type": "alpine", "Secrets": [{}]}],
	 "ArtifactType": "container_image", "ArtifactName": "registry.example/app:1",
	 "Metadata": {"RepoDigests": ["registry.example/app@sha256:abc"], "ImageID": "sha256:def"}}`
	asset := importer.AssetRef{Kind: patchctl.AssetImage, Name: "registry.example/app:1", Digest: "sha256:abc"}
	want := []*importer.Record{{Asset: asset, VulnID: "CVE-1", Package: "a", InstalledVersion: "1", Ecosystem: "alpine",
		Location: "img (alpine 3.19)", Severity: patchctl.SeverityLow, SeverityRaw: "LOW"}}
	for _, seekable := range []bool{true, false} {
		recs, meta, err := importertest.ParseBytes(New(), []byte(doc), seekable)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, recs); diff != "" {
			t.Errorf("seekable=%v: records (-want +got):\n%s", seekable, diff)
		}
		if meta.FindingsInReport != 1 || meta.Secrets != 1 || len(meta.Assets) != 1 {
			t.Errorf("seekable=%v: meta %+v", seekable, meta)
		}
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name  string
		input string
		parts []string
	}{
		{"syntax", "{\n  \"SchemaVersion\": 2,\n  \"Results\": [\n    {\"Target\": \"x\" \"Type\": \"y\"}\n  ]\n}",
			[]string{"Trivy report: invalid JSON at offset 58 (line 4)", "/Results/0"}},
		{"truncated", "{\n \"SchemaVersion\": 2,\n \"Results\": [{\"Target\": \"x\", \"Vulnerabilities\": [{\"VulnerabilityID\": \"CVE-1\"",
			[]string{"unexpected end of input at offset 99 (line 3)"}},
		{"truncated after value", `{"SchemaVersion": 2`, []string{"unexpected end of input at offset 19 (line 1)"}},
		{"wrong type", "{\"SchemaVersion\": 2,\n\"Results\": {\"a\": 1}}", []string{"unexpected JSON object at offset 32 (line 2) in /Results: expected an array"}},
		{"wrong field type", `{"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"PkgName": {}}]}]}`,
			[]string{"unexpected JSON object at offset 66 (line 1) in /Results/0/Vulnerabilities/0/PkgName: expected a string"}},
		{"wrong element type", `{"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{}, 7]}]}`,
			[]string{"unexpected JSON number at offset 58 (line 1) in /Results/0/Vulnerabilities/1: expected an object"}},
		{"trailing data", `{"SchemaVersion": 2, "Results": []} {"x": 1}`, []string{"unexpected data after the end"}},
		{"grype", `{"matches": [], "source": {"type": "image"}}`, []string{"input is a Grype JSON report, not a Trivy JSON report"}},
		{"sarif", `{"version": "2.1.0", "runs": []}`, []string{"input is a SARIF log"}},
		{"empty", ``, []string{"not a Trivy JSON report: input is empty input"}},
		{"array", `[{"Target": "x"}]`, []string{"JSON array"}},
		{"unknown object", `{"hello": "world"}`, []string{"unrecognised JSON object with top-level keys hello"}},
		{"csv", "cve,epss,percentile\n", []string{"FIRST EPSS CSV"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := importertest.ParseBytes(New(), []byte(tt.input), false)
			importertest.WantInvalid(t, err, tt.parts...)
		})
	}
}

func TestEmitErrorStops(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	_, err := New().Parse(context.Background(), strings.NewReader(k8sReport), func(*importer.Record) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("err = %v after %d records, want stop after 1", err, n)
	}
}

func TestCancel(t *testing.T) {
	data := bigReport(t, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := New().Parse(ctx, strings.NewReader(string(data)), func(*importer.Record) error {
		n++
		if n == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n >= 1000 {
		t.Errorf("parsed all %d records despite cancellation", n)
	}
}

func FuzzTrivy(f *testing.F) {
	for _, s := range []string{
		k8sReport,
		`{"SchemaVersion": 2, "ArtifactName": "x", "ArtifactType": "filesystem", "Results": [{"Target": "a", "Type": "npm", "Vulnerabilities": [{"VulnerabilityID": "CVE-1", "CVSS": {"nvd": {"V3Score": 5}}}]}]}`,
		`{"ClusterName": "c", "Vulnerabilities": [{"Namespace": "n", "Kind": "Pod", "Name": "p", "Results": null}], "Misconfigurations": []}`,
		`{"Results": [{"Target": "t"}], "ArtifactName": "late"}`,
	} {
		f.Add([]byte(s))
	}
	for _, b := range importertest.SeedFiles("trivy/*") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) { importertest.FuzzParse(t, New(), data) })
}

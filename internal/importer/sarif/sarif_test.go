package sarif

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/importer/internal/importertest"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

func TestCorpusExpected(t *testing.T) {
	expected := importertest.Expected(t, "sarif")
	for _, rel := range importertest.Sorted(expected) {
		want := expected[rel]
		t.Run(rel, func(t *testing.T) {
			data, err := os.ReadFile(corpus.Path(t, rel))
			if err != nil {
				t.Fatal(err)
			}
			for _, seekable := range []bool{true, false} {
				recs, meta, err := importertest.ParseBytes(New(), data, seekable)
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
				bands := map[string]int{}
				for _, r := range recs {
					triples[[3]string{r.VulnID, r.Package, r.InstalledVersion}] = true
					band := "UNKNOWN"
					if r.CVSS > 0 {
						// The corpus has no security-severity of 0.0; CVSS
						// is 0 exactly when the rule has none.
						band = importertest.Band(r.CVSS)
					}
					bands[band]++
				}
				if len(triples) != want.DistinctTriples {
					t.Errorf("distinct triples = %d, want %d", len(triples), want.DistinctTriples)
				}
				if diff := cmp.Diff(want.BySecuritySeverityBand, bands); diff != "" {
					t.Errorf("security-severity bands (-want +got):\n%s", diff)
				}
				if want.SuppressedResults != nil && meta.Suppressed != *want.SuppressedResults {
					t.Errorf("suppressed = %d, want %d", meta.Suppressed, *want.SuppressedResults)
				}
				importertest.CheckRecords(t, recs, meta)
				importertest.CheckIDs(t, recs)
			}
		})
	}
}

func TestCorpusAll(t *testing.T) {
	importertest.ParseAll(t, New(), "sarif/*")
}

func TestRecords(t *testing.T) {
	tests := []struct {
		file  string
		index int
		want  *importer.Record
		asset []importer.AssetRef
	}{
		{"sarif/trivy__alpine-310.sarif.golden", 0, &importer.Record{
			Asset:            importer.AssetRef{Kind: patchctl.AssetImage, Name: "ghcr.io/aquasecurity/trivy-test-images:alpine-310", Digest: "sha256:961769676411f082461f9ef46626dd7a2d1e2b2a38e6a44364bcbecf51e66dd4"},
			VulnID:           "CVE-2019-1549",
			Package:          "libcrypto1.1",
			InstalledVersion: "1.1.1c-r0",
			FixedVersion:     "1.1.1d-r0",
			Location:         "testdata/fixtures/images/alpine-310.tar.gz",
			Severity:         patchctl.SeverityMedium,
			SeverityRaw:      "warning",
			CVSS:             5.3,
			CVSSVector:       "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N",
			Title:            "openssl: information disclosure in fork()",
			URL:              "https://avd.aquasec.com/nvd/cve-2019-1549",
		}, nil},
		{"sarif/grype__TestSarifPresenter_image.golden", 1, &importer.Record{
			Asset:            importer.AssetRef{Kind: patchctl.AssetImage, Name: "user-input"},
			VulnID:           "CVE-1999-0002-package-2",
			Aliases:          []string{"CVE-1999-0002"},
			Package:          "package-2",
			Ecosystem:        "deb",
			PURL:             "pkg:deb/package-2@2.2.2",
			InstalledVersion: "2.2.2",
			Location:         "user-input/somefile-2.txt",
			Severity:         patchctl.SeverityHigh,
			SeverityRaw:      "error",
			CVSS:             8.5,
			Title:            "CVE-1999-0002 critical vulnerability for package-2 package",
			URL:              "https://github.com/anchore/grype",
		}, []importer.AssetRef{{Kind: patchctl.AssetImage, Name: "user-input"}}},
		{"sarif/osv-scanner__command_test.snap__Sarif_with_vulns.sarif", 0, &importer.Record{
			Asset:            importer.AssetRef{Kind: patchctl.AssetRepository},
			VulnID:           "CVE-2021-23424",
			Aliases:          []string{"GHSA-whgm-jr23-g3j9"},
			Package:          "ansi-html",
			InstalledVersion: "0.0.1",
			Location:         "file://<rootdir>/testdata/locks-many-with-insecure/package-lock.json",
			Severity:         patchctl.SeverityHigh,
			SeverityRaw:      "warning",
			CVSS:             7.5,
			Title:            "CVE-2021-23424: Uncontrolled Resource Consumption in ansi-html",
		}, nil},
		{"sarif/defectdojo__dependency_check.sarif", 0, &importer.Record{
			Asset:       importer.AssetRef{Kind: patchctl.AssetRepository},
			VulnID:      "Disallow calling helperMissing and blockHelperMissing directly",
			Package:     "file:////src/.venv/lib/python3.9/site-packages/tastypie_swagger/static/tastypie_swagger/js/lib/handlebars-1.0.0.js",
			Location:    "file:////src/.venv/lib/python3.9/site-packages/tastypie_swagger/static/tastypie_swagger/js/lib/handlebars-1.0.0.js",
			Severity:    patchctl.SeverityHigh,
			SeverityRaw: "error",
		}, nil},
		{"sarif/defectdojo__cxf-3.4.6.sarif", 0, &importer.Record{
			Asset:            importer.AssetRef{Kind: patchctl.AssetRepository},
			VulnID:           "CVE-2008-0732-geronimo-j2ee-management_1.1_spec",
			Aliases:          []string{"CVE-2008-0732"},
			Package:          "geronimo-j2ee-management_1.1_spec",
			InstalledVersion: "1.0.1",
			Location:         "lib/geronimo-j2ee-management_1.1_spec-1.0.1.jar",
			Severity:         patchctl.SeverityLow,
			SeverityRaw:      "warning",
			CVSS:             2.1,
			Title:            "CVE-2008-0732 low vulnerability for geronimo-j2ee-management_1.1_spec package",
			URL:              "https://github.com/anchore/grype",
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			recs, meta, err := importertest.ParseFile(t, New(), corpus.Path(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, recs[tt.index]); diff != "" {
				t.Errorf("record %d (-want +got):\n%s", tt.index, diff)
			}
			if tt.asset != nil {
				if diff := cmp.Diff(tt.asset, meta.Assets); diff != "" {
					t.Errorf("assets (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// ownLog has a run whose results come before its tool, a suppressed and a
// rejected-suppression result, rules found by index and by id, a rule
// default level, a security-severity of 0.0, and version control provenance.
const ownLog = `{"version": "2.1.0", "runs": [{
  "results": [
    {"ruleId": "R1", "ruleIndex": 0, "message": {"text": "x"}, "locations": [{"physicalLocation": {"artifactLocation": {"uri": "go.sum"}}}]},
    {"ruleId": "R2", "level": "note", "message": {"text": "y"}, "suppressions": [{"kind": "external", "status": "accepted"}]},
    {"ruleId": "R2", "message": {"text": "z"}, "suppressions": [{"kind": "inSource", "status": "rejected"}]},
    {"rule": {"id": "R3"}, "level": "none", "message": {"text": "w"}}
  ],
  "versionControlProvenance": [{"repositoryUri": "https://git.example/app"}],
  "tool": {"driver": {"name": "scanner", "semanticVersion": "1.2.3", "rules": [
    {"id": "R1", "defaultConfiguration": {"level": "error"}},
    {"id": "R2", "properties": {"security-severity": "0.0"}},
    {"id": "R3"}
  ]}}
}]}`

func TestOwnLog(t *testing.T) {
	repo := importer.AssetRef{Kind: patchctl.AssetRepository, Name: "https://git.example/app"}
	want := []*importer.Record{
		{Asset: repo, VulnID: "R1", Package: "go.sum", Location: "go.sum", Severity: patchctl.SeverityHigh, SeverityRaw: "error"},
		{Asset: repo, VulnID: "R2", Package: "", Severity: patchctl.SeverityNone, SeverityRaw: "note", Suppressed: true},
		{Asset: repo, VulnID: "R2", Package: "", Severity: patchctl.SeverityNone, SeverityRaw: "warning"},
		{Asset: repo, VulnID: "R3", Package: "", Severity: patchctl.SeverityNone, SeverityRaw: "none"},
	}
	for _, seekable := range []bool{true, false} {
		recs, meta, err := importertest.ParseBytes(New(), []byte(ownLog), seekable)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, recs); diff != "" {
			t.Errorf("seekable=%v: records (-want +got):\n%s", seekable, diff)
		}
		wantMeta := &importer.Meta{Format: importer.FormatSARIF, Tool: "scanner", ToolVersion: "1.2.3", Assets: []importer.AssetRef{repo},
			FindingsInReport: 4, BySeverityRaw: map[string]int{"error": 1, "note": 1, "warning": 1, "none": 1}, Suppressed: 1}
		if diff := cmp.Diff(wantMeta, meta); diff != "" {
			t.Errorf("seekable=%v: meta (-want +got):\n%s", seekable, diff)
		}
	}
}

func TestParseMessage(t *testing.T) {
	tests := []struct {
		name, vulnID, text string
		want               importer.Record
		image              string
	}{
		{"trivy crlf", "CVE-1", "Package: openssl\r\nInstalled Version: 3.0.1\r\nVulnerability CVE-1\r\nFixed Version: 3.0.2\r\n",
			importer.Record{VulnID: "CVE-1", Package: "openssl", InstalledVersion: "3.0.1", FixedVersion: "3.0.2"}, ""},
		{"trivy without fix", "CVE-1", "Package: zlib\nInstalled Version: 1.2\nSeverity: LOW",
			importer.Record{VulnID: "CVE-1", Package: "zlib", InstalledVersion: "1.2"}, ""},
		{"not at line start", "X", "The Package: zlib is fine", importer.Record{VulnID: "X"}, ""},
		{"grype", "GHSA-1-left-pad", "A high vulnerability in npm package: left-pad, version 1.0.0 was found in image registry.example/app:1 at: /app/package.json",
			importer.Record{VulnID: "GHSA-1-left-pad", Aliases: []string{"GHSA-1"}, Package: "left-pad", Ecosystem: "npm", InstalledVersion: "1.0.0"}, "registry.example/app:1"},
		{"grype directory", "CVE-2-x", "A low vulnerability in go-module package: x, version v1.0.0 was found at: /src/go.mod",
			importer.Record{VulnID: "CVE-2-x", Aliases: []string{"CVE-2"}, Package: "x", Ecosystem: "go-module", InstalledVersion: "v1.0.0"}, ""},
		{"grype old", "CVE-3-lib", "The path lib/lib-1.jar reports lib at version 1.0  which would result in a vulnerable (java-archive) package installed",
			importer.Record{VulnID: "CVE-3-lib", Aliases: []string{"CVE-3"}, Package: "lib", InstalledVersion: "1.0"}, ""},
		{"osv scoped", "GHSA-2", "Package '@babel/core@7.0.0' is vulnerable to 'GHSA-2' (also known as 'CVE-4', 'PYSEC-5').",
			importer.Record{VulnID: "GHSA-2", Aliases: []string{"CVE-4", "PYSEC-5"}, Package: "@babel/core", InstalledVersion: "7.0.0"}, ""},
		{"osv no alias", "GHSA-3", "Package 'lodash@4.17.20' is vulnerable to 'GHSA-3'.",
			importer.Record{VulnID: "GHSA-3", Package: "lodash", InstalledVersion: "4.17.20"}, ""},
		{"nothing", "R1", "Prototype pollution - Prototype pollution", importer.Record{VulnID: "R1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &importer.Record{VulnID: tt.vulnID}
			image := parseMessage(rec, tt.text)
			if diff := cmp.Diff(&tt.want, rec); diff != "" {
				t.Errorf("record (-want +got):\n%s", diff)
			}
			if image != tt.image {
				t.Errorf("image = %q, want %q", image, tt.image)
			}
		})
	}
}

// TestLevelSeverity pins the SARIF level mapping. patchctl.ParseSeverity
// documents error/warning/note but does not recognise them; the parser maps
// them itself.
func TestLevelSeverity(t *testing.T) {
	tests := map[string]patchctl.Severity{
		"error":   patchctl.SeverityHigh,
		"warning": patchctl.SeverityMedium,
		"note":    patchctl.SeverityLow,
		"none":    patchctl.SeverityNone,
		"bogus":   patchctl.SeverityUnknown,
		"":        patchctl.SeverityUnknown,
	}
	for level, want := range tests {
		if got := levelSeverity(level); got != want {
			t.Errorf("levelSeverity(%q) = %q, want %q", level, got, want)
		}
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name, input string
		parts       []string
	}{
		{"trivy", `{"SchemaVersion": 2, "Results": []}`, []string{"input is a Trivy JSON report, not a SARIF log"}},
		{"truncated", "{\"version\": \"2.1.0\",\n\"runs\": [{\"results\": [", []string{"SARIF log: unexpected end of input at offset 43 (line 2)"}},
		{"syntax", "{\"version\": \"2.1.0\",\n\"runs\": [{\"tool\": {\"driver\": {\"name\": \"x\",}}}]}", []string{"SARIF log: invalid JSON at offset 62 (line 2) in /runs/0/tool/driver"}},
		{"runs not array", `{"version": "2.1.0", "runs": {}}`, []string{"/runs: expected an array"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, seekable := range []bool{true, false} {
				_, _, err := importertest.ParseBytes(New(), []byte(tt.input), seekable)
				importertest.WantInvalid(t, err, tt.parts...)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	data := bigLog(t, 3000)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := New().Parse(ctx, bytes.NewReader(data), func(*importer.Record) error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n >= 3000 {
		t.Errorf("err = %v after %d records, want context.Canceled early", err, n)
	}
}

func FuzzSARIF(f *testing.F) {
	f.Add([]byte(ownLog))
	for _, b := range importertest.SeedFiles("sarif/*") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) { importertest.FuzzParse(t, New(), data) })
}

const benchFindings = 50_000

// bigLog builds a SARIF log of n results from the Trivy SARIF golden of
// the corpus: its rules, and its results replicated.
func bigLog(tb testing.TB, n int) []byte {
	tb.Helper()
	data, err := os.ReadFile(corpus.Path(tb, "sarif/trivy__alpine-310.sarif.golden"))
	if err != nil {
		tb.Fatal(err)
	}
	results := importertest.RawArray(tb, data, "runs", "0", "results")
	ids := make([]string, len(results))
	for i, r := range results {
		var x struct{ RuleID string }
		if err := json.Unmarshal(r, &x); err != nil {
			tb.Fatal(err)
		}
		ids[i] = x.RuleID // rules stay resolvable by ruleIndex
	}
	start := bytes.Index(data, []byte(`"results": [`))
	end := bytes.Index(data[start:], []byte(`"columnKind"`))
	if start < 0 || end < 0 {
		tb.Fatal("unexpected template layout")
	}
	var buf bytes.Buffer
	buf.Write(data[:start])
	buf.WriteString(`"results": [`)
	buf.Write(importertest.Replicate(results, ids, n))
	buf.WriteString("],\n      ")
	buf.Write(data[start+end:])
	return buf.Bytes()
}

func BenchmarkParseSARIF(b *testing.B) {
	data := bigLog(b, benchFindings)
	b.Logf("input: %d findings, %.1f MB, %d bytes per finding", benchFindings, float64(len(data))/1e6, len(data)/benchFindings)
	b.Run("parser", func(b *testing.B) { importertest.Bench(b, New(), data, benchFindings) })
	b.Run("floor=jsontext-skip", func(b *testing.B) { importertest.BenchFloor(b, data, benchFindings) })
}

// TestHoldBudget: past the hold budget, a seekable input is read again;
// both give the records of an unbounded hold.
func TestHoldBudget(t *testing.T) {
	data := bigLog(t, 500)
	importertest.CheckHoldBudget(t, New(), data)
}

func TestBigLog(t *testing.T) {
	recs, _, err := importertest.ParseBytes(New(), bigLog(t, 100), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 100 || !strings.HasPrefix(recs[99].VulnID, "CVE-") || recs[99].Package == "" {
		t.Fatalf("%d records, last %+v", len(recs), recs[len(recs)-1])
	}
}

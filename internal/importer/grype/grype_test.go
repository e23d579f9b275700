package grype

import (
	"bytes"
	"context"
	"encoding/json"
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
	expected := importertest.Expected(t, "grype-json")
	for _, rel := range importertest.Sorted(expected) {
		want := expected[rel]
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
			if want.IgnoredMatches != nil && meta.IgnoredMatches != *want.IgnoredMatches {
				t.Errorf("ignored matches = %d, want %d", meta.IgnoredMatches, *want.IgnoredMatches)
			}
			importertest.CheckRecords(t, recs, meta)
			importertest.CheckIDs(t, recs)
		})
	}
}

// TestCorpusAll parses every Grype file of the corpus through a seekable
// input (second pass) and a plain reader (held records): same result.
func TestCorpusAll(t *testing.T) {
	for _, path := range corpus.Glob(t, "grype/*") {
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
		})
	}
}

// TestHoldBudget: past the hold budget, a seekable input is read again
// (matches streamed in a second pass); a plain reader keeps holding. Both
// give the records of an unbounded hold.
func TestHoldBudget(t *testing.T) {
	data := bigReport(t, 300)
	importertest.CheckHoldBudget(t, New(), data)
}

func TestImageRecords(t *testing.T) {
	recs, meta, err := importertest.ParseFile(t, New(), corpus.Path(t, "grype/TestJsonImgsPresenter.golden"))
	if err != nil {
		t.Fatal(err)
	}
	asset := importer.AssetRef{Kind: patchctl.AssetImage, Name: "user-input",
		Digest: "sha256:ca738abb87a8d58f112d3400ebb079b61ceae7dc290beb34bda735be4b1941d5"}
	want := []*importer.Record{
		{Asset: asset, VulnID: "CVE-1999-0001", Package: "package-1", Ecosystem: "rpm", InstalledVersion: "1.1.1",
			FixedVersion: "1.2.1", Location: "/foo/bar/somefile-1.txt", Severity: patchctl.SeverityLow, SeverityRaw: "Low",
			CVSS: 8.2, CVSSVector: "CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:L/I:L/A:H", EPSS: 0.03},
		{Asset: asset, VulnID: "CVE-1999-0002", Package: "package-2", Ecosystem: "deb", PURL: "pkg:deb/package-2@2.2.2",
			InstalledVersion: "2.2.2", Location: "/foo/bar/somefile-2.txt", Severity: patchctl.SeverityCritical, SeverityRaw: "Critical",
			CVSS: 8.5, CVSSVector: "CVSS:3.1/AV:N/AC:H/PR:L/UI:N/S:C/C:H/I:H/A:H", EPSS: 0.08, KEV: true},
	}
	if diff := cmp.Diff(want, recs); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]importer.AssetRef{asset}, meta.Assets); diff != "" {
		t.Errorf("assets (-want +got):\n%s", diff)
	}
	if meta.Tool != "grype" || meta.ToolVersion != "[not provided]" {
		t.Errorf("tool %q %q", meta.Tool, meta.ToolVersion)
	}
}

func TestFields(t *testing.T) {
	tests := []struct {
		file  string
		index int
		check func(t *testing.T, r *importer.Record)
	}{
		{"grype/defectdojo__many_vulns3.json", 0, func(t *testing.T, r *importer.Record) {
			// Grype 0.7: cvssV2 only, links, Negligible.
			if r.VulnID != "CVE-2019-18276" || r.CVSS != 7.2 || r.CVSSVector != "AV:L/AC:L/Au:N/C:C/I:C/A:C" ||
				r.Severity != patchctl.SeverityNone || r.URL != "https://security-tracker.debian.org/tracker/CVE-2019-18276" {
				t.Errorf("got %+v", r)
			}
		}},
		{"grype/ghsa-test.json", 0, func(t *testing.T, r *importer.Record) {
			if r.VulnID != "GHSA-cfh5-3ghh-wfjx" || !cmp.Equal(r.Aliases, []string{"CVE-2014-3577"}) || r.FixedVersion != "4.3.5" ||
				r.PURL != "pkg:maven/org.apache.httpcomponents/httpclient@4.1.1" {
				t.Errorf("got %+v", r)
			}
		}},
		{"grype/chainguard-ruby-test.json", 0, func(t *testing.T, r *importer.Record) {
			// The primary record has no CVSS; the related NVD record has.
			if r.CVSS != 7.5 || r.CVSSVector != "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H" {
				t.Errorf("CVSS %v %q, want 7.5 from the related NVD record", r.CVSS, r.CVSSVector)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			recs, _, err := importertest.ParseFile(t, New(), corpus.Path(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, recs[tt.index])
		})
	}
}

func TestOldFixedInVersionAndCVSSV3(t *testing.T) {
	recs, _, err := importertest.ParseFile(t, New(), corpus.Path(t, "grype/defectdojo__many_vulns3.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fixed, v3 bool
	for _, r := range recs {
		if r.VulnID == "CVE-2021-24031" && r.FixedVersion == "1.3.8+dfsg-3+deb10u1" {
			fixed = true
		}
		if r.VulnID == "CVE-2015-5237" && r.CVSS == 8.8 && strings.HasPrefix(r.CVSSVector, "CVSS:3.1/") {
			v3 = true
		}
	}
	if !fixed || !v3 {
		t.Errorf("fixedInVersion read: %v; cvssV3 preferred over cvssV2: %v", fixed, v3)
	}
}

func TestAssets(t *testing.T) {
	tests := []struct {
		file string
		want importer.AssetRef
	}{
		{"grype/TestJsonDirsPresenter.golden", importer.AssetRef{Kind: patchctl.AssetFilesystem, Name: "/some/path"}},
		{"grype/defectdojo__many_vulns4.json", importer.AssetRef{Kind: patchctl.AssetFilesystem, Name: "."}},
		{"grype/TestEmptyJsonPresenter.golden", importer.AssetRef{Kind: patchctl.AssetFilesystem, Name: "unknown"}},
		{"grype/chainguard-ruby-test.json", importer.AssetRef{Kind: patchctl.AssetImage, Name: "cgr.dev/chainguard/ruby:latest-3.0",
			Digest: "sha256:3c9afb4f188827ea1062ec3b8acea32893236a0d7df31e0498df93486cff0978"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, meta, err := importertest.ParseFile(t, New(), corpus.Path(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]importer.AssetRef{tt.want}, meta.Assets); diff != "" {
				t.Errorf("assets (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIgnoredMatches(t *testing.T) {
	doc := `{"matches": [{"vulnerability": {"id": "CVE-1", "severity": "High"}, "artifact": {"name": "a", "version": "1"}}],
	 "ignoredMatches": [{"vulnerability": {"id": "CVE-2"}}, {"vulnerability": {"id": "CVE-3"}}],
	 "source": {"type": "directory", "target": "/src"}, "descriptor": {"name": "grype", "version": "0.80.0", "timestamp": "2024-05-01T10:00:00Z"}}`
	recs, meta, err := importertest.ParseBytes(New(), []byte(doc), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || meta.IgnoredMatches != 2 || meta.FindingsInReport != 1 {
		t.Errorf("%d records, meta %+v", len(recs), meta)
	}
	if !meta.CreatedAt.Equal(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)) || meta.ToolVersion != "0.80.0" {
		t.Errorf("descriptor: %v %q", meta.CreatedAt, meta.ToolVersion)
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name  string
		input string
		parts []string
	}{
		{"syntax", "{\"matches\": [\n{\"vulnerability\": {\"id\": \"CVE-1\",}}]}", []string{"Grype report: invalid JSON at offset 46 (line 2)"}},
		{"truncated", "{\"matches\": [\n{\"vulnerability\": {\"id\": \"CVE-1\"", []string{"unexpected end of input at offset 46 (line 2)"}},
		{"trivy", `{"SchemaVersion": 2, "ArtifactName": "x", "Results": []}`, []string{"input is a Trivy JSON report, not a Grype JSON report"}},
		{"cyclonedx", `{"bomFormat": "CycloneDX", "specVersion": "1.5"}`, []string{"input is a CycloneDX JSON document"}},
		{"wrong type", `{"matches": {}}`, []string{"unexpected JSON object at offset 12 (line 1) in /matches: expected an array"}},
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
	var buf bytes.Buffer
	buf.WriteString(`{"source": {"type": "directory", "target": "/"}, "matches": [`)
	for i := range 5000 {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`{"vulnerability": {"id": "CVE-1", "severity": "Low"}, "artifact": {"name": "a", "version": "1"}}`)
	}
	buf.WriteString(`]}`)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := New().Parse(ctx, &buf, func(*importer.Record) error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n >= 5000 {
		t.Errorf("err = %v after %d records, want context.Canceled early", err, n)
	}
}

func FuzzGrype(f *testing.F) {
	f.Add([]byte(`{"matches": [{"vulnerability": {"id": "CVE-1", "cvss": [{"version": "3.1", "metrics": {"baseScore": "7"}}], "knownExploited": true}, "artifact": {"name": "a"}}], "source": {"type": "image", "target": {"userInput": "x"}}}`))
	f.Add([]byte(`{"source": {"type": "directory", "target": "\".\""}, "matches": null, "ignoredMatches": [{}]}`))
	for _, b := range importertest.SeedFiles("grype/*") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) { importertest.FuzzParse(t, New(), data) })
}

const benchFindings = 50_000

// bigReport builds a Grype report of n matches from the corpus file with
// EPSS values (about 4 KB per match), varying the vulnerability ids.
func bigReport(tb testing.TB, n int) []byte {
	tb.Helper()
	data, err := os.ReadFile(corpus.Path(tb, "grype/defectdojo__many_vulns_with_epss_values.json"))
	if err != nil {
		tb.Fatal(err)
	}
	matches := importertest.RawArray(tb, data, "matches")
	ids := make([]string, len(matches))
	for i, m := range matches {
		var x struct {
			Vulnerability struct{ ID string } `json:"vulnerability"`
		}
		if err := json.Unmarshal(m, &x); err != nil {
			tb.Fatal(err)
		}
		ids[i] = x.Vulnerability.ID
	}
	var rest map[string]json.RawMessage
	if err := json.Unmarshal(data, &rest); err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	buf.WriteString(`{"matches": [`)
	buf.Write(importertest.Replicate(matches, ids, n))
	buf.WriteString(`], "source": `)
	buf.Write(rest["source"])
	buf.WriteString(`, "descriptor": `)
	buf.Write(rest["descriptor"])
	buf.WriteString("}\n")
	return buf.Bytes()
}

func BenchmarkParseGrype(b *testing.B) {
	data := bigReport(b, benchFindings)
	b.Logf("input: %d findings, %.1f MB, %d bytes per finding", benchFindings, float64(len(data))/1e6, len(data)/benchFindings)
	b.Run("parser", func(b *testing.B) { importertest.Bench(b, New(), data, benchFindings) })
	b.Run("parser-pipe", func(b *testing.B) { benchPipe(b, data) })
	b.Run("floor=jsontext-skip", func(b *testing.B) { importertest.BenchFloor(b, data, benchFindings) })
	b.Run("naive=encoding-json", func(b *testing.B) {
		importertest.BenchUnmarshal(b, data, benchFindings, false, func() any { return new(fullReport) })
	})
}

// benchPipe parses from a non-seekable reader, so that matches are held
// until source is read instead of being read in a second pass.
func benchPipe(b *testing.B, data []byte) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, _, err := importertest.ParseBytes(New(), data, false); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(benchFindings*n)/b.Elapsed().Seconds(), "findings/s")
}

// fullReport is the whole-document decode a naive importer would do.
type fullReport struct {
	Matches []struct {
		Vulnerability struct {
			ID          string
			Severity    string
			DataSource  string
			Description string
			URLs        []string
			CVSS        []struct {
				Version string
				Vector  string
				Metrics struct{ BaseScore float64 }
			}
			EPSS []struct{ EPSS float64 }
			Fix  struct{ Versions []string }
		}
		RelatedVulnerabilities []struct{ ID string }
		Artifact               struct {
			Name, Version, Type, PURL string
			Locations                 []struct{ Path string }
		}
	}
	Source struct{ Type string }
}

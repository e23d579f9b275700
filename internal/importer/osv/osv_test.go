package osv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
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
	expected := importertest.Expected(t, "osv-scanner-json")
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
			bands := map[string]int{}
			for _, r := range recs {
				triples[[3]string{r.VulnID, r.Package, r.InstalledVersion}] = true
				band := "UNKNOWN"
				if strings.HasPrefix(r.CVSSVector, "CVSS:3") {
					band = importertest.Band(r.CVSS)
				}
				bands[band]++
			}
			if len(triples) != want.DistinctTriples {
				t.Errorf("distinct triples = %d, want %d", len(triples), want.DistinctTriples)
			}
			if diff := cmp.Diff(want.ByCVSSV3Band, bands); diff != "" {
				t.Errorf("CVSS v3 bands (-want +got):\n%s", diff)
			}
			if want.Groups != nil && meta.Groups != *want.Groups {
				t.Errorf("groups = %d, want %d", meta.Groups, *want.Groups)
			}
			importertest.CheckRecords(t, recs, meta)
			importertest.CheckIDs(t, recs)
		})
	}
}

func TestCorpusAll(t *testing.T) {
	importertest.ParseAll(t, New(), "osv-scanner/*")
}

func TestRecords(t *testing.T) {
	recs, meta, err := importertest.ParseFile(t, New(), corpus.Path(t, "osv-scanner/ci-vulns__test-vuln-results-a.json"))
	if err != nil {
		t.Fatal(err)
	}
	gomod := importer.AssetRef{Kind: patchctl.AssetFilesystem, Name: "/path/to/scorecard-check-osv-e2e/go.mod"}
	want := &importer.Record{
		Asset:            gomod,
		VulnID:           "GO-2021-0053",
		Aliases:          []string{"CVE-2021-3121", "GHSA-c3h9-896r-86jm"},
		Package:          "github.com/gogo/protobuf",
		Ecosystem:        "Go",
		InstalledVersion: "1.3.1",
		FixedVersion:     "1.3.2",
		Location:         "/path/to/scorecard-check-osv-e2e/go.mod",
		Severity:         patchctl.SeverityUnknown,
		SeverityRaw:      "UNKNOWN",
		Title:            "Panic due to improper input validation in github.com/gogo/protobuf",
		URL:              "https://github.com/gogo/protobuf/commit/b03c65ea87cdc3521ede29f62fe3ce239267c1bc",
		Published:        time.Date(2021, 4, 14, 20, 4, 52, 0, time.UTC),
	}
	if diff := cmp.Diff(want, recs[0]); diff != "" {
		t.Errorf("record 0 (-want +got):\n%s", diff)
	}
	cargo := importer.AssetRef{Kind: patchctl.AssetFilesystem, Name: "/path/to/scorecard-check-osv-e2e/sub-rust-project/Cargo.lock"}
	if diff := cmp.Diff([]importer.AssetRef{gomod, cargo}, meta.Assets); diff != "" {
		t.Errorf("assets (-want +got):\n%s", diff)
	}
	for _, r := range recs[1:] {
		// regex 1.5.1: GHSA-m5pq-gvj9-9vr8 (HIGH in the database) and
		// RUSTSEC-2022-0013 (no database severity, CVSS 7.5).
		if r.Package != "regex" || r.FixedVersion != "1.5.5" || r.Severity != patchctl.SeverityHigh || r.CVSS != 7.5 {
			t.Errorf("regex record: %+v", r)
		}
	}
}

func TestGitSource(t *testing.T) {
	recs, meta, err := importertest.ParseFile(t, New(), corpus.Path(t, "osv-scanner/defectdojo__many_findings.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got *importer.Record
	for _, r := range recs {
		if r.VulnID == "CVE-2023-50094" {
			got = r
		}
	}
	repo := importer.AssetRef{Kind: patchctl.AssetRepository, Name: "/tmprengine/"}
	want := &importer.Record{
		Asset:            repo,
		VulnID:           "CVE-2023-50094",
		Package:          "https://github.com/yogeshojha/rengine",
		Ecosystem:        "GIT",
		InstalledVersion: "f5f3c22f3ed5a6804a2a8d9ee9fa43044cfa24a6",
		Location:         "/tmprengine/",
		Severity:         patchctl.SeverityHigh, // no database severity: CVSS 8.8
		SeverityRaw:      "UNKNOWN",
		CVSS:             8.8,
		CVSSVector:       "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
		URL:              "https://www.mattz.io/posts/cve-2023-50094/",
		Published:        time.Date(2024, 1, 1, 18, 15, 9, 0, time.UTC),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("git record (-want +got):\n%s", diff)
	}
	found := false
	for _, a := range meta.Assets {
		found = found || a == repo
	}
	if !found {
		t.Errorf("assets %v lack %v", meta.Assets, repo)
	}
}

// TestReordered: vulnerabilities before package, packages before source.
func TestReordered(t *testing.T) {
	doc := `{"results": [{"packages": [{"vulnerabilities": [{"id": "GHSA-1", "aliases": ["CVE-1"],
	  "database_specific": {"severity": "moderate"},
	  "affected": [{"package": {"ecosystem": "npm", "name": "left-pad"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.3.0"}]}]}]}],
	  "package": {"name": "left-pad", "version": "1.1.0", "ecosystem": "npm"}, "groups": [{"ids": ["GHSA-1"]}]}],
	 "source": {"path": "/app/package-lock.json", "type": "lockfile"}}]}`
	recs, meta, err := importertest.ParseBytes(New(), []byte(doc), false)
	if err != nil {
		t.Fatal(err)
	}
	asset := importer.AssetRef{Kind: patchctl.AssetFilesystem, Name: "/app/package-lock.json"}
	want := []*importer.Record{{Asset: asset, VulnID: "GHSA-1", Aliases: []string{"CVE-1"}, Package: "left-pad", Ecosystem: "npm",
		InstalledVersion: "1.1.0", FixedVersion: "1.3.0", Location: "/app/package-lock.json",
		Severity: patchctl.SeverityMedium, SeverityRaw: "MODERATE"}}
	if diff := cmp.Diff(want, recs); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if meta.Groups != 1 {
		t.Errorf("groups = %d, want 1", meta.Groups)
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.2.3", "1.2.3", 0},
		{"1.2.3", "1.2.4", -1},
		{"1.10.0", "1.9.9", 1},
		{"v1.2.0", "1.2.0", 0},
		{"1.0.0-rc1", "1.0.0", -1},
		{"1.0.0", "1.0.0-rc1", 1},
		{"2.3.4-1", "2.3.4", 1},    // Debian revision
		{"1.0~beta1", "1.0", -1},   // Debian pre-release
		{"1:2.0", "1:1.9", 1},      // epoch
		{"1.16.0-0", "1.16.2", -1}, // Go's "introduced 1.16.0-0"
		{"0.0.0-20210428140749-89ef3d95e781", "0.0.0-20210101000000-abcdef", 1},
		{"2.9.10.4", "2.9.10", 1},
		{"1.2.3a", "1.2.3b", -1},
		{"010", "9", 1},
	}
	for _, tt := range tests {
		if got := compareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := compareVersions(tt.b, tt.a); got != -tt.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestPickFix(t *testing.T) {
	// stdlib in GO-2022-0236: fixed in 1.15.12 and, for 1.16, in 1.16.4.
	ranges := []fixRange{{"0", "1.15.12"}, {"1.16.0-0", "1.16.4"}}
	tests := []struct {
		installed, want string
	}{
		{"1.15.3", "1.15.12"},
		{"1.16.2", "1.16.4"},
		{"1.16.4", ""}, // not in any range, no fix above
		{"1.15.12", "1.16.4"},
		{"", "1.15.12"}, // a commit: first fix
	}
	for _, tt := range tests {
		if got := pickFix(ranges, tt.installed); got != tt.want {
			t.Errorf("pickFix(%q) = %q, want %q", tt.installed, got, tt.want)
		}
	}
}

func TestParseRecordCorpus(t *testing.T) {
	withdrawn := 0
	for _, path := range corpus.Glob(t, "osv-advisories/*.json") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rec, err := ParseRecord(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			if rec.ID+".json" != filepath.Base(path) {
				t.Errorf("id %q for file %s", rec.ID, filepath.Base(path))
			}
			if len(rec.Packages) == 0 {
				t.Errorf("no packages")
			}
			if !rec.Withdrawn.IsZero() {
				withdrawn++
			}
		})
	}
	if withdrawn != 2 {
		t.Errorf("%d withdrawn advisories, want 2", withdrawn)
	}
}

func TestParseRecord(t *testing.T) {
	f, err := os.Open(corpus.Path(t, "osv-advisories/GO-2022-0236.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ParseRecord(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	want := &importer.OSVRecord{
		ID:        "GO-2022-0236",
		Aliases:   []string{"CVE-2021-31525", "GHSA-h86h-8ppg-mxmh"},
		Summary:   "Panic due to large headers in net/http and golang.org/x/net/http/httpguts",
		Published: time.Date(2022, 7, 15, 23, 4, 18, 0, time.UTC),
		Packages:  []string{"Go/stdlib", "Go/golang.org/x/net"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
}

func TestParseRecordBadInput(t *testing.T) {
	tests := []struct {
		name, input string
		parts       []string
	}{
		{"scanner report", `{"results": []}`, []string{"input is an OSV-Scanner JSON report, not an OSV advisory"}},
		{"no id", `{"id": "", "aliases": ["CVE-1"]}`, []string{"id: OSV advisory has no id"}},
		{"truncated", "{\"id\": \"GO-1\",\n\"aliases\": [\"CVE-1\"", []string{"unexpected end of input at offset 34 (line 2)"}},
		{"wrong type", `{"id": "GO-1", "aliases": "CVE-1"}`, []string{"unexpected JSON string", "/aliases", "expected an array"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRecord(context.Background(), strings.NewReader(tt.input))
			importertest.WantInvalid(t, err, tt.parts...)
		})
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name, input string
		parts       []string
	}{
		{"advisory", `{"id": "GO-1", "affected": []}`, []string{"input is an OSV advisory, not an OSV-Scanner JSON report"}},
		{"syntax", "{\"results\": [\n{\"source\": {\"path\": \"a\" \"b\"}}]}", []string{"OSV-Scanner report: invalid JSON at offset 38 (line 2)"}},
		{"wrong type", "{\"results\": [\n{\"source\": {\"path\": 1}}]}", []string{"unexpected JSON number at offset 34 (line 2) in /results/0/source/path: expected a string"}},
		{"truncated", "{\"results\": [\n{\"packages\": [", []string{"unexpected end of input at offset 28 (line 2)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := importertest.ParseBytes(New(), []byte(tt.input), false)
			importertest.WantInvalid(t, err, tt.parts...)
		})
	}
}

func TestCancel(t *testing.T) {
	data := bigReport(t, 2000)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := New().Parse(ctx, bytes.NewReader(data), func(*importer.Record) error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n >= 2000 {
		t.Errorf("err = %v after %d records, want context.Canceled early", err, n)
	}
}

func FuzzOSV(f *testing.F) {
	f.Add([]byte(`{"results": [{"source": {"path": "/a", "type": "git"}, "packages": [{"package": {"commit": "abc"}, "vulnerabilities": [{"id": "X", "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}], "affected": [{"ranges": [{"type": "GIT", "repo": "r", "events": [{"introduced": "0"}, {"fixed": "def"}]}]}]}]}]}]}`))
	for _, b := range importertest.SeedFiles("osv-scanner/*") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, meta, err := importertest.ParseBytes(New(), data, false)
		if err != nil {
			importertest.WantCode(t, err, patchctl.CodeInvalid)
			return
		}
		if meta.FindingsInReport != len(recs) {
			t.Fatalf("FindingsInReport %d, %d records", meta.FindingsInReport, len(recs))
		}
		importertest.CheckRecords(t, recs, meta)
	})
}

func FuzzOSVRecord(f *testing.F) {
	f.Add([]byte(`{"id": "GO-1", "aliases": ["CVE-1"], "withdrawn": "2024-01-01T00:00:00Z", "affected": [{"package": {"ecosystem": "Go", "name": "x"}}]}`))
	for _, b := range importertest.SeedFiles("osv-advisories/*.json") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := ParseRecord(context.Background(), bytes.NewReader(data))
		if err != nil {
			importertest.WantCode(t, err, patchctl.CodeInvalid)
			return
		}
		if rec.ID == "" {
			t.Fatal("record without id")
		}
	})
}

const benchFindings = 50_000

// bigReport builds an OSV-Scanner report with n vulnerability entries on one
// package, from the advisories in the corpus report defectdojo__many_findings.
func bigReport(tb testing.TB, n int) []byte {
	tb.Helper()
	data, err := os.ReadFile(corpus.Path(tb, "osv-scanner/defectdojo__many_findings.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var templates []json.RawMessage
	var ids []string
	for i := range importertest.RawArray(tb, data, "results") {
		for j := range importertest.RawArray(tb, data, "results", itoa(i), "packages") {
			for _, v := range importertest.RawArray(tb, data, "results", itoa(i), "packages", itoa(j), "vulnerabilities") {
				var x struct{ ID string }
				if err := json.Unmarshal(v, &x); err != nil {
					tb.Fatal(err)
				}
				templates = append(templates, v)
				ids = append(ids, x.ID)
			}
		}
	}
	var buf bytes.Buffer
	buf.WriteString(`{"results": [{"source": {"path": "/src/requirements.txt", "type": "lockfile"}, "packages": [{"package": {"name": "requests", "version": "2.25.1", "ecosystem": "PyPI"}, "vulnerabilities": [`)
	buf.Write(importertest.Replicate(templates, ids, n))
	buf.WriteString("], \"groups\": []}]}]}\n")
	return buf.Bytes()
}

func itoa(i int) string { return strconv.Itoa(i) }

func BenchmarkParseOSV(b *testing.B) {
	data := bigReport(b, benchFindings)
	b.Logf("input: %d findings, %.1f MB, %d bytes per finding", benchFindings, float64(len(data))/1e6, len(data)/benchFindings)
	b.Run("parser", func(b *testing.B) { importertest.Bench(b, New(), data, benchFindings) })
	b.Run("floor=jsontext-skip", func(b *testing.B) { importertest.BenchFloor(b, data, benchFindings) })
	b.Run("naive=encoding-json", func(b *testing.B) {
		importertest.BenchUnmarshal(b, data, benchFindings, false, func() any {
			return new(struct {
				Results []struct {
					Packages []struct {
						Vulnerabilities []struct {
							ID       string
							Aliases  []string
							Details  string
							Severity []struct{ Type, Score string }
							Affected []json.RawMessage
						}
					}
				}
			})
		})
	})
}

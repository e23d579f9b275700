package formats

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/importer/internal/importertest"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

func head(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b[:min(len(b), HeadSize)]
}

// TestDetectCorpus detects every file of the report folders of the corpus.
func TestDetectCorpus(t *testing.T) {
	tests := []struct {
		pattern string
		want    importer.Format
	}{
		{"trivy/*", importer.FormatTrivy},
		{"grype/*", importer.FormatGrype},
		{"osv-scanner/*", importer.FormatOSV},
		{"sarif/*", importer.FormatSARIF},
		{"cyclonedx/*", importer.FormatCycloneDX},
		{"kev/known_exploited_vulnerabilities.*", importer.FormatKEV},
		{"osv-advisories/*", importer.FormatOSVRecord},
	}
	for _, tt := range tests {
		for _, path := range corpus.Glob(t, tt.pattern) {
			t.Run(filepath.Base(path), func(t *testing.T) {
				got, err := Detect(head(t, path))
				if err != nil || got != tt.want {
					t.Errorf("Detect = %q, %v; want %q", got, err, tt.want)
				}
			})
		}
	}
}

// TestDetectOthers checks that the corpus files that are not reports are
// refused with a description of what they are.
func TestDetectOthers(t *testing.T) {
	tests := []struct {
		file string
		what string
	}{
		{"kev/known_exploited_vulnerabilities_schema.json", `a JSON Schema document ("CISA Catalog of Known Exploited Vulnerabilities"), not data`},
		{"github-webhooks/push__payload.json", "an unrecognised JSON object with top-level keys ref, before, after"},
		{"argocd/application__diff-cache.yaml", "a YAML document"},
		{"gke/gcpdiag__gke1__container-clusters.json", "an unrecognised JSON object with top-level keys clusters"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := Detect(head(t, corpus.Path(t, tt.file)))
			if f != "" {
				t.Errorf("Detect = %q, want none", f)
			}
			importertest.WantInvalid(t, err, "unrecognised input: "+tt.what)
		})
	}
}

func TestDetectHeads(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("#model_version:v2025.03.14,score_date:2026-11-25T00:00:00+0000\ncve,epss,percentile\nCVE-1,0.1,0.2\n"))
	zw.Close()
	tests := []struct {
		name string
		head string
		want importer.Format
		what string
	}{
		{"empty", "", "", "empty input"},
		{"whitespace", " \n\t", "", "empty input"},
		{"bom and trivy", "\ufeff{\"SchemaVersion\": 2}", importer.FormatTrivy, ""},
		{"trivy k8s", `{"ClusterName": "c", "Resources": []}`, importer.FormatTrivy, ""},
		{"grype", `{"matches": [`, importer.FormatGrype, ""},
		{"sarif", `{"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0", "runs": []}`, importer.FormatSARIF, ""},
		{"cyclonedx", `{"bomFormat": "CycloneDX", "specVersion": "1.6"}`, importer.FormatCycloneDX, ""},
		{"osv-scanner", `{"results": []}`, importer.FormatOSV, ""},
		{"osv advisory", `{"id": "GHSA-1", "modified": "2024-01-01T00:00:00Z"}`, importer.FormatOSVRecord, ""},
		{"kev", `{"title": "x", "catalogVersion": "2025.01.01"}`, importer.FormatKEV, ""},
		{"kev csv", "cveID,vendorProject,product\n", importer.FormatKEV, ""},
		{"epss", "cve,epss,percentile\nCVE-1,0.1,0.2\n", importer.FormatEPSS, ""},
		{"epss gzip", gz.String(), importer.FormatEPSS, ""},
		{"gzip junk", "\x1f\x8b\x08\x00junk", "", "gzip-compressed data containing empty input"},
		{"array", `[{"Target": "x"}]`, "", "a JSON array (reports are JSON objects)"},
		{"spdx", `{"spdxVersion": "SPDX-2.3"}`, "", "an SPDX JSON SBOM (not supported; use CycloneDX)"},
		{"cyclonedx xml", `<?xml version="1.0"?><bom xmlns="http://cyclonedx.org/schema/bom/1.5">`, "", "a CycloneDX XML document (only JSON is supported)"},
		{"html", `<!doctype html><html>`, "", "an XML or HTML document"},
		{"other csv", "a,b,c\n1,2,3\n", "", `a CSV file with header "a,b,c"`},
		{"binary", "\x00\x01\x02", "", "neither JSON nor CSV"},
		{"empty object", `{}`, "", "an empty JSON object"},
		{"truncated unknown object", `{"a": 1, "b": [1, 2`, "", "an unrecognised JSON object with top-level keys a, b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Detect([]byte(tt.head))
			if got != tt.want {
				t.Errorf("Detect = %q, want %q (err %v)", got, tt.want, err)
			}
			if tt.want == "" {
				importertest.WantInvalid(t, err, tt.what)
			} else if err != nil {
				t.Errorf("err = %v", err)
			}
		})
	}
}

// TestAuto parses every scanner report of the corpus with the auto parser,
// through a file (seekable) and a plain reader, and compares with the
// parser of the detected format.
func TestAuto(t *testing.T) {
	for _, dir := range []string{"trivy", "grype", "osv-scanner", "sarif", "cyclonedx"} {
		for _, path := range corpus.Glob(t, dir+"/*") {
			t.Run(dir+"/"+filepath.Base(path), func(t *testing.T) {
				auto, err := Parser(importer.FormatAuto)
				if err != nil {
					t.Fatal(err)
				}
				recs, meta, err := importertest.ParseFile(t, auto, path)
				if err != nil {
					t.Fatal(err)
				}
				direct, err := Parser(meta.Format)
				if err != nil {
					t.Fatal(err)
				}
				wantRecs, wantMeta, err := importertest.ParseFile(t, direct, path)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(wantRecs, recs); diff != "" {
					t.Errorf("records differ (-direct +auto):\n%s", diff)
				}
				if diff := cmp.Diff(wantMeta, meta); diff != "" {
					t.Errorf("meta differs (-direct +auto):\n%s", diff)
				}
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				plainRecs, _, err := importertest.ParseBytes(auto, data, false)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(wantRecs, plainRecs); diff != "" {
					t.Errorf("records from a plain reader differ (-direct +auto):\n%s", diff)
				}
			})
		}
	}
}

func TestAutoRefuses(t *testing.T) {
	tests := []struct{ name, input, msg string }{
		{"kev", `{"catalogVersion": "1", "vulnerabilities": []}`, "not a scanner report: input is a CISA KEV catalog, a feed: read it with formats.ParseKEV"},
		{"unknown", `{"hello": 1}`, "not a scanner report: input is an unrecognised JSON object with top-level keys hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := importertest.ParseBytes(Auto{}, []byte(tt.input), false)
			importertest.WantInvalid(t, err, tt.msg)
		})
	}
}

func TestParserAndFormats(t *testing.T) {
	for _, f := range importer.ScannerFormats {
		p, err := Parser(f)
		if err != nil || p.Format() != f {
			t.Errorf("Parser(%q) = %v, %v", f, p, err)
		}
	}
	for _, f := range []importer.Format{importer.FormatKEV, importer.FormatEPSS, importer.FormatOSVRecord} {
		_, err := Parser(f)
		importertest.WantInvalid(t, err, "is a feed, not a scanner report")
	}
	_, err := Parser("nessus")
	importertest.WantInvalid(t, err, `unknown scanner format "nessus" (known: auto, trivy, grype, osv, sarif, cyclonedx)`)
	want := []importer.Format{"trivy", "grype", "osv", "sarif", "cyclonedx", "kev", "epss", "osv-record"}
	if diff := cmp.Diff(want, Formats()); diff != "" {
		t.Errorf("Formats (-want +got):\n%s", diff)
	}
	for name, want := range map[string]importer.Format{"Trivy": "trivy", "osv-scanner": "osv", "cdx": "cyclonedx", "": "auto", " SARIF ": "sarif"} {
		if got, err := ParseFormat(name); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	_, err = ParseFormat("nessus")
	importertest.WantInvalid(t, err, `unknown format "nessus"`)
}

func TestFeeds(t *testing.T) {
	ctx := context.Background()
	n := 0
	cat, err := ParseKEV(ctx, strings.NewReader("cveID,vendorProject\nCVE-1,a\n"), func(*importer.KEVEntry) error { n++; return nil })
	if err != nil || cat.Count != 1 || n != 1 {
		t.Errorf("ParseKEV: %v, %+v, %d", err, cat, n)
	}
	meta, err := ParseEPSS(ctx, strings.NewReader("cve,epss\nCVE-1,0.5\n"), func(*importer.EPSSScore) error { return nil })
	if err != nil || meta.Count != 1 {
		t.Errorf("ParseEPSS: %v, %+v", err, meta)
	}
	rec, err := ParseOSVRecord(ctx, strings.NewReader(`{"id": "GO-1", "aliases": ["CVE-1"]}`))
	if err != nil || rec.ID != "GO-1" {
		t.Errorf("ParseOSVRecord: %v, %+v", err, rec)
	}
}

func FuzzDetect(f *testing.F) {
	f.Add([]byte(`{"SchemaVersion": 2}`))
	f.Add([]byte("cve,epss\n"))
	f.Add([]byte("\x1f\x8b\x08\x00"))
	for _, dir := range []string{"trivy/*", "grype/*", "osv-scanner/*", "sarif/*", "cyclonedx/*", "kev/*", "osv-advisories/*"} {
		for _, b := range importertest.SeedFiles(dir) {
			f.Add(b[:min(len(b), 4096)])
		}
	}
	known := map[importer.Format]bool{}
	for _, f := range Formats() {
		known[f] = true
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		got, err := Detect(head)
		if (err == nil) != (got != "") {
			t.Fatalf("Detect = %q, %v", got, err)
		}
		if got != "" && !known[got] {
			t.Fatalf("unknown format %q", got)
		}
		if err != nil {
			var perr *patchctl.Error
			if !errors.As(err, &perr) || perr.Code != patchctl.CodeInvalid || perr.Message == "" {
				t.Fatalf("error %v", err)
			}
		}
		if again, _ := Detect(head); again != got {
			t.Fatalf("not deterministic: %q then %q", got, again)
		}
	})
}

// TestConcurrent parses the corpus reports from several goroutines at once:
// parsers keep no shared state but the buffer pool (run with -race).
func TestConcurrent(t *testing.T) {
	var files [][]byte
	for _, dir := range []string{"trivy", "grype", "osv-scanner", "sarif", "cyclonedx"} {
		for _, path := range corpus.Glob(t, dir+"/*") {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, b)
		}
	}
	want := make([]int, len(files))
	for i, b := range files {
		recs, _, err := importertest.ParseBytes(Auto{}, b, true)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = len(recs)
	}
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			for i := range files {
				k := (i + g*7) % len(files)
				recs, _, err := importertest.ParseBytes(Auto{}, files[k], g%2 == 0)
				if err == nil && len(recs) != want[k] {
					err = errors.New("record count changed under concurrency")
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

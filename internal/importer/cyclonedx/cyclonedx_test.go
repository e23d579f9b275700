package cyclonedx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/importer/internal/importertest"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

// count computes, independently of the parser, the components (nested
// included), affects entries and analyses of a document.
func count(t *testing.T, data []byte) (components, affects int, vex bool) {
	t.Helper()
	var doc struct {
		Components      []json.RawMessage `json:"components"`
		Vulnerabilities []struct {
			Affects  []json.RawMessage `json:"affects"`
			Analysis json.RawMessage   `json:"analysis"`
		} `json:"vulnerabilities"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func([]json.RawMessage) int
	walk = func(list []json.RawMessage) int {
		n := 0
		for _, c := range list {
			var nested struct {
				Components []json.RawMessage `json:"components"`
			}
			_ = json.Unmarshal(c, &nested)
			n += 1 + walk(nested.Components)
		}
		return n
	}
	for _, v := range doc.Vulnerabilities {
		affects += len(v.Affects)
		vex = vex || len(v.Analysis) > 0
	}
	return walk(doc.Components), affects, vex
}

// TestCorpusAll parses every CycloneDX file of the corpus — SBOMs, VEX
// documents, Trivy's SBOMs with vulnerabilities — seekable and not.
func TestCorpusAll(t *testing.T) {
	for _, path := range corpus.Glob(t, "cyclonedx/*") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			recs, meta, err := importertest.ParseBytes(New(), data, true)
			if err != nil {
				t.Fatal(err)
			}
			components, affects, vex := count(t, data)
			if meta.Components != components || meta.FindingsInReport != affects || len(recs) != affects || meta.IsVEX != vex {
				t.Errorf("components %d, findings %d, records %d, vex %v; want %d, %d, %d, %v",
					meta.Components, meta.FindingsInReport, len(recs), meta.IsVEX, components, affects, affects, vex)
			}
			importertest.CheckRecords(t, recs, meta)
			importertest.CheckIDs(t, recs)
			plain, plainMeta, err := importertest.ParseBytes(New(), data, false)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(recs, plain); diff != "" {
				t.Errorf("seekable and plain readers differ (-seekable +plain):\n%s", diff)
			}
			if diff := cmp.Diff(meta, plainMeta); diff != "" {
				t.Errorf("meta differs (-seekable +plain):\n%s", diff)
			}
		})
	}
}

func TestTrivySBOM(t *testing.T) {
	recs, meta, err := importertest.ParseFile(t, New(), corpus.Path(t, "cyclonedx/trivy__pom-cyclonedx.json.golden"))
	if err != nil {
		t.Fatal(err)
	}
	asset := importer.AssetRef{Kind: patchctl.AssetSBOM, Name: "testdata/fixtures/repo/pom"}
	want := &importer.Record{
		Asset:            asset,
		VulnID:           "CVE-2020-9548",
		Package:          "com.fasterxml.jackson.core:jackson-databind",
		Ecosystem:        "maven",
		PURL:             "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.9.1",
		InstalledVersion: "2.9.1",
		Severity:         patchctl.SeverityCritical,
		SeverityRaw:      "critical",
		CVSS:             9.8,
		CVSSVector:       "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
		URL:              "https://github.com/advisories?query=type%3Areviewed+ecosystem%3Amaven",
		Published:        time.Date(2020, 3, 2, 4, 15, 0, 0, time.UTC),
	}
	if diff := cmp.Diff(want, recs[0]); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	wantMeta := &importer.Meta{Format: importer.FormatCycloneDX, Tool: "trivy", ToolVersion: "dev",
		CreatedAt: time.Date(2021, 8, 25, 12, 20, 30, 0, time.UTC), Assets: []importer.AssetRef{asset},
		FindingsInReport: 2, BySeverityRaw: map[string]int{"critical": 1, "high": 1}, Components: 3}
	if diff := cmp.Diff(wantMeta, meta); diff != "" {
		t.Errorf("meta (-want +got):\n%s", diff)
	}
}

func TestVEX(t *testing.T) {
	tests := []struct {
		file  string
		index int
		want  *importer.Record
	}{
		{"cyclonedx/VEX__CISA-Use-Cases__Case-1__vex-not_affected.json", 0, &importer.Record{
			Asset: importer.AssetRef{Kind: patchctl.AssetSBOM, Name: "ABC"}, VulnID: "CVE-2021-44228",
			Package: "ABC", InstalledVersion: "4.2", Severity: patchctl.SeverityUnknown, SeverityRaw: "unknown",
			URL: "https://nvd.nist.gov/vuln/detail/CVE-2021-44228", VEXState: "not_affected", Justification: "code_not_present",
		}},
		{"cyclonedx/VEX__Use-Cases__Case-9__vex.json", 1, &importer.Record{
			Asset: importer.AssetRef{Kind: patchctl.AssetSBOM}, VulnID: "CVE-2020-11896", Package: "acme-product-2",
			Severity: patchctl.SeverityUnknown, SeverityRaw: "unknown", VEXState: "not_affected", Justification: "code_not_reachable",
		}},
		{"cyclonedx/VEX__vex.json", 0, &importer.Record{
			Asset: importer.AssetRef{Kind: patchctl.AssetSBOM}, VulnID: "CVE-2020-25649", Aliases: []string{"SNYK-JAVA-COMFASTERXMLJACKSONCORE-1048302"},
			Package: "com.fasterxml.jackson.core:jackson-databind", Ecosystem: "maven",
			PURL: "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.10.0?type=jar", InstalledVersion: "2.10.0",
			Severity: patchctl.SeverityHigh, SeverityRaw: "high", CVSS: 8.2, CVSSVector: "AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:N",
			URL: "https://nvd.nist.gov/vuln/detail/CVE-2020-25649", Published: time.Date(2020, 12, 3, 0, 0, 0, 0, time.UTC),
			VEXState: "not_affected", Justification: "code_not_reachable",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			recs, meta, err := importertest.ParseFile(t, New(), corpus.Path(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !meta.IsVEX {
				t.Error("IsVEX not set")
			}
			if diff := cmp.Diff(tt.want, recs[tt.index]); diff != "" {
				t.Errorf("record %d (-want +got):\n%s", tt.index, diff)
			}
		})
	}
}

func TestSBOMWithoutVulnerabilities(t *testing.T) {
	recs, meta, err := importertest.ParseFile(t, New(), corpus.Path(t, "cyclonedx/SBOM__dropwizard-1.3.15__bom.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 || meta.Components != 167 || meta.IsVEX {
		t.Errorf("%d records, %d components, vex %v", len(recs), meta.Components, meta.IsVEX)
	}
	want := []importer.AssetRef{{Kind: patchctl.AssetSBOM, Name: "io.dropwizard:dropwizard-parent"}}
	if diff := cmp.Diff(want, meta.Assets); diff != "" {
		t.Errorf("assets (-want +got):\n%s", diff)
	}
}

// TestOwnDocument: vulnerabilities first, nested components, a container
// metadata component, a purl ref that names no component, versions from
// affects, a rating with only a vector.
func TestOwnDocument(t *testing.T) {
	doc := `{"bomFormat": "CycloneDX", "specVersion": "1.5",
	 "vulnerabilities": [
	   {"id": "CVE-1", "ratings": [{"method": "CVSSv31", "vector": "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
	    "affects": [{"ref": "inner"}, {"ref": "pkg:npm/%40babel/core@7.0.0"}, {"ref": "product", "versions": [{"version": "2.0", "status": "affected"}]}]}],
	 "metadata": {"component": {"type": "container", "name": "registry.example/app", "version": "1.4", "bom-ref": "root"}},
	 "components": [{"type": "library", "name": "outer", "version": "1", "bom-ref": "outer",
	   "components": [{"type": "library", "group": "org.example", "name": "inner", "version": "2", "purl": "pkg:maven/org.example/inner@2", "bom-ref": "inner"}]}]}`
	asset := importer.AssetRef{Kind: patchctl.AssetImage, Name: "registry.example/app:1.4"}
	base := importer.Record{Asset: asset, VulnID: "CVE-1", Severity: patchctl.SeverityCritical, SeverityRaw: "unknown",
		CVSS: 9.8, CVSSVector: "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
	r1, r2, r3 := base, base, base
	r1.Package, r1.InstalledVersion, r1.PURL, r1.Ecosystem = "org.example:inner", "2", "pkg:maven/org.example/inner@2", "maven"
	r2.Package, r2.InstalledVersion, r2.PURL, r2.Ecosystem = "@babel/core", "7.0.0", "pkg:npm/%40babel/core@7.0.0", "npm"
	r3.Package, r3.InstalledVersion = "product", "2.0"
	want := []*importer.Record{&r1, &r2, &r3}
	for _, seekable := range []bool{true, false} {
		recs, meta, err := importertest.ParseBytes(New(), []byte(doc), seekable)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, recs); diff != "" {
			t.Errorf("seekable=%v: records (-want +got):\n%s", seekable, diff)
		}
		if meta.Components != 2 {
			t.Errorf("components = %d, want 2", meta.Components)
		}
	}
}

func TestParsePURL(t *testing.T) {
	tests := []struct{ purl, typ, name, version string }{
		{"pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.9.1", "maven", "com.fasterxml.jackson.core:jackson-databind", "2.9.1"},
		{"pkg:npm/%40babel/core@7.0.0", "npm", "@babel/core", "7.0.0"},
		{"pkg:npm/lodash@4.17.20", "npm", "lodash", "4.17.20"},
		{"pkg:golang/github.com/ProtonMail/proton-bridge@v1.8.0", "golang", "github.com/ProtonMail/proton-bridge", "v1.8.0"},
		{"pkg:deb/debian/openssl@1.1.1n-0+deb11u4?arch=amd64&distro=debian-11", "deb", "openssl", "1.1.1n-0+deb11u4"},
		{"pkg:pypi/django", "pypi", "django", ""},
		{"pkg:apk/alpine/libcrypto1.1@1.1.1c-r0?arch=x86_64#sub/path", "apk", "libcrypto1.1", "1.1.1c-r0"},
		{"not-a-purl", "", "", ""},
	}
	for _, tt := range tests {
		typ, name, version := parsePURL(tt.purl)
		if typ != tt.typ || name != tt.name || version != tt.version {
			t.Errorf("parsePURL(%q) = %q, %q, %q; want %q, %q, %q", tt.purl, typ, name, version, tt.typ, tt.name, tt.version)
		}
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name, input string
		parts       []string
	}{
		{"spdx", `{"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT"}`, []string{"not a CycloneDX JSON document: input is an SPDX JSON SBOM"}},
		{"xml", `<?xml version="1.0"?><bom xmlns="http://cyclonedx.org/schema/bom/1.5"></bom>`, []string{"CycloneDX XML document (only JSON is supported)"}},
		{"grype", `{"matches": []}`, []string{"input is a Grype JSON report, not a CycloneDX JSON document"}},
		{"truncated", "{\"bomFormat\": \"CycloneDX\",\n\"components\": [{\"name\": \"a\"", []string{"unexpected end of input at offset 54 (line 2)"}},
		{"bad component", "{\"bomFormat\": \"CycloneDX\",\n\"components\": [{\"name\": 5}]}", []string{"unexpected JSON number at offset 51 (line 2) in /components/0/name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := importertest.ParseBytes(New(), []byte(tt.input), false)
			importertest.WantInvalid(t, err, tt.parts...)
		})
	}
}

func TestCancel(t *testing.T) {
	data := bigDocument(t, 3000)
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

func FuzzCycloneDX(f *testing.F) {
	f.Add([]byte(`{"bomFormat": "CycloneDX", "specVersion": "1.5", "vulnerabilities": [{"id": "X", "affects": [{"ref": "urn:cdx:a/1#b"}], "analysis": {"state": "fixed"}}]}`))
	for _, b := range importertest.SeedFiles("cyclonedx/*") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) { importertest.FuzzParse(t, New(), data) })
}

const benchFindings = 50_000

// bigDocument builds a Trivy CycloneDX document with n vulnerabilities from
// the corpus file trivy__pom-cyclonedx.json.golden.
func bigDocument(tb testing.TB, n int) []byte {
	tb.Helper()
	data, err := os.ReadFile(corpus.Path(tb, "cyclonedx/trivy__pom-cyclonedx.json.golden"))
	if err != nil {
		tb.Fatal(err)
	}
	vulns := importertest.RawArray(tb, data, "vulnerabilities")
	ids := make([]string, len(vulns))
	for i, v := range vulns {
		var x struct{ ID string }
		if err := json.Unmarshal(v, &x); err != nil {
			tb.Fatal(err)
		}
		ids[i] = x.ID
	}
	i := bytes.Index(data, []byte(`"vulnerabilities"`))
	var buf bytes.Buffer
	buf.Write(data[:i])
	buf.WriteString(`"vulnerabilities": [`)
	buf.Write(importertest.Replicate(vulns, ids, n))
	buf.WriteString("]}\n")
	return buf.Bytes()
}

func BenchmarkParseCycloneDX(b *testing.B) {
	data := bigDocument(b, benchFindings)
	b.Logf("input: %d findings, %.1f MB, %d bytes per finding", benchFindings, float64(len(data))/1e6, len(data)/benchFindings)
	b.Run("parser", func(b *testing.B) { importertest.Bench(b, New(), data, benchFindings) })
	b.Run("floor=jsontext-skip", func(b *testing.B) { importertest.BenchFloor(b, data, benchFindings) })
}

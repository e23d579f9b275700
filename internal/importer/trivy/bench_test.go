package trivy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/patchctl/patchctl/internal/importer/internal/importertest"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

// benchFindings is the size of the generated benchmark report.
const benchFindings = 50_000

// bigReport builds a Trivy image report of n findings from the corpus
// report alpine-310 (about 3 KB per finding), varying the vulnerability ids.
func bigReport(tb testing.TB, n int) []byte {
	tb.Helper()
	data, err := os.ReadFile(corpus.Path(tb, "trivy/alpine-310.json.golden"))
	if err != nil {
		tb.Fatal(err)
	}
	vulns := importertest.RawArray(tb, data, "Results", "0", "Vulnerabilities")
	ids := make([]string, len(vulns))
	for i, v := range vulns {
		var x struct{ VulnerabilityID string }
		if err := json.Unmarshal(v, &x); err != nil {
			tb.Fatal(err)
		}
		ids[i] = x.VulnerabilityID
	}
	var buf bytes.Buffer
	// Keep the corpus header (SchemaVersion ... Metadata) and replace Results.
	head := data[:bytes.Index(data, []byte(`"Results"`))]
	buf.Write(head)
	buf.WriteString(`"Results": [{"Target": "bench (alpine 3.10.2)", "Class": "os-pkgs", "Type": "alpine", "Vulnerabilities": [`)
	buf.Write(importertest.Replicate(vulns, ids, n))
	buf.WriteString("]}]}\n")
	return buf.Bytes()
}

func BenchmarkParseTrivy(b *testing.B) {
	data := bigReport(b, benchFindings)
	b.Logf("input: %d findings, %.1f MB, %d bytes per finding", benchFindings, float64(len(data))/1e6, len(data)/benchFindings)
	b.Run("parser", func(b *testing.B) { importertest.Bench(b, New(), data, benchFindings) })
	b.Run("floor=jsontext-skip", func(b *testing.B) { importertest.BenchFloor(b, data, benchFindings) })
	b.Run("naive=encoding-json", func(b *testing.B) {
		importertest.BenchUnmarshal(b, data, benchFindings, false, func() any { return new(fullReport) })
	})
}

// fullReport is the whole-document decode a naive importer would do.
type fullReport struct {
	ArtifactName string
	Results      []struct {
		Target          string
		Type            string
		Vulnerabilities []struct {
			VulnerabilityID  string
			PkgName          string
			InstalledVersion string
			FixedVersion     string
			Severity         string
			Title            string
			Description      string
			PrimaryURL       string
			References       []string
			CVSS             map[string]struct {
				V3Score  float64
				V3Vector string
			}
		}
	}
}

func TestBigReport(t *testing.T) {
	data := bigReport(t, 2000)
	recs, meta, err := importertest.ParseBytes(New(), data, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2000 || meta.FindingsInReport != 2000 {
		t.Fatalf("%d records, %d findings; want 2000", len(recs), meta.FindingsInReport)
	}
	if got, want := recs[1999].VulnID, fmt.Sprintf("%s-1999", recs[3].VulnID[:len(recs[3].VulnID)-2]); got != want {
		t.Errorf("last id %q, want %q", got, want)
	}
}

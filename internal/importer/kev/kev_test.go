package kev

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/importer/internal/importertest"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

func parse(t testing.TB, data []byte) ([]*importer.KEVEntry, *importer.KEVCatalog, error) {
	t.Helper()
	var entries []*importer.KEVEntry
	cat, err := Parse(context.Background(), bytes.NewReader(data), func(e *importer.KEVEntry) error {
		entries = append(entries, e)
		return nil
	})
	return entries, cat, err
}

func TestCorpusJSONAndCSV(t *testing.T) {
	js, err := os.ReadFile(corpus.Path(t, "kev/known_exploited_vulnerabilities.json"))
	if err != nil {
		t.Fatal(err)
	}
	cv, err := os.ReadFile(corpus.Path(t, "kev/known_exploited_vulnerabilities.csv"))
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, cat, err := parse(t, js)
	if err != nil {
		t.Fatal(err)
	}
	wantCat := &importer.KEVCatalog{Title: "CISA Catalog of Known Exploited Vulnerabilities", CatalogVersion: "2025.08.25",
		DateReleased: time.Date(2025, 8, 25, 17, 4, 19, 979600000, time.UTC), Count: 1404}
	if diff := cmp.Diff(wantCat, cat); diff != "" {
		t.Errorf("catalog (-want +got):\n%s", diff)
	}
	want := &importer.KEVEntry{CVE: "CVE-2025-48384", VendorProject: "Git", Product: "Git", Name: "Git Link Following Vulnerability",
		DateAdded: time.Date(2025, 8, 25, 0, 0, 0, 0, time.UTC), DueDate: time.Date(2025, 9, 15, 0, 0, 0, 0, time.UTC),
		RequiredAction: "Apply mitigations per vendor instructions, follow applicable BOD 22-01 guidance for cloud services, or discontinue use of the product if mitigations are unavailable."}
	if diff := cmp.Diff(want, fromJSON[0]); diff != "" {
		t.Errorf("first entry (-want +got):\n%s", diff)
	}
	ransomware := 0
	for _, e := range fromJSON {
		if e.KnownRansomwareCampaignUse {
			ransomware++
		}
	}
	if ransomware != 293 {
		t.Errorf("%d entries with known ransomware use, want 293", ransomware)
	}
	fromCSV, csvCat, err := parse(t, cv)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&importer.KEVCatalog{Count: 1404}, csvCat); diff != "" {
		t.Errorf("CSV catalog (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(fromJSON, fromCSV); diff != "" {
		t.Errorf("JSON and CSV entries differ (-json +csv):\n%s", diff)
	}
}

// TestCorpusSchema: the kev folder also holds the catalog's JSON Schema,
// which is not a catalog and is refused with a message saying what it is.
func TestCorpusSchema(t *testing.T) {
	data, err := os.ReadFile(corpus.Path(t, "kev/known_exploited_vulnerabilities_schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = parse(t, data)
	importertest.WantInvalid(t, err, `not a CISA KEV catalog: input is a JSON Schema document ("CISA Catalog of Known Exploited Vulnerabilities"), not data`)
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name, input string
		parts       []string
	}{
		{"no cveID", `{"catalogVersion": "1", "vulnerabilities": [{"cveID": "CVE-1"}, {"product": "x"}]}`, []string{"entry 1 has no cveID"}},
		{"truncated", "{\"catalogVersion\": \"1\",\n \"vulnerabilities\": [{\"cveID\": \"CVE-1\"", []string{"KEV catalog: unexpected end of input at offset 62 (line 2)"}},
		{"csv quote", "cveID,vendorProject\nCVE-1,\"a\nCVE-2,b\"x\n", []string{"KEV catalog: invalid CSV at line 3, column 8 (record starting at line 2, offset 20)"}},
		{"csv no cveID", "cveID,vendorProject\nCVE-1,a\n,b\n", []string{"KEV catalog: line 3 (offset 28): entry has no cveID"}},
		{"epss", "cve,epss\nCVE-1,0.1\n", []string{"input is a FIRST EPSS CSV file, not a CISA KEV catalog"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parse(t, []byte(tt.input))
			importertest.WantInvalid(t, err, tt.parts...)
		})
	}
}

func TestEmitError(t *testing.T) {
	stop := errors.New("stop")
	_, err := Parse(context.Background(), strings.NewReader(`{"catalogVersion": "1", "vulnerabilities": [{"cveID": "CVE-1"}]}`),
		func(*importer.KEVEntry) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("err = %v, want stop", err)
	}
}

func FuzzKEV(f *testing.F) {
	f.Add([]byte(`{"title": "t", "catalogVersion": "1", "dateReleased": "2025-01-01T00:00:00Z", "count": 1, "vulnerabilities": [{"cveID": "CVE-1", "knownRansomwareCampaignUse": "Known"}]}`))
	f.Add([]byte("cveID,vendorProject,dateAdded\nCVE-1,a,2024-01-01\n"))
	// Prefixes: the whole catalog makes a slow seed.
	for _, b := range importertest.SeedPrefixes("kev/known_exploited_vulnerabilities.*", 8<<10) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, cat, err := parse(t, data)
		if err != nil {
			importertest.WantCode(t, err, patchctl.CodeInvalid)
			return
		}
		if cat.Count != len(entries) {
			t.Fatalf("count %d, %d entries", cat.Count, len(entries))
		}
		for _, e := range entries {
			if e.CVE == "" {
				t.Fatal("entry without CVE")
			}
		}
	})
}

package epss

import (
	"bytes"
	"compress/gzip"
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
)

const fixture = "testdata/epss_scores-2026-11-25.csv"

func parse(t testing.TB, data []byte) ([]*importer.EPSSScore, *importer.EPSSMeta, error) {
	t.Helper()
	var scores []*importer.EPSSScore
	meta, err := Parse(context.Background(), bytes.NewReader(data), func(s *importer.EPSSScore) error {
		scores = append(scores, s)
		return nil
	})
	return scores, meta, err
}

func TestFixture(t *testing.T) {
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	for name, input := range map[string][]byte{"plain": data, "gzip": gz.Bytes(), "crlf": bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))} {
		t.Run(name, func(t *testing.T) {
			scores, meta, err := parse(t, input)
			if err != nil {
				t.Fatal(err)
			}
			wantMeta := &importer.EPSSMeta{ModelVersion: "v2025.03.14", ScoreDate: time.Date(2026, 11, 25, 12, 55, 0, 0, time.UTC), Count: 10}
			if diff := cmp.Diff(wantMeta, meta); diff != "" {
				t.Errorf("meta (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(&importer.EPSSScore{CVE: "CVE-2014-0160", EPSS: 0.94467, Percentile: 0.99979}, scores[1]); diff != "" {
				t.Errorf("score (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVariants(t *testing.T) {
	tests := []struct {
		name, input string
		want        []*importer.EPSSScore
		meta        *importer.EPSSMeta
	}{
		{"no comment, no percentile", "cve,epss\nCVE-2020-1,0.5\n",
			[]*importer.EPSSScore{{CVE: "CVE-2020-1", EPSS: 0.5}}, &importer.EPSSMeta{Count: 1}},
		{"reordered columns, offset date, blank line", "#model_version:v2023.03.01,score_date:2023-07-05T00:00:00+0000\npercentile,cve,epss\n\n0.9,CVE-2020-2,0.25",
			[]*importer.EPSSScore{{CVE: "CVE-2020-2", EPSS: 0.25, Percentile: 0.9}},
			&importer.EPSSMeta{ModelVersion: "v2023.03.01", ScoreDate: time.Date(2023, 7, 5, 0, 0, 0, 0, time.UTC), Count: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scores, meta, err := parse(t, []byte(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, scores); diff != "" {
				t.Errorf("scores (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.meta, meta); diff != "" {
				t.Errorf("meta (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name, input string
		parts       []string
	}{
		{"bad score", "cve,epss,percentile\nCVE-1,0.1,0.2\nCVE-2,abc,0.3\n", []string{"EPSS file: line 3 (offset 34): epss \"abc\": not a number"}},
		{"out of range", "cve,epss,percentile\r\nCVE-1,0.1,0.2\r\nCVE-2,1.5,0.3\r\n", []string{"line 3 (offset 36): epss \"1.5\": not between 0 and 1"}},
		{"short row", "cve,epss,percentile\nCVE-1,0.1\n", []string{"line 2 (offset 20): 2 columns"}},
		{"bad date", "#model_version:v1,score_date:yesterday\ncve,epss\n", []string{"line 1 (offset 0): score_date \"yesterday\""}},
		{"kev csv", "cveID,vendorProject,product\nCVE-1,a,b\n", []string{"input is a CISA KEV catalog (CSV), not a FIRST EPSS CSV file"}},
		{"json", `{"matches": []}`, []string{"input is a Grype JSON report, not a FIRST EPSS CSV file"}},
		{"comment only", "#model_version:v1\n", []string{"no header after the comment line"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parse(t, []byte(tt.input))
			importertest.WantInvalid(t, err, tt.parts...)
		})
	}
}

func TestEmitAndCancel(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("cve,epss,percentile\n")
	for range 5000 {
		sb.WriteString("CVE-2020-1,0.1,0.2\n")
	}
	stop := errors.New("stop")
	_, err := Parse(context.Background(), strings.NewReader(sb.String()), func(*importer.EPSSScore) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("err = %v, want stop", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err = Parse(ctx, strings.NewReader(sb.String()), func(*importer.EPSSScore) error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n >= 5000 {
		t.Errorf("err = %v after %d scores, want context.Canceled early", err, n)
	}
}

func FuzzEPSS(f *testing.F) {
	if data, err := os.ReadFile(fixture); err == nil {
		f.Add(data)
	}
	f.Add([]byte("cve,epss\nCVE-1,0.5\n"))
	f.Add([]byte("#model_version:v1,score_date:2024-01-01\npercentile,epss,cve\n1,1,x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		scores, meta, err := parse(t, data)
		if err != nil {
			importertest.WantCode(t, err, patchctl.CodeInvalid)
			return
		}
		if meta.Count != len(scores) {
			t.Fatalf("count %d, %d scores", meta.Count, len(scores))
		}
		for _, s := range scores {
			if s.CVE == "" || s.EPSS < 0 || s.EPSS > 1 || s.Percentile < 0 || s.Percentile > 1 {
				t.Fatalf("bad score %+v", s)
			}
		}
	})
}

package intake_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/intake"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
	"github.com/patchctl/patchctl/internal/testutil/testdb"
)

// BenchmarkImport imports generated reports (50 assets x 500 findings, real
// Trivy entries as templates) into a fresh SQLite database per iteration,
// then re-imports them; findings/s are reported for both.
func BenchmarkImport(b *testing.B) {
	dir := b.TempDir()
	files, _, err := intake.GenerateReports(intake.BenchOptions{Assets: 50, Findings: 500, Groups: 5, Dir: dir,
		Templates: []string{corpus.Path(b, "trivy/alpine-310.json.golden"), corpus.Path(b, "trivy/debian-buster.json.golden")}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var firstSecs, reSecs float64
	var n int
	for b.Loop() {
		b.StopTimer()
		f := newFix(&testing.T{}, testdb.Open(b, store.SQLite))
		b.StartTimer()
		for pass := range 2 {
			for _, p := range files {
				r, err := os.Open(p)
				if err != nil {
					b.Fatal(err)
				}
				s, err := f.in.Import(ctx, erin, r, intake.Options{Format: importer.FormatTrivy})
				r.Close()
				if err != nil {
					b.Fatal(err)
				}
				n += s.FindingsInReport
				_ = pass
			}
		}
	}
	_ = firstSecs
	_ = reSecs
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "findings/s")
}

// BenchmarkImportSmall imports a report of 20 findings, as a CI pipeline
// does for each build, into a database that holds the CISA KEV catalog;
// the report is parsed every time (no content-hash short-cut).
func BenchmarkImportSmall(b *testing.B) {
	f := newFix(&testing.T{}, testdb.Open(b, store.SQLite))
	ctx := context.Background()
	kev, err := os.ReadFile(corpus.Path(b, "kev/known_exploited_vulnerabilities.json"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.in.ImportKEV(ctx, erin, bytes.NewReader(kev)); err != nil {
		b.Fatal(err)
	}
	var vulns [][4]string
	for i := range 20 {
		vulns = append(vulns, [4]string{fmt.Sprintf("CVE-2024-%04d", i), fmt.Sprintf("pkg%d", i), "1.0", "1.1"})
	}
	report := trivyReport("ghcr.io/acme/payments:1.4", vulns...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.in.Import(ctx, erin, bytes.NewReader(report), intake.Options{NoShortcut: true}); err != nil {
			b.Fatal(err)
		}
	}
}

package intake_test

import (
	"context"
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

package store_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/testdb"
)

// webFindings inserts findings over three assets with every state,
// severity, KEV listing, fix availability, a few packages, EPSS scores and
// patches, and returns them as the store reads them.
func webFindings(t *testing.T, db *store.DB) []*patchctl.Finding {
	t.Helper()
	ctx := context.Background()
	var assets []int64
	inTx(t, db, func(tx *store.Tx) error {
		for _, name := range []string{"ghcr.io/acme/pay:1", "ghcr.io/acme/pay:2", "ghcr.io/acme/web:1"} {
			a := patchctl.Asset{Kind: patchctl.AssetImage, Name: name}
			if err := tx.EnsureAsset(ctx, &a, g0); err != nil {
				return err
			}
			assets = append(assets, a.ID)
		}
		var fs []store.NewFinding
		for i := range 240 {
			sev := patchctl.Severities[i%len(patchctl.Severities)]
			f := store.NewFinding{AssetID: assets[i%3], VulnID: fmt.Sprintf("CVE-2031-%05d", i%40), Package: fmt.Sprintf("lib%d", i%4),
				InstalledVersion: fmt.Sprintf("1.%d", i), Severity: sev, KEV: i%7 == 0, EPSS: float64(i%10) / 10, Aliases: "[]",
				State: patchctl.FindingOpen, Hash: int64(i)}
			if i%5 != 0 {
				f.FixedVersion = "2.0"
			}
			fs = append(fs, f)
		}
		return tx.InsertFindings(ctx, fs, 1, g0)
	})
	all, _, err := db.Read().ListFindings(ctx, store.FindingFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	// Other states: closed by a re-import, accepted, false positives.
	inTx(t, db, func(tx *store.Tx) error {
		var closed []int64
		for _, f := range all {
			switch {
			case f.ID%11 == 0:
				closed = append(closed, f.ID)
			case f.ID%13 == 0:
				exp := g0.Add(time.Hour)
				if err := tx.SetFindingState(ctx, f.ID, patchctl.FindingRiskAccepted, &patchctl.Acceptance{Reason: "r", Actor: "lena", At: g0, ExpiresAt: &exp}); err != nil {
					return err
				}
			case f.ID%17 == 0:
				if err := tx.SetFindingState(ctx, f.ID, patchctl.FindingFalsePositive, &patchctl.Acceptance{Reason: "r", Actor: "lena", At: g0}); err != nil {
					return err
				}
			}
		}
		return tx.CloseFindings(ctx, closed, 2, g0)
	})
	all, _, err = db.Read().ListFindings(ctx, store.FindingFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// TestFindingsPage pages through the web list with each filter, forwards
// and backwards, on every engine, and compares with the findings picked
// and ordered by hand.
func TestFindingsPage(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		all := webFindings(t, db)
		yes, no := true, false
		cases := []struct {
			name string
			f    store.FindingFilter
			keep func(*patchctl.Finding) bool
		}{
			{"open", store.FindingFilter{States: []patchctl.FindingState{patchctl.FindingOpen}}, func(f *patchctl.Finding) bool { return f.State == patchctl.FindingOpen }},
			{"every state", store.FindingFilter{}, func(*patchctl.Finding) bool { return true }},
			{"closed", store.FindingFilter{States: []patchctl.FindingState{patchctl.FindingClosed}}, func(f *patchctl.Finding) bool { return f.State == patchctl.FindingClosed }},
			{"severity", store.FindingFilter{Severities: []patchctl.Severity{patchctl.SeverityHigh}},
				func(f *patchctl.Finding) bool { return f.Severity == patchctl.SeverityHigh }},
			{"two severities open", store.FindingFilter{States: []patchctl.FindingState{patchctl.FindingOpen}, Severities: []patchctl.Severity{patchctl.SeverityLow, patchctl.SeverityCritical}},
				func(f *patchctl.Finding) bool {
					return f.State == patchctl.FindingOpen && (f.Severity == patchctl.SeverityLow || f.Severity == patchctl.SeverityCritical)
				}},
			{"kev", store.FindingFilter{KEV: &yes}, func(f *patchctl.Finding) bool { return f.KEV }},
			{"not kev open", store.FindingFilter{KEV: &no, States: []patchctl.FindingState{patchctl.FindingOpen}}, func(f *patchctl.Finding) bool { return !f.KEV && f.State == patchctl.FindingOpen }},
			{"no fix", store.FindingFilter{NoFix: true}, func(f *patchctl.Finding) bool { return f.FixedVersion == "" }},
			{"package", store.FindingFilter{Package: "lib2"}, func(f *patchctl.Finding) bool { return f.Package == "lib2" }},
			{"package and kev", store.FindingFilter{Package: "lib0", KEV: &yes}, func(f *patchctl.Finding) bool { return f.Package == "lib0" && f.KEV }},
			{"epss", store.FindingFilter{EPSSMin: 0.7}, func(f *patchctl.Finding) bool { return f.EPSS >= 0.7 }},
			{"vulnerability", store.FindingFilter{VulnID: "CVE-2031-00007"}, func(f *patchctl.Finding) bool { return f.VulnID == "CVE-2031-00007" }},
			{"vulnerability lower case", store.FindingFilter{VulnID: "cve-2031-00007"}, func(f *patchctl.Finding) bool { return f.VulnID == "CVE-2031-00007" }},
			{"asset", store.FindingFilter{Asset: "ghcr.io/acme/pay:2"}, func(f *patchctl.Finding) bool { return f.Asset == "ghcr.io/acme/pay:2" }},
			{"asset prefix", store.FindingFilter{Asset: "ghcr.io/acme/pay*"}, func(f *patchctl.Finding) bool { return f.Asset != "ghcr.io/acme/web:1" }},
			{"unknown asset", store.FindingFilter{Asset: "nothing*"}, func(*patchctl.Finding) bool { return false }},
			{"asset prefix kev no fix", store.FindingFilter{Asset: "ghcr.io/*", KEV: &yes, NoFix: true}, func(f *patchctl.Finding) bool { return f.KEV && f.FixedVersion == "" }},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var want []int64
				for _, f := range all {
					if c.keep(f) {
						want = append(want, f.ID)
					}
				}
				byID := map[int64]*patchctl.Finding{}
				for _, f := range all {
					byID[f.ID] = f
				}
				slices.SortFunc(want, func(a, b int64) int {
					if c := cmp.Compare(byID[b].Severity.Rank(), byID[a].Severity.Rank()); c != 0 {
						return c
					}
					return cmp.Compare(b, a)
				})
				// Page through with pages of 7; then again checking at most
				// 10 findings per state and severity range, where rare
				// matches stop pages early (some empty) but the whole list
				// still comes out once, in order.
				for _, checkMax := range []int{0, 10} {
					if checkMax > 0 {
						defer store.SetCheckMax(checkMax)()
					}
					f := c.f
					f.Limit = 7
					var got []int64
					var cur *store.FindingCursor
					pages, stopped := 0, 0
					for ; pages < 500; pages++ {
						page, err := db.Read().FindingsPage(ctx, f, cur)
						if err != nil {
							t.Fatal(err)
						}
						if len(page.Findings) > 7 || (!page.Stopped && page.Next != nil && len(page.Findings) != 7) {
							t.Fatalf("page of %d findings, stopped %v, next %v", len(page.Findings), page.Stopped, page.Next)
						}
						if page.Stopped {
							stopped++
							if checkMax == 0 {
								t.Fatalf("a page stopped without a check budget")
							}
						}
						for _, fi := range page.Findings {
							got = append(got, fi.ID)
						}
						if page.Next == nil {
							break
						}
						cur = page.Next
					}
					if diff := gocmp.Diff(want, got); diff != "" {
						t.Fatalf("paging with check budget %d, %d pages (-want +got):\n%s", checkMax, pages, diff)
					}
					if c.name == "epss" && checkMax > 0 && stopped == 0 {
						t.Errorf("no page stopped checking EPSS scores after %d findings", checkMax)
					}
				}
			})
		}
	})
}

// TestFindingCounts checks the counters the triggers of migration 0005
// keep against counting the findings, after inserts and every kind of
// update, on every engine.
func TestFindingCounts(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		all := webFindings(t, db)
		check := func(when string) {
			t.Helper()
			counts, err := db.FindingCounts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, c := range counts {
				got[fmt.Sprint(c.State, c.Severity, c.KEV, c.NoFix)] += c.N
			}
			fs, _, err := db.Read().ListFindings(ctx, store.FindingFilter{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]int{}
			for _, f := range fs {
				want[fmt.Sprint(f.State, f.Severity, f.KEV, f.FixedVersion == "")]++
			}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("%s: counts (-counted +kept):\n%s", when, diff)
			}
			// The API's stats come from the same counters.
			wantStats := &store.FindingStats{BySeverity: map[patchctl.Severity]int{}}
			for _, f := range fs {
				switch f.State {
				case patchctl.FindingOpen:
					wantStats.Open++
					wantStats.BySeverity[f.Severity]++
					if f.KEV {
						wantStats.KEV++
					}
					if f.FixedVersion == "" {
						wantStats.NoFix++
					}
				case patchctl.FindingRiskAccepted:
					wantStats.Accepted++
				}
			}
			st, err := db.FindingStats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for sev, n := range st.BySeverity {
				if n == 0 {
					delete(st.BySeverity, sev)
				}
			}
			if diff := gocmp.Diff(wantStats, st); diff != "" {
				t.Errorf("%s: stats (-counted +kept):\n%s", when, diff)
			}
		}
		check("after inserts and state changes")
		inTx(t, db, func(tx *store.Tx) error {
			// A re-import: content changes (severity, fix, KEV), reopens.
			for _, f := range all[:30] {
				nf := store.NewFinding{FixedVersion: "", Severity: patchctl.SeverityCritical, KEV: !f.KEV, Aliases: "[]", State: patchctl.FindingOpen}
				if err := tx.UpdateFinding(ctx, f.ID, &nf, g0, f.State == patchctl.FindingClosed); err != nil {
					return err
				}
			}
			ids := []int64{all[40].ID, all[41].ID, all[42].ID}
			if err := tx.CloseFindings(ctx, ids, 3, g0); err != nil {
				return err
			}
			return tx.ReopenFindings(ctx, ids[:2], g0)
		})
		check("after updates")
		// Many small writes pile up counter rows on PostgreSQL; reading
		// compacts them and the counts stay.
		defer store.SetCountCompaction(50)()
		for i := range 60 {
			inTx(t, db, func(tx *store.Tx) error {
				return tx.InsertFindings(ctx, []store.NewFinding{{AssetID: all[0].AssetID, VulnID: "CVE-2031-77777", Package: "pile",
					InstalledVersion: fmt.Sprint(i), Severity: patchctl.Severities[i%6], Aliases: "[]", State: patchctl.FindingOpen}}, 9, g0)
			})
			inTx(t, db, func(tx *store.Tx) error {
				return tx.CloseFindings(ctx, []int64{all[50+i].ID}, 9, g0)
			})
		}
		check("after many small writes")
		if rows := store.CountRows(t, db); rows > 200 {
			t.Errorf("%d counter rows after reading, want them compacted", rows)
		}
		check("after compaction")
	})
}

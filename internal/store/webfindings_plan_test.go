package store

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
)

// recorder is a querier that remembers the queries it ran.
type recorder struct {
	querier
	mu      sync.Mutex
	queries []recorded
}

type recorded struct {
	query string
	args  []any
}

func (r *recorder) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	r.mu.Lock()
	r.queries = append(r.queries, recorded{query, args})
	r.mu.Unlock()
	return r.querier.QueryContext(ctx, query, args...)
}

func (r *recorder) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	r.mu.Lock()
	r.queries = append(r.queries, recorded{query, args})
	r.mu.Unlock()
	return r.querier.QueryRowContext(ctx, query, args...)
}

// TestFindingsPagePlans keeps the web findings list on the indexes of
// migration 0005 on SQLite: every query it runs for a page, with every
// filter the UI offers, first page and later ones, reads
// findings through an index, and the queries that read the list's order
// from an index do not sort (USE TEMP B-TREE FOR ORDER BY): with a million
// findings a sort costs hundreds of milliseconds. Only the reads of a
// selective filter's few matches (at most findingSortMax) sort them.
func TestFindingsPagePlans(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+t.TempDir()+"/plan.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	err = db.InTx(ctx, func(tx *Tx) error {
		a := patchctl.Asset{Kind: patchctl.AssetImage, Name: "ghcr.io/acme/pay:1"}
		if err := tx.EnsureAsset(ctx, &a, now); err != nil {
			return err
		}
		return tx.InsertFindings(ctx, []NewFinding{{AssetID: a.ID, VulnID: "CVE-2031-00001", Package: "lib0", InstalledVersion: "1",
			Severity: patchctl.SeverityHigh, EPSS: 0.95, Aliases: "[]", State: patchctl.FindingOpen, PatchID: 1}}, 1, now)
	})
	if err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	filters := map[string]FindingFilter{
		"open":                   {States: []patchctl.FindingState{patchctl.FindingOpen}},
		"every state":            {},
		"severity":               {States: []patchctl.FindingState{patchctl.FindingOpen}, Severities: []patchctl.Severity{patchctl.SeverityCritical}},
		"two severities":         {Severities: []patchctl.Severity{patchctl.SeverityCritical, patchctl.SeverityLow}},
		"kev":                    {States: []patchctl.FindingState{patchctl.FindingOpen}, KEV: &yes},
		"not kev":                {States: []patchctl.FindingState{patchctl.FindingOpen}, KEV: &no},
		"no fix":                 {States: []patchctl.FindingState{patchctl.FindingOpen}, NoFix: true},
		"package":                {States: []patchctl.FindingState{patchctl.FindingOpen}, Package: "lib0"},
		"package severity":       {Package: "lib0", Severities: []patchctl.Severity{patchctl.SeverityHigh}},
		"epss":                   {States: []patchctl.FindingState{patchctl.FindingOpen}, EPSSMin: 0.9},
		"vulnerability":          {VulnID: "CVE-2031-00001"},
		"patch":                  {States: []patchctl.FindingState{patchctl.FindingOpen}, PatchID: 1},
		"asset":                  {States: []patchctl.FindingState{patchctl.FindingOpen}, Asset: "ghcr.io/acme/pay:1"},
		"asset prefix":           {States: []patchctl.FindingState{patchctl.FindingOpen}, Asset: "ghcr.io/acme/*"},
		"asset prefix kev nofix": {Asset: "ghcr.io/*", KEV: &yes, NoFix: true},
	}
	ordered := []string{"findings_state_severity", "findings_package_state_severity", "findings_kev_state_severity", "findings_nofix_state_severity"}
	for name, f := range filters {
		t.Run(name, func(t *testing.T) {
			rec := &recorder{querier: db.read}
			x := q{db: db, x: rec}
			f.Limit = 50
			for _, cur := range []*FindingCursor{nil, {Rank: 4, ID: 1_000_000}} {
				if _, err := x.FindingsPage(ctx, f, cur); err != nil {
					t.Fatal(err)
				}
			}
			for _, r := range rec.queries {
				if !strings.Contains(r.query, "FROM findings") {
					continue
				}
				plan, err := explain(ctx, db.reader(), r.query, r.args...)
				if err != nil {
					t.Fatalf("%v\n%s", err, r.query)
				}
				all := strings.Join(plan, "\n")
				for _, step := range plan {
					if strings.HasPrefix(step, "SCAN f") && !strings.Contains(step, "INDEX") {
						t.Errorf("reads every finding:\n%s\n%s", all, r.query)
					}
				}
				for _, idx := range ordered {
					if strings.Contains(r.query, "INDEXED BY "+idx+" ") && strings.Contains(all, "TEMP B-TREE FOR ORDER BY") {
						t.Errorf("sorts what %s holds in order:\n%s\n%s", idx, all, r.query)
					}
				}
			}
		})
	}
}

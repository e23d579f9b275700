package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
)

// TestUIQueryPlans keeps the web UI's queries on the indexes of migration
// 0004: on SQLite none of them may sort its matches to find a page (USE TEMP
// B-TREE FOR ORDER BY) or read the whole table (SCAN patches without an
// index). With 100,000 patches either costs tens of milliseconds per page.
// The planner decides without statistics here, as on a fresh installation.
func TestUIQueryPlans(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+t.TempDir()+"/plan.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	x := db.reader()
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	ts := x.ts(now)
	yes := true
	no := false

	type check struct {
		name  string
		query string
		args  []any
		index string // the index the plan must use
	}
	checks := []check{
		{"open by priority", qOpenByPriority, []any{true, 3}, "patches_open_priority_due_order"},
		{"overdue by priority", qOverdueByPriority, []any{true, 3, ts}, "patches_open_priority_due_order"},
		{"most urgent", qMostUrgent, []any{true, 3, 5}, "patches_open_priority_due_order"},
		{"due between count", qDueBetweenCount, []any{true, ts, ts}, "patches_open_due_order"},
		{"due between", qDueBetween, []any{true, ts, ts, 10}, "patches_open_due_order"},
		{"overdue count", qOverdueCount, []any{true, ts}, "patches_open_due_order"},
		{"overdue", qOverdue, []any{true, ts, 10}, "patches_open_due_order"},
		{"halted", qHalted, []any{10}, "patches_halted"},
		{"closed in", qClosedIn, []any{"done", ts, ts}, "patches_closed"},
	}
	for _, downtime := range []*bool{nil, &yes, &no} {
		f := BoardFilter{Kind: patchctl.KindInfrastructure, Downtime: downtime}
		cond, args := f.where()
		label, idx := "any", "patches_kind_state_due"
		if downtime != nil {
			label, idx = fmt.Sprint(*downtime), "patches_infra_downtime"
		}
		checks = append(checks,
			check{"board count downtime " + label, fmt.Sprintf(qBoardCount, cond), append(args, "staging"), idx},
			check{"board column downtime " + label, fmt.Sprintf(qBoardColumn, cond, boardOrderOpen), append(args, "staging", 20), idx},
			check{"board done column downtime " + label, fmt.Sprintf(qBoardColumn, cond, boardOrderClosed), append(args, "done", 20), idx},
		)
	}
	// The patch list (store.ListPatches) with the filters the UI offers.
	lists := []struct {
		name string
		f    PatchFilter
		idx  string
	}{
		{"open", PatchFilter{Open: &yes}, "patches_open_due_order"},
		{"closed", PatchFilter{Open: &no}, "patches_open_due_order"},
		{"all", PatchFilter{}, "patches_due_order"},
		{"open kind", PatchFilter{Open: &yes, Kinds: []patchctl.Kind{patchctl.KindApplication}}, "patches_open_due_order"},
		{"open priority", PatchFilter{Open: &yes, Priorities: []patchctl.Priority{patchctl.PriorityHigh}}, "patches_open_priority_due_order"},
		{"open owner", PatchFilter{Open: &yes, Owner: "erin"}, "patches_open_due_order"},
		{"open text", PatchFilter{Open: &yes, Text: "openssl payments"}, "patches_open_due_order"},
		{"overdue", PatchFilter{Overdue: true, Now: now}, "patches_open_due_order"},
		{"overdue kind priority", PatchFilter{Overdue: true, Now: now, Kinds: []patchctl.Kind{patchctl.KindKubernetes},
			Priorities: []patchctl.Priority{patchctl.PriorityEmergency}}, "patches_open_priority_due_order"},
		{"kind and state", PatchFilter{Kinds: []patchctl.Kind{patchctl.KindApplication}, States: []patchctl.State{patchctl.StateStaging}}, "patches_kind_state_due"},
	}
	for _, l := range lists {
		where, args := x.patchWhere(l.f)
		q := `SELECT ` + patchColumns + ` FROM patches` + where + ` ORDER BY ` + patchOrder("due") + ` LIMIT ? OFFSET ?`
		checks = append(checks, check{"list " + l.name, q, append(args, 51, 0), l.idx})
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			plan, err := explain(ctx, x, c.query, c.args...)
			if err != nil {
				t.Fatal(err)
			}
			all := strings.Join(plan, "\n")
			if strings.Contains(all, "TEMP B-TREE FOR ORDER BY") {
				t.Errorf("sorts its matches:\n%s", all)
			}
			for _, step := range plan {
				if strings.HasPrefix(step, "SCAN patches") && !strings.Contains(step, "INDEX") {
					t.Errorf("reads the whole table:\n%s", all)
				}
			}
			if !strings.Contains(all, c.index) {
				t.Errorf("does not use %s:\n%s", c.index, all)
			}
		})
	}
}

func explain(ctx context.Context, x q, query string, args ...any) ([]string, error) {
	rows, err := x.query(ctx, `EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return nil, err
		}
		out = append(out, detail)
	}
	return out, rows.Err()
}

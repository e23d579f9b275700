package store

import (
	"context"
	"fmt"
	"time"

	"github.com/patchctl/patchctl"
)

// The aggregate queries of the web UI's dashboard and board. Each is written
// for an index of migration 0004 (see the comments there); the store tests
// check their query plans on SQLite so that a changed query or index is
// noticed before 100,000 patches make it slow.

// dueNull is an expression of the due-order indexes: it sorts patches
// without a due time last. A condition "dueNull = 0" lets a query use those
// indexes for a range of due times, in due order.
const dueNull = "(CASE WHEN due_at IS NULL THEN 1 ELSE 0 END)"

// The queries, named so that the plan tests check exactly what runs.
const (
	qOpenByPriority    = `SELECT COUNT(*) FROM patches WHERE is_open = ? AND priority_rank = ?`
	qOverdueByPriority = `SELECT COUNT(*) FROM patches WHERE is_open = ? AND priority_rank = ? AND ` + dueNull + ` = 0 AND due_at < ?`
	qMostUrgent        = `SELECT ` + patchColumns + ` FROM patches WHERE is_open = ? AND priority_rank = ? ORDER BY ` + dueNull + `, due_at, id LIMIT ?`
	qDueBetweenCount   = `SELECT COUNT(*) FROM patches WHERE is_open = ? AND ` + dueNull + ` = 0 AND due_at >= ? AND due_at < ?`
	qDueBetween        = `SELECT ` + patchColumns + ` FROM patches WHERE is_open = ? AND ` + dueNull + ` = 0 AND due_at >= ? AND due_at < ? ORDER BY due_at, id LIMIT ?`
	qOverdueCount      = `SELECT COUNT(*) FROM patches WHERE is_open = ? AND ` + dueNull + ` = 0 AND due_at < ?`
	qOverdue           = `SELECT ` + patchColumns + ` FROM patches WHERE is_open = ? AND ` + dueNull + ` = 0 AND due_at < ? ORDER BY due_at, id LIMIT ?`
	qHalted            = `SELECT ` + patchColumns + ` FROM patches WHERE halt IS NOT NULL ORDER BY updated_at DESC, id DESC LIMIT ?`
	qClosedIn          = `SELECT COUNT(*), COALESCE(SUM(CASE WHEN due_at IS NOT NULL AND closed_at <= due_at THEN 1 ELSE 0 END), 0) FROM patches WHERE state = ? AND closed_at >= ? AND closed_at < ?`
	qBoardCount        = `SELECT COUNT(*) FROM patches WHERE %s AND state = ?`
	qBoardColumn       = `SELECT ` + patchColumns + ` FROM patches WHERE %s AND state = ? ORDER BY %s LIMIT ?`
	boardOrderOpen     = dueNull + `, due_at, id`
	boardOrderClosed   = dueNull + ` DESC, due_at DESC, id DESC`
)

// PriorityCount counts the open patches of one priority.
type PriorityCount struct {
	Priority patchctl.Priority `json:"priority"`
	Open     int               `json:"open"`
	Overdue  int               `json:"overdue"`
}

// OpenByPriority counts open patches, and those past their due time at now,
// per priority, most urgent first. One range count per figure reads an
// index only, which is several times cheaper than one GROUP BY over every
// open patch.
func (x q) OpenByPriority(ctx context.Context, now time.Time) ([]PriorityCount, error) {
	out := make([]PriorityCount, 0, len(patchctl.Priorities))
	for _, p := range patchctl.Priorities {
		c := PriorityCount{Priority: p}
		if err := x.row(ctx, qOpenByPriority, true, p.Rank()).Scan(&c.Open); err != nil {
			return nil, x.db.wrap(err)
		}
		if err := x.row(ctx, qOverdueByPriority, true, p.Rank(), x.ts(now)).Scan(&c.Overdue); err != nil {
			return nil, x.db.wrap(err)
		}
		out = append(out, c)
	}
	return out, nil
}

// MostUrgent returns the open patches of a priority that are due first.
func (x q) MostUrgent(ctx context.Context, p patchctl.Priority, limit int) ([]*patchctl.Patch, error) {
	return x.patches(ctx, qMostUrgent, true, p.Rank(), limit)
}

// DueBetween returns the open patches due in [from, to), soonest first, and
// how many there are in all.
func (x q) DueBetween(ctx context.Context, from, to time.Time, limit int) ([]*patchctl.Patch, int, error) {
	var n int
	if err := x.row(ctx, qDueBetweenCount, true, x.ts(from), x.ts(to)).Scan(&n); err != nil {
		return nil, 0, x.db.wrap(err)
	}
	ps, err := x.patches(ctx, qDueBetween, true, x.ts(from), x.ts(to), limit)
	return ps, n, err
}

// Overdue returns the open patches past their due time at now, longest
// overdue first. (OpenByPriority counts them.)
func (x q) Overdue(ctx context.Context, now time.Time, limit int) ([]*patchctl.Patch, error) {
	return x.patches(ctx, qOverdue, true, x.ts(now), limit)
}

// Halted returns the patches whose rollout is halted, most recently
// changed first. A halt is cleared when a patch closes, so all are open.
func (x q) Halted(ctx context.Context, limit int) ([]*patchctl.Patch, error) {
	return x.patches(ctx, qHalted, limit)
}

// ComplianceCount is what happened to SLAs in one interval of a
// compliance period.
type ComplianceCount struct {
	// Met and Late count patches closed as done in the interval, on or
	// before their due time and after it.
	Met  int `json:"met"`
	Late int `json:"late"`
	// Overdue counts patches still open whose due time passed in the
	// interval.
	Overdue int `json:"overdue"`
}

// ComplianceCounts counts, for each interval [bounds[i], bounds[i+1]), the
// patches closed as done on time or late and the open patches whose due
// time passed in it. Cancelled and aborted patches are not counted: no SLA
// was decided for them. Each figure is a range count on an index, which
// reads far fewer pages than grouping every row of the period.
func (x q) ComplianceCounts(ctx context.Context, bounds []time.Time) ([]ComplianceCount, error) {
	if len(bounds) < 2 {
		return nil, patchctl.FieldError("bounds", "a compliance period needs a start and an end")
	}
	out := make([]ComplianceCount, len(bounds)-1)
	for i := range out {
		if !bounds[i+1].After(bounds[i]) {
			return nil, patchctl.FieldError("bounds", "intervals must be in time order")
		}
		from, to := x.ts(bounds[i]), x.ts(bounds[i+1])
		var all, met int
		if err := x.row(ctx, qClosedIn, string(patchctl.StateDone), from, to).Scan(&all, &met); err != nil {
			return nil, x.db.wrap(err)
		}
		out[i].Met, out[i].Late = met, all-met
		if err := x.row(ctx, qDueBetweenCount, true, from, to).Scan(&out[i].Overdue); err != nil {
			return nil, x.db.wrap(err)
		}
	}
	return out, nil
}

// BoardFilter selects the patches of one board: one kind, and for
// infrastructure optionally only those with (or without) downtime.
type BoardFilter struct {
	Kind     patchctl.Kind
	Downtime *bool
}

// downtimeMatch is true for a target with downtime: the target is the
// compact JSON of patchctl.Target, whose downtime field is omitted when
// false, so a text match works the same on both engines. The expression is
// the one indexed by patches_infra_downtime (migration 0004), written as a
// literal so that the index matches it.
const downtimeMatch = `(target LIKE '%"downtime":true%')`

// where selects the board's patches. Infrastructure boards split on the
// downtime flag, through the partial index for infrastructure patches
// (whose condition must appear as a literal for the planner to use it).
func (f BoardFilter) where() (string, []any) {
	if f.Downtime != nil && f.Kind == patchctl.KindInfrastructure {
		return `kind = 'infrastructure' AND ` + downtimeMatch + ` = ?`, []any{*f.Downtime}
	}
	if f.Downtime != nil {
		return `kind = ? AND ` + downtimeMatch + ` = ?`, []any{string(f.Kind), *f.Downtime}
	}
	return `kind = ?`, []any{string(f.Kind)}
}

// BoardCount counts the patches of a board in one state.
func (x q) BoardCount(ctx context.Context, f BoardFilter, state patchctl.State) (int, error) {
	cond, args := f.where()
	var n int
	err := x.row(ctx, fmt.Sprintf(qBoardCount, cond), append(args, string(state))...).Scan(&n)
	return n, x.db.wrap(err)
}

// BoardColumn returns up to limit patches of a board in one state: due
// first for open states, latest due first for closed ones.
func (x q) BoardColumn(ctx context.Context, f BoardFilter, state patchctl.State, limit int) ([]*patchctl.Patch, error) {
	cond, args := f.where()
	order := boardOrderOpen
	if state.Terminal() {
		order = boardOrderClosed
	}
	return x.patches(ctx, fmt.Sprintf(qBoardColumn, cond, order), append(args, string(state), limit)...)
}

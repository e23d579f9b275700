package store

import (
	"context"
	"fmt"
	"strconv"
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
	qClosedByDay       = `SELECT %s, SUM(CASE WHEN due_at IS NOT NULL AND closed_at <= due_at THEN 1 ELSE 0 END), COUNT(*) FROM patches WHERE state = ? AND closed_at >= ? AND closed_at < ? GROUP BY 1`
	qOverdueByDay      = `SELECT %s, COUNT(*) FROM patches WHERE is_open = ? AND ` + dueNull + ` = 0 AND due_at >= ? AND due_at < ? GROUP BY 1`
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
// overdue first, and how many there are in all.
func (x q) Overdue(ctx context.Context, now time.Time, limit int) ([]*patchctl.Patch, int, error) {
	var n int
	if err := x.row(ctx, qOverdueCount, true, x.ts(now)).Scan(&n); err != nil {
		return nil, 0, x.db.wrap(err)
	}
	ps, err := x.patches(ctx, qOverdue, true, x.ts(now), limit)
	return ps, n, err
}

// Halted returns the patches whose rollout is halted, most recently
// changed first. A halt is cleared when a patch closes, so all are open.
func (x q) Halted(ctx context.Context, limit int) ([]*patchctl.Patch, error) {
	return x.patches(ctx, qHalted, limit)
}

// ComplianceDay is what happened to SLAs on one day of a compliance period.
type ComplianceDay struct {
	// Met and Late count patches closed as done that day, on or before
	// their due time and after it.
	Met  int `json:"met"`
	Late int `json:"late"`
	// Overdue counts patches still open whose due time passed that day.
	Overdue int `json:"overdue"`
}

// ComplianceDays returns, for each day of [start, now) counted in whole
// days from start (the last one may be partial), the patches closed as done
// on time or late and the open patches whose due time passed that day; and
// how many open patches were already overdue before start. Cancelled and
// aborted patches are not counted: no SLA was decided for them.
func (x q) ComplianceDays(ctx context.Context, start, now time.Time) ([]ComplianceDay, int, error) {
	if !now.After(start) {
		return nil, 0, patchctl.FieldError("since", "the period must end after it starts")
	}
	n := int((now.Sub(start) + 24*time.Hour - 1) / (24 * time.Hour))
	days := make([]ComplianceDay, n)
	at := func(i int64) *ComplianceDay {
		if i < 0 || int(i) >= n {
			return nil
		}
		return &days[i]
	}
	rows, err := x.query(ctx, fmt.Sprintf(qClosedByDay, x.dayIndex("closed_at")),
		x.dayStart(start), string(patchctl.StateDone), x.ts(start), x.ts(now))
	if err != nil {
		return nil, 0, err
	}
	for rows.Next() {
		var day int64
		var met, all int
		if err := rows.Scan(&day, &met, &all); err != nil {
			rows.Close()
			return nil, 0, x.db.wrap(err)
		}
		if d := at(day); d != nil {
			d.Met += met
			d.Late += all - met
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, x.db.wrap(err)
	}
	rows, err = x.query(ctx, fmt.Sprintf(qOverdueByDay, x.dayIndex("due_at")),
		x.dayStart(start), true, x.ts(start), x.ts(now))
	if err != nil {
		return nil, 0, err
	}
	for rows.Next() {
		var day int64
		var c int
		if err := rows.Scan(&day, &c); err != nil {
			rows.Close()
			return nil, 0, x.db.wrap(err)
		}
		if d := at(day); d != nil {
			d.Overdue += c
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, x.db.wrap(err)
	}
	var before int
	if err := x.row(ctx, qOverdueCount, true, x.ts(start)).Scan(&before); err != nil {
		return nil, 0, x.db.wrap(err)
	}
	return days, before, nil
}

// dayIndex is the engine's expression for the whole days between its
// parameter (bound to dayStart) and the time in col.
func (x q) dayIndex(col string) string {
	if x.db.engine == Postgres {
		return `CAST(FLOOR((CAST(EXTRACT(EPOCH FROM ` + col + `) AS DOUBLE PRECISION) - ?) / 86400) AS BIGINT)`
	}
	return `((` + col + ` - ?) / ` + strconv.FormatInt(int64(24*time.Hour/time.Microsecond), 10) + `)`
}

// dayStart is the parameter of dayIndex: microseconds on SQLite (integer
// division), seconds since the epoch on PostgreSQL.
func (x q) dayStart(t time.Time) any {
	if x.db.engine == Postgres {
		return float64(Micro(t).UnixMicro()) / 1e6
	}
	return Micro(t).UnixMicro()
}

// BoardFilter selects the patches of one board: one kind, and for
// infrastructure optionally only those with (or without) downtime.
type BoardFilter struct {
	Kind     patchctl.Kind
	Downtime *bool
}

// where selects the board's patches. The downtime flag is matched in the
// target's text: the target is the compact JSON of patchctl.Target, whose
// downtime field is omitted when false, so a text match works the same on
// both engines.
func (f BoardFilter) where() (string, []any) {
	cond, args := `kind = ?`, []any{string(f.Kind)}
	if f.Downtime != nil {
		if *f.Downtime {
			cond += ` AND target LIKE ?`
		} else {
			cond += ` AND target NOT LIKE ?`
		}
		args = append(args, `%"downtime":true%`)
	}
	return cond, args
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

// patches runs a query selecting patchColumns.
func (x q) patches(ctx context.Context, query string, args ...any) ([]*patchctl.Patch, error) {
	rows, err := x.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*patchctl.Patch{}
	for rows.Next() {
		p, err := scanPatch(rows)
		if err != nil {
			return nil, x.db.wrap(err)
		}
		out = append(out, p)
	}
	return out, x.db.wrap(rows.Err())
}

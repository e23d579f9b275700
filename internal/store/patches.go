package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
)

const patchColumns = `id, title, description, kind, target, owner, state, labels, priority, priority_rule,
priority_pinned, policy_version, detected_at, due_at, version, branch, window_start, window_end,
window_booked_by, window_booked_at, halt, soak_started_at, revision, created_by, created_at, updated_at, closed_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanPatch(r rowScanner) (*patchctl.Patch, error) {
	var p patchctl.Patch
	var detected, created, updated tscan
	var due, wStart, wEnd, wBooked, soak, closed tscan
	var bookedBy string
	var halt sql.NullString
	err := r.Scan(&p.ID, &p.Title, &p.Description, &p.Kind, jsonText{&p.Target}, &p.Owner, &p.State,
		jsonText{&p.Labels}, &p.Priority, &p.PriorityRule, &p.PriorityPinned, &p.PolicyVersion,
		&detected, &due, &p.Version, &p.Branch, &wStart, &wEnd, &bookedBy, &wBooked, &halt, &soak,
		&p.Revision, &p.CreatedBy, &created, &updated, &closed)
	if err != nil {
		return nil, err
	}
	p.Key = patchctl.PatchKey(p.ID)
	p.DetectedAt, p.CreatedAt, p.UpdatedAt = detected.t, created.t, updated.t
	p.DueAt, p.SoakStartedAt, p.ClosedAt = due.ptr(), soak.ptr(), closed.ptr()
	if wStart.valid && wEnd.valid {
		p.Window = &patchctl.Booking{Start: wStart.t, End: wEnd.t, BookedBy: bookedBy, BookedAt: wBooked.t}
	}
	if halt.Valid && halt.String != "" {
		p.Halt = &patchctl.Halt{}
		if err := (jsonText{p.Halt}).Scan(halt.String); err != nil {
			return nil, err
		}
	}
	return &p, nil
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

// Patch reads one patch. In a transaction on PostgreSQL the row is locked
// until the transaction ends.
func (x q) Patch(ctx context.Context, id int64) (*patchctl.Patch, error) {
	p, err := scanPatch(x.row(ctx, `SELECT `+patchColumns+` FROM patches WHERE id = ?`+x.forUpdate(), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, patchctl.NotFound("patch", patchctl.PatchKey(id))
	}
	return p, x.db.wrap(err)
}

func isOpen(s patchctl.State) bool { return !s.Terminal() }

func searchText(p *patchctl.Patch) string {
	parts := []string{p.Key, p.Title, p.Description, p.Target.Application, p.Target.System, p.Owner,
		strings.Join(p.Target.Clusters, " "), strings.Join(p.Labels, " ")}
	return strings.ToLower(strings.Join(parts, " "))
}

func (x q) haltArg(h *patchctl.Halt) any {
	if h == nil {
		return nil
	}
	return jsonArg(h)
}

func windowArgs(x q, w *patchctl.Booking) (start, end, by, at any) {
	if w == nil {
		return nil, nil, "", nil
	}
	return x.ts(w.Start), x.ts(w.End), w.BookedBy, x.ts(w.BookedAt)
}

// CreatePatch inserts p and sets its ID, Key and Revision.
func (tx *Tx) CreatePatch(ctx context.Context, p *patchctl.Patch) error {
	if p.Labels == nil {
		p.Labels = []string{}
	}
	ws, we, wb, wa := windowArgs(tx.q, p.Window)
	p.Revision = 1
	err := tx.row(ctx, `INSERT INTO patches (title, description, kind, target, owner, state, is_open, labels,
		priority, priority_rank, priority_rule, priority_pinned, policy_version, detected_at, due_at, version, branch,
		window_start, window_end, window_booked_by, window_booked_at, halt, soak_started_at, revision,
		created_by, created_at, updated_at, closed_at, search)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		p.Title, p.Description, p.Kind, jsonArg(p.Target), p.Owner, p.State, isOpen(p.State), jsonArg(p.Labels),
		p.Priority, p.Priority.Rank(), p.PriorityRule, p.PriorityPinned, p.PolicyVersion, tx.ts(p.DetectedAt), tx.tsp(p.DueAt),
		p.Version, p.Branch, ws, we, wb, wa, tx.haltArg(p.Halt), tx.tsp(p.SoakStartedAt), p.Revision,
		p.CreatedBy, tx.ts(p.CreatedAt), tx.ts(p.UpdatedAt), tx.tsp(p.ClosedAt), "").Scan(&p.ID)
	if err != nil {
		return tx.db.wrap(err)
	}
	p.Key = patchctl.PatchKey(p.ID)
	_, err = tx.exec(ctx, `UPDATE patches SET search = ? WHERE id = ?`, searchText(p), p.ID)
	return err
}

// UpdatePatch writes every mutable field of p if the stored revision is
// still expected, and increments the revision. A stale revision is a
// conflict: someone else changed the patch since the caller read it.
func (tx *Tx) UpdatePatch(ctx context.Context, p *patchctl.Patch, expected int64) error {
	ws, we, wb, wa := windowArgs(tx.q, p.Window)
	res, err := tx.exec(ctx, `UPDATE patches SET title = ?, description = ?, target = ?, owner = ?, state = ?, is_open = ?,
		labels = ?, priority = ?, priority_rank = ?, priority_rule = ?, priority_pinned = ?, policy_version = ?,
		detected_at = ?, due_at = ?, version = ?, branch = ?, window_start = ?, window_end = ?, window_booked_by = ?,
		window_booked_at = ?, halt = ?, soak_started_at = ?, updated_at = ?, closed_at = ?, search = ?,
		revision = revision + 1
		WHERE id = ? AND revision = ?`,
		p.Title, p.Description, jsonArg(p.Target), p.Owner, p.State, isOpen(p.State), jsonArg(nonNil(p.Labels)),
		p.Priority, p.Priority.Rank(), p.PriorityRule, p.PriorityPinned, p.PolicyVersion,
		tx.ts(p.DetectedAt), tx.tsp(p.DueAt), p.Version, p.Branch, ws, we, wb, wa, tx.haltArg(p.Halt),
		tx.tsp(p.SoakStartedAt), tx.ts(p.UpdatedAt), tx.tsp(p.ClosedAt), searchText(p), p.ID, expected)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		var cur int64
		if err := tx.row(ctx, `SELECT revision FROM patches WHERE id = ?`, p.ID).Scan(&cur); errors.Is(err, sql.ErrNoRows) {
			return patchctl.NotFound("patch", p.Key)
		}
		return patchctl.Errorf(patchctl.CodeConflict,
			"%s was changed by someone else (revision %d, you had %d); reload and retry", p.Key, cur, expected)
	}
	p.Revision = expected + 1
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// PatchFilter selects patches. Zero values select everything.
type PatchFilter struct {
	Kinds      []patchctl.Kind
	Priorities []patchctl.Priority
	States     []patchctl.State
	// Open selects open (true) or closed (false) patches.
	Open *bool
	// Overdue selects open patches whose due time is before Now.
	Overdue bool
	// DueBefore selects open patches due before this time.
	DueBefore *time.Time
	// DueAfter selects patches due at or after this time.
	DueAfter *time.Time
	Owner    string
	Text     string
	IDs      []int64
	Now      time.Time
	// Sort is "due" (default: most urgent first), "-created", "created",
	// "-updated" or "priority".
	Sort   string
	Limit  int
	Offset int
}

// ListPatches returns one page of patches and whether more follow.
func (x q) ListPatches(ctx context.Context, f PatchFilter) ([]*patchctl.Patch, bool, error) {
	where, args := x.patchWhere(f)
	order := " ORDER BY " + patchOrder(f.Sort)
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 50
	}
	out, err := x.patches(ctx, `SELECT `+patchColumns+` FROM patches`+where+order+` LIMIT ? OFFSET ?`, append(args, limit+1, f.Offset)...)
	if err != nil {
		return nil, false, err
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

// CountPatches counts the patches matching f (ignoring paging).
func (x q) CountPatches(ctx context.Context, f PatchFilter) (int, error) {
	where, args := x.patchWhere(f)
	var n int
	err := x.row(ctx, `SELECT COUNT(*) FROM patches`+where, args...).Scan(&n)
	return n, x.db.wrap(err)
}

func patchOrder(s string) string {
	switch s {
	case "-created":
		return "id DESC"
	case "created":
		return "id"
	case "-updated":
		return "updated_at DESC, id DESC"
	case "priority":
		return "priority_rank DESC, due_at, id"
	default:
		// NULL due times (closed patches never lack one, but be safe) last.
		return "CASE WHEN due_at IS NULL THEN 1 ELSE 0 END, due_at, id"
	}
}

func (x q) patchWhere(f PatchFilter) (string, []any) {
	var conds []string
	var args []any
	in := func(col string, n int, add func(i int) any) {
		if n == 0 {
			return
		}
		ph := make([]string, n)
		for i := range n {
			ph[i] = "?"
			args = append(args, add(i))
		}
		conds = append(conds, col+" IN ("+strings.Join(ph, ", ")+")")
	}
	in("kind", len(f.Kinds), func(i int) any { return string(f.Kinds[i]) })
	// Priority filters go through the indexed rank column.
	in("priority_rank", len(f.Priorities), func(i int) any { return f.Priorities[i].Rank() })
	in("state", len(f.States), func(i int) any { return string(f.States[i]) })
	in("id", len(f.IDs), func(i int) any { return f.IDs[i] })
	open := f.Open
	if f.Overdue || f.DueBefore != nil {
		t := true
		open = &t
	}
	if open != nil {
		conds = append(conds, "is_open = ?")
		args = append(args, *open)
	}
	if f.Overdue {
		conds = append(conds, "due_at < ?")
		args = append(args, x.ts(f.Now))
	}
	if f.DueBefore != nil {
		conds = append(conds, "due_at < ?")
		args = append(args, x.ts(*f.DueBefore))
	}
	if f.DueAfter != nil {
		conds = append(conds, "due_at >= ?")
		args = append(args, x.ts(*f.DueAfter))
	}
	if f.Owner != "" {
		conds = append(conds, "owner = ?")
		args = append(args, f.Owner)
	}
	if t := strings.TrimSpace(strings.ToLower(f.Text)); t != "" {
		for _, w := range strings.Fields(t) {
			conds = append(conds, "search LIKE ? ESCAPE '\\'")
			args = append(args, "%"+likeEscape(w)+"%")
		}
	}
	if len(conds) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// TouchPatch records that something the gates read (evidence) changed: the
// revision moves, so facts read before a transaction are known stale.
func (tx *Tx) TouchPatch(ctx context.Context, p *patchctl.Patch, at time.Time) error {
	res, err := tx.exec(ctx, `UPDATE patches SET revision = revision + 1, updated_at = ? WHERE id = ? AND revision = ?`, tx.ts(at), p.ID, p.Revision)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return patchctl.Errorf(patchctl.CodeConflict, "%s was changed by someone else; reload and retry", p.Key)
	}
	p.Revision++
	p.UpdatedAt = Micro(at)
	return nil
}

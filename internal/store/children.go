package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/patchctl/patchctl"
)

// AddLink inserts a trigger link; a duplicate (same type and ref) is a
// conflict.
func (tx *Tx) AddLink(ctx context.Context, patchID int64, l *patchctl.Link) error {
	aliases := l.Aliases
	if aliases == nil {
		aliases = []string{}
	}
	err := tx.row(ctx, `INSERT INTO patch_links (patch_id, type, ref, aliases, attributes, detected_at, added_by, added_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		patchID, l.Type, l.Ref, jsonArg(aliases), jsonArg(l.Attributes), tx.ts(l.DetectedAt), l.AddedBy, tx.ts(l.AddedAt)).Scan(&l.ID)
	if patchctl.ErrorCode(tx.db.wrap(err)) == patchctl.CodeConflict {
		return patchctl.Errorf(patchctl.CodeConflict, "%s is already linked to %s %s", patchctl.PatchKey(patchID), l.Type, l.Ref)
	}
	return tx.db.wrap(err)
}

// UpdateLink rewrites a link's aliases, attributes and detection time.
func (tx *Tx) UpdateLink(ctx context.Context, l *patchctl.Link) error {
	_, err := tx.exec(ctx, `UPDATE patch_links SET aliases = ?, attributes = ?, detected_at = ? WHERE id = ?`,
		jsonArg(nonNil(l.Aliases)), jsonArg(l.Attributes), tx.ts(l.DetectedAt), l.ID)
	return err
}

// DeleteLink removes a link of a patch.
func (tx *Tx) DeleteLink(ctx context.Context, patchID, linkID int64) (*patchctl.Link, error) {
	links, err := tx.Links(ctx, patchID)
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		if l.ID == linkID {
			_, err := tx.exec(ctx, `DELETE FROM patch_links WHERE id = ?`, linkID)
			return &l, err
		}
	}
	return nil, patchctl.NotFound("link", patchctl.PatchKey(patchID)+"/"+strconv.FormatInt(linkID, 10))
}

const linkColumns = `id, type, ref, aliases, attributes, detected_at, added_by, added_at`

// scanLink scans linkColumns, then the columns after them into extra.
func scanLink(r rowScanner, extra ...any) (patchctl.Link, error) {
	var l patchctl.Link
	var det, added tscan
	err := r.Scan(append([]any{&l.ID, &l.Type, &l.Ref, jsonText{&l.Aliases}, jsonText{&l.Attributes}, &det, &l.AddedBy, &added}, extra...)...)
	l.DetectedAt, l.AddedAt = det.t, added.t
	return l, err
}

// Links lists a patch's trigger links in the order they were added.
func (x q) Links(ctx context.Context, patchID int64) ([]patchctl.Link, error) {
	rows, err := x.query(ctx, `SELECT `+linkColumns+` FROM patch_links WHERE patch_id = ? ORDER BY id`, patchID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []patchctl.Link
	for rows.Next() {
		l, err := scanLink(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, x.db.wrap(rows.Err())
}

// Revisions returns the current revision of each patch.
func (x q) Revisions(ctx context.Context, patchIDs []int64) (map[int64]int64, error) {
	out := map[int64]int64{}
	err := inChunks(patchIDs, func(ph string, args []any) error {
		rows, err := x.query(ctx, `SELECT id, revision FROM patches WHERE id IN (`+ph+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, rev int64
			if err := rows.Scan(&id, &rev); err != nil {
				return err
			}
			out[id] = rev
		}
		return x.db.wrap(rows.Err())
	})
	return out, err
}

// LinksOf lists the trigger links of several patches at once.
func (x q) LinksOf(ctx context.Context, patchIDs []int64) (map[int64][]patchctl.Link, error) {
	out := map[int64][]patchctl.Link{}
	err := inChunks(patchIDs, func(ph string, args []any) error {
		rows, err := x.query(ctx, `SELECT `+linkColumns+`, patch_id FROM patch_links WHERE patch_id IN (`+ph+`) ORDER BY id`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var pid int64
			l, err := scanLink(rows, &pid)
			if err != nil {
				return err
			}
			out[pid] = append(out[pid], l)
		}
		return x.db.wrap(rows.Err())
	})
	return out, err
}

// PatchesLinkedTo returns the ids of patches with a link of type and ref.
func (x q) PatchesLinkedTo(ctx context.Context, typ patchctl.LinkType, refs ...string) ([]int64, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	rows, err := x.query(ctx, `SELECT DISTINCT patch_id FROM patch_links WHERE type = ? AND ref IN (`+placeholders(len(refs))+`) ORDER BY patch_id`,
		append([]any{string(typ)}, anys(refs)...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, x.db.wrap(rows.Err())
}

// AddEvidence inserts evidence and sets its ID.
func (tx *Tx) AddEvidence(ctx context.Context, patchID int64, e *patchctl.Evidence) error {
	details := e.Details
	if details == nil {
		details = map[string]string{}
	}
	err := tx.row(ctx, `INSERT INTO evidence (patch_id, kind, ref, environment, version, result, subject, source, details, actor, at, recorded_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		patchID, e.Kind, e.Ref, e.Environment, e.Version, e.Result, e.Subject, e.Source, jsonArg(details),
		e.Actor, tx.ts(e.At), tx.ts(e.RecordedAt)).Scan(&e.ID)
	e.At, e.RecordedAt = Micro(e.At), Micro(e.RecordedAt)
	return tx.db.wrap(err)
}

// Evidence lists a patch's evidence in the order it was recorded.
func (x q) Evidence(ctx context.Context, patchID int64) ([]patchctl.Evidence, error) {
	return x.evidence(ctx, `SELECT `+evidenceColumns+` FROM evidence WHERE patch_id = ? ORDER BY id`, patchID)
}

const evidenceColumns = `id, kind, ref, environment, version, result, subject, source, details, actor, at, recorded_at`

// evidence runs a query of evidenceColumns.
func (x q) evidence(ctx context.Context, query string, args ...any) ([]patchctl.Evidence, error) {
	rows, err := x.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []patchctl.Evidence
	for rows.Next() {
		var e patchctl.Evidence
		var at, rec tscan
		if err := rows.Scan(&e.ID, &e.Kind, &e.Ref, &e.Environment, &e.Version, &e.Result, &e.Subject, &e.Source,
			jsonText{&e.Details}, &e.Actor, &at, &rec); err != nil {
			return nil, err
		}
		e.At, e.RecordedAt = at.t, rec.t
		out = append(out, e)
	}
	return out, x.db.wrap(rows.Err())
}

// AddTransition records a change of state.
func (tx *Tx) AddTransition(ctx context.Context, patchID int64, t *patchctl.Transition) error {
	err := tx.row(ctx, `INSERT INTO transitions (patch_id, from_state, to_state, action, actor, note, override, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		patchID, t.From, t.To, t.Action, t.Actor, t.Note, t.Override, tx.ts(t.At)).Scan(&t.ID)
	return tx.db.wrap(err)
}

// Transitions lists a patch's changes of state, oldest first.
func (x q) Transitions(ctx context.Context, patchID int64) ([]patchctl.Transition, error) {
	rows, err := x.query(ctx, `SELECT id, from_state, to_state, action, actor, note, override, at
		FROM transitions WHERE patch_id = ? ORDER BY id`, patchID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []patchctl.Transition
	for rows.Next() {
		var t patchctl.Transition
		var at tscan
		if err := rows.Scan(&t.ID, &t.From, &t.To, &t.Action, &t.Actor, &t.Note, &t.Override, &at); err != nil {
			return nil, err
		}
		t.At = at.t
		out = append(out, t)
	}
	return out, x.db.wrap(rows.Err())
}

// AddOverride records a transition pushed past refusing gates.
func (tx *Tx) AddOverride(ctx context.Context, patchID int64, o *patchctl.Override) error {
	err := tx.row(ctx, `INSERT INTO overrides (patch_id, from_state, to_state, action, gates, justification, actor, role, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		patchID, o.From, o.To, o.Action, jsonArg(o.Gates), o.Justification, o.Actor, o.Role, tx.ts(o.At)).Scan(&o.ID)
	return tx.db.wrap(err)
}

const overrideColumns = `id, from_state, to_state, action, gates, justification, actor, role, at`

// scanOverride scans overrideColumns, then the columns after them into
// extra.
func scanOverride(r rowScanner, extra ...any) (patchctl.Override, error) {
	var o patchctl.Override
	var at tscan
	err := r.Scan(append([]any{&o.ID, &o.From, &o.To, &o.Action, jsonText{&o.Gates}, &o.Justification, &o.Actor, &o.Role, &at}, extra...)...)
	o.At = at.t
	return o, err
}

// Overrides lists a patch's overrides, oldest first.
func (x q) Overrides(ctx context.Context, patchID int64) ([]patchctl.Override, error) {
	rows, err := x.query(ctx, `SELECT `+overrideColumns+` FROM overrides WHERE patch_id = ? ORDER BY id`, patchID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []patchctl.Override
	for rows.Next() {
		o, err := scanOverride(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, x.db.wrap(rows.Err())
}

// AllOverrides lists overrides across patches, newest first, for auditors.
func (x q) AllOverrides(ctx context.Context, limit, offset int) ([]patchctl.Override, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := x.query(ctx, `SELECT `+overrideColumns+`, patch_id FROM overrides ORDER BY id DESC LIMIT ? OFFSET ?`, limit, offset)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []patchctl.Override{}
	for rows.Next() {
		var pid int64
		o, err := scanOverride(rows, &pid)
		if err != nil {
			return nil, err
		}
		o.PatchKey = patchctl.PatchKey(pid)
		out = append(out, o)
	}
	return out, x.db.wrap(rows.Err())
}

// AddPriorityChange appends to a patch's priority history.
func (tx *Tx) AddPriorityChange(ctx context.Context, patchID int64, c *patchctl.PriorityChange) error {
	_, err := tx.exec(ctx, `INSERT INTO priority_changes (patch_id, at, from_priority, to_priority, rule, reason, policy_version, due_at, actor)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		patchID, tx.ts(c.At), c.From, c.To, c.Rule, c.Reason, c.PolicyVersion, tx.tsp(c.DueAt), c.Actor)
	return err
}

// PriorityChanges lists a patch's priority history, oldest first.
func (x q) PriorityChanges(ctx context.Context, patchID int64) ([]patchctl.PriorityChange, error) {
	rows, err := x.query(ctx, `SELECT at, from_priority, to_priority, rule, reason, policy_version, due_at, actor
		FROM priority_changes WHERE patch_id = ? ORDER BY id`, patchID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []patchctl.PriorityChange
	for rows.Next() {
		var c patchctl.PriorityChange
		var at, due tscan
		if err := rows.Scan(&at, &c.From, &c.To, &c.Rule, &c.Reason, &c.PolicyVersion, &due, &c.Actor); err != nil {
			return nil, err
		}
		c.At, c.DueAt = at.t, due.ptr()
		out = append(out, c)
	}
	return out, x.db.wrap(rows.Err())
}

// ReplaceWaves sets a patch's rollout plan.
func (tx *Tx) ReplaceWaves(ctx context.Context, patchID int64, waves []patchctl.Wave) error {
	if _, err := tx.exec(ctx, `DELETE FROM waves WHERE patch_id = ?`, patchID); err != nil {
		return err
	}
	for _, w := range waves {
		if _, err := tx.exec(ctx, `INSERT INTO waves (patch_id, seq, phase, cluster, node_pool, version, state, started_at, completed_at, started_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, patchID, w.Seq, w.Phase, w.Cluster, w.NodePool, w.Version, w.State,
			tx.tsp(w.StartedAt), tx.tsp(w.CompletedAt), w.StartedBy); err != nil {
			return err
		}
	}
	return nil
}

// UpdateWave writes a wave's state and times.
func (tx *Tx) UpdateWave(ctx context.Context, patchID int64, w patchctl.Wave) error {
	_, err := tx.exec(ctx, `UPDATE waves SET state = ?, started_at = ?, completed_at = ?, started_by = ? WHERE patch_id = ? AND seq = ?`,
		w.State, tx.tsp(w.StartedAt), tx.tsp(w.CompletedAt), w.StartedBy, patchID, w.Seq)
	return err
}

// Waves lists a patch's rollout plan in order.
func (x q) Waves(ctx context.Context, patchID int64) ([]patchctl.Wave, error) {
	rows, err := x.query(ctx, `SELECT seq, phase, cluster, node_pool, version, state, started_at, completed_at, started_by
		FROM waves WHERE patch_id = ? ORDER BY seq`, patchID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []patchctl.Wave
	for rows.Next() {
		var w patchctl.Wave
		var st, done tscan
		if err := rows.Scan(&w.Seq, &w.Phase, &w.Cluster, &w.NodePool, &w.Version, &w.State, &st, &done, &w.StartedBy); err != nil {
			return nil, err
		}
		w.StartedAt, w.CompletedAt = st.ptr(), done.ptr()
		out = append(out, w)
	}
	return out, x.db.wrap(rows.Err())
}

// StableVersion is a version known good in an environment.
type StableVersion struct {
	ID          int64     `json:"id"`
	Subject     string    `json:"subject"` // application or system
	Environment string    `json:"environment"`
	Version     string    `json:"version"`
	PatchKey    string    `json:"patch,omitempty"`
	Source      string    `json:"source"`
	Actor       string    `json:"actor"`
	RecordedAt  time.Time `json:"recorded_at"`
}

// RecordStable records that a version was validated (or released stable) in
// an environment.
func (tx *Tx) RecordStable(ctx context.Context, s *StableVersion, patchID int64) error {
	var pid any
	if patchID > 0 {
		pid = patchID
		s.PatchKey = patchctl.PatchKey(patchID)
	}
	err := tx.row(ctx, `INSERT INTO stable_versions (subject, environment, version, patch_id, source, actor, recorded_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		s.Subject, s.Environment, s.Version, pid, s.Source, s.Actor, tx.ts(s.RecordedAt)).Scan(&s.ID)
	return tx.db.wrap(err)
}

const stableColumns = `id, subject, environment, version, patch_id, source, actor, recorded_at`

func scanStable(r rowScanner) (StableVersion, error) {
	var s StableVersion
	var pid sql.NullInt64
	var at tscan
	if err := r.Scan(&s.ID, &s.Subject, &s.Environment, &s.Version, &pid, &s.Source, &s.Actor, &at); err != nil {
		return s, err
	}
	if pid.Valid {
		s.PatchKey = patchctl.PatchKey(pid.Int64)
	}
	s.RecordedAt = at.t
	return s, nil
}

// PreviousStable returns the latest stable version of subject in env recorded
// before `before`, ignoring versions recorded for excludePatch and the
// version excludeVersion (the one being rolled back).
func (x q) PreviousStable(ctx context.Context, subject, env string, before time.Time, excludePatch int64, excludeVersion string) (*StableVersion, error) {
	s, err := scanStable(x.row(ctx, `SELECT `+stableColumns+` FROM stable_versions
		WHERE subject = ? AND environment = ? AND recorded_at < ? AND (patch_id IS NULL OR patch_id <> ?) AND version <> ?
		ORDER BY recorded_at DESC, id DESC LIMIT 1`, subject, env, x.ts(before), excludePatch, excludeVersion))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, patchctl.NotFound("stable version", subject+"/"+env)
	}
	if err != nil {
		return nil, x.db.wrap(err)
	}
	return &s, nil
}

// StableVersions lists the known stable versions of subject, newest first.
func (x q) StableVersions(ctx context.Context, subject string, limit int) ([]StableVersion, error) {
	if limit <= 0 {
		limit = 50
	}
	rows, err := x.query(ctx, `SELECT `+stableColumns+` FROM stable_versions WHERE subject = ? ORDER BY recorded_at DESC, id DESC LIMIT ?`,
		subject, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StableVersion
	for rows.Next() {
		s, err := scanStable(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, x.db.wrap(rows.Err())
}

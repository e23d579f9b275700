package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/patchctl/patchctl"
)

// EnsureAsset returns the asset (kind, name), creating it; a changed digest or
// group is updated.
func (tx *Tx) EnsureAsset(ctx context.Context, a *patchctl.Asset, now time.Time) error {
	var digest, grp string
	err := tx.row(ctx, `SELECT id, digest, grp FROM assets WHERE kind = ? AND name = ?`, a.Kind, a.Name).Scan(&a.ID, &digest, &grp)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return tx.db.wrap(tx.row(ctx, `INSERT INTO assets (kind, name, digest, grp, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			a.Kind, a.Name, a.Digest, a.Group, tx.ts(now)).Scan(&a.ID))
	case err != nil:
		return tx.db.wrap(err)
	}
	if (a.Digest != "" && a.Digest != digest) || (a.Group != "" && a.Group != grp) {
		if a.Digest == "" {
			a.Digest = digest
		}
		if a.Group == "" {
			a.Group = grp
		}
		_, err = tx.exec(ctx, `UPDATE assets SET digest = ?, grp = ? WHERE id = ?`, a.Digest, a.Group, a.ID)
		return err
	}
	a.Digest, a.Group = digest, grp
	return nil
}

// ScannedAsset records that an import scanned the asset.
func (tx *Tx) ScannedAsset(ctx context.Context, assetID, importID int64, at time.Time) error {
	_, err := tx.exec(ctx, `UPDATE assets SET last_import_id = ?, last_scanned_at = ? WHERE id = ?`, importID, tx.ts(at), assetID)
	return err
}

// FindingKey identifies a finding within its asset.
type FindingKey struct {
	VulnID, Package, Version string
}

// FindingRow is what an import needs to know of a stored finding.
type FindingRow struct {
	ID      int64
	Hash    int64
	State   patchctl.FindingState
	PatchID int64
}

// AssetFindings loads every finding of an asset by key.
func (tx *Tx) AssetFindings(ctx context.Context, assetID int64) (map[FindingKey]*FindingRow, error) {
	rows, err := tx.query(ctx, `SELECT id, vuln_id, package, installed_version, content_hash, state, COALESCE(patch_id, 0)
		FROM findings WHERE asset_id = ?`, assetID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[FindingKey]*FindingRow{}
	for rows.Next() {
		var k FindingKey
		r := &FindingRow{}
		if err := rows.Scan(&r.ID, &k.VulnID, &k.Package, &k.Version, &r.Hash, &r.State, &r.PatchID); err != nil {
			return nil, err
		}
		out[k] = r
	}
	return out, tx.db.wrap(rows.Err())
}

// NewFinding is a finding to insert or whose content to update.
type NewFinding struct {
	AssetID          int64
	VulnID           string
	Package          string
	InstalledVersion string
	FixedVersion     string
	Ecosystem        string
	PURL             string
	Location         string
	Severity         patchctl.Severity
	CVSS             float64
	CVSSVector       string
	EPSS             float64
	KEV              bool
	Title            string
	URL              string
	Aliases          string // JSON array
	State            patchctl.FindingState
	VEXState         string
	Justification    string
	Hash             int64
	// PatchID is the patch the finding is attached to at insert (0: none).
	PatchID int64
}

// findingInsertColumns are the columns a new finding is inserted with, in
// the order of appendFinding's values.
var findingInsertColumns = [...]string{"asset_id", "vuln_id", "package", "installed_version", "fixed_version", "ecosystem", "purl",
	"location", "severity", "severity_rank", "cvss", "cvss_vector", "epss", "kev", "title", "url", "aliases", "state", "vex_state",
	"justification", "first_seen_at", "last_seen_at", "first_import_id", "content_hash", "patch_id"}

const findingInsertCols = len(findingInsertColumns)

// appendFinding appends the values of f for findingInsertColumns; at is
// the encoded time of the import.
func appendFinding(args []any, f *NewFinding, at any, importID int64) []any {
	return append(args, f.AssetID, f.VulnID, f.Package, f.InstalledVersion, f.FixedVersion, f.Ecosystem, f.PURL, f.Location,
		string(f.Severity), int64(f.Severity.Rank()), f.CVSS, f.CVSSVector, f.EPSS, f.KEV, f.Title, f.URL, f.Aliases, string(f.State),
		f.VEXState, f.Justification, at, at, importID, f.Hash, nullID(f.PatchID))
}

// findingBatch is the rows of one multi-row INSERT of findings.
const findingBatch = 500

// InsertFindings inserts findings first seen by import importID at now, in
// multi-row statements of up to 500 rows (with COPY on PostgreSQL from
// copyThreshold findings).
func (tx *Tx) InsertFindings(ctx context.Context, fs []NewFinding, importID int64, now time.Time) error {
	if tx.conn != nil && len(fs) >= copyThreshold {
		return tx.copyFindings(ctx, fs, importID, now)
	}
	const batch = findingBatch
	at := tx.ts(now)
	var full *sql.Stmt
	args := make([]any, 0, batch*findingInsertCols)
	for len(fs) > 0 {
		n := min(batch, len(fs))
		args = args[:0]
		for i := range n {
			args = appendFinding(args, &fs[i], at, importID)
		}
		var err error
		if n == batch {
			if full == nil {
				// Parsing a 12,500-parameter statement costs more than
				// running it: prepare it once per database and bind it to
				// the transaction.
				if full, err = tx.stmt(ctx, insertFindings(batch)); err != nil {
					return err
				}
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.sqlTx.ExecContext(ctx, tx.db.bind(insertFindings(n)), args...)
		}
		if err != nil {
			return tx.db.wrap(err)
		}
		fs = fs[n:]
	}
	return nil
}

// copyThreshold is the batch size from which COPY beats a multi-row INSERT
// on PostgreSQL.
const copyThreshold = 64

// copyFindings loads findings with COPY on the transaction's connection.
// COPY encodes each row as it is read, so one row's buffer serves them all.
func (tx *Tx) copyFindings(ctx context.Context, fs []NewFinding, importID int64, now time.Time) error {
	at := tx.ts(now)
	row := make([]any, 0, findingInsertCols)
	src := pgx.CopyFromSlice(len(fs), func(i int) ([]any, error) {
		row = appendFinding(row[:0], &fs[i], at, importID)
		return row, nil
	})
	return tx.db.wrap(tx.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("COPY needs a pgx connection, got %T", dc)
		}
		_, err := c.Conn().CopyFrom(ctx, pgx.Identifier{"findings"}, findingInsertColumns[:], src)
		return err
	}))
}

func insertFindings(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO findings (` + strings.Join(findingInsertColumns[:], ", ") + `) VALUES `)
	row := "(" + placeholders(findingInsertCols) + ")"
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	return b.String()
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// UpdateFinding rewrites a finding's content (the report says something new
// about it) and, when reopen is set, reopens it.
func (tx *Tx) UpdateFinding(ctx context.Context, id int64, f *NewFinding, now time.Time, reopen bool) error {
	query := `UPDATE findings SET fixed_version = ?, ecosystem = ?, purl = ?, location = ?, severity = ?, severity_rank = ?,
		cvss = ?, cvss_vector = ?, epss = ?, kev = ?, title = ?, url = ?, aliases = ?, content_hash = ?, last_seen_at = ?`
	args := []any{f.FixedVersion, f.Ecosystem, f.PURL, f.Location, string(f.Severity), f.Severity.Rank(), f.CVSS, f.CVSSVector,
		f.EPSS, f.KEV, f.Title, f.URL, f.Aliases, f.Hash, tx.ts(now)}
	if reopen {
		query += `, state = ?, closed_at = NULL, closed_by_import = NULL`
		args = append(args, string(f.State))
	}
	if f.VEXState != "" {
		query += `, vex_state = ?, justification = ?, state = ?`
		args = append(args, f.VEXState, f.Justification, string(f.State))
	}
	_, err := tx.exec(ctx, query+` WHERE id = ?`, append(args, id)...)
	return err
}

// ReopenFindings reopens findings reported again, keeping their first
// detection (so the SLA clock resumes from it).
func (tx *Tx) ReopenFindings(ctx context.Context, ids []int64, now time.Time) error {
	return tx.eachIDs(ctx, ids, `UPDATE findings SET state = 'open', closed_at = NULL, closed_by_import = NULL, last_seen_at = ?
		WHERE id IN (%s)`, tx.ts(now))
}

// CloseFindings closes findings a re-import no longer reports, naming the
// import that closed them. Risk acceptances end with them.
func (tx *Tx) CloseFindings(ctx context.Context, ids []int64, importID int64, now time.Time) error {
	return tx.eachIDs(ctx, ids, `UPDATE findings SET state = 'closed', closed_at = ?, closed_by_import = ?,
		accepted_reason = '', accepted_by = '', accepted_at = NULL, accept_expires_at = NULL WHERE id IN (%s)`, tx.ts(now), importID)
}

// eachIDs runs a statement whose IN list (%s) takes ids, chunk by chunk,
// after the leading arguments.
func (tx *Tx) eachIDs(ctx context.Context, ids []int64, format string, lead ...any) error {
	return inChunks(ids, func(ph string, args []any) error {
		_, err := tx.exec(ctx, strings.Replace(format, "%s", ph, 1), append(append([]any{}, lead...), args...)...)
		return err
	})
}

// SetFindingsPatch attaches findings to the patch that fixes them.
func (tx *Tx) SetFindingsPatch(ctx context.Context, ids []int64, patchID int64) error {
	return tx.eachIDs(ctx, ids, `UPDATE findings SET patch_id = ? WHERE id IN (%s)`, patchID)
}

// Ungrouped is an open finding with a fix and no patch yet.
type Ungrouped struct {
	ID           int64
	AssetID      int64
	AssetName    string
	AssetGroup   string
	AssetKind    patchctl.AssetKind
	VulnID       string
	Package      string
	FixedVersion string
	Severity     patchctl.Severity
	CVSS         float64
	CVSSVector   string
	EPSS         float64
	KEV          bool
	FirstSeenAt  time.Time
}

// UngroupedByID returns those of the given findings that are open, have a
// fixed version and no open patch (none yet, or a closed one: the finding
// came back after its patch shipped).
func (tx *Tx) UngroupedByID(ctx context.Context, ids []int64) ([]Ungrouped, error) {
	var out []Ungrouped
	err := inChunks(ids, func(ph string, args []any) error {
		rows, err := tx.query(ctx, `SELECT f.id, f.asset_id, a.name, a.grp, a.kind, f.vuln_id, f.package, f.fixed_version, f.severity,
			f.cvss, f.cvss_vector, f.epss, f.kev, f.first_seen_at FROM findings f JOIN assets a ON a.id = f.asset_id
			WHERE f.id IN (`+ph+`) AND f.state = 'open' AND f.fixed_version <> ''
			AND (f.patch_id IS NULL OR f.patch_id IN (SELECT p.id FROM patches p WHERE p.is_open = ?))
			ORDER BY f.id`, append(args, false)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var u Ungrouped
			var first tscan
			if err := rows.Scan(&u.ID, &u.AssetID, &u.AssetName, &u.AssetGroup, &u.AssetKind, &u.VulnID, &u.Package, &u.FixedVersion,
				&u.Severity, &u.CVSS, &u.CVSSVector, &u.EPSS, &u.KEV, &first); err != nil {
				return err
			}
			u.FirstSeenAt = first.t
			out = append(out, u)
		}
		return tx.db.wrap(rows.Err())
	})
	return out, err
}

// GroupPatch returns the open patch of a group, or 0.
func (tx *Tx) GroupPatch(ctx context.Context, key string) (int64, error) {
	var id int64
	err := tx.row(ctx, `SELECT g.patch_id FROM patch_groups g WHERE g.group_key = ?
		AND EXISTS (SELECT 1 FROM patches p WHERE p.id = g.patch_id AND p.is_open = ?) ORDER BY g.patch_id DESC LIMIT 1`, key, true).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id, tx.db.wrap(err)
}

// GroupPatches returns the open patch of each of the group keys that has one.
func (tx *Tx) GroupPatches(ctx context.Context, keys []string) (map[string]int64, error) {
	out := map[string]int64{}
	err := inChunks(keys, func(ph string, args []any) error {
		// EXISTS keeps the plan a key lookup per group whatever the
		// planner guesses about patches.
		rows, err := tx.query(ctx, `SELECT g.group_key, MAX(g.patch_id) FROM patch_groups g WHERE g.group_key IN (`+ph+`)
			AND EXISTS (SELECT 1 FROM patches p WHERE p.id = g.patch_id AND p.is_open = ?) GROUP BY g.group_key`, append(args, true)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			var id int64
			if err := rows.Scan(&k, &id); err != nil {
				return err
			}
			out[k] = id
		}
		return tx.db.wrap(rows.Err())
	})
	return out, err
}

// AddGroupPatch remembers the patch of a group.
func (tx *Tx) AddGroupPatch(ctx context.Context, key string, patchID int64) error {
	_, err := tx.exec(ctx, `INSERT INTO patch_groups (group_key, patch_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, key, patchID)
	return err
}

// VulnInfo is the enrichment known for a vulnerability.
type VulnInfo struct {
	ID             string  `json:"id"`
	KEV            bool    `json:"kev"`
	KEVAdded       string  `json:"kev_added,omitempty"`
	KEVDue         string  `json:"kev_due,omitempty"`
	KEVRansomware  bool    `json:"kev_ransomware,omitempty"`
	EPSS           float64 `json:"epss,omitempty"`
	EPSSPercentile float64 `json:"epss_percentile,omitempty"`
	EPSSDate       string  `json:"epss_date,omitempty"`
}

// Vulns reads the enrichment of the given ids (missing ones are absent).
func (x q) Vulns(ctx context.Context, ids []string) (map[string]VulnInfo, error) {
	out := map[string]VulnInfo{}
	err := inChunks(ids, func(ph string, args []any) error {
		rows, err := x.query(ctx, `SELECT id, kev, kev_added, kev_due, kev_ransomware, epss, epss_percentile, epss_date
			FROM vulnerabilities WHERE id IN (`+ph+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v VulnInfo
			if err := rows.Scan(&v.ID, &v.KEV, &v.KEVAdded, &v.KEVDue, &v.KEVRansomware, &v.EPSS, &v.EPSSPercentile, &v.EPSSDate); err != nil {
				return err
			}
			out[v.ID] = v
		}
		return x.db.wrap(rows.Err())
	})
	return out, err
}

// KEVIDs lists the vulnerabilities on the KEV catalog.
func (x q) KEVIDs(ctx context.Context) (map[string]bool, error) {
	rows, err := x.query(ctx, `SELECT id FROM vulnerabilities WHERE kev = ?`, true)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, x.db.wrap(rows.Err())
}

// SetKEV marks a vulnerability as known exploited; it reports whether it
// was not before.
func (tx *Tx) SetKEV(ctx context.Context, v VulnInfo, now time.Time) (bool, error) {
	var was bool
	err := tx.row(ctx, `SELECT kev FROM vulnerabilities WHERE id = ?`+tx.forUpdate(), v.ID).Scan(&was)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.exec(ctx, `INSERT INTO vulnerabilities (id, kev, kev_added, kev_due, kev_ransomware, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			v.ID, true, v.KEVAdded, v.KEVDue, v.KEVRansomware, tx.ts(now))
		return err == nil, err
	case err != nil:
		return false, tx.db.wrap(err)
	}
	_, err = tx.exec(ctx, `UPDATE vulnerabilities SET kev = ?, kev_added = ?, kev_due = ?, kev_ransomware = ?, updated_at = ? WHERE id = ?`,
		true, v.KEVAdded, v.KEVDue, v.KEVRansomware, tx.ts(now), v.ID)
	return !was, err
}

// SetEPSS records EPSS scores in batches; it returns the ids whose score
// changed by more than 0.001 (so that their findings and patches are
// updated).
func (tx *Tx) SetEPSS(ctx context.Context, scores []VulnInfo, now time.Time) ([]string, error) {
	ids := make([]string, len(scores))
	for i, s := range scores {
		ids[i] = s.ID
	}
	old, err := tx.Vulns(ctx, ids)
	if err != nil {
		return nil, err
	}
	var changed []string
	at := tx.ts(now)
	for _, s := range scores {
		prev, known := old[s.ID]
		if known && abs(prev.EPSS-s.EPSS) < 0.001 && prev.EPSSDate == s.EPSSDate {
			continue
		}
		if known {
			_, err = tx.exec(ctx, `UPDATE vulnerabilities SET epss = ?, epss_percentile = ?, epss_date = ?, updated_at = ? WHERE id = ?`,
				s.EPSS, s.EPSSPercentile, s.EPSSDate, at, s.ID)
		} else {
			_, err = tx.exec(ctx, `INSERT INTO vulnerabilities (id, epss, epss_percentile, epss_date, updated_at) VALUES (?, ?, ?, ?, ?)`,
				s.ID, s.EPSS, s.EPSSPercentile, s.EPSSDate, at)
		}
		if err != nil {
			return nil, err
		}
		if !known || abs(prev.EPSS-s.EPSS) >= 0.001 {
			changed = append(changed, s.ID)
		}
	}
	return changed, nil
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// EnrichFindings copies KEV and EPSS from vulnerabilities to the findings of
// the given vulnerabilities; it returns the ids of the patches of affected
// open findings.
func (tx *Tx) EnrichFindings(ctx context.Context, vulnIDs []string) ([]int64, error) {
	seen := map[int64]bool{}
	var patches []int64
	err := inChunks(vulnIDs, func(ph string, args []any) error {
		if _, err := tx.exec(ctx, `UPDATE findings SET
			kev = (SELECT v.kev FROM vulnerabilities v WHERE v.id = findings.vuln_id),
			epss = (SELECT v.epss FROM vulnerabilities v WHERE v.id = findings.vuln_id)
			WHERE vuln_id IN (`+ph+`) AND EXISTS (SELECT 1 FROM vulnerabilities v WHERE v.id = findings.vuln_id)`, args...); err != nil {
			return err
		}
		rows, err := tx.query(ctx, `SELECT DISTINCT patch_id FROM findings WHERE vuln_id IN (`+ph+`) AND patch_id IS NOT NULL`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			if !seen[id] {
				seen[id] = true
				patches = append(patches, id)
			}
		}
		return tx.db.wrap(rows.Err())
	})
	return patches, err
}

// Aliases resolves ids to their canonical ids (ids without an alias map to
// themselves and are absent from the result).
func (x q) Aliases(ctx context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	err := inChunks(ids, func(ph string, args []any) error {
		rows, err := x.query(ctx, `SELECT alias, canonical FROM vuln_aliases WHERE alias IN (`+ph+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a, c string
			if err := rows.Scan(&a, &c); err != nil {
				return err
			}
			out[a] = c
		}
		return x.db.wrap(rows.Err())
	})
	return out, err
}

// AddAliases records alias → canonical pairs (first writer wins).
func (tx *Tx) AddAliases(ctx context.Context, pairs map[string]string) error {
	for a, c := range pairs {
		if a == c {
			continue
		}
		if _, err := tx.exec(ctx, `INSERT INTO vuln_aliases (alias, canonical) VALUES (?, ?) ON CONFLICT (alias) DO NOTHING`, a, c); err != nil {
			return err
		}
	}
	return nil
}

// Import is one import run.
type Import struct {
	ID         int64           `json:"id"`
	Format     string          `json:"format"`
	Source     string          `json:"source,omitempty"`
	Actor      string          `json:"actor"`
	Status     string          `json:"status"` // running, done, failed
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
	BytesTotal int64           `json:"bytes_total"`
	BytesRead  int64           `json:"bytes_read"`
	Records    int64           `json:"records"`
	Summary    json.RawMessage `json:"summary,omitempty"`
	Error      string          `json:"error,omitempty"`
	// ContentHash is the SHA-256 of the report, when it was computed.
	ContentHash   string `json:"content_hash,omitempty"`
	AssetOverride string `json:"asset_override,omitempty"`
}

// Import statuses.
const (
	ImportRunning = "running"
	ImportDone    = "done"
	ImportFailed  = "failed"
)

// StartImport records an import as running, outside the import's own
// transaction so that its progress is visible while it runs.
func (db *DB) StartImport(ctx context.Context, im *Import) error {
	q := db.reader()
	return db.wrap(db.write.QueryRowContext(ctx, db.bind(`INSERT INTO imports (format, source, actor, status, started_at, bytes_total,
		content_hash, asset_override) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`), im.Format, im.Source, im.Actor, ImportRunning,
		q.ts(im.StartedAt), im.BytesTotal, im.ContentHash, im.AssetOverride).Scan(&im.ID))
}

// FinishImport records the outcome of an import.
func (x q) FinishImport(ctx context.Context, id int64, status string, summary any, errText string, bytesRead, records int64, at time.Time) error {
	_, err := x.exec(ctx, `UPDATE imports SET status = ?, summary = ?, error = ?, bytes_read = ?, records = ?, finished_at = ? WHERE id = ?`,
		status, jsonArg(summary), errText, bytesRead, records, x.ts(at), id)
	return err
}

// FinishImport in a transaction: the summary commits with the findings,
// with the assets the import covered.
func (tx *Tx) FinishImport(ctx context.Context, id int64, summary any, assetIDs []int64, bytesRead, records int64, at time.Time) error {
	if assetIDs == nil {
		assetIDs = []int64{}
	}
	if _, err := tx.exec(ctx, `UPDATE imports SET asset_ids = ? WHERE id = ?`, jsonArg(assetIDs), id); err != nil {
		return err
	}
	return tx.q.FinishImport(ctx, id, ImportDone, summary, "", bytesRead, records, at)
}

// FailImport records a failed import (outside the rolled-back transaction).
func (db *DB) FailImport(ctx context.Context, id int64, errText string, bytesRead, records int64, at time.Time) error {
	return db.reader().FinishImport(ctx, id, ImportFailed, map[string]any{}, errText, bytesRead, records, at)
}

// FailStaleImports marks imports left running by a crashed process failed.
func (db *DB) FailStaleImports(ctx context.Context, at time.Time) (int64, error) {
	q := db.reader()
	res, err := db.write.ExecContext(ctx, db.bind(`UPDATE imports SET status = 'failed', error = 'interrupted: the server stopped during the import; nothing was stored', finished_at = ? WHERE status = 'running'`), q.ts(at))
	if err != nil {
		return 0, db.wrap(err)
	}
	return res.RowsAffected()
}

// scanImport scans importColumns, then the columns after them into extra.
func scanImport(r rowScanner, extra ...any) (*Import, error) {
	var im Import
	var started, finished tscan
	var summary string
	if err := r.Scan(append([]any{&im.ID, &im.Format, &im.Source, &im.Actor, &im.Status, &started, &finished, &im.BytesTotal, &im.BytesRead,
		&im.Records, &summary, &im.Error, &im.ContentHash, &im.AssetOverride}, extra...)...); err != nil {
		return nil, err
	}
	im.StartedAt, im.FinishedAt, im.Summary = started.t, finished.ptr(), json.RawMessage(summary)
	return &im, nil
}

const importColumns = `id, format, source, actor, status, started_at, finished_at, bytes_total, bytes_read, records, summary, error,
content_hash, asset_override`

// ImportByID reads one import.
func (x q) ImportByID(ctx context.Context, id int64) (*Import, error) {
	im, err := scanImport(x.row(ctx, `SELECT `+importColumns+` FROM imports WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, patchctl.NotFound("import", strconv.FormatInt(id, 10))
	}
	return im, x.db.wrap(err)
}

// Imports lists imports, newest first.
func (x q) Imports(ctx context.Context, limit int) ([]*Import, error) {
	return x.RecentImports(ctx, 0, limit)
}

// MergeAlias files the findings recorded under alias under canonical. A
// finding that exists under both ids for the same asset, package and
// version is closed as a duplicate of the canonical one. It returns how
// many findings moved or closed.
func (tx *Tx) MergeAlias(ctx context.Context, alias, canonical string, now time.Time) (int, error) {
	res, err := tx.exec(ctx, `UPDATE findings SET state = 'closed', closed_at = ?, justification = ?
		WHERE vuln_id = ? AND state <> 'closed' AND EXISTS (SELECT 1 FROM findings g WHERE g.asset_id = findings.asset_id
		AND g.vuln_id = ? AND g.package = findings.package AND g.installed_version = findings.installed_version)`,
		tx.ts(now), "duplicate of "+canonical, alias, canonical)
	if err != nil {
		return 0, err
	}
	closed, _ := res.RowsAffected()
	res, err = tx.exec(ctx, `UPDATE findings SET vuln_id = ? WHERE vuln_id = ? AND NOT EXISTS (SELECT 1 FROM findings g
		WHERE g.asset_id = findings.asset_id AND g.vuln_id = ? AND g.package = findings.package AND g.installed_version = findings.installed_version)`,
		canonical, alias, canonical)
	if err != nil {
		return 0, err
	}
	moved, _ := res.RowsAffected()
	return int(closed + moved), nil
}

// IdenticalImport finds the latest successful import of the same content
// and asset override that is still the latest import of every asset it
// covered: re-importing it would change nothing. It returns nil when there
// is none.
func (tx *Tx) IdenticalImport(ctx context.Context, contentHash, override string) (*Import, []int64, error) {
	if contentHash == "" {
		return nil, nil, nil
	}
	var assetIDs []int64
	im, err := scanImport(tx.row(ctx, `SELECT `+importColumns+`, asset_ids FROM imports WHERE content_hash = ? AND asset_override = ?
		AND status = 'done' ORDER BY id DESC LIMIT 1`, contentHash, override), jsonText{&assetIDs})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, tx.db.wrap(err)
	}
	if len(assetIDs) == 0 {
		return nil, nil, nil
	}
	var current int
	if err := tx.row(ctx, `SELECT COUNT(*) FROM assets WHERE last_import_id = ? AND id IN (`+placeholders(len(assetIDs))+`)`,
		append([]any{im.ID}, anys(assetIDs)...)...).Scan(&current); err != nil {
		return nil, nil, tx.db.wrap(err)
	}
	if current != len(assetIDs) {
		return nil, nil, nil // one of its assets was imported since: the state may differ
	}
	return im, assetIDs, nil
}

// StartImportTx records an import inside the caller's transaction (alert
// intake runs in a webhook delivery's transaction, where the write pool's
// connection is taken).
func (tx *Tx) StartImportTx(ctx context.Context, im *Import) error {
	return tx.db.wrap(tx.row(ctx, `INSERT INTO imports (format, source, actor, status, started_at, bytes_total, content_hash, asset_override)
		VALUES (?, ?, ?, ?, ?, ?, '', '') RETURNING id`, im.Format, im.Source, im.Actor, ImportRunning, tx.ts(im.StartedAt), im.BytesTotal).Scan(&im.ID))
}

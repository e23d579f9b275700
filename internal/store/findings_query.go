package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
)

// FindingFilter selects findings.
type FindingFilter struct {
	Severities []patchctl.Severity
	States     []patchctl.FindingState
	KEV        *bool
	EPSSMin    float64
	Asset      string // name, or a prefix ending in *
	AssetID    int64
	Package    string
	VulnID     string
	PatchID    int64
	NoFix      bool // only findings without a fixed version
	Limit      int
	Offset     int
}

const findingColumns = `f.id, f.asset_id, a.name, f.vuln_id, f.aliases, f.package, f.ecosystem, f.purl, f.installed_version,
f.fixed_version, f.location, f.severity, f.cvss, f.cvss_vector, f.epss, f.kev, f.title, f.url, f.state, f.vex_state,
f.justification, f.first_seen_at, f.last_seen_at, a.last_scanned_at, f.closed_at, COALESCE(f.closed_by_import, 0),
COALESCE(f.patch_id, 0), f.accepted_reason, f.accepted_by, f.accepted_at, f.accept_expires_at`

func scanFinding(r rowScanner) (*patchctl.Finding, error) {
	var f patchctl.Finding
	var first, last, scanned, closed, accAt, accExp tscan
	var patchID int64
	var reason, by string
	err := r.Scan(&f.ID, &f.AssetID, &f.Asset, &f.VulnID, jsonText{&f.Aliases}, &f.Package, &f.Ecosystem, &f.PURL, &f.InstalledVersion,
		&f.FixedVersion, &f.Location, &f.Severity, &f.CVSS, &f.CVSSVector, &f.EPSS, &f.KEV, &f.Title, &f.URL, &f.State, &f.VEXState,
		&f.Justification, &first, &last, &scanned, &closed, &f.ClosedByImport, &patchID, &reason, &by, &accAt, &accExp)
	if err != nil {
		return nil, err
	}
	f.FirstSeenAt, f.LastSeenAt, f.ClosedAt = first.t, last.t, closed.ptr()
	// An open finding was seen by its asset's latest scan: imports do not
	// rewrite unchanged rows, the asset remembers when it was scanned.
	if f.State != patchctl.FindingClosed && f.State != patchctl.FindingFixed && scanned.valid && scanned.t.After(f.LastSeenAt) {
		f.LastSeenAt = scanned.t
	}
	if patchID > 0 {
		f.PatchKey = patchctl.PatchKey(patchID)
	}
	if reason != "" {
		f.Acceptance = &patchctl.Acceptance{Reason: reason, Actor: by, At: accAt.t, ExpiresAt: accExp.ptr()}
	}
	return &f, nil
}

func (x q) findingWhere(f FindingFilter) (string, []any) {
	var conds []string
	var args []any
	if len(f.Severities) > 0 {
		conds = append(conds, "f.severity_rank IN ("+placeholders(len(f.Severities))+")")
		for _, s := range f.Severities {
			args = append(args, s.Rank())
		}
	}
	if len(f.States) > 0 {
		conds = append(conds, "f.state IN ("+placeholders(len(f.States))+")")
		for _, s := range f.States {
			args = append(args, string(s))
		}
	}
	if f.KEV != nil {
		conds = append(conds, "f.kev = ?")
		args = append(args, *f.KEV)
	}
	if f.EPSSMin > 0 {
		conds = append(conds, "f.epss >= ?")
		args = append(args, f.EPSSMin)
	}
	if f.Asset != "" {
		if p, ok := strings.CutSuffix(f.Asset, "*"); ok {
			conds = append(conds, "a.name LIKE ? ESCAPE '\\'")
			args = append(args, likeEscape(p)+"%")
		} else {
			conds = append(conds, "a.name = ?")
			args = append(args, f.Asset)
		}
	}
	if f.AssetID > 0 {
		conds = append(conds, "f.asset_id = ?")
		args = append(args, f.AssetID)
	}
	if f.Package != "" {
		conds = append(conds, "f.package = ?")
		args = append(args, f.Package)
	}
	if f.VulnID != "" {
		conds = append(conds, "(f.vuln_id = ? OR f.aliases LIKE ? ESCAPE '\\')")
		args = append(args, f.VulnID, "%\""+likeEscape(f.VulnID)+"\"%")
	}
	if f.PatchID > 0 {
		conds = append(conds, "f.patch_id = ?")
		args = append(args, f.PatchID)
	}
	if f.NoFix {
		conds = append(conds, "f.fixed_version = ''")
	}
	if len(conds) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// ListFindings returns one page of findings, most severe first, and whether
// more follow.
func (x q) ListFindings(ctx context.Context, f FindingFilter) ([]*patchctl.Finding, bool, error) {
	where, args := x.findingWhere(f)
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 50
	}
	rows, err := x.query(ctx, `SELECT `+findingColumns+` FROM findings f JOIN assets a ON a.id = f.asset_id`+where+
		` ORDER BY f.severity_rank DESC, f.id LIMIT ? OFFSET ?`, append(args, limit+1, f.Offset)...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	out := []*patchctl.Finding{}
	for rows.Next() {
		fi, err := scanFinding(rows)
		if err != nil {
			return nil, false, err
		}
		out = append(out, fi)
	}
	if err := rows.Err(); err != nil {
		return nil, false, x.db.wrap(err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

// Finding reads one finding.
func (x q) Finding(ctx context.Context, id int64) (*patchctl.Finding, error) {
	f, err := scanFinding(x.row(ctx, `SELECT `+findingColumns+` FROM findings f JOIN assets a ON a.id = f.asset_id WHERE f.id = ?`+x.forUpdate(), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, patchctl.NotFound("finding", strconv.FormatInt(id, 10))
	}
	return f, x.db.wrap(err)
}

// SetFindingState changes a finding's state with an acceptance (or clears it).
func (tx *Tx) SetFindingState(ctx context.Context, id int64, state patchctl.FindingState, acc *patchctl.Acceptance) error {
	if acc == nil {
		_, err := tx.exec(ctx, `UPDATE findings SET state = ?, accepted_reason = '', accepted_by = '', accepted_at = NULL, accept_expires_at = NULL
			WHERE id = ?`, string(state), id)
		return err
	}
	_, err := tx.exec(ctx, `UPDATE findings SET state = ?, accepted_reason = ?, accepted_by = ?, accepted_at = ?, accept_expires_at = ? WHERE id = ?`,
		string(state), acc.Reason, acc.Actor, tx.ts(acc.At), tx.tsp(acc.ExpiresAt), id)
	return err
}

// FindingStats counts open findings by severity, and those on KEV.
type FindingStats struct {
	BySeverity map[patchctl.Severity]int `json:"by_severity"`
	KEV        int                       `json:"kev"`
	Open       int                       `json:"open"`
	NoFix      int                       `json:"no_fix"`
	Accepted   int                       `json:"risk_accepted"`
}

// FindingStats counts open findings by severity, on KEV and without a
// fix, and findings whose risk is accepted, from the counters the
// database keeps as findings change (FindingCounts): it reads a few dozen
// rows however many findings there are.
func (db *DB) FindingStats(ctx context.Context) (*FindingStats, error) {
	counts, err := db.FindingCounts(ctx)
	if err != nil {
		return nil, err
	}
	st := &FindingStats{BySeverity: map[patchctl.Severity]int{}}
	for _, c := range counts {
		switch c.State {
		case patchctl.FindingOpen:
			st.BySeverity[c.Severity] += c.N
			st.Open += c.N
			if c.KEV {
				st.KEV += c.N
			}
			if c.NoFix {
				st.NoFix += c.N
			}
		case patchctl.FindingRiskAccepted:
			st.Accepted += c.N
		}
	}
	return st, nil
}

// ExpiredAcceptances lists accepted findings whose acceptance expired by now.
func (x q) ExpiredAcceptances(ctx context.Context, now time.Time) ([]int64, error) {
	rows, err := x.query(ctx, `SELECT id FROM findings WHERE state = 'risk_accepted' AND accept_expires_at IS NOT NULL AND accept_expires_at <= ?`, x.ts(now))
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

// PatchVulnSummary aggregates a patch's open findings per vulnerability: the
// attributes its trigger links carry.
type PatchVulnSummary struct {
	VulnID     string
	CVSS       float64
	CVSSVector string
	EPSS       float64
	KEV        bool
	Severity   patchctl.Severity
	FirstSeen  time.Time
	Findings   int
}

// PatchVulns summarises the open findings of a patch by vulnerability.
func (x q) PatchVulns(ctx context.Context, patchID int64) ([]PatchVulnSummary, error) {
	rows, err := x.query(ctx, `SELECT vuln_id, MAX(cvss), MAX(cvss_vector), MAX(epss), MAX(CASE WHEN kev THEN 1 ELSE 0 END), MAX(severity_rank),
		MIN(first_seen_at), COUNT(*) FROM findings WHERE patch_id = ? AND state IN ('open', 'risk_accepted') GROUP BY vuln_id ORDER BY vuln_id`, patchID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PatchVulnSummary
	for rows.Next() {
		var s PatchVulnSummary
		var kev, rank int
		var first tscan
		if err := rows.Scan(&s.VulnID, &s.CVSS, &s.CVSSVector, &s.EPSS, &kev, &rank, &first, &s.Findings); err != nil {
			return nil, err
		}
		s.KEV, s.FirstSeen = kev == 1, first.t
		for _, sev := range patchctl.Severities {
			if sev.Rank() == rank {
				s.Severity = sev
			}
		}
		out = append(out, s)
	}
	return out, x.db.wrap(rows.Err())
}

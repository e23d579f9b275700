package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/patchctl/patchctl"
)

// The findings queries of the web UI: a list that reads one page from an
// index whatever the filters, and counts that do not count rows. The
// indexes and the counts table are those of migration 0005.

// FindingCount is how many findings share a state, a severity, KEV listing
// and whether a fix is known.
type FindingCount struct {
	State    patchctl.FindingState
	Severity patchctl.Severity
	KEV      bool
	NoFix    bool
	N        int
}

// countRowsBeforeCompaction is how many rows of finding_counts a reader
// accepts before compacting them (PostgreSQL appends a row per changed
// group and statement; SQLite keeps one row per group). Tests lower it.
var countRowsBeforeCompaction = 1000

const qFindingCounts = `SELECT state, severity_rank, kev, no_fix, CAST(SUM(n) AS BIGINT), COUNT(*) FROM finding_counts
GROUP BY state, severity_rank, kev, no_fix`

// FindingCounts returns the number of findings of every state, severity,
// KEV listing and fix availability (groups without findings are left
// out), from the counters that triggers keep in the writing transactions.
// On PostgreSQL it first compacts the counters' rows when they piled up.
func (db *DB) FindingCounts(ctx context.Context) ([]FindingCount, error) {
	out, rows, err := db.reader().findingCounts(ctx)
	if err != nil || rows <= countRowsBeforeCompaction || db.engine != Postgres {
		return out, err
	}
	err = db.InTx(ctx, func(tx *Tx) error {
		// Deleting and re-inserting the sums in one statement: rows appended
		// by transactions that commit meanwhile are not in this statement's
		// snapshot and stay; a concurrent compaction skips the rows this
		// one deleted.
		_, err := tx.exec(ctx, `WITH gone AS (DELETE FROM finding_counts RETURNING state, severity_rank, kev, no_fix, n)
			INSERT INTO finding_counts (state, severity_rank, kev, no_fix, n)
			SELECT state, severity_rank, kev, no_fix, SUM(n) FROM gone GROUP BY state, severity_rank, kev, no_fix HAVING SUM(n) <> 0`)
		return err
	})
	if err != nil {
		db.log.Warn("finding counts compaction failed", "err", err)
	}
	return out, nil
}

func (x q) findingCounts(ctx context.Context) ([]FindingCount, int, error) {
	rs, err := x.query(ctx, qFindingCounts)
	if err != nil {
		return nil, 0, err
	}
	defer rs.Close()
	var out []FindingCount
	total := 0
	for rs.Next() {
		var c FindingCount
		var rank, rows int
		if err := rs.Scan(&c.State, &rank, &c.KEV, &c.NoFix, &c.N, &rows); err != nil {
			return nil, 0, err
		}
		total += rows
		if c.N == 0 {
			continue
		}
		c.Severity = severityOfRank(rank)
		out = append(out, c)
	}
	return out, total, x.db.wrap(rs.Err())
}

func severityOfRank(rank int) patchctl.Severity {
	for _, s := range patchctl.Severities {
		if s.Rank() == rank {
			return s
		}
	}
	return patchctl.SeverityUnknown
}

// FindingStates lists every finding state, in the order the list shows
// them when it shows them all.
var FindingStates = []patchctl.FindingState{patchctl.FindingOpen, patchctl.FindingRiskAccepted, patchctl.FindingFalsePositive,
	patchctl.FindingNotAffected, patchctl.FindingFixed, patchctl.FindingClosed}

// FindingCursor is a place in the order of the findings list: most severe
// first, then newest (highest id) first.
type FindingCursor struct {
	Rank int
	ID   int64
}

// String writes the cursor as "rank.id", the form ParseFindingCursor reads.
func (c FindingCursor) String() string {
	return strconv.Itoa(c.Rank) + "." + strconv.FormatInt(c.ID, 10)
}

// ParseFindingCursor reads a cursor written by FindingCursor.String.
func ParseFindingCursor(s string) (FindingCursor, error) {
	r, id, ok := strings.Cut(s, ".")
	rank, err1 := strconv.Atoi(r)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if !ok || err1 != nil || err2 != nil || rank < 0 || rank > 5 || n <= 0 {
		return FindingCursor{}, fmt.Errorf("%q is not a place in the findings list", s)
	}
	return FindingCursor{Rank: rank, ID: n}, nil
}

func cursorOf(f *patchctl.Finding) FindingCursor {
	return FindingCursor{Rank: f.Severity.Rank(), ID: f.ID}
}

// findingSortMax bounds the matches a page may sort: a filter that matches
// at most this many findings of a state (one vulnerability, one patch, a
// few assets) reads them all through its index and sorts them; one that
// matches more reads the list's order from an index and checks the filter
// on the way.
const findingSortMax = 2000

// findingCheckMax bounds the findings of one state a page checks against
// filters that no index holds in the list's order (EPSS, a package of a
// KEV listing, many assets): a filter that matches rarely stops the page
// there rather than reading a million findings. Tests lower it.
var findingCheckMax = 20_000

// assetIDsMax bounds the assets an asset filter names by id; a prefix
// matching more is checked with a subquery.
const assetIDsMax = 500

// FindingsPage is one page of the web UI's findings list.
type FindingsPage struct {
	Findings []*patchctl.Finding
	// Next is where the following page starts; nil at the end of the list.
	Next *FindingCursor
	// Stopped says the page ended before it was full: the filter matched so
	// rarely that the page checked as many findings as it may
	// (findingCheckMax per state) and holds the matches up to Next.
	Stopped bool
}

// FindingsPage returns up to f.Limit findings matching f (Offset is
// ignored) in the list's order, after cur (nil: from the start). Without
// States every state is listed.
//
// The list is read one state, and one severity when the filter names
// several, at a time, from the index that keeps that part in order
// (findings_state_severity, or the package, KEV and no-fix indexes of
// migration 0005), and the parts are merged. A filter that matches few
// findings of a state (a vulnerability, a patch, a few assets) reads its
// matches directly and sorts them instead.
func (x q) FindingsPage(ctx context.Context, f FindingFilter, cur *FindingCursor) (*FindingsPage, error) {
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 50
	}
	page := &FindingsPage{Findings: []*patchctl.Finding{}}
	c, err := x.filterConds(ctx, f)
	if err != nil || c == nil {
		return page, err
	}
	states := f.States
	if len(states) == 0 {
		states = FindingStates
	}
	var ranks []int
	for _, s := range f.Severities {
		if !slices.Contains(ranks, s.Rank()) {
			ranks = append(ranks, s.Rank())
		}
	}
	var all []*patchctl.Finding
	var stop *FindingCursor // the earliest place a part stopped checking
	for _, st := range states {
		rows, stopped, err := x.findingsOfState(ctx, f, c, st, ranks, cur, limit+1)
		if err != nil {
			return nil, err
		}
		all = append(all, rows...)
		if stopped != nil && (stop == nil || before(*stopped, *stop)) {
			stop = stopped
		}
	}
	slices.SortFunc(all, func(a, b *patchctl.Finding) int {
		if before(cursorOf(a), cursorOf(b)) {
			return -1
		}
		return 1
	})
	if stop != nil {
		// Past the place a part stopped, that part's matches are unknown:
		// the page ends there.
		i := slices.IndexFunc(all, func(f *patchctl.Finding) bool { return before(*stop, cursorOf(f)) })
		if i >= 0 {
			all = all[:i]
		}
	}
	switch {
	case len(all) > limit:
		page.Findings = all[:limit]
		next := cursorOf(all[limit-1])
		page.Next = &next
	case stop != nil:
		page.Findings, page.Next, page.Stopped = all, stop, true
	default:
		page.Findings = all
	}
	if page.Findings == nil {
		page.Findings = []*patchctl.Finding{}
	}
	return page, nil
}

// before reports whether a comes before b in the list's order.
func before(a, b FindingCursor) bool {
	return a.Rank > b.Rank || (a.Rank == b.Rank && a.ID > b.ID)
}

// findingConds are the conditions of a filter that hold for every part of
// the list, and what selective filters it has.
type findingConds struct {
	conds []string
	args  []any
	// selective are the filters that may match few findings, each with the
	// condition that finds its matches through an index.
	selective []selective
}

type selective struct {
	index string // the SQLite index that finds the matches
	cond  string
	args  []any
}

// filterConds turns a filter into conditions; nil when the filter cannot
// match (an asset name no asset has).
func (x q) filterConds(ctx context.Context, f FindingFilter) (*findingConds, error) {
	c := &findingConds{}
	add := func(cond string, args ...any) {
		c.conds = append(c.conds, cond)
		c.args = append(c.args, args...)
	}
	if f.VulnID != "" {
		ids := []string{f.VulnID}
		if id, err := patchctl.NormalizeVulnID(f.VulnID); err == nil && id != f.VulnID {
			ids = append(ids, id)
		}
		canon, err := x.Aliases(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, id := range canon {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		cond := "f.vuln_id IN (" + placeholders(len(ids)) + ")"
		add(cond, anys(ids)...)
		c.selective = append(c.selective, selective{"findings_vuln", cond, anys(ids)})
	}
	if f.PatchID > 0 {
		add("f.patch_id = ?", f.PatchID)
		c.selective = append(c.selective, selective{"findings_patch", "f.patch_id = ?", []any{f.PatchID}})
	}
	if f.AssetID > 0 {
		add("f.asset_id = ?", f.AssetID)
		c.selective = append(c.selective, selective{"sqlite_autoindex_findings_1", "f.asset_id = ?", []any{f.AssetID}})
	}
	if f.Asset != "" {
		// Assets are few next to findings: find the matching ones first,
		// through the (kind, name) key.
		kinds := anys(assetKinds)
		acond := "kind IN (" + placeholders(len(kinds)) + ") AND name = ?"
		aargs := append(kinds, f.Asset)
		if p, ok := strings.CutSuffix(f.Asset, "*"); ok {
			acond = "kind IN (" + placeholders(len(kinds)) + ") AND name >= ?"
			aargs = append(kinds, p)
			if hi, ok := prefixEnd(p); ok {
				acond += " AND name < ?"
				aargs = append(aargs, hi)
			}
		}
		rs, err := x.query(ctx, `SELECT id FROM assets WHERE `+acond+` ORDER BY id LIMIT ?`, append(aargs, assetIDsMax+1)...)
		if err != nil {
			return nil, err
		}
		var ids []int64
		for rs.Next() {
			var id int64
			if err := rs.Scan(&id); err != nil {
				rs.Close()
				return nil, err
			}
			ids = append(ids, id)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return nil, x.db.wrap(err)
		}
		switch {
		case len(ids) == 0:
			return nil, nil
		case len(ids) > assetIDsMax:
			add("f.asset_id IN (SELECT id FROM assets WHERE "+acond+")", aargs...)
		default:
			cond := "f.asset_id IN (" + placeholders(len(ids)) + ")"
			add(cond, anys(ids)...)
			c.selective = append(c.selective, selective{"sqlite_autoindex_findings_1", cond, anys(ids)})
		}
	}
	if f.Package != "" {
		add("f.package = ?", f.Package)
	}
	if f.KEV != nil {
		if *f.KEV {
			// Written as in the partial index, which SQLite uses only for
			// queries that name its condition.
			add("f.kev = TRUE")
		} else {
			add("f.kev = ?", false)
		}
	}
	if f.NoFix {
		add("f.fixed_version = ''")
	}
	if f.EPSSMin > 0 {
		add("f.epss >= ?", f.EPSSMin)
	}
	return c, nil
}

var assetKinds = []patchctl.AssetKind{patchctl.AssetImage, patchctl.AssetRepository, patchctl.AssetFilesystem, patchctl.AssetHost,
	patchctl.AssetWorkload, patchctl.AssetCluster, patchctl.AssetSBOM}

// prefixEnd is the least string greater than every string starting with
// p, if there is one.
func prefixEnd(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// findingsOfState reads up to n findings of one state after cur, in the
// list's order, and where it stopped checking when it did.
func (x q) findingsOfState(ctx context.Context, f FindingFilter, c *findingConds, st patchctl.FindingState, ranks []int,
	cur *FindingCursor, n int) ([]*patchctl.Finding, *FindingCursor, error) {
	// A selective filter with few matches in this state: read them all
	// through its index and sort them.
	for _, s := range c.selective {
		var matches int
		hint := x.indexHint(s.index)
		probe := `SELECT COUNT(*) FROM (SELECT 1 FROM findings f` + hint + ` WHERE f.state = ? AND ` + s.cond + ` LIMIT ?) m`
		if err := x.row(ctx, probe, append(append([]any{string(st)}, s.args...), findingSortMax+1)...).Scan(&matches); err != nil {
			return nil, nil, x.db.wrap(err)
		}
		if matches > findingSortMax {
			continue
		}
		if matches == 0 {
			return nil, nil, nil
		}
		q := append([]string{"f.state = ?"}, c.conds...)
		qa := append([]any{string(st)}, c.args...)
		if len(ranks) > 0 {
			q = append(q, "f.severity_rank IN ("+placeholders(len(ranks))+")")
			qa = append(qa, anys(ranks)...)
		}
		if cur != nil {
			q = append(q, "(f.severity_rank < ? OR (f.severity_rank = ? AND f.id < ?))")
			qa = append(qa, cur.Rank, cur.Rank, cur.ID)
		}
		rows, err := x.findingRows(ctx, hint, q, qa, false, n)
		return rows, nil, err
	}
	// Otherwise read the list's order from the index that holds it for the
	// filter.
	index := "findings_state_severity"
	switch {
	case f.Package != "":
		index = "findings_package_state_severity"
	case f.KEV != nil && *f.KEV:
		index = "findings_kev_state_severity"
	case f.NoFix:
		index = "findings_nofix_state_severity"
	}
	hint := x.indexHint(index)
	key := []string{"f.state = ?"}
	keyArgs := []any{string(st)}
	var rest []string
	var restArgs []any
	i := 0
	for _, cond := range c.conds {
		k := strings.Count(cond, "?")
		if heldBy(index, cond) {
			key, keyArgs = append(key, cond), append(keyArgs, c.args[i:i+k]...)
		} else {
			rest, restArgs = append(rest, cond), append(restArgs, c.args[i:i+k]...)
		}
		i += k
	}
	if len(rest) == 0 && len(ranks) == 0 {
		// One range in order from the top, or two after a cursor: the rest
		// of the cursor's severity by id, then the severities after it
		// (one condition on (rank, id) would make SQLite read the whole
		// severity).
		if cur == nil {
			rows, err := x.findingRows(ctx, hint, key, keyArgs, false, n)
			return rows, nil, err
		}
		out, err := x.findingRows(ctx, hint, append(slices.Clone(key), "f.severity_rank = ?", "f.id < ?"),
			append(slices.Clone(keyArgs), cur.Rank, cur.ID), true, n)
		if err != nil || len(out) >= n {
			return out, nil, err
		}
		more, err := x.findingRows(ctx, hint, append(slices.Clone(key), "f.severity_rank < ?"),
			append(slices.Clone(keyArgs), cur.Rank), false, n-len(out))
		return append(out, more...), nil, err
	}
	// One severity at a time, whose rows the index holds by id. Conditions
	// the index does not hold are checked on at most findingCheckMax
	// findings of the state: where that budget ends, the page stops.
	if len(ranks) == 0 {
		for _, s := range patchctl.Severities {
			ranks = append(ranks, s.Rank())
		}
	}
	ranks = slices.Clone(ranks)
	slices.SortFunc(ranks, func(a, b int) int { return b - a })
	budget := findingCheckMax
	var out []*patchctl.Finding
	for _, rank := range ranks {
		if cur != nil && rank > cur.Rank {
			continue
		}
		kc := append(slices.Clone(key), "f.severity_rank = ?")
		ka := append(slices.Clone(keyArgs), rank)
		if cur != nil && rank == cur.Rank {
			kc, ka = append(kc, "f.id < ?"), append(ka, cur.ID)
		}
		var stop *FindingCursor
		if len(rest) > 0 {
			var last int64
			err := x.row(ctx, `SELECT f.id FROM findings f`+hint+` WHERE `+strings.Join(kc, " AND ")+` ORDER BY f.id DESC LIMIT 1 OFFSET ?`,
				append(slices.Clone(ka), budget-1)...).Scan(&last)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				var k int
				if err := x.row(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM findings f`+hint+` WHERE `+strings.Join(kc, " AND ")+` LIMIT ?) c`,
					append(slices.Clone(ka), budget)...).Scan(&k); err != nil {
					return nil, nil, x.db.wrap(err)
				}
				budget -= k
			case err != nil:
				return nil, nil, x.db.wrap(err)
			default:
				stop = &FindingCursor{Rank: rank, ID: last}
				kc, ka = append(kc, "f.id >= ?"), append(ka, last)
			}
		}
		rows, err := x.findingRows(ctx, hint, append(kc, rest...), append(ka, restArgs...), true, n-len(out))
		if err != nil {
			return nil, nil, err
		}
		out = append(out, rows...)
		if len(out) >= n {
			return out, nil, nil
		}
		if stop != nil {
			return out, stop, nil
		}
	}
	return out, nil, nil
}

// heldBy reports whether an ordered index holds a condition of
// filterConds: its rows all meet it, or it is the index's first column.
func heldBy(index, cond string) bool {
	switch index {
	case "findings_package_state_severity":
		return cond == "f.package = ?"
	case "findings_kev_state_severity":
		return cond == "f.kev = TRUE"
	case "findings_nofix_state_severity":
		return cond == "f.fixed_version = ''"
	}
	return false
}

// findingRows runs one list query: conds select the rows, read in the
// list's order (byID: by id alone, the rows share a severity), at most n.
func (x q) findingRows(ctx context.Context, hint string, conds []string, args []any, byID bool, n int) ([]*patchctl.Finding, error) {
	order := "f.severity_rank DESC, f.id DESC"
	if byID {
		order = "f.id DESC"
	}
	rs, err := x.query(ctx, `SELECT `+findingColumns+` FROM findings f`+hint+` JOIN assets a ON a.id = f.asset_id WHERE `+
		strings.Join(conds, " AND ")+` ORDER BY `+order+` LIMIT ?`, append(slices.Clone(args), n)...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []*patchctl.Finding
	for rs.Next() {
		fi, err := scanFinding(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, fi)
	}
	return out, x.db.wrap(rs.Err())
}

// indexHint names the index a query must read on SQLite, whose planner
// decides without statistics and may otherwise sort a state's every
// finding to find one page. PostgreSQL plans with statistics and gets no
// hint.
func (x q) indexHint(index string) string {
	if x.db.engine != SQLite {
		return ""
	}
	return " INDEXED BY " + index
}

// RecentImports lists imports newest first, before the import before (0:
// from the newest).
func (x q) RecentImports(ctx context.Context, before int64, limit int) ([]*Import, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	query := `SELECT ` + importColumns + ` FROM imports`
	args := []any{}
	if before > 0 {
		query += ` WHERE id < ?`
		args = append(args, before)
	}
	rs, err := x.query(ctx, query+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	out := []*Import{}
	for rs.Next() {
		im, err := scanImport(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, im)
	}
	return out, x.db.wrap(rs.Err())
}

// PatchesByID reads the patches with the given ids that exist, in the order
// of ids (an import summary names the patches it created or extended).
func (x q) PatchesByID(ctx context.Context, ids []int64) ([]*patchctl.Patch, error) {
	byID := map[int64]*patchctl.Patch{}
	err := inChunks(ids, func(ph string, args []any) error {
		ps, err := x.patches(ctx, `SELECT `+patchColumns+` FROM patches WHERE id IN (`+ph+`)`, args...)
		for _, p := range ps {
			byID[p.ID] = p
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]*patchctl.Patch, 0, len(byID))
	for _, id := range ids {
		if p, ok := byID[id]; ok {
			out = append(out, p)
		}
	}
	return out, nil
}

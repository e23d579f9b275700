// Package intake imports vulnerability reports and enrichment feeds: it
// streams a report through its parser (internal/importer), deduplicates the
// findings against the database, closes what a re-import no longer reports,
// reopens what comes back, and groups findings into the draft patches that
// fix them. KEV and EPSS feeds re-classify the affected patches.
//
// An import is one transaction: it lands whole or not at all. A report that
// fails to parse closes nothing.
package intake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"iter"
	"log/slog"
	"math"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/importer/formats"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/textutil"
)

// Intake runs imports.
type Intake struct {
	svc *service.Service
	db  *store.DB
	log *slog.Logger

	mu      sync.Mutex
	running map[int64]*Progress
	profile func(start bool) error
	jobs    sync.WaitGroup

	// links caches the trigger links of group patches by revision: every
	// change of a patch's links bumps its revision, so a cached entry with
	// the current revision is current. Imports of builds of one service
	// touch the same patches again and again.
	linksMu sync.Mutex
	links   map[int64]cachedLinks
	// aliases caches alias lookups for a short while (another replica may
	// learn an alias; an OSV record import merges what was filed before).
	aliasMu    sync.Mutex
	aliases    map[string]string
	aliasesAge time.Time
}

type cachedLinks struct {
	revision int64
	links    []patchctl.Link
}

const aliasCacheTTL = time.Minute

// cachedAliases returns the cached canonical id of each id it knows.
func (in *Intake) cachedAliases(ids []string) (known map[string]string, missing []string) {
	in.aliasMu.Lock()
	defer in.aliasMu.Unlock()
	if time.Since(in.aliasesAge) > aliasCacheTTL {
		in.aliases, in.aliasesAge = map[string]string{}, time.Now()
	}
	known = map[string]string{}
	for _, id := range ids {
		if c, ok := in.aliases[id]; ok {
			known[id] = c
		} else {
			missing = append(missing, id)
		}
	}
	return known, missing
}

func (in *Intake) rememberAliases(m map[string]string) {
	in.aliasMu.Lock()
	defer in.aliasMu.Unlock()
	if in.aliases == nil {
		in.aliases, in.aliasesAge = map[string]string{}, time.Now()
	}
	for k, v := range m {
		in.aliases[k] = v
	}
}

// patchLinks returns the links of patches, from the cache where the
// revision still matches.
func (in *Intake) patchLinks(ctx context.Context, tx *store.Tx, ids []int64) (map[int64][]patchctl.Link, error) {
	if len(ids) == 0 {
		return map[int64][]patchctl.Link{}, nil
	}
	revs, err := tx.Revisions(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := map[int64][]patchctl.Link{}
	var stale []int64
	in.linksMu.Lock()
	for _, id := range ids {
		if c, ok := in.links[id]; ok && c.revision == revs[id] {
			out[id] = c.links
		} else {
			stale = append(stale, id)
		}
	}
	in.linksMu.Unlock()
	if len(stale) == 0 {
		return out, nil
	}
	fresh, err := tx.LinksOf(ctx, stale)
	if err != nil {
		return nil, err
	}
	in.linksMu.Lock()
	defer in.linksMu.Unlock()
	if in.links == nil || len(in.links) > 100_000 {
		in.links = map[int64]cachedLinks{}
	}
	for _, id := range stale {
		out[id] = fresh[id]
		in.links[id] = cachedLinks{revision: revs[id], links: fresh[id]}
	}
	return out, nil
}

// New returns an intake over the service's database.
func New(svc *service.Service, log *slog.Logger) *Intake {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Intake{svc: svc, db: svc.DB(), log: log.With("component", "intake"), running: map[int64]*Progress{}}
}

// Progress of a running import.
type Progress struct {
	BytesRead  atomic.Int64
	BytesTotal int64
	Records    atomic.Int64
}

// Progress returns a running import's progress, if it runs in this process.
func (in *Intake) Progress(id int64) (read, total, records int64, ok bool) {
	in.mu.Lock()
	p, found := in.running[id]
	in.mu.Unlock()
	if !found {
		return 0, 0, 0, false
	}
	return p.BytesRead.Load(), p.BytesTotal, p.Records.Load(), true
}

// Result is an import as the API and CLI show it: the import record with
// its live progress, and its summary once done.
type Result struct {
	Import *store.Import `json:"import"`
	// Progress is the fraction of bytes read, for running imports.
	Progress float64      `json:"progress,omitempty"`
	Summary  *Summary     `json:"summary,omitempty"`
	Feed     *FeedSummary `json:"feed,omitempty"`
}

// Result builds the view of an import record, with the live progress of a
// running import and the stored summary of a finished one.
func (in *Intake) Result(im *store.Import) *Result {
	r := &Result{Import: im}
	if im.Status == store.ImportRunning {
		if read, total, records, ok := in.Progress(im.ID); ok {
			im.BytesRead, im.Records = read, records
			if total > 0 {
				r.Progress = float64(read) / float64(total)
			}
		}
	}
	if im.Status == store.ImportDone && len(im.Summary) > 2 {
		var s Summary
		if json.Unmarshal(im.Summary, &s) == nil {
			r.Summary = &s
		}
	}
	return r
}

// Options tune one import.
type Options struct {
	Format importer.Format
	// Asset overrides the report's asset: "kind:name" or a name (the kind
	// then comes from the report, else image).
	Asset  string
	Source string // file name or URL, for the record
	Size   int64  // bytes, when known, for progress
	// OnStart receives the import id once recorded.
	OnStart func(id int64)
	// OnProgress is called every few megabytes.
	OnProgress func(bytesRead, records int64)
	// NoShortcut parses even a byte-identical re-import (benchmarks).
	NoShortcut bool
}

// Summary is what an import did.
type Summary struct {
	ImportID          int64          `json:"import_id"`
	Format            string         `json:"format"`
	Detected          bool           `json:"format_detected,omitempty"`
	Tool              string         `json:"tool,omitempty"`
	ToolVersion       string         `json:"tool_version,omitempty"`
	Asset             string         `json:"asset"`
	Assets            []string       `json:"assets"`
	FindingsInReport  int            `json:"findings_in_report"`
	FindingsNew       int            `json:"findings_new"`
	FindingsUpdated   int            `json:"findings_updated"`
	FindingsUnchanged int            `json:"findings_unchanged"`
	FindingsClosed    int            `json:"findings_closed"`
	FindingsReopened  int            `json:"findings_reopened"`
	FindingsNoFix     int            `json:"findings_without_fix"`
	Duplicates        int            `json:"duplicates_in_report,omitempty"`
	BySeverity        map[string]int `json:"by_severity"`
	BySeverityRaw     map[string]int `json:"by_severity_raw,omitempty"`
	PatchesCreated    int            `json:"patches_created"`
	PatchesUpdated    int            `json:"patches_updated"`
	Patches           []string       `json:"patches,omitempty"`
	VEXApplied        int            `json:"vex_applied,omitempty"`
	Misconfigurations int            `json:"misconfigurations,omitempty"`
	Secrets           int            `json:"secrets,omitempty"`
	IgnoredMatches    int            `json:"ignored_matches,omitempty"`
	Suppressed        int            `json:"suppressed,omitempty"`
	Components        int            `json:"components,omitempty"`
	Notes             []string       `json:"notes,omitempty"`
	Bytes             int64          `json:"bytes"`
	DurationMS        int64          `json:"duration_ms"`
}

// countingReader counts bytes and reports progress.
type countingReader struct {
	r    io.Reader
	p    *Progress
	next int64
	fn   func(int64, int64)
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	read := c.p.BytesRead.Add(int64(n))
	if c.fn != nil && read >= c.next {
		c.next = read + 4<<20
		c.fn(read, c.p.Records.Load())
	}
	return n, err
}

// countingReadSeeker is a countingReader over a seekable input.
type countingReadSeeker struct {
	*countingReader
	s io.Seeker
}

func (c *countingReadSeeker) Seek(off int64, whence int) (int64, error) { return c.s.Seek(off, whence) }

// Import reads one scanner report and applies it.
func (in *Intake) Import(ctx context.Context, a patchctl.Actor, r io.Reader, opts Options) (*Summary, error) {
	if !a.Role.Allowed(patchctl.PermImport) {
		return nil, patchctl.Errorf(patchctl.CodeForbidden, "importing reports needs the role engineer, oncall, lead or admin; %s has %s", a.Name, a.Role)
	}
	format := opts.Format
	if format == "" {
		format = importer.FormatAuto
	}
	parser, err := formats.Parser(format)
	if err != nil {
		return nil, patchctl.FieldError("format", "%v", err)
	}
	start := time.Now()
	now := in.svc.Now()
	im := &store.Import{Format: string(format), Source: opts.Source, Actor: a.Name, StartedAt: now, BytesTotal: opts.Size,
		AssetOverride: strings.TrimSpace(opts.Asset)}
	// A seekable input (a file, a spooled upload) is hashed first: hashing is
	// several times cheaper than parsing, and a byte-identical re-import of
	// the latest import of its assets is recognised without parsing.
	if rs, ok := r.(io.ReadSeeker); ok {
		h := sha256.New()
		n, err := io.Copy(h, rs)
		if err == nil {
			_, err = rs.Seek(0, io.SeekStart)
		}
		if err != nil {
			return nil, &patchctl.Error{Code: patchctl.CodeInvalid, Message: "reading the report", Err: err}
		}
		im.ContentHash = hex.EncodeToString(h.Sum(nil))
		if im.BytesTotal <= 0 {
			im.BytesTotal = n
		}
	}
	if err := in.db.StartImport(ctx, im); err != nil {
		return nil, err
	}
	if opts.OnStart != nil {
		opts.OnStart(im.ID)
	}
	prog := &Progress{BytesTotal: opts.Size}
	in.mu.Lock()
	in.running[im.ID] = prog
	in.mu.Unlock()
	defer func() {
		in.mu.Lock()
		delete(in.running, im.ID)
		in.mu.Unlock()
	}()
	cr := &countingReader{r: r, p: prog, next: 4 << 20, fn: opts.OnProgress}
	var input io.Reader = cr
	if rs, ok := r.(io.ReadSeeker); ok {
		// Parsers that must read part of a report twice (Grype names its
		// asset after the matches) re-read a seekable input instead of
		// holding records in memory.
		input = &countingReadSeeker{countingReader: cr, s: rs}
	}

	cfg := in.svc.Config()
	var sum *Summary
	var learnt []map[string]string
	err = in.db.InTx(ctx, func(tx *store.Tx) error {
		hash := im.ContentHash
		if opts.NoShortcut {
			hash = ""
		}
		if prev, assets, err := tx.IdenticalImport(ctx, hash, im.AssetOverride); err != nil {
			return err
		} else if prev != nil && prev.ID != im.ID {
			sum = identical(im.ID, prev, im.BytesTotal)
			for _, id := range assets {
				if err := tx.ScannedAsset(ctx, id, im.ID, now); err != nil {
					return err
				}
			}
			sum.DurationMS = time.Since(start).Milliseconds()
			prog.BytesRead.Store(im.BytesTotal)
			if err := auditImport(ctx, tx, a, sum, im, now); err != nil {
				return err
			}
			return tx.FinishImport(ctx, im.ID, sum, assets, im.BytesTotal, int64(sum.FindingsInReport), in.svc.Now())
		}
		run := &run{in: in, tx: tx, ctx: ctx, actor: a, cfg: cfg, now: now, importID: im.ID, prog: prog,
			assets: map[assetKey]*assetState{}, aliasCache: map[string]string{}, vulnCache: map[string]*store.VulnInfo{},
			sum: &Summary{ImportID: im.ID, BySeverity: map[string]int{}}}
		if err := run.parseOverride(opts.Asset); err != nil {
			return err
		}
		meta, err := parser.Parse(ctx, input, run.emit)
		if err != nil {
			return err
		}
		if err := run.flush(ctx); err != nil {
			return err
		}
		if err := run.finish(ctx, meta); err != nil {
			return err
		}
		run.sum.Bytes = prog.BytesRead.Load()
		run.sum.DurationMS = time.Since(start).Milliseconds()
		sum = run.sum
		learnt = append(run.learnt, run.newAliases)
		ids := make([]int64, len(run.order))
		for i, st := range run.order {
			ids[i] = st.asset.ID
		}
		if err := auditImport(ctx, tx, a, sum, im, now); err != nil {
			return err
		}
		return tx.FinishImport(ctx, im.ID, sum, ids, prog.BytesRead.Load(), prog.Records.Load(), in.svc.Now())
	})
	if err != nil {
		msg := patchctl.ErrorMessage(err)
		if patchctl.ErrorCode(err) == patchctl.CodeInternal {
			in.log.Error("import failed", "import_id", im.ID, "err", err)
		}
		if ferr := in.db.FailImport(context.WithoutCancel(ctx), im.ID, msg, prog.BytesRead.Load(), prog.Records.Load(), in.svc.Now()); ferr != nil {
			in.log.Error("recording a failed import", "import_id", im.ID, "err", ferr)
		}
		return nil, err
	}
	// Only what committed is worth remembering.
	for _, m := range learnt {
		in.rememberAliases(m)
	}
	in.log.Info("import done", "import_id", im.ID, "format", sum.Format, "findings", sum.FindingsInReport, "new", sum.FindingsNew,
		"closed", sum.FindingsClosed, "patches_created", sum.PatchesCreated, "ms", sum.DurationMS)
	return sum, nil
}

// importAudit is what the audit log keeps of an import: its counts, not
// its findings (those are in the findings table, each marked with the
// import that last changed it).
type importAudit struct {
	ImportID         int64          `json:"import_id"`
	Format           string         `json:"format"`
	Tool             string         `json:"tool,omitempty"`
	Source           string         `json:"source,omitempty"`
	ContentHash      string         `json:"content_hash,omitempty"`
	Assets           int            `json:"assets"`
	FirstAsset       string         `json:"asset,omitempty"`
	FindingsInReport int            `json:"findings_in_report"`
	FindingsNew      int            `json:"findings_new"`
	FindingsUpdated  int            `json:"findings_updated"`
	FindingsClosed   int            `json:"findings_closed"`
	FindingsReopened int            `json:"findings_reopened"`
	VEXApplied       int            `json:"vex_applied,omitempty"`
	BySeverity       map[string]int `json:"by_severity"`
	PatchesCreated   int            `json:"patches_created"`
	PatchesUpdated   int            `json:"patches_updated"`
	Patches          []string       `json:"patches,omitempty"`
	PatchesTruncated bool           `json:"patches_truncated,omitempty"`
	Notes            []string       `json:"notes,omitempty"`
}

// auditImport appends the import's audit event in its transaction. The
// patches it created are audited each on their own (patch.create).
func auditImport(ctx context.Context, tx *store.Tx, a patchctl.Actor, sum *Summary, im *store.Import, now time.Time) error {
	d := importAudit{ImportID: im.ID, Format: sum.Format, Tool: sum.Tool, Source: im.Source, ContentHash: im.ContentHash,
		Assets: len(sum.Assets), FirstAsset: sum.Asset, FindingsInReport: sum.FindingsInReport, FindingsNew: sum.FindingsNew,
		FindingsUpdated: sum.FindingsUpdated, FindingsClosed: sum.FindingsClosed, FindingsReopened: sum.FindingsReopened,
		VEXApplied: sum.VEXApplied, BySeverity: sum.BySeverity, PatchesCreated: sum.PatchesCreated, PatchesUpdated: sum.PatchesUpdated,
		Patches: sum.Patches, Notes: sum.Notes}
	if len(d.Patches) > 200 {
		d.Patches, d.PatchesTruncated = d.Patches[:200], true
	}
	if len(d.Notes) > 20 {
		d.Notes = d.Notes[:20]
	}
	e := &patchctl.AuditEvent{At: now, Actor: a.Name, Role: a.Role, Action: "import." + sum.Format, Subject: fmt.Sprintf("import:%d", im.ID)}
	return tx.Audit(ctx, e, d)
}

// identical is the summary of a re-import recognised as byte-identical to
// import prev, still the latest of its assets: every finding it reports is
// unchanged.
func identical(id int64, prev *store.Import, size int64) *Summary {
	var p Summary
	_ = json.Unmarshal(prev.Summary, &p)
	s := &Summary{ImportID: id, Format: p.Format, Tool: p.Tool, ToolVersion: p.ToolVersion, Asset: p.Asset, Assets: p.Assets,
		FindingsInReport: p.FindingsInReport, FindingsNoFix: p.FindingsNoFix, Duplicates: p.Duplicates, BySeverity: p.BySeverity,
		BySeverityRaw: p.BySeverityRaw, Misconfigurations: p.Misconfigurations, Secrets: p.Secrets, IgnoredMatches: p.IgnoredMatches,
		Suppressed: p.Suppressed, Components: p.Components, Bytes: size}
	s.FindingsUnchanged = p.FindingsNew + p.FindingsUpdated + p.FindingsUnchanged + p.FindingsReopened
	s.Notes = []string{fmt.Sprintf("byte-identical to import #%d, still the latest import of its assets: nothing changed but when they were last seen", prev.ID)}
	return s
}

// assetKey identifies an asset within an import: its kind and name.
type assetKey struct {
	kind patchctl.AssetKind
	name string
}

// assetState is what an import knows of one asset.
type assetState struct {
	asset    patchctl.Asset
	existing map[store.FindingKey]*store.FindingRow
	seen     map[store.FindingKey]struct{}
	records  int
}

type run struct {
	in       *Intake
	tx       *store.Tx
	actor    patchctl.Actor
	cfg      *config.Config
	now      time.Time
	importID int64
	prog     *Progress
	sum      *Summary

	override     *patchctl.Asset
	overrideKind bool

	assets     map[assetKey]*assetState
	order      []*assetState
	aliasCache map[string]string          // id -> canonical ("" = itself)
	vulnCache  map[string]*store.VulnInfo // KEV and EPSS of canonical ids (nil: none stored)
	newAliases map[string]string

	ctx     context.Context
	pending []*importer.Record
	inserts []store.NewFinding

	groups     map[string]*groupState
	groupOrder []string
	// recheck are existing findings that may need a patch: reopened ones
	// (their patch may have shipped) and ones that gained a fix.
	recheck []int64
	// groupPatches caches the open patch of group keys looked up in bulk
	// (0: none).
	groupPatches map[string]int64
	// learnt are alias lookups to remember once the import commits.
	learnt []map[string]string
}

// groupState is one patch group touched by the import.
type groupState struct {
	key, grp, pkg, fix, asset string
	// repo is the GitHub repository (owner/name) of a repository asset.
	repo    string
	patchID int64
	created bool
	aggs    map[string]*service.VulnAggregate
	order   []string
}

func (r *run) parseOverride(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	a := &patchctl.Asset{Name: s}
	if k, name, ok := strings.Cut(s, ":"); ok {
		switch patchctl.AssetKind(k) {
		case patchctl.AssetImage, patchctl.AssetRepository, patchctl.AssetFilesystem, patchctl.AssetHost,
			patchctl.AssetWorkload, patchctl.AssetCluster, patchctl.AssetSBOM:
			a.Kind, a.Name, r.overrideKind = patchctl.AssetKind(k), name, true
		}
	}
	if a.Name == "" || len(a.Name) > 500 {
		return patchctl.FieldError("asset", "%q is not an asset name", s)
	}
	r.override = a
	return nil
}

func (r *run) emit(rec *importer.Record) error {
	r.prog.Records.Add(1)
	normalize(rec)
	r.pending = append(r.pending, rec)
	if len(r.pending) >= 512 {
		return r.flush(r.ctx)
	}
	return nil
}

// asset resolves (and loads) the asset a record belongs to.
func (r *run) asset(ctx context.Context, ref importer.AssetRef) (*assetState, error) {
	a := patchctl.Asset{Kind: ref.Kind, Name: ref.Name, Digest: ref.Digest}
	if r.override != nil {
		name, kind := r.override.Name, r.override.Kind
		if !r.overrideKind {
			kind = ref.Kind
		}
		a = patchctl.Asset{Kind: kind, Name: name}
		if ref.Name == name {
			a.Digest = ref.Digest
		}
	}
	if a.Kind == "" {
		a.Kind = patchctl.AssetImage
	}
	if a.Name == "" {
		return nil, patchctl.FieldError("asset", "the report names no asset; give one with --asset")
	}
	key := assetKey{a.Kind, a.Name}
	if st, ok := r.assets[key]; ok {
		return st, nil
	}
	a.Group = groupOf(r.cfg, a)
	if err := r.tx.EnsureAsset(ctx, &a, r.now); err != nil {
		return nil, err
	}
	existing, err := r.tx.AssetFindings(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	st := &assetState{asset: a, existing: existing, seen: make(map[store.FindingKey]struct{}, len(existing))}
	r.assets[key] = st
	r.order = append(r.order, st)
	return st, nil
}

// groupOf names an asset's group: the first matching asset rule, else the
// image repository without tag or digest, the repository, or the host.
func groupOf(cfg *config.Config, a patchctl.Asset) string {
	for _, rule := range cfg.Assets {
		if ok, _ := path.Match(rule.Match, a.Name); ok && rule.Group != "" {
			return rule.Group
		}
	}
	name := a.Name
	if i := strings.Index(name, "@"); i > 0 {
		name = name[:i]
	}
	if a.Kind == patchctl.AssetImage {
		if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
			name = name[:i]
		}
	}
	if a.Kind == patchctl.AssetWorkload {
		if ns, _, ok := strings.Cut(name, "/"); ok {
			return ns
		}
	}
	return name
}

func isCVE(id string) bool { return strings.HasPrefix(id, "CVE-") }

// canonical picks the id a finding is stored under: the first CVE among the
// id, its aliases and what the alias table maps them to; else the mapped id.
// The record's ids are normalised (normalize).
func (r *run) canonical(rec *importer.Record) string {
	for id := range recordIDs(rec) {
		if c := r.mapped(id); isCVE(c) {
			return c
		}
	}
	return r.mapped(rec.VulnID)
}

// mapped is what the alias table maps id to, else id.
func (r *run) mapped(id string) string {
	if m := r.aliasCache[id]; m != "" {
		return m
	}
	return id
}

func norm(id string) string {
	if n, err := patchctl.NormalizeVulnID(id); err == nil {
		return n
	}
	return strings.TrimSpace(id)
}

// normalize spells a record's id and aliases as norm does, once, as the
// record arrives: alias resolution, canonical ids and finding keys then
// compare them as they are.
func normalize(rec *importer.Record) {
	rec.VulnID = norm(rec.VulnID)
	for i, id := range rec.Aliases {
		rec.Aliases[i] = norm(id)
	}
}

// packageOf is the package a finding of rec is filed under: its package,
// else where it was found.
func packageOf(rec *importer.Record) string {
	if rec.Package == "" {
		return rec.Location
	}
	return rec.Package
}

// key is the finding key of a record within its asset.
func (r *run) key(rec *importer.Record) store.FindingKey {
	return store.FindingKey{VulnID: textutil.Prefix(r.canonical(rec), 200), Package: textutil.Prefix(packageOf(rec), 500),
		Version: textutil.Prefix(rec.InstalledVersion, 200)}
}

// recordIDs yields a record's id, then its aliases.
func recordIDs(rec *importer.Record) iter.Seq[string] {
	return func(yield func(string) bool) {
		if !yield(rec.VulnID) {
			return
		}
		for _, id := range rec.Aliases {
			if !yield(id) {
				return
			}
		}
	}
}

// unresolved returns the ids of recs whose alias has not been looked up,
// and marks them as looked up (as having no alias until the lookup says
// otherwise).
func (r *run) unresolved(recs []*importer.Record) []string {
	var unknown []string
	for _, rec := range recs {
		for id := range recordIDs(rec) {
			if _, ok := r.aliasCache[id]; !ok {
				r.aliasCache[id] = ""
				unknown = append(unknown, id)
			}
		}
	}
	return unknown
}

// flush resolves aliases and enrichment for the pending records, then
// applies them.
func (r *run) flush(ctx context.Context) error {
	if len(r.pending) == 0 {
		return r.flushInserts(ctx)
	}
	if unknown := r.unresolved(r.pending); len(unknown) > 0 {
		known, missing := r.in.cachedAliases(unknown)
		for a, c := range known {
			r.aliasCache[a] = c
		}
		if len(missing) > 0 {
			m, err := r.tx.Aliases(ctx, missing)
			if err != nil {
				return err
			}
			learnt := make(map[string]string, len(missing))
			for _, a := range missing {
				learnt[a] = m[a] // "" when the id has no alias
				r.aliasCache[a] = m[a]
			}
			r.learnt = append(r.learnt, learnt)
		}
	}
	var vulns []string
	for _, rec := range r.pending {
		c := r.canonical(rec)
		if _, ok := r.vulnCache[c]; !ok {
			r.vulnCache[c] = nil
			vulns = append(vulns, c)
		}
	}
	if len(vulns) > 0 {
		m, err := r.tx.Vulns(ctx, vulns)
		if err != nil {
			return err
		}
		for id, v := range m {
			r.vulnCache[id] = &v
		}
	}
	if err := r.preloadGroups(ctx); err != nil {
		return err
	}
	for _, rec := range r.pending {
		if err := r.apply(ctx, rec); err != nil {
			return err
		}
	}
	r.pending = r.pending[:0]
	if len(r.inserts) >= 500 {
		return r.flushInserts(ctx)
	}
	return nil
}

func (r *run) flushInserts(ctx context.Context) error {
	if len(r.inserts) == 0 {
		return nil
	}
	if err := r.tx.InsertFindings(ctx, r.inserts, r.importID, r.now); err != nil {
		return err
	}
	r.inserts = r.inserts[:0]
	return nil
}

// contentHash covers what the report says about a finding beyond its key.
func contentHash(f *store.NewFinding) int64 {
	h := fnv.New64a()
	for _, s := range []string{f.FixedVersion, f.Ecosystem, f.PURL, f.Location, string(f.Severity),
		strconv.FormatFloat(f.CVSS, 'g', -1, 64), f.CVSSVector, f.Title, f.URL, f.Aliases, f.VEXState, f.Justification} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return int64(h.Sum64() & math.MaxInt64)
}

func jsonList(ss []string) string {
	if len(ss) == 0 {
		return "[]"
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(s))
	}
	b.WriteByte(']')
	return b.String()
}

// vexState maps a CycloneDX analysis state to a finding state.
func vexState(s string) (patchctl.FindingState, bool) {
	switch s {
	case "not_affected", "false_positive":
		return patchctl.FindingNotAffected, true
	case "fixed", "resolved", "resolved_with_pedigree":
		return patchctl.FindingFixed, true
	case "affected", "exploitable", "under_investigation", "in_triage":
		return patchctl.FindingOpen, true
	}
	return "", false
}

func (r *run) apply(ctx context.Context, rec *importer.Record) error {
	st, err := r.asset(ctx, rec.Asset)
	if err != nil {
		return err
	}
	st.records++
	sev := rec.Severity
	if sev == "" {
		sev = patchctl.SeverityUnknown
	}
	r.sum.BySeverity[string(sev)]++
	vuln := r.canonical(rec)
	var aliases []string
	for n := range recordIDs(rec) {
		if n != vuln && !slices.Contains(aliases, n) {
			aliases = append(aliases, n)
			if r.aliasCache[n] == "" && isCVE(vuln) && n != "" {
				if r.newAliases == nil {
					r.newAliases = map[string]string{}
				}
				r.newAliases[n] = vuln
				r.aliasCache[n] = vuln
			}
		}
	}
	sort.Strings(aliases)
	pkg := packageOf(rec)
	f := store.NewFinding{
		AssetID: st.asset.ID, VulnID: textutil.Prefix(vuln, 200), Package: textutil.Prefix(pkg, 500), InstalledVersion: textutil.Prefix(rec.InstalledVersion, 200),
		FixedVersion: textutil.Prefix(rec.FixedVersion, 200), Ecosystem: rec.Ecosystem, PURL: textutil.Prefix(rec.PURL, 1000), Location: textutil.Prefix(rec.Location, 1000),
		Severity: sev, CVSS: rec.CVSS, CVSSVector: rec.CVSSVector, EPSS: rec.EPSS, KEV: rec.KEV,
		Title: textutil.Prefix(rec.Title, 300), URL: textutil.Prefix(rec.URL, 1000), Aliases: jsonList(aliases), State: patchctl.FindingOpen,
	}
	if v := r.vulnCache[vuln]; v != nil {
		f.KEV = f.KEV || v.KEV
		f.EPSS = max(f.EPSS, v.EPSS)
	}
	if rec.VEXState != "" {
		if s, ok := vexState(rec.VEXState); ok {
			f.State, f.VEXState, f.Justification = s, rec.VEXState, textutil.Prefix(rec.Justification, 500)
			r.sum.VEXApplied++
		}
	}
	if rec.Suppressed {
		f.State, f.Justification = patchctl.FindingNotAffected, "suppressed in the SARIF report"
	}
	f.Hash = contentHash(&f)
	key := store.FindingKey{VulnID: f.VulnID, Package: f.Package, Version: f.InstalledVersion}
	if _, dup := st.seen[key]; dup {
		r.sum.Duplicates++
		return nil
	}
	st.seen[key] = struct{}{}
	if f.FixedVersion == "" && f.State == patchctl.FindingOpen {
		r.sum.FindingsNoFix++
	}
	old, exists := st.existing[key]
	if !exists {
		if f.State == patchctl.FindingOpen && f.FixedVersion != "" {
			g, err := r.groupFor(ctx, st, f.Package, f.FixedVersion)
			if err != nil {
				return err
			}
			f.PatchID = g.patchID
			g.add(f.VulnID, f.Package, patchctl.Attributes{CVSS: f.CVSS, CVSSVector: f.CVSSVector, EPSS: f.EPSS, KEV: f.KEV, Severity: f.Severity}, r.now)
		}
		r.inserts = append(r.inserts, f)
		r.sum.FindingsNew++
		return nil
	}
	closedBefore := old.State == patchctl.FindingClosed || old.State == patchctl.FindingFixed
	switch {
	case closedBefore && f.State == patchctl.FindingOpen:
		r.sum.FindingsReopened++
		r.recheck = append(r.recheck, old.ID)
		return r.tx.UpdateFinding(ctx, old.ID, &f, r.now, true)
	case old.Hash != f.Hash:
		r.sum.FindingsUpdated++
		if old.PatchID == 0 {
			r.recheck = append(r.recheck, old.ID)
		}
		if f.VEXState == "" && !rec.Suppressed {
			// A plain scan does not undo a person's or a VEX statement's
			// decision about the finding: keep its state.
			f.State = old.State
		}
		return r.tx.UpdateFinding(ctx, old.ID, &f, r.now, false)
	default:
		r.sum.FindingsUnchanged++
		return nil
	}
}

// closable are the states a re-import closes when it no longer reports the
// finding.
var closable = map[patchctl.FindingState]bool{
	patchctl.FindingOpen: true, patchctl.FindingRiskAccepted: true, patchctl.FindingFalsePositive: true, patchctl.FindingNotAffected: true,
}

func (r *run) finish(ctx context.Context, meta *importer.Meta) error {
	if err := r.flushInserts(ctx); err != nil {
		return err
	}
	s := r.sum
	s.Format, s.Tool, s.ToolVersion = string(meta.Format), meta.Tool, meta.ToolVersion
	s.FindingsInReport = meta.FindingsInReport
	s.BySeverityRaw = meta.BySeverityRaw
	s.Misconfigurations, s.Secrets, s.IgnoredMatches, s.Suppressed, s.Components = meta.Misconfigurations, meta.Secrets, meta.IgnoredMatches, meta.Suppressed, meta.Components
	// Assets the report covers but lists nothing for still count: their open
	// findings are closed.
	for _, ref := range meta.Assets {
		if _, err := r.asset(ctx, ref); err != nil {
			return err
		}
	}
	if r.override != nil && len(r.order) == 0 {
		if _, err := r.asset(ctx, importer.AssetRef{Kind: r.override.Kind, Name: r.override.Name}); err != nil {
			return err
		}
	}
	// A VEX document states facts about some findings; an SBOM without
	// vulnerabilities is an inventory. Neither is a scan, so neither closes
	// what it does not mention.
	scan := !(meta.Format == importer.FormatCycloneDX && (meta.IsVEX || meta.FindingsInReport == 0))
	var assetIDs []int64
	for _, st := range r.order {
		s.Assets = append(s.Assets, st.asset.Name)
		assetIDs = append(assetIDs, st.asset.ID)
		if scan {
			var ids []int64
			for k, row := range st.existing {
				if _, ok := st.seen[k]; !ok && closable[row.State] {
					ids = append(ids, row.ID)
				}
			}
			if len(ids) > 0 {
				if err := r.tx.CloseFindings(ctx, ids, r.importID, r.now); err != nil {
					return err
				}
				s.FindingsClosed += len(ids)
				if st.records == 0 {
					s.Notes = append(s.Notes, fmt.Sprintf("the report lists no vulnerabilities for %s: its %d open finding(s) were closed", st.asset.Name, len(ids)))
				}
			}
		}
		if err := r.tx.ScannedAsset(ctx, st.asset.ID, r.importID, r.now); err != nil {
			return err
		}
	}
	if !scan {
		s.Notes = append(s.Notes, "not a scan (VEX statements or an SBOM inventory): findings it does not mention stay as they are")
	}
	switch len(s.Assets) {
	case 0:
		s.Asset = ""
		s.Assets = []string{}
	case 1:
		s.Asset = s.Assets[0]
	default:
		s.Asset = fmt.Sprintf("%d assets", len(s.Assets))
	}
	if s.FindingsNoFix > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("%d finding(s) have no fixed version yet: they are flagged, not grouped into patches", s.FindingsNoFix))
	}
	if len(r.newAliases) > 0 {
		if err := r.tx.AddAliases(ctx, r.newAliases); err != nil {
			return err
		}
	}
	return r.group(ctx, assetIDs)
}

func (g *groupState) add(vuln, pkg string, a patchctl.Attributes, first time.Time) {
	agg, ok := g.aggs[vuln]
	if !ok {
		agg = &service.VulnAggregate{VulnID: vuln, Package: pkg}
		g.aggs[vuln] = agg
		g.order = append(g.order, vuln)
	}
	agg.Merge(a, first)
}

// preloadGroups looks up, in one query, the open patches of the groups the
// pending records may fall into.
func (r *run) preloadGroups(ctx context.Context) error {
	if r.groupPatches == nil {
		r.groupPatches = map[string]int64{}
	}
	var keys []string
	seen := map[string]bool{}
	for _, rec := range r.pending {
		if rec.FixedVersion == "" {
			continue
		}
		st, err := r.asset(ctx, rec.Asset)
		if err != nil {
			return err
		}
		// Findings already stored keep their patch: only new ones need a
		// group.
		fk := r.key(rec)
		if _, ok := st.existing[fk]; ok {
			continue
		}
		key, _ := r.patchGroup(st, fk.Package, textutil.Prefix(rec.FixedVersion, 200))
		if _, ok := r.groupPatches[key]; ok || seen[key] {
			continue
		}
		if _, ok := r.groups[key]; ok {
			continue
		}
		seen[key] = true
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil
	}
	found, err := r.tx.GroupPatches(ctx, keys)
	if err != nil {
		return err
	}
	for _, k := range keys {
		r.groupPatches[k] = found[k]
	}
	return nil
}

// groupFor returns the patch group of a fixable finding: the open patch of
// its (asset group, package, fixed version), created as a draft the first
// time the group is seen, so new findings are inserted already attached.
func (r *run) groupFor(ctx context.Context, st *assetState, pkg, fix string) (*groupState, error) {
	key, grp := r.patchGroup(st, pkg, fix)
	if g, ok := r.groups[key]; ok {
		return g, nil
	}
	g := &groupState{key: key, grp: grp, pkg: pkg, fix: fix, asset: st.asset.Name, aggs: map[string]*service.VulnAggregate{}}
	if st.asset.Kind == patchctl.AssetRepository {
		g.repo = githubRepo(st.asset.Name)
	}
	pid, known := r.groupPatches[key]
	if !known {
		var err error
		if pid, err = r.tx.GroupPatch(ctx, key); err != nil {
			return nil, err
		}
	}
	if pid == 0 {
		p, err := r.in.svc.CreatePatchTx(ctx, r.tx, r.actor, r.patchFor(g))
		if err != nil {
			return nil, err
		}
		if err := r.tx.AddGroupPatch(ctx, key, p.ID); err != nil {
			return nil, err
		}
		pid, g.created = p.ID, true
	}
	g.patchID = pid
	if r.groups == nil {
		r.groups = map[string]*groupState{}
	}
	r.groups[key] = g
	r.groupOrder = append(r.groupOrder, key)
	return g, nil
}

// group attaches the findings left without an open patch (reopened after
// their patch shipped, or attached to none) to their group's patch, then
// merges what each touched group learnt into its patch's trigger links,
// once per group.
func (r *run) group(ctx context.Context, assetIDs []int64) error {
	ungrouped, err := r.tx.UngroupedByID(ctx, r.recheck)
	if err != nil {
		return err
	}
	byAsset := map[int64]*assetState{}
	for _, st := range r.order {
		byAsset[st.asset.ID] = st
	}
	attach := map[int64][]int64{}
	for _, u := range ungrouped {
		st := byAsset[u.AssetID]
		if st == nil {
			continue
		}
		g, err := r.groupFor(ctx, st, u.Package, u.FixedVersion)
		if err != nil {
			return err
		}
		g.add(u.VulnID, u.Package, patchctl.Attributes{CVSS: u.CVSS, CVSSVector: u.CVSSVector, EPSS: u.EPSS, KEV: u.KEV, Severity: u.Severity}, u.FirstSeenAt)
		attach[g.patchID] = append(attach[g.patchID], u.ID)
	}
	for pid, ids := range attach {
		if err := r.tx.SetFindingsPatch(ctx, ids, pid); err != nil {
			return err
		}
	}
	sort.Strings(r.groupOrder)
	var existing []int64
	for _, key := range r.groupOrder {
		if g := r.groups[key]; !g.created {
			existing = append(existing, g.patchID)
		}
	}
	links, err := r.in.patchLinks(ctx, r.tx, existing)
	if err != nil {
		return err
	}
	for _, key := range r.groupOrder {
		g := r.groups[key]
		aggs := make([]service.VulnAggregate, 0, len(g.order))
		for _, v := range g.order {
			aggs = append(aggs, *g.aggs[v])
		}
		// Builds of a service usually bring vulnerabilities its patch already
		// lists: nothing to merge, nothing to reclassify.
		if g.created || service.LinksNeedMerge(links[g.patchID], aggs) {
			if _, err := r.in.svc.MergeFindingLinks(ctx, r.tx, r.actor, g.patchID, aggs,
				fmt.Sprintf("import #%d attached findings of %s", r.importID, g.asset)); err != nil {
				return err
			}
		}
		if g.created {
			r.sum.PatchesCreated++
		} else {
			r.sum.PatchesUpdated++
		}
		r.sum.Patches = append(r.sum.Patches, patchctl.PatchKey(g.patchID))
	}
	return nil
}

// patchGroup returns the group key of a finding of package pkg fixed in fix
// on the asset of st, and the name of its group: the asset's group, or the
// asset itself when it has none or grouping is by asset.
func (r *run) patchGroup(st *assetState, pkg, fix string) (key, grp string) {
	grp = st.asset.Group
	if grp == "" || r.cfg.Grouping.By == "asset_package_fix" {
		grp = st.asset.Name
	}
	return groupKey(r.cfg.Grouping.By, grp, st.asset.Name, pkg, fix), grp
}

func groupKey(by, grp, asset, pkg, fix string) string {
	switch by {
	case "package_fix":
		return "pkg|" + pkg + "|" + fix
	case "asset_package_fix":
		return "asset|" + asset + "|" + pkg + "|" + fix
	}
	return "grp|" + grp + "|" + pkg + "|" + fix
}

// patchFor describes the draft patch of a group. Its trigger links are
// merged in when the import ends, from every finding the group received.
func (r *run) patchFor(g *groupState) service.CreatePatch {
	kind := patchctl.Kind(r.cfg.Grouping.Kind)
	title := fmt.Sprintf("Upgrade %s to %s in %s", g.pkg, g.fix, g.grp)
	if r.cfg.Grouping.By == "package_fix" {
		title = fmt.Sprintf("Upgrade %s to %s", g.pkg, g.fix)
	}
	in := service.CreatePatch{Title: textutil.Prefix(title, 300), Kind: kind,
		Description: fmt.Sprintf("Created by import #%d for findings of %s in %s; fixed in %s.", r.importID, g.pkg, g.grp, g.fix)}
	rule := config.AssetRule{}
	for _, ar := range r.cfg.Assets {
		if ok, _ := path.Match(ar.Match, g.asset); ok {
			rule = ar
			break
		}
	}
	in.Owner = rule.Owner
	if kind == patchctl.KindInfrastructure {
		in.Target = patchctl.Target{System: firstNonEmpty(rule.System, g.grp)}
	} else {
		in.Target = patchctl.Target{Application: firstNonEmpty(rule.Application, g.grp), Repository: firstNonEmpty(rule.Repository, g.repo)}
	}
	return in
}

// githubRepo is the owner/name of a repository asset named either so or by
// its github.com URL, so that the patch's pull requests can be matched; ""
// for anything else.
func githubRepo(name string) string {
	s := strings.TrimSuffix(strings.TrimSuffix(name, "/"), ".git")
	for _, p := range []string{"https://github.com/", "http://github.com/", "git@github.com:", "github.com/"} {
		if rest, ok := strings.CutPrefix(s, p); ok {
			s = rest
			break
		}
	}
	owner, repo, ok := strings.Cut(s, "/")
	if !ok || owner == "" || repo == "" || strings.ContainsAny(repo, "/:@ ") || strings.ContainsAny(owner, ":@ .") {
		return ""
	}
	return owner + "/" + repo
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// StartJob imports a spooled report in the background and returns once the
// import is recorded (its id is known). The file is removed when the job
// ends. Jobs outlive the request that started them; Wait lets a server stop
// after its running jobs finished.
func (in *Intake) StartJob(ctx context.Context, a patchctl.Actor, f *os.File, opts Options) (int64, error) {
	started := make(chan int64, 1)
	prev := opts.OnStart
	opts.OnStart = func(id int64) {
		if prev != nil {
			prev(id)
		}
		started <- id
	}
	done := make(chan error, 1)
	in.jobs.Add(1)
	go func() {
		defer in.jobs.Done()
		defer os.Remove(f.Name())
		defer f.Close()
		_, err := in.Import(context.WithoutCancel(ctx), a, f, opts)
		if err != nil {
			in.log.Warn("import job failed", "source", opts.Source, "err", err)
		}
		done <- err
	}()
	select {
	case id := <-started:
		return id, nil
	case err := <-done:
		return 0, err
	}
}

// Wait blocks until the running import jobs end or ctx ends.
func (in *Intake) Wait(ctx context.Context) error {
	ch := make(chan struct{})
	go func() {
		in.jobs.Wait()
		close(ch)
	}()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

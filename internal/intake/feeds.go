package intake

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/importer/formats"
	"github.com/patchctl/patchctl/internal/store"
)

// FeedSummary is what an enrichment import did.
type FeedSummary struct {
	Format string `json:"format"`
	// Version is the KEV catalog version or the EPSS score date.
	Version string `json:"version,omitempty"`
	Entries int    `json:"entries"`
	// New counts vulnerabilities newly on KEV, or whose EPSS score moved.
	New              int      `json:"new"`
	FindingsAffected int      `json:"findings_affected"`
	PatchesUpdated   int      `json:"patches_updated"`
	Escalated        []string `json:"escalated"`
	DurationMS       int64    `json:"duration_ms"`
}

// ImportKEV reads a CISA KEV catalog. A vulnerability newly on the catalog
// marks its findings and trigger links as known exploited, which
// re-classifies their patches at once (emergency under the default policy:
// on-call is paged and the priority history says why).
func (in *Intake) ImportKEV(ctx context.Context, a patchctl.Actor, r io.Reader) (*FeedSummary, error) {
	if !a.Role.Allowed(patchctl.PermImport) {
		return nil, patchctl.Errorf(patchctl.CodeForbidden, "importing feeds needs the role engineer, oncall, lead or admin")
	}
	start := time.Now()
	var entries []importer.KEVEntry
	cat, err := formats.ParseKEV(ctx, r, func(e *importer.KEVEntry) error {
		entries = append(entries, *e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sum := &FeedSummary{Format: string(importer.FormatKEV), Version: cat.CatalogVersion, Entries: len(entries), Escalated: []string{}}
	now := in.svc.Now()
	err = in.db.InTx(ctx, func(tx *store.Tx) error {
		var added []importer.KEVEntry
		for _, e := range entries {
			id := norm(e.CVE)
			v := store.VulnInfo{ID: id, KEV: true, KEVAdded: date(e.DateAdded), KEVDue: date(e.DueDate), KEVRansomware: e.KnownRansomwareCampaignUse}
			isNew, err := tx.SetKEV(ctx, v, now)
			if err != nil {
				return err
			}
			if isNew {
				added = append(added, e)
			}
		}
		sum.New = len(added)
		if len(added) == 0 {
			return in.auditFeed(ctx, tx, a, sum, now)
		}
		ids := make([]string, len(added))
		why := map[string]string{}
		for i, e := range added {
			ids[i] = norm(e.CVE)
			why[ids[i]] = fmt.Sprintf("kev: %s added to the CISA KEV catalog %s (%s %s)", ids[i], date(e.DateAdded), e.VendorProject, e.Product)
		}
		n, err := in.enrich(ctx, tx, a, ids, why, sum)
		sum.FindingsAffected = n
		if err != nil {
			return err
		}
		return in.auditFeed(ctx, tx, a, sum, now)
	})
	if err != nil {
		return nil, err
	}
	sum.DurationMS = time.Since(start).Milliseconds()
	in.log.Info("kev imported", "catalog", sum.Version, "entries", sum.Entries, "new", sum.New, "escalated", len(sum.Escalated))
	return sum, nil
}

// enrich copies enrichment to the findings of ids and re-classifies the
// patches holding them, through their findings and their direct links.
func (in *Intake) enrich(ctx context.Context, tx *store.Tx, a patchctl.Actor, ids []string, why map[string]string, sum *FeedSummary) (int, error) {
	before, err := countFindings(ctx, tx, ids)
	if err != nil {
		return 0, err
	}
	patchIDs, err := tx.EnrichFindings(ctx, ids)
	if err != nil {
		return 0, err
	}
	var reason string
	if len(patchIDs) > 0 {
		reason = reasonOf(ids, why)
	}
	seen := map[string]bool{}
	for _, pid := range patchIDs {
		p, err := tx.Patch(ctx, pid)
		if err != nil {
			return 0, err
		}
		old := p.Priority
		changed, err := in.svc.SyncFindingLinks(ctx, tx, a, pid, reason)
		if err != nil {
			return 0, err
		}
		if changed {
			sum.PatchesUpdated++
			p, err = tx.Patch(ctx, pid)
			if err != nil {
				return 0, err
			}
			if p.Priority.Rank() > old.Rank() && !seen[p.Key] {
				seen[p.Key] = true
				sum.Escalated = append(sum.Escalated, p.Key)
			}
		}
	}
	// Patches linked to a vulnerability by hand, without findings.
	if sum.Format == string(importer.FormatKEV) {
		for _, id := range ids {
			keys, err := in.svc.MarkVulnKEV(ctx, tx, a, id, why[id])
			if err != nil {
				return 0, err
			}
			for _, k := range keys {
				if !seen[k] {
					seen[k] = true
					sum.Escalated = append(sum.Escalated, k)
					sum.PatchesUpdated++
				}
			}
		}
	}
	return before, nil
}

// reasonOf is the reason given to every patch an enrichment re-classifies:
// the first three of the reasons of ids, sorted, and how many more there are.
func reasonOf(ids []string, why map[string]string) string {
	rs := make([]string, 0, len(ids))
	for _, id := range ids {
		rs = append(rs, why[id])
	}
	sort.Strings(rs)
	if len(rs) > 3 {
		rs = append(rs[:3], fmt.Sprintf("and %d more", len(rs)-3))
	}
	return strings.Join(rs, "; ")
}

func countFindings(ctx context.Context, tx *store.Tx, ids []string) (int, error) {
	n := 0
	for _, id := range ids {
		fs, _, err := tx.ListFindings(ctx, store.FindingFilter{VulnID: id, Limit: 1000})
		if err != nil {
			return 0, err
		}
		n += len(fs)
	}
	return n, nil
}

func (in *Intake) auditFeed(ctx context.Context, tx *store.Tx, a patchctl.Actor, sum *FeedSummary, now time.Time) error {
	e := &patchctl.AuditEvent{At: now, Actor: a.Name, Role: a.Role, Action: "import." + sum.Format, Subject: "feed:" + sum.Format}
	return tx.Audit(ctx, e, sum)
}

func date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format("2006-01-02")
}

// ImportEPSS reads an EPSS scores CSV. Vulnerabilities whose score moved
// update their findings and trigger links; their patches are re-classified
// (the default policy does not use EPSS, a team's may).
func (in *Intake) ImportEPSS(ctx context.Context, a patchctl.Actor, r io.Reader) (*FeedSummary, error) {
	if !a.Role.Allowed(patchctl.PermImport) {
		return nil, patchctl.Errorf(patchctl.CodeForbidden, "importing feeds needs the role engineer, oncall, lead or admin")
	}
	start := time.Now()
	now := in.svc.Now()
	sum := &FeedSummary{Format: string(importer.FormatEPSS), Escalated: []string{}}
	err := in.db.InTx(ctx, func(tx *store.Tx) error {
		var batch []store.VulnInfo
		var changed []string
		var scoreDate string
		flush := func() error {
			c, err := tx.SetEPSS(ctx, batch, now)
			changed = append(changed, c...)
			batch = batch[:0]
			return err
		}
		meta, err := formats.ParseEPSS(ctx, r, func(s *importer.EPSSScore) error {
			sum.Entries++
			batch = append(batch, store.VulnInfo{ID: norm(s.CVE), EPSS: s.EPSS, EPSSPercentile: s.Percentile, EPSSDate: scoreDate})
			if len(batch) >= 1000 {
				return flush()
			}
			return nil
		})
		if err != nil {
			return err
		}
		scoreDate = date(meta.ScoreDate)
		for i := range batch {
			batch[i].EPSSDate = scoreDate
		}
		if err := flush(); err != nil {
			return err
		}
		sum.Version, sum.New = scoreDate, len(changed)
		why := map[string]string{}
		for _, id := range changed {
			why[id] = "epss: scores of " + scoreDate + " updated"
		}
		n, err := in.enrich(ctx, tx, a, changed, why, sum)
		sum.FindingsAffected = n
		if err != nil {
			return err
		}
		return in.auditFeed(ctx, tx, a, sum, now)
	})
	if err != nil {
		return nil, err
	}
	sum.DurationMS = time.Since(start).Milliseconds()
	return sum, nil
}

// ImportOSVRecord reads one OSV advisory and records its aliases, so that
// findings reported under different ids of the same vulnerability merge:
// the canonical id is its CVE when it has one.
func (in *Intake) ImportOSVRecord(ctx context.Context, a patchctl.Actor, r io.Reader) (*FeedSummary, error) {
	if !a.Role.Allowed(patchctl.PermImport) {
		return nil, patchctl.Errorf(patchctl.CodeForbidden, "importing feeds needs the role engineer, oncall, lead or admin")
	}
	rec, err := formats.ParseOSVRecord(ctx, r)
	if err != nil {
		return nil, err
	}
	ids := []string{norm(rec.ID)}
	for _, al := range rec.Aliases {
		ids = append(ids, norm(al))
	}
	canonical := ids[0]
	for _, id := range ids {
		if isCVE(id) {
			canonical = id
			break
		}
	}
	pairs := map[string]string{}
	for _, id := range ids {
		if id != canonical {
			pairs[id] = canonical
		}
	}
	sum := &FeedSummary{Format: string(importer.FormatOSVRecord), Version: rec.ID, Entries: len(ids), Escalated: []string{}}
	now := in.svc.Now()
	err = in.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.AddAliases(ctx, pairs); err != nil {
			return err
		}
		for alias := range pairs {
			n, err := tx.MergeAlias(ctx, alias, canonical, now)
			if err != nil {
				return err
			}
			sum.FindingsAffected += n
		}
		sum.New = len(pairs)
		return in.auditFeed(ctx, tx, a, sum, now)
	})
	return sum, err
}

// FetchFeed downloads url and imports it as format (kev or epss).
func (in *Intake) FetchFeed(ctx context.Context, a patchctl.Actor, format importer.Format, url string, hc *http.Client) (*FeedSummary, error) {
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Minute}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, patchctl.FieldError("url", "%v", err)
	}
	req.Header.Set("User-Agent", "patchctl/"+patchctl.Version)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, &patchctl.Error{Code: patchctl.CodeUnavailable, Message: "cannot fetch " + url, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, patchctl.Errorf(patchctl.CodeUnavailable, "fetching %s: %s", url, resp.Status)
	}
	switch format {
	case importer.FormatKEV:
		return in.ImportKEV(ctx, a, resp.Body)
	case importer.FormatEPSS:
		return in.ImportEPSS(ctx, a, resp.Body)
	}
	return nil, patchctl.FieldError("format", "%q is not a feed (want kev or epss)", format)
}

// Feed timers: one per configured feed, rescheduled after each run.
const (
	TimerFeedKEV  = "feed.kev"
	TimerFeedEPSS = "feed.epss"
)

// ScheduleFeeds makes sure a timer exists for every configured feed URL.
func (in *Intake) ScheduleFeeds(ctx context.Context) error {
	cfg := in.svc.Config()
	now := in.svc.Now()
	return in.db.InTx(ctx, func(tx *store.Tx) error {
		for kind, url := range map[string]string{TimerFeedKEV: cfg.Feeds.KEVURL, TimerFeedEPSS: cfg.Feeds.EPSSURL} {
			existing, err := tx.Timers(ctx, kind, "feed", true, 1)
			if err != nil {
				return err
			}
			switch {
			case url == "":
				if err := tx.CancelTimer(ctx, kind, "feed"); err != nil {
					return err
				}
			case len(existing) == 0:
				if err := tx.ScheduleTimer(ctx, kind, "feed", now, map[string]string{"url": url}, now); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// FeedTimer is the scheduler's handler of feed timers: it downloads and
// imports the feed (in the import's own transaction) and asks to run again
// after the configured interval. Importing a feed twice changes nothing.
func (in *Intake) FeedTimer(hc *http.Client) func(ctx context.Context, t store.Timer) (time.Time, error) {
	return func(ctx context.Context, t store.Timer) (time.Time, error) {
		cfg := in.svc.Config()
		format, url := importer.FormatKEV, cfg.Feeds.KEVURL
		if t.Kind == TimerFeedEPSS {
			format, url = importer.FormatEPSS, cfg.Feeds.EPSSURL
		}
		if url == "" {
			return time.Time{}, nil
		}
		sum, err := in.FetchFeed(ctx, patchctl.SystemActor("feeds"), format, url, hc)
		if err != nil {
			return time.Time{}, err
		}
		in.log.Info("feed fetched", "feed", format, "url", url, "entries", sum.Entries, "new", sum.New)
		return in.svc.Now().Add(cfg.Feeds.Interval.D()), nil
	}
}

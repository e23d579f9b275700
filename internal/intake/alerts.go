package intake

import (
	"context"
	"fmt"
	"strings"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/store"
)

// Alert is one vulnerable dependency a code host reports for a repository
// (GitHub's dependabot_alert and repository_vulnerability_alert).
type Alert struct {
	Repository string // owner/name: the asset
	Source     string // delivery id, for the import record
	// Action is what happened to the alert: created, reopened,
	// reintroduced, auto_reopened; fixed, auto_fixed, resolved; dismissed,
	// auto_dismissed.
	Action          string
	GHSA, CVE       string
	Aliases         []string
	Package         string
	Ecosystem       string
	VulnerableRange string
	PatchedVersion  string
	Manifest        string
	Severity        patchctl.Severity
	SeverityRaw     string
	CVSS            float64
	CVSSVector      string
	Summary         string
	URL             string
	// DismissedReason is GitHub's reason: fix_started, inaccurate,
	// no_bandwidth, not_used, tolerable_risk.
	DismissedReason string
}

// AlertOutcome is what an alert changed.
type AlertOutcome struct {
	Summary string
	Patches []string
	Ignored bool
}

// RecordAlert applies an alert inside the caller's transaction: an open
// alert becomes (or reopens) a finding of the repository, grouped into its
// patch like any imported finding; a fixed one closes it. A dismissal
// changes the finding only when it says the finding is wrong (inaccurate →
// false positive, not used → not affected): accepting a risk is a lead's
// decision in patchctl, with an expiry, not a click on GitHub.
//
// An alert is not a scan: findings it does not name stay as they are.
func (in *Intake) RecordAlert(ctx context.Context, tx *store.Tx, a patchctl.Actor, al Alert) (*AlertOutcome, error) {
	if strings.TrimSpace(al.Repository) == "" {
		return nil, patchctl.FieldError("repository", "the alert names no repository")
	}
	vuln := al.GHSA
	if vuln == "" {
		vuln = al.CVE
	}
	if vuln == "" || al.Package == "" {
		return &AlertOutcome{Ignored: true, Summary: "alert without a vulnerability id or package: nothing to record"}, nil
	}
	now := in.svc.Now()
	im := &store.Import{Format: "github-alert", Source: al.Source, Actor: a.Name, StartedAt: now}
	if err := tx.StartImportTx(ctx, im); err != nil {
		return nil, err
	}
	cfg := in.svc.Config()
	r := &run{in: in, tx: tx, ctx: ctx, actor: a, cfg: cfg, now: now, importID: im.ID, prog: &Progress{},
		assets: map[assetKey]*assetState{}, aliasCache: map[string]string{}, vulnCache: map[string]*store.VulnInfo{},
		sum: &Summary{ImportID: im.ID, BySeverity: map[string]int{}}}
	aliases := append([]string{}, al.Aliases...)
	if al.CVE != "" && al.CVE != vuln {
		aliases = append(aliases, al.CVE)
	}
	version := al.VulnerableRange
	if version == "" {
		version = "unknown"
	}
	rec := &importer.Record{Asset: importer.AssetRef{Kind: patchctl.AssetRepository, Name: al.Repository}, VulnID: vuln, Aliases: aliases,
		Package: al.Package, Ecosystem: al.Ecosystem, InstalledVersion: version, FixedVersion: al.PatchedVersion, Location: al.Manifest,
		Severity: al.Severity, SeverityRaw: al.SeverityRaw, CVSS: al.CVSS, CVSSVector: al.CVSSVector, Title: al.Summary, URL: al.URL}
	normalize(rec)
	st, err := r.asset(ctx, rec.Asset)
	if err != nil {
		return nil, err
	}
	out := &AlertOutcome{}
	switch al.Action {
	case "fixed", "auto_fixed", "resolve", "resolved":
		if err := r.flushAliases(ctx, rec); err != nil {
			return nil, err
		}
		row, ok := st.existing[r.key(rec)]
		if !ok || row.State == patchctl.FindingClosed || row.State == patchctl.FindingFixed {
			out.Ignored, out.Summary = true, "fixed alert for a finding patchctl does not hold open"
			break
		}
		if err := tx.CloseFindings(ctx, []int64{row.ID}, im.ID, now); err != nil {
			return nil, err
		}
		out.Summary = fmt.Sprintf("finding %d (%s in %s) closed: GitHub reports it fixed", row.ID, vuln, al.Package)
	case "dismissed", "auto_dismissed", "dismiss":
		if err := r.flushAliases(ctx, rec); err != nil {
			return nil, err
		}
		row, ok := st.existing[r.key(rec)]
		state := map[string]patchctl.FindingState{"inaccurate": patchctl.FindingFalsePositive, "not_used": patchctl.FindingNotAffected}[al.DismissedReason]
		if !ok || state == "" || row.State != patchctl.FindingOpen {
			out.Ignored = true
			out.Summary = fmt.Sprintf("dismissed on GitHub (%s): the finding stays as it is; accepting a risk is a lead's decision in patchctl", orNone(al.DismissedReason))
			break
		}
		if err := tx.SetFindingState(ctx, row.ID, state, &patchctl.Acceptance{Reason: dismissedOnGitHub + al.DismissedReason, Actor: a.Name, At: now}); err != nil {
			return nil, err
		}
		out.Summary = fmt.Sprintf("finding %d (%s in %s) marked %s: dismissed on GitHub as %s", row.ID, vuln, al.Package, state, al.DismissedReason)
	default:
		reopened := false
		switch al.Action {
		case "reopened", "reintroduced", "auto_reopened":
			// Reopening on GitHub undoes a dismissal patchctl took from
			// GitHub; a person's own marking stays.
			if reopened, err = r.undoDismissal(ctx, st, rec); err != nil {
				return nil, err
			}
		}
		r.pending = append(r.pending, rec)
		if err := r.flush(ctx); err != nil {
			return nil, err
		}
		if err := r.flushInserts(ctx); err != nil {
			return nil, err
		}
		if err := r.group(ctx, nil); err != nil {
			return nil, err
		}
		if err := tx.ScannedAsset(ctx, st.asset.ID, im.ID, now); err != nil {
			return nil, err
		}
		s := r.sum
		switch {
		case reopened:
			out.Summary = fmt.Sprintf("finding reopened: %s in %s (GitHub reopened the alert it had dismissed)", vuln, al.Package)
		case s.FindingsNew > 0:
			out.Summary = fmt.Sprintf("new finding: %s in %s %s", vuln, al.Package, version)
		case s.FindingsReopened > 0:
			out.Summary = fmt.Sprintf("finding reopened: %s in %s", vuln, al.Package)
		case s.FindingsUpdated > 0:
			out.Summary = fmt.Sprintf("finding updated: %s in %s", vuln, al.Package)
		default:
			out.Ignored, out.Summary = true, fmt.Sprintf("finding already known: %s in %s", vuln, al.Package)
		}
		if al.PatchedVersion == "" {
			out.Summary += " (no patched version yet: flagged, not grouped)"
		}
		out.Patches = s.Patches
	}
	r.sum.Format, r.sum.Asset, r.sum.Assets = "github-alert", al.Repository, []string{al.Repository}
	r.sum.Notes = append(r.sum.Notes, out.Summary)
	if err := auditImport(ctx, tx, a, r.sum, im, now); err != nil {
		return nil, err
	}
	if err := tx.FinishImport(ctx, im.ID, r.sum, []int64{st.asset.ID}, 0, 1, now); err != nil {
		return nil, err
	}
	return out, nil
}

// dismissedOnGitHub prefixes the reason of a finding marking taken from a
// GitHub dismissal.
const dismissedOnGitHub = "dismissed on GitHub: "

// undoDismissal opens the finding of rec again if it was marked from a
// GitHub dismissal.
func (r *run) undoDismissal(ctx context.Context, st *assetState, rec *importer.Record) (bool, error) {
	if err := r.flushAliases(ctx, rec); err != nil {
		return false, err
	}
	row, ok := st.existing[r.key(rec)]
	if !ok || (row.State != patchctl.FindingFalsePositive && row.State != patchctl.FindingNotAffected) {
		return false, nil
	}
	f, err := r.tx.Finding(ctx, row.ID)
	if err != nil {
		return false, err
	}
	if f.Acceptance == nil || !strings.HasPrefix(f.Acceptance.Reason, dismissedOnGitHub) {
		return false, nil
	}
	if err := r.tx.SetFindingState(ctx, row.ID, patchctl.FindingOpen, nil); err != nil {
		return false, err
	}
	row.State = patchctl.FindingOpen
	return true, nil
}

func orNone(s string) string {
	if s == "" {
		return "no reason"
	}
	return s
}

// flushAliases resolves the aliases of one record (as flush does for a
// batch) so that its key can be computed.
func (r *run) flushAliases(ctx context.Context, rec *importer.Record) error {
	m, err := r.tx.Aliases(ctx, r.unresolved([]*importer.Record{rec}))
	if err != nil {
		return err
	}
	for k, v := range m {
		r.aliasCache[k] = v
	}
	return nil
}

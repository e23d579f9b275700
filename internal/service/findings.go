package service

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/store"
)

// Timer kinds for findings.
const (
	TimerAcceptanceExpiry  = "finding.acceptance_expiry"
	TopicAcceptanceExpired = "finding.acceptance_expired"
)

// VulnLink builds the trigger link of a vulnerability: a vulnerability link
// when the id has a known format, else a finding link naming it.
func VulnLink(vulnID, pkg string, attrs patchctl.Attributes, detected time.Time) patchctl.Link {
	if id, err := patchctl.NormalizeVulnID(vulnID); err == nil {
		return patchctl.Link{Type: patchctl.LinkVulnerability, Ref: id, Attributes: attrs, DetectedAt: detected}
	}
	return patchctl.Link{Type: patchctl.LinkFinding, Ref: vulnID + " in " + pkg, Attributes: attrs, DetectedAt: detected}
}

// VulnAggregate is what a set of findings says about one vulnerability of a
// patch: the worst attributes and the earliest detection.
type VulnAggregate struct {
	VulnID    string
	Package   string
	Attrs     patchctl.Attributes
	FirstSeen time.Time
}

// Merge folds a finding's attributes into the aggregate.
func (v *VulnAggregate) Merge(a patchctl.Attributes, first time.Time) {
	v.Attrs.CVSS, v.Attrs.EPSS = max(v.Attrs.CVSS, a.CVSS), max(v.Attrs.EPSS, a.EPSS)
	v.Attrs.KEV = v.Attrs.KEV || a.KEV
	if a.Severity.Rank() > v.Attrs.Severity.Rank() {
		v.Attrs.Severity = a.Severity
	}
	if v.Attrs.CVSSVector == "" {
		v.Attrs.CVSSVector = a.CVSSVector
	}
	if v.FirstSeen.IsZero() || (!first.IsZero() && first.Before(v.FirstSeen)) {
		v.FirstSeen = first
	}
}

// SyncFindingLinks makes a patch's trigger links reflect all the open
// findings attached to it and reclassifies the patch; enrichment uses it
// after KEV or EPSS changed. It reports whether the patch changed.
func (s *Service) SyncFindingLinks(ctx context.Context, tx *store.Tx, a patchctl.Actor, patchID int64, why string) (bool, error) {
	vulns, err := tx.PatchVulns(ctx, patchID)
	if err != nil {
		return false, err
	}
	aggs := make([]VulnAggregate, len(vulns))
	for i, v := range vulns {
		aggs[i] = VulnAggregate{VulnID: v.VulnID, FirstSeen: v.FirstSeen,
			Attrs: patchctl.Attributes{CVSS: v.CVSS, CVSSVector: v.CVSSVector, EPSS: v.EPSS, KEV: v.KEV, Severity: v.Severity}}
	}
	return s.MergeFindingLinks(ctx, tx, a, patchID, aggs, why)
}

// LinksNeedMerge reports whether merging aggs into links would change them,
// so that callers holding many patches' links can skip the ones that would
// not move.
func LinksNeedMerge(links []patchctl.Link, aggs []VulnAggregate) bool {
	byRef := linkIndex(links)
	for _, v := range aggs {
		want := VulnLink(v.VulnID, v.Package, v.Attrs, v.FirstSeen)
		i, ok := byRef[linkKey(want)]
		if !ok {
			return true
		}
		if _, _, moved := mergeLink(links[i], want); moved {
			return true
		}
	}
	return false
}

// linkKey identifies a trigger link among a patch's links.
func linkKey(l patchctl.Link) string { return string(l.Type) + "|" + l.Ref }

// linkIndex maps the key of each link to its index.
func linkIndex(links []patchctl.Link) map[string]int {
	byRef := make(map[string]int, len(links))
	for i := range links {
		byRef[linkKey(links[i])] = i
	}
	return byRef
}

// mergeLink folds want's attributes and detection into cur's, raising and
// moving earlier, never lowering; moved reports whether either changed.
func mergeLink(cur, want patchctl.Link) (attrs patchctl.Attributes, detected time.Time, moved bool) {
	merged := VulnAggregate{Attrs: cur.Attributes, FirstSeen: cur.DetectedAt}
	merged.Merge(want.Attributes, want.DetectedAt)
	return merged.Attrs, merged.FirstSeen, !attrsEqual(merged.Attrs, cur.Attributes) || !merged.FirstSeen.Equal(cur.DetectedAt)
}

// MergeFindingLinks merges vulnerability aggregates into a patch's trigger
// links — adding links for new vulnerabilities, raising attributes, moving
// detection earlier, never lowering anything — and reclassifies the patch
// when a link changed. The intake calls it with the aggregates of the
// findings an import attached, so its cost follows the import, not the size
// of the patch. It reports whether the patch changed.
func (s *Service) MergeFindingLinks(ctx context.Context, tx *store.Tx, a patchctl.Actor, patchID int64, aggs []VulnAggregate, why string) (bool, error) {
	p, err := tx.Patch(ctx, patchID)
	if err != nil {
		return false, err
	}
	if p.State.Terminal() {
		return false, nil
	}
	links, err := tx.Links(ctx, patchID)
	if err != nil {
		return false, err
	}
	byRef := linkIndex(links)
	now := s.Now()
	changed := false
	for _, v := range aggs {
		want := VulnLink(v.VulnID, v.Package, v.Attrs, v.FirstSeen)
		if i, ok := byRef[linkKey(want)]; ok {
			cur := &links[i]
			if attrs, detected, moved := mergeLink(*cur, want); moved {
				cur.Attributes, cur.DetectedAt = attrs, store.Micro(detected)
				if err := tx.UpdateLink(ctx, cur); err != nil {
					return false, err
				}
				changed = true
			}
			continue
		}
		l := want
		if err := prepareLink(&l, a, now); err != nil {
			return false, err
		}
		if !v.FirstSeen.IsZero() {
			l.DetectedAt = store.Micro(v.FirstSeen)
		}
		if err := tx.AddLink(ctx, patchID, &l); err != nil {
			return false, err
		}
		byRef[linkKey(l)] = len(links)
		links = append(links, l)
		changed = true
	}
	if !changed {
		return false, nil
	}
	rev := p.Revision
	if err := s.reclassify(ctx, tx, a, p, links, "", why, false); err != nil {
		return false, err
	}
	p.UpdatedAt = now
	return true, tx.UpdatePatch(ctx, p, rev)
}

func attrsEqual(a, b patchctl.Attributes) bool {
	return a.CVSS == b.CVSS && a.EPSS == b.EPSS && a.KEV == b.KEV && a.Severity == b.Severity && a.CVSSVector == b.CVSSVector && a.Exploit == b.Exploit
}

// MarkVulnKEV sets kev on every vulnerability link to id and reclassifies
// the open patches holding one; it returns their keys. The reason names the
// catalog entry.
func (s *Service) MarkVulnKEV(ctx context.Context, tx *store.Tx, a patchctl.Actor, id, why string) ([]string, error) {
	ids, err := tx.PatchesLinkedTo(ctx, patchctl.LinkVulnerability, id)
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, pid := range ids {
		p, err := tx.Patch(ctx, pid)
		if err != nil {
			return nil, err
		}
		if p.State.Terminal() {
			continue
		}
		links, err := tx.Links(ctx, pid)
		if err != nil {
			return nil, err
		}
		for i := range links {
			if links[i].Type == patchctl.LinkVulnerability && links[i].Ref == id && !links[i].Attributes.KEV {
				links[i].Attributes.KEV = true
				if err := tx.UpdateLink(ctx, &links[i]); err != nil {
					return nil, err
				}
			}
		}
		rev, old := p.Revision, p.Priority
		if err := s.reclassify(ctx, tx, a, p, links, "", why, false); err != nil {
			return nil, err
		}
		p.UpdatedAt = s.Now()
		if err := tx.UpdatePatch(ctx, p, rev); err != nil {
			return nil, err
		}
		if p.Priority != old {
			keys = append(keys, p.Key)
		}
	}
	return keys, nil
}

// FindingDetail is a finding with its history.
type FindingDetail struct {
	Finding *patchctl.Finding     `json:"finding"`
	History []patchctl.AuditEvent `json:"history"`
}

// FindingList is one page of findings.
type FindingList struct {
	Findings []*patchctl.Finding `json:"findings"`
	More     bool                `json:"more"`
	Offset   int                 `json:"offset"`
	Limit    int                 `json:"limit"`
}

// ListFindings lists findings.
func (s *Service) ListFindings(ctx context.Context, a patchctl.Actor, f store.FindingFilter) (*FindingList, error) {
	if err := authorize(a, patchctl.PermRead, "reading findings"); err != nil {
		return nil, err
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	if f.Limit > 1000 {
		return nil, patchctl.FieldError("limit", "%d is over the maximum of 1000", f.Limit)
	}
	fs, more, err := s.db.Read().ListFindings(ctx, f)
	if err != nil {
		return nil, err
	}
	return &FindingList{Findings: fs, More: more, Offset: f.Offset, Limit: f.Limit}, nil
}

// Finding shows one finding with its history.
func (s *Service) Finding(ctx context.Context, a patchctl.Actor, id int64) (*FindingDetail, error) {
	if err := authorize(a, patchctl.PermRead, "reading findings"); err != nil {
		return nil, err
	}
	f, err := s.db.Read().Finding(ctx, id)
	if err != nil {
		return nil, err
	}
	h, err := s.db.Read().AuditEvents(ctx, store.AuditFilter{Subject: findingSubject(id), Limit: 200})
	if err != nil {
		return nil, err
	}
	if h == nil {
		h = []patchctl.AuditEvent{}
	}
	return &FindingDetail{Finding: f, History: h}, nil
}

// FindingStats counts open findings.
func (s *Service) FindingStats(ctx context.Context, a patchctl.Actor) (*store.FindingStats, error) {
	if err := authorize(a, patchctl.PermRead, "reading findings"); err != nil {
		return nil, err
	}
	return s.db.FindingStats(ctx)
}

func findingSubject(id int64) string { return fmt.Sprintf("finding:%d", id) }

// AcceptanceInput accepts a finding's risk or marks it a false positive.
type AcceptanceInput struct {
	Reason string `json:"reason"`
	// ExpiresAt ends a risk acceptance; required for risk acceptance, not
	// allowed for a false positive.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// AcceptRisk accepts a finding's risk until an expiry (lead or admin). On
// expiry the finding reopens and its SLA clock resumes from the original
// detection: accepting a risk pauses nothing, it only defers the work.
func (s *Service) AcceptRisk(ctx context.Context, a patchctl.Actor, id int64, in AcceptanceInput) (*patchctl.Finding, error) {
	if err := authorize(a, patchctl.PermAcceptRisk, "accepting a risk"); err != nil {
		return nil, err
	}
	now := s.Now()
	if strings.TrimSpace(in.Reason) == "" {
		return nil, patchctl.FieldError("reason", "is required")
	}
	if in.ExpiresAt == nil {
		return nil, patchctl.FieldError("expires_at", "a risk acceptance needs an expiry")
	}
	if !in.ExpiresAt.After(now) {
		return nil, patchctl.FieldError("expires_at", "must be in the future")
	}
	if in.ExpiresAt.Sub(now) > 366*24*time.Hour {
		return nil, patchctl.FieldError("expires_at", "a risk acceptance lasts at most a year")
	}
	exp := store.Micro(*in.ExpiresAt)
	return s.setAcceptance(ctx, a, id, patchctl.FindingRiskAccepted, &patchctl.Acceptance{Reason: in.Reason, Actor: a.Name, At: now, ExpiresAt: &exp}, "finding.accept_risk")
}

// MarkFalsePositive marks a finding as a false positive (lead or admin).
func (s *Service) MarkFalsePositive(ctx context.Context, a patchctl.Actor, id int64, in AcceptanceInput) (*patchctl.Finding, error) {
	if err := authorize(a, patchctl.PermAcceptRisk, "marking a false positive"); err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.Reason) == "" {
		return nil, patchctl.FieldError("reason", "is required")
	}
	if in.ExpiresAt != nil {
		return nil, patchctl.FieldError("expires_at", "a false positive has no expiry")
	}
	return s.setAcceptance(ctx, a, id, patchctl.FindingFalsePositive, &patchctl.Acceptance{Reason: in.Reason, Actor: a.Name, At: s.Now()}, "finding.false_positive")
}

// ReopenFinding ends a risk acceptance or false-positive marking (lead or
// admin).
func (s *Service) ReopenFinding(ctx context.Context, a patchctl.Actor, id int64, reason string) (*patchctl.Finding, error) {
	if err := authorize(a, patchctl.PermAcceptRisk, "reopening a finding"); err != nil {
		return nil, err
	}
	if strings.TrimSpace(reason) == "" {
		return nil, patchctl.FieldError("reason", "is required")
	}
	return s.setAcceptance(ctx, a, id, patchctl.FindingOpen, &patchctl.Acceptance{Reason: reason, Actor: a.Name, At: s.Now()}, "finding.reopen")
}

func (s *Service) setAcceptance(ctx context.Context, a patchctl.Actor, id int64, state patchctl.FindingState, acc *patchctl.Acceptance, action string) (*patchctl.Finding, error) {
	var f *patchctl.Finding
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if f, err = tx.Finding(ctx, id); err != nil {
			return err
		}
		switch {
		case f.State == patchctl.FindingClosed || f.State == patchctl.FindingFixed:
			return patchctl.Errorf(patchctl.CodeConflict, "finding %d is %s: no longer reported", id, f.State)
		case state == patchctl.FindingOpen && f.State == patchctl.FindingOpen:
			return patchctl.Errorf(patchctl.CodeConflict, "finding %d is already open", id)
		case state != patchctl.FindingOpen && f.State != patchctl.FindingOpen:
			return patchctl.Errorf(patchctl.CodeConflict, "finding %d is %s; reopen it first", id, f.State)
		}
		stored := acc
		if state == patchctl.FindingOpen {
			stored = nil
		}
		if err := tx.SetFindingState(ctx, id, state, stored); err != nil {
			return err
		}
		subject := findingSubject(id)
		if err := tx.CancelTimer(ctx, TimerAcceptanceExpiry, subject); err != nil {
			return err
		}
		if state == patchctl.FindingRiskAccepted {
			if err := tx.ScheduleTimer(ctx, TimerAcceptanceExpiry, subject, *acc.ExpiresAt, map[string]any{"expires_at": acc.ExpiresAt}, acc.At); err != nil {
				return err
			}
		}
		data := map[string]any{"from": f.State, "to": state, "reason": acc.Reason, "vuln_id": f.VulnID, "package": f.Package, "asset": f.Asset}
		if acc.ExpiresAt != nil {
			data["expires_at"] = acc.ExpiresAt
		}
		if err := s.audit(ctx, tx, a, action, subject, acc.At, data); err != nil {
			return err
		}
		f.State = state
		f.Acceptance = stored
		return nil
	})
	return f, err
}

// HandleAcceptanceExpiry reopens a finding whose risk acceptance expired and
// announces it; its SLA clock resumes from the original detection.
func (s *Service) HandleAcceptanceExpiry(ctx context.Context, tx *store.Tx, t store.Timer) error {
	var id int64
	if _, err := fmt.Sscanf(t.Subject, "finding:%d", &id); err != nil {
		return fmt.Errorf("timer subject %q: %w", t.Subject, err)
	}
	f, err := tx.Finding(ctx, id)
	if err != nil {
		return err
	}
	now := s.Now()
	if f.State != patchctl.FindingRiskAccepted || f.Acceptance == nil || f.Acceptance.ExpiresAt == nil || f.Acceptance.ExpiresAt.After(now) {
		return nil // reopened or re-accepted meanwhile
	}
	if err := tx.SetFindingState(ctx, id, patchctl.FindingOpen, nil); err != nil {
		return err
	}
	sys := patchctl.SystemActor("scheduler")
	payload := map[string]any{"finding": id, "vuln_id": f.VulnID, "package": f.Package, "asset": f.Asset,
		"accepted_by": f.Acceptance.Actor, "reason": f.Acceptance.Reason, "expired_at": f.Acceptance.ExpiresAt, "patch": f.PatchKey}
	if _, err := tx.Enqueue(ctx, TopicAcceptanceExpired, t.Subject, payload, now); err != nil {
		return err
	}
	return s.audit(ctx, tx, sys, "finding.acceptance_expired", t.Subject, now, payload)
}

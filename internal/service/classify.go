package service

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/store"
)

// Timer kinds the service schedules and handles.
const (
	TimerSLAWarn   = "sla.warn"
	TimerSLABreach = "sla.breach"
)

// Outbox topics the service writes.
const (
	TopicPageOncall   = "page.oncall"     // an emergency patch or a breached emergency SLA
	TopicSLAWarning   = "sla.approaching" // due within warn_before
	TopicSLABreached  = "sla.breached"    // overdue
	TopicEscalated    = "priority.escalated"
	TopicRollback     = "rollback.requested" // consumed by the GitOps integration
	TopicHalted       = "rollout.halted"
	TopicAnnouncement = "window.announcement"
	TopicDegraded     = "deployment.degraded"
)

// reclassify recomputes a patch's priority and due time from its links and
// labels (unless pinned), records a priority change when either moved,
// reschedules the SLA timers, and pages on-call on escalation to emergency.
// pin, when set, pins that priority by hand. It does not write the patch
// row; the caller does, once.
func (s *Service) reclassify(ctx context.Context, tx *store.Tx, a patchctl.Actor, p *patchctl.Patch, links []patchctl.Link, pin patchctl.Priority, why string, creating bool) error {
	c, err := s.classify(a, p, links, pin, why, creating)
	if err != nil || c == nil {
		return err
	}
	return s.recordClassification(ctx, tx, a, p, c, creating)
}

// classify decides p's priority, rule, policy version, detection and due
// time, updating p in place. It returns the priority change to record, or
// nil when neither the priority nor the due time moved.
func (s *Service) classify(a patchctl.Actor, p *patchctl.Patch, links []patchctl.Link, pin patchctl.Priority, why string, creating bool) (*patchctl.PriorityChange, error) {
	pol := s.Policy()
	old, oldDue := p.Priority, p.DueAt
	if creating {
		old, oldDue = "", nil
	}
	// The SLA clock starts at the earliest detection among the triggers.
	detected := p.CreatedAt
	for _, l := range links {
		if !l.DetectedAt.IsZero() && l.DetectedAt.Before(detected) {
			detected = l.DetectedAt
		}
	}
	p.DetectedAt = detected

	dec, err := pol.ClassifyPatch(p, links)
	if err != nil {
		return nil, &patchctl.Error{Code: patchctl.CodeInternal, Message: "classification failed", Err: err}
	}
	reason := fmt.Sprintf("%s: %s", why, dec.Reason)
	switch {
	case pin != "":
		if pin.Rank() < dec.Priority.Rank() && !a.Role.Allowed(patchctl.PermOverride) {
			return nil, patchctl.Errorf(patchctl.CodeForbidden,
				"lowering the priority below the classified %s (rule %s) needs the role lead or admin", dec.Priority, dec.Rule)
		}
		p.Priority, p.PriorityRule, p.PriorityPinned = pin, "manual:"+a.Name, true
		reason = fmt.Sprintf("%s: set by hand to %s (policy says %s by rule %s)", why, pin, dec.Priority, dec.Rule)
	case p.PriorityPinned:
		// A priority set by hand stays, except that the policy may still
		// escalate it: a CVE newly on KEV must not hide behind a pin.
		if dec.Priority.Rank() <= p.Priority.Rank() {
			break
		}
		p.Priority, p.PriorityRule, p.PriorityPinned = dec.Priority, dec.Rule, false
	default:
		p.Priority, p.PriorityRule = dec.Priority, dec.Rule
	}
	p.PolicyVersion = pol.Version()
	due, dueWhy := pol.Due(p.Priority, p.Kind, p.Target, p.DetectedAt)
	due = store.Micro(due)
	p.DueAt = &due

	if old == p.Priority && oldDue != nil && oldDue.Equal(due) {
		return nil, nil
	}
	return &patchctl.PriorityChange{At: s.Now(), From: old, To: p.Priority, Rule: p.PriorityRule,
		Reason: reason + "; due " + dueWhy, PolicyVersion: p.PolicyVersion, DueAt: p.DueAt, Actor: a.Name}, nil
}

// recordClassification writes a priority change's history, audit event,
// escalation messages and SLA timers.
func (s *Service) recordClassification(ctx context.Context, tx *store.Tx, a patchctl.Actor, p *patchctl.Patch, c *patchctl.PriorityChange, creating bool) error {
	now := c.At
	if err := tx.AddPriorityChange(ctx, p.ID, c); err != nil {
		return err
	}
	if !creating {
		if err := s.audit(ctx, tx, a, "patch.priority", p.Key, now, map[string]any{
			"from": c.From, "to": p.Priority, "rule": p.PriorityRule, "reason": c.Reason, "due_at": p.DueAt, "policy_version": p.PolicyVersion,
		}); err != nil {
			return err
		}
	}
	if p.Priority.Rank() > c.From.Rank() && c.From != "" {
		if _, err := tx.Enqueue(ctx, TopicEscalated, p.Key, map[string]any{
			"patch": p.Key, "title": p.Title, "from": c.From, "to": p.Priority, "reason": c.Reason, "due_at": p.DueAt,
		}, now); err != nil {
			return err
		}
	}
	if p.Priority == patchctl.PriorityEmergency && c.From != patchctl.PriorityEmergency {
		if _, err := tx.Enqueue(ctx, TopicPageOncall, p.Key, map[string]any{
			"patch": p.Key, "title": p.Title, "priority": p.Priority, "reason": c.Reason, "due_at": p.DueAt,
			"summary": "Emergency patch " + p.Key + ": " + p.Title,
		}, now); err != nil {
			return err
		}
	}
	return s.scheduleSLA(ctx, tx, p, now)
}

// scheduleSLA (re)schedules the approaching and breached timers of an open
// patch.
func (s *Service) scheduleSLA(ctx context.Context, tx *store.Tx, p *patchctl.Patch, now time.Time) error {
	if p.DueAt == nil || p.State.Terminal() {
		return tx.CancelTimers(ctx, p.Key, "sla.")
	}
	// Warn warn_before ahead, but never earlier than three quarters into the
	// SLA: a 24h emergency SLA with a 24h warning would warn at once.
	lead := s.Config().SLA.WarnBefore.D()
	if q := p.DueAt.Sub(p.DetectedAt) / 4; q < lead {
		lead = q
	}
	warn := p.DueAt.Add(-lead)
	if err := tx.ScheduleTimer(ctx, TimerSLAWarn, p.Key, warn, map[string]any{"due_at": p.DueAt}, now); err != nil {
		return err
	}
	return tx.ScheduleTimer(ctx, TimerSLABreach, p.Key, *p.DueAt, map[string]any{"due_at": p.DueAt}, now)
}

// HandleSLATimer fires an SLA timer: it records the escalation in the outbox
// and the audit log, unless the patch closed or its due time moved since the
// timer was set (then the timer is simply finished).
func (s *Service) HandleSLATimer(ctx context.Context, tx *store.Tx, t store.Timer) error {
	id, err := resolve(t.Subject)
	if err != nil {
		return err
	}
	p, err := tx.Patch(ctx, id)
	if err != nil {
		return err
	}
	var set struct {
		DueAt time.Time `json:"due_at"`
	}
	_ = json.Unmarshal(t.Payload, &set)
	if p.State.Terminal() || p.DueAt == nil || !set.DueAt.Equal(*p.DueAt) {
		return nil // closed, or rescheduled since: a newer timer covers it
	}
	now := s.Now()
	sys := patchctl.SystemActor("scheduler")
	topic, action := TopicSLAWarning, "sla.approaching"
	if t.Kind == TimerSLABreach {
		topic, action = TopicSLABreached, "sla.breached"
	}
	payload := map[string]any{"patch": p.Key, "title": p.Title, "priority": p.Priority, "state": p.State,
		"due_at": p.DueAt, "owner": p.Owner}
	if _, err := tx.Enqueue(ctx, topic, p.Key, payload, now); err != nil {
		return err
	}
	// SOP-005: on-call is paged for emergencies and for breached SLAs.
	if t.Kind == TimerSLABreach || p.Priority == patchctl.PriorityEmergency {
		payload["summary"] = fmt.Sprintf("%s %s: %s (%s)", strings.ToUpper(string(p.Priority)), action, p.Key, p.Title)
		if _, err := tx.Enqueue(ctx, TopicPageOncall, p.Key, payload, now); err != nil {
			return err
		}
	}
	return s.audit(ctx, tx, sys, action, p.Key, now, map[string]any{"due_at": p.DueAt, "priority": p.Priority, "state": p.State})
}

// prepareLink validates and stamps a link.
func prepareLink(l *patchctl.Link, a patchctl.Actor, now time.Time) error {
	if err := patchctl.NormalizeLink(l); err != nil {
		return err
	}
	if l.DetectedAt.IsZero() || l.DetectedAt.After(now) {
		l.DetectedAt = now
	}
	l.DetectedAt = store.Micro(l.DetectedAt)
	l.AddedBy, l.AddedAt = a.Name, now
	return nil
}

// AddLink links a trigger to a patch and reclassifies it.
func (s *Service) AddLink(ctx context.Context, a patchctl.Actor, key string, l patchctl.Link) (*patchctl.Link, error) {
	if err := authorize(a, patchctl.PermWrite, "linking triggers"); err != nil {
		return nil, err
	}
	id, err := resolve(key)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	if err := prepareLink(&l, a, now); err != nil {
		return nil, err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		p, err := tx.Patch(ctx, id)
		if err != nil {
			return err
		}
		if p.State.Terminal() {
			return patchctl.Errorf(patchctl.CodeConflict, "%s is %s; link triggers to an open patch", p.Key, p.State)
		}
		rev := p.Revision
		if err := tx.AddLink(ctx, id, &l); err != nil {
			return err
		}
		links, err := tx.Links(ctx, id)
		if err != nil {
			return err
		}
		if err := s.reclassify(ctx, tx, a, p, links, "", "trigger "+l.Ref+" linked", false); err != nil {
			return err
		}
		p.UpdatedAt = now
		if err := tx.UpdatePatch(ctx, p, rev); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "patch.link", p.Key, now, map[string]any{"type": l.Type, "ref": l.Ref, "aliases": l.Aliases, "attributes": l.Attributes, "detected_at": l.DetectedAt})
	})
	if err != nil {
		return nil, err
	}
	return &l, nil
}

// RemoveLink unlinks a trigger and reclassifies the patch.
func (s *Service) RemoveLink(ctx context.Context, a patchctl.Actor, key string, linkID int64) error {
	if err := authorize(a, patchctl.PermWrite, "unlinking triggers"); err != nil {
		return err
	}
	id, err := resolve(key)
	if err != nil {
		return err
	}
	now := s.Now()
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		p, err := tx.Patch(ctx, id)
		if err != nil {
			return err
		}
		if p.State.Terminal() {
			return patchctl.Errorf(patchctl.CodeConflict, "%s is %s", p.Key, p.State)
		}
		rev := p.Revision
		l, err := tx.DeleteLink(ctx, id, linkID)
		if err != nil {
			return err
		}
		links, err := tx.Links(ctx, id)
		if err != nil {
			return err
		}
		if len(links) == 0 && p.State != patchctl.StateDraft {
			return patchctl.Errorf(patchctl.CodeConflict, "%s must stay linked to what triggered it (SOP-005); link another trigger before removing %s", p.Key, l.Ref)
		}
		if err := s.reclassify(ctx, tx, a, p, links, "", "trigger "+l.Ref+" unlinked", false); err != nil {
			return err
		}
		p.UpdatedAt = now
		if err := tx.UpdatePatch(ctx, p, rev); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "patch.unlink", p.Key, now, map[string]any{"type": l.Type, "ref": l.Ref})
	})
}

// ReclassifyPatch re-runs classification (e.g. after enrichment changed a
// trigger's attributes or the policy changed) and reports whether the
// priority or due time moved.
func (s *Service) ReclassifyPatch(ctx context.Context, tx *store.Tx, a patchctl.Actor, id int64, why string) (bool, error) {
	p, err := tx.Patch(ctx, id)
	if err != nil {
		return false, err
	}
	if p.State.Terminal() {
		return false, nil
	}
	rev, oldP, oldDue := p.Revision, p.Priority, p.DueAt
	links, err := tx.Links(ctx, id)
	if err != nil {
		return false, err
	}
	if err := s.reclassify(ctx, tx, a, p, links, "", why, false); err != nil {
		return false, err
	}
	if p.Priority == oldP && oldDue != nil && p.DueAt != nil && oldDue.Equal(*p.DueAt) {
		return false, nil
	}
	p.UpdatedAt = s.Now()
	return true, tx.UpdatePatch(ctx, p, rev)
}

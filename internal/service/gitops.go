package service

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/lifecycle"
	"github.com/patchctl/patchctl/internal/store"
)

// Automation is one unit of work of an integration (a webhook delivery, a
// GitOps timer) or of a person acting through one (opening a patch branch,
// importing a plan): everything it records commits in one transaction, is
// authorised for its actor and audited like any other change. It never
// skips a gate: it records evidence and attempts transitions, which the
// lifecycle gates may refuse.
type Automation struct {
	s     *Service
	tx    *store.Tx
	actor patchctl.Actor
}

// Automate runs fn in one transaction as actor, who must hold the write
// permission. Nothing fn recorded survives an error.
func (s *Service) Automate(ctx context.Context, a patchctl.Actor, fn func(au *Automation) error) error {
	if err := authorize(a, patchctl.PermWrite, "recording evidence"); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error { return fn(&Automation{s: s, tx: tx, actor: a}) })
}

// AutomateIn returns an Automation inside tx, the transaction of a
// scheduler timer, so that the timer's work and its completion commit
// together.
func (s *Service) AutomateIn(tx *store.Tx, a patchctl.Actor) (*Automation, error) {
	if err := authorize(a, patchctl.PermWrite, "recording evidence"); err != nil {
		return nil, err
	}
	return &Automation{s: s, tx: tx, actor: a}, nil
}

// DeliveryResult says what became of a webhook delivery.
type DeliveryResult struct {
	Delivery *store.Delivery `json:"delivery"`
	// Duplicate is set when the delivery had been recorded before: nothing
	// changed, and Delivery is the earlier record.
	Duplicate bool `json:"duplicate,omitempty"`
}

// Deliver records a verified webhook delivery and, in the same
// transaction, applies its effects through fn, which sets the delivery's
// status, patches and summary. A delivery id recorded before is a
// duplicate: fn does not run and nothing changes, unless the earlier
// attempt failed, in which case it runs again. When fn fails, its effects
// roll back and the delivery is recorded as failed with the error's
// client-safe message; the error is returned.
func (s *Service) Deliver(ctx context.Context, a patchctl.Actor, d store.Delivery,
	fn func(ctx context.Context, au *Automation, d *store.Delivery) error) (*DeliveryResult, error) {
	if err := authorize(a, patchctl.PermWrite, "recording a webhook delivery"); err != nil {
		return nil, err
	}
	// A replay is answered from the read pool without taking the write
	// lock; the unique key of the record settles concurrent deliveries of
	// one id that both get past this check.
	prev, err := s.db.Read().Delivery(ctx, d.Source, d.DeliveryID)
	switch {
	case err == nil && prev.Status != store.DeliveryFailed:
		return &DeliveryResult{Delivery: prev, Duplicate: true}, nil
	case err != nil && patchctl.ErrorCode(err) != patchctl.CodeNotFound:
		return nil, err
	}
	retry := err == nil // the earlier attempt failed: this one replaces it
	d.ReceivedAt = s.Now()
	d.ID = 0
	save := func(tx *store.Tx, d *store.Delivery) error {
		if retry {
			return tx.ReplaceFailedDelivery(ctx, d)
		}
		return tx.SaveDelivery(ctx, d)
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := fn(ctx, &Automation{s: s, tx: tx, actor: a}, &d); err != nil {
			return err
		}
		if d.Status == "" {
			d.Status = store.DeliveryProcessed
		}
		return save(tx, &d)
	})
	if err == nil {
		return &DeliveryResult{Delivery: &d}, nil
	}
	// A concurrent delivery of the same id may have been recorded first.
	if prev, perr := s.db.Read().Delivery(ctx, d.Source, d.DeliveryID); perr == nil && prev.Status != store.DeliveryFailed {
		return &DeliveryResult{Delivery: prev, Duplicate: true}, nil
	}
	s.log.Error("webhook delivery failed", "source", d.Source, "delivery", d.DeliveryID, "event", d.Event, "err", err)
	failed := d
	failed.ID, failed.Status, failed.Error = 0, store.DeliveryFailed, patchctl.ErrorMessage(err)
	if failed.Summary == "" {
		failed.Summary = "nothing recorded: applying the delivery failed"
	}
	if rerr := s.db.InTx(ctx, func(tx *store.Tx) error { return save(tx, &failed) }); rerr != nil {
		s.log.Error("recording a failed delivery failed", "source", d.Source, "delivery", d.DeliveryID, "err", rerr)
	}
	return &DeliveryResult{Delivery: &failed}, err
}

// Deliveries lists recorded webhook deliveries, newest first.
func (s *Service) Deliveries(ctx context.Context, a patchctl.Actor, f store.DeliveryFilter) ([]store.Delivery, error) {
	if err := authorize(a, patchctl.PermRead, "reading webhook deliveries"); err != nil {
		return nil, err
	}
	if f.Limit > 1000 {
		return nil, patchctl.FieldError("limit", "%d is over the maximum of 1000", f.Limit)
	}
	if f.Status != "" && !slices.Contains(store.DeliveryStatuses, f.Status) {
		return nil, patchctl.FieldError("status", "%q is not a delivery status (want %s)", f.Status, strings.Join(store.DeliveryStatuses, ", "))
	}
	return s.db.Read().Deliveries(ctx, f)
}

// Delivery returns one recorded delivery by its id.
func (s *Service) Delivery(ctx context.Context, a patchctl.Actor, id int64) (*store.Delivery, error) {
	if err := authorize(a, patchctl.PermRead, "reading webhook deliveries"); err != nil {
		return nil, err
	}
	return s.db.Read().DeliveryByID(ctx, id)
}

// Actor is who the automation acts as.
func (au *Automation) Actor() patchctl.Actor { return au.actor }

// Now is the service clock's time.
func (au *Automation) Now() time.Time { return au.s.Now() }

// Config is the configuration in force.
func (au *Automation) Config() *config.Config { return au.s.Config() }

// Tx is the transaction, for components that write their own rows in it
// (finding intake, timers of the GitOps loop).
func (au *Automation) Tx() *store.Tx { return au.tx }

// Patch reads a patch by key; on PostgreSQL its row stays locked until the
// transaction ends.
func (au *Automation) Patch(ctx context.Context, key string) (*patchctl.Patch, error) {
	id, err := resolve(key)
	if err != nil {
		return nil, err
	}
	return au.tx.Patch(ctx, id)
}

// PatchesByVersion returns the open patches that ship one of versions, or
// whose merge evidence names one, locked as Patch locks them.
func (au *Automation) PatchesByVersion(ctx context.Context, versions ...string) ([]*patchctl.Patch, error) {
	ps, err := au.tx.OpenPatchesByVersion(ctx, versions...)
	if err != nil {
		return nil, err
	}
	return au.lock(ctx, ps)
}

// lock re-reads patches found by a query, in id order, locking their rows
// on PostgreSQL: what the automation then records on them cannot race
// another transaction's change (which would fail the revision check).
func (au *Automation) lock(ctx context.Context, ps []*patchctl.Patch) ([]*patchctl.Patch, error) {
	if au.s.db.Engine() != store.Postgres {
		return ps, nil // the write transaction already holds SQLite's lock
	}
	out := make([]*patchctl.Patch, 0, len(ps))
	for _, p := range ps {
		locked, err := au.tx.Patch(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, locked)
	}
	return out, nil
}

// PatchesLinkedTo returns the open patches linked to one of the
// vulnerability ids, locked as Patch locks them.
func (au *Automation) PatchesLinkedTo(ctx context.Context, ids ...string) ([]*patchctl.Patch, error) {
	pids, err := au.tx.PatchesLinkedTo(ctx, patchctl.LinkVulnerability, ids...)
	if err != nil || len(pids) == 0 {
		return nil, err
	}
	open := true
	ps, _, err := au.tx.ListPatches(ctx, store.PatchFilter{IDs: pids, Open: &open, Sort: "created", Limit: 1000})
	if err != nil {
		return nil, err
	}
	return au.lock(ctx, ps)
}

// Patches lists patches matching f.
func (au *Automation) Patches(ctx context.Context, f store.PatchFilter) ([]*patchctl.Patch, error) {
	ps, _, err := au.tx.ListPatches(ctx, f)
	return ps, err
}

// Evidence lists a patch's evidence in the order it was recorded.
func (au *Automation) Evidence(ctx context.Context, p *patchctl.Patch) ([]patchctl.Evidence, error) {
	return au.tx.Evidence(ctx, p.ID)
}

// EvidenceByVersion lists evidence of a kind for an environment and
// version across patches, newest first.
func (au *Automation) EvidenceByVersion(ctx context.Context, kind patchctl.EvidenceKind, env, version string) ([]patchctl.Evidence, error) {
	return au.tx.EvidenceByVersion(ctx, kind, env, version, 20)
}

// Record records evidence for p, validated as for a person, unless the
// latest evidence of the same kind, ref and environment already says the
// same (version, result and subject): webhooks are redelivered and the
// reconcile loop reads what webhooks already brought. It reports whether
// it recorded; when it did not, the evidence returned is the earlier one.
// Rollback evidence (the outcome of carrying out a rollback decision) is
// recorded by automation only and needs an environment and a result.
func (au *Automation) Record(ctx context.Context, p *patchctl.Patch, e patchctl.Evidence) (*patchctl.Evidence, bool, error) {
	if e.Kind == patchctl.EvidenceRollback {
		if e.Environment == "" || e.Result == "" {
			return nil, false, patchctl.FieldError("environment", "rollback evidence needs an environment and a result")
		}
	} else if err := au.s.validateEvidence(au.actor, &e); err != nil {
		return nil, false, err
	}
	ev, err := au.tx.Evidence(ctx, p.ID)
	if err != nil {
		return nil, false, err
	}
	for i := len(ev) - 1; i >= 0; i-- {
		o := ev[i]
		if o.Kind != e.Kind || o.Ref != e.Ref || o.Environment != e.Environment {
			continue
		}
		if o.Version == e.Version && o.Result == e.Result && o.Subject == e.Subject {
			return &o, false, nil
		}
		break
	}
	if err := au.s.addEvidence(ctx, au.tx, au.actor, p, &e); err != nil {
		return nil, false, err
	}
	return &e, true, nil
}

// Advance is what an attempt to move a patch forward did.
type Advance struct {
	From patchctl.State `json:"from"`
	To   patchctl.State `json:"to"`
	// Steps are the states entered, in order.
	Steps []patchctl.State `json:"steps,omitempty"`
	// Refused is the step the gates refused, with the refusing gates; nil
	// when the patch reached the ceiling or has no step forward.
	Refused *Step `json:"refused,omitempty"`
}

// Missing summarises what the refusing gates want, for delivery summaries.
func (a *Advance) Missing() string {
	if a == nil || a.Refused == nil {
		return ""
	}
	parts := make([]string, len(a.Refused.Gates))
	for i, g := range a.Refused.Gates {
		parts[i] = g.Gate + ": " + g.Missing
	}
	return strings.Join(parts, "; ")
}

// Advance moves p forward along its SOP path one step at a time, through
// the same gates and the same transition records as Transition, while
// every gate of the next step passes and the patch has not reached
// ceiling: automation moves a patch only as far as the event it saw is
// about (a merged pull request, ceiling merged). Rollbacks, rework and
// cancellations are people's decisions and never happen here. The
// transitions carry note. The facts are read once: each step's apply keeps
// them current.
func (au *Automation) Advance(ctx context.Context, p *patchctl.Patch, ceiling patchctl.State, note string) (*Advance, error) {
	path := lifecycle.Path(p.Kind, p.Target.Downtime)
	limit := slices.Index(path, ceiling)
	res := &Advance{From: p.State, To: p.State}
	var f *lifecycle.Facts
	for limit >= 0 {
		cur := slices.Index(path, p.State)
		if cur < 0 || cur >= limit {
			break
		}
		edge, ok := lifecycle.Next(p)
		if !ok || edge.Action != lifecycle.ActionAdvance {
			break
		}
		if f == nil {
			var err error
			if f, err = au.s.facts(ctx, au.tx, p); err != nil {
				return nil, err
			}
		} else {
			f.Now = au.s.Now()
		}
		results := lifecycle.Evaluate(edge, f)
		if refusing := patchctl.Refusing(results); len(refusing) > 0 {
			res.Refused = &Step{To: edge.To, Action: edge.Action, Gates: refusing}
			break
		}
		from := p.State
		if err := au.s.apply(ctx, au.tx, au.actor, p, f, edge, note, nil, ""); err != nil {
			return nil, err
		}
		au.s.log.Info("patch transition", "patch_id", p.Key, "from", from, "to", p.State, "actor", au.actor.Name, "automatic", true)
		res.Steps = append(res.Steps, p.State)
		res.To = p.State
	}
	return res, nil
}

// RollbackPreview says what a rollback of p in env would return to: the
// last version recorded stable there before p was deployed there.
func (au *Automation) RollbackPreview(ctx context.Context, p *patchctl.Patch, env string) (*RollbackPreview, error) {
	ev, err := au.tx.Evidence(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	rp, err := au.s.rollbackPreview(ctx, au.tx, p, ev, env)
	if err != nil && patchctl.ErrorCode(err) != patchctl.CodeNotFound {
		return nil, err
	}
	return rp, nil
}

// RecordStable records a version known stable in an environment (from
// release history such as Helm's), with its audit event, unless the same
// version was already recorded for the subject and environment at the same
// time. It reports whether it recorded.
func (au *Automation) RecordStable(ctx context.Context, sv store.StableVersion, known []store.StableVersion) (*store.StableVersion, bool, error) {
	now := au.s.Now()
	if err := au.s.checkStable(&sv, now); err != nil {
		return nil, false, err
	}
	for _, k := range known {
		if k.Subject == sv.Subject && k.Environment == sv.Environment && k.Version == sv.Version && k.RecordedAt.Equal(sv.RecordedAt) {
			return &k, false, nil
		}
	}
	if err := au.s.recordStable(ctx, au.tx, au.actor, &sv, now); err != nil {
		return nil, false, err
	}
	return &sv, true, nil
}

// StableVersions lists the recorded stable versions of a subject.
func (au *Automation) StableVersions(ctx context.Context, subject string) ([]store.StableVersion, error) {
	return au.tx.StableVersions(ctx, subject, 1000)
}

// Enqueue writes an outbox message in the transaction.
func (au *Automation) Enqueue(ctx context.Context, topic, subject string, payload any) (int64, error) {
	return au.tx.Enqueue(ctx, topic, subject, payload, au.s.Now())
}

// Audit appends an audit event for the automation's actor.
func (au *Automation) Audit(ctx context.Context, action, subject string, data any) error {
	return au.s.audit(ctx, au.tx, au.actor, action, subject, au.s.Now(), data)
}

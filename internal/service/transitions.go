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

// TransitionInput asks to move a patch to another state.
type TransitionInput struct {
	// To is the target state; empty means the next state on the SOP path.
	To patchctl.State `json:"to,omitempty"`
	// Revision, when set, must be the patch's current revision: two people
	// acting on the same view of a patch cannot both succeed.
	Revision int64  `json:"revision,omitempty"`
	Note     string `json:"note,omitempty"`
	// Override pushes the transition past refusing gates; it needs the lead
	// or admin role and a written justification, and stays on the record.
	Override *OverrideInput `json:"override,omitempty"`
}

// OverrideInput justifies an override.
type OverrideInput struct {
	Justification string `json:"justification"`
}

// overrideJustification authorises an override and returns its written
// justification; without an override there is nothing to check.
func overrideJustification(a patchctl.Actor, o *OverrideInput) (string, error) {
	if o == nil {
		return "", nil
	}
	if err := authorize(a, patchctl.PermOverride, "overriding a gate"); err != nil {
		return "", err
	}
	j := strings.TrimSpace(o.Justification)
	if len(j) < 10 {
		return "", patchctl.FieldError("override.justification", "a written justification of at least 10 characters is required")
	}
	return j, nil
}

// TransitionResult says what happened.
type TransitionResult struct {
	Patch      *patchctl.Patch       `json:"patch"`
	From       patchctl.State        `json:"from"`
	To         patchctl.State        `json:"to"`
	Gates      []patchctl.GateResult `json:"gates"`
	Overridden []string              `json:"overridden,omitempty"`
}

// Transition moves a patch along its lifecycle if every gate passes, or
// past the refusing gates with an authorised override. Rollbacks go through
// Rollback, which needs more than a transition.
func (s *Service) Transition(ctx context.Context, a patchctl.Actor, key string, in TransitionInput) (*TransitionResult, error) {
	if err := authorize(a, patchctl.PermWrite, "moving a patch"); err != nil {
		return nil, err
	}
	id, err := resolve(key)
	if err != nil {
		return nil, err
	}
	justification, err := overrideJustification(a, in.Override)
	if err != nil {
		return nil, err
	}
	// The gates' facts are read before the write transaction, outside the
	// single writer's critical section; inside it the patch's revision
	// tells whether they are still current (every change of links,
	// evidence, waves or state moves it), else they are read again.
	pre, err := s.db.Read().Patch(ctx, id)
	if err != nil {
		return nil, err
	}
	preFacts, err := s.facts(ctx, s.db.Read(), pre)
	if err != nil {
		return nil, err
	}
	var res *TransitionResult
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		p, err := tx.Patch(ctx, id)
		if err != nil {
			return err
		}
		if in.Revision != 0 && in.Revision != p.Revision {
			return staleRevision(p, in.Revision)
		}
		var edge lifecycle.Edge
		if in.To == "" {
			e, ok := lifecycle.Next(p)
			if !ok {
				return patchctl.Errorf(patchctl.CodeConflict, "%s is %s: there is no next step", p.Key, p.State)
			}
			edge = e
		} else if edge, err = lifecycle.Find(p, in.To); err != nil {
			return err
		}
		switch edge.Action {
		case lifecycle.ActionRollback:
			return patchctl.FieldError("to", "a rollback is decided with the rollback operation (severity and reason required)")
		case lifecycle.ActionRebook:
			return patchctl.FieldError("to", "book a new window instead: the patch returns to scheduled by itself")
		case lifecycle.ActionAbort:
			return patchctl.FieldError("to", "abort a rollout with the halt decision 'abort'")
		case lifecycle.ActionCancel:
			if strings.TrimSpace(in.Note) == "" {
				return patchctl.FieldError("note", "cancelling a patch needs a reason")
			}
		}
		f := preFacts
		if p.Revision != pre.Revision {
			if f, err = s.facts(ctx, tx, p); err != nil {
				return err
			}
		}
		f.Patch, f.Now = p, s.Now()
		results := lifecycle.Evaluate(edge, f)
		refusing := patchctl.Refusing(results)
		res = &TransitionResult{From: p.State, To: edge.To, Gates: results}
		if len(refusing) > 0 {
			if in.Override == nil {
				return lifecycle.GateRefusal(p, edge.To, refusing)
			}
			for _, r := range refusing {
				res.Overridden = append(res.Overridden, r.Gate)
			}
		}
		if err := s.apply(ctx, tx, a, p, f, edge, in.Note, res.Overridden, justification); err != nil {
			return err
		}
		res.Patch = p
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("patch transition", "patch_id", res.Patch.Key, "from", res.From, "to", res.To, "actor", a.Name, "override", len(res.Overridden) > 0)
	return res, nil
}

// apply performs an allowed transition and its side effects in tx, and
// brings f up to date with what it changed (the patch is f.Patch; the state
// entered and a new rollout plan), so that Advance evaluates the next step
// without reading the facts again.
func (s *Service) apply(ctx context.Context, tx *store.Tx, a patchctl.Actor, p *patchctl.Patch, f *lifecycle.Facts,
	edge lifecycle.Edge, note string, overridden []string, justification string) error {
	now := s.Now()
	rev := p.Revision
	from := p.State
	p.State = edge.To
	p.UpdatedAt = now
	cfg := s.Config()

	switch edge.To {
	case patchctl.StateMerged:
		// The merged version is what must then be deployed and validated.
		for i := len(f.Evidence) - 1; i >= 0; i-- {
			if e := f.Evidence[i]; patchctl.IsPatchMerge(e) {
				p.Version = e.Version
				break
			}
		}
	case patchctl.StateInReview:
		for _, e := range f.Evidence {
			if e.Kind == patchctl.EvidenceBranch && patchctl.BranchBelongsTo(e.Ref, p.Key) {
				p.Branch = e.Ref
			} else if e.Kind == patchctl.EvidencePullRequest && patchctl.BranchBelongsTo(e.Details["branch"], p.Key) && p.Branch == "" {
				p.Branch = e.Details["branch"]
			}
		}
	case patchctl.StatePlanned:
		waves, err := lifecycle.PlanWaves(cfg, p.Target)
		if err != nil {
			return err
		}
		if err := tx.ReplaceWaves(ctx, p.ID, waves); err != nil {
			return err
		}
		f.Waves = waves
	case patchctl.StateSoaking:
		// The soak starts when the last management wave completed (or now,
		// if an override moved on before any did).
		start := now
		var latest time.Time
		for _, w := range f.Waves {
			if w.Phase == patchctl.PhaseManagement && w.CompletedAt != nil && w.CompletedAt.After(latest) {
				latest = *w.CompletedAt
			}
		}
		if !latest.IsZero() {
			start = latest
		}
		p.SoakStartedAt = &start
	case patchctl.StateValidated:
		subject := subjectOf(p)
		for _, env := range p.Target.Environments {
			if p.Version == "" {
				break // an override past every gate: nothing known to be stable
			}
			if e, ok := cfg.Environment(env); ok && !e.Production {
				if err := tx.RecordStable(ctx, &store.StableVersion{Subject: subject, Environment: env, Version: p.Version,
					Source: "validated", Actor: a.Name, RecordedAt: now}, p.ID); err != nil {
					return err
				}
			}
		}
	case patchctl.StateDone:
		if p.Kind != patchctl.KindKubernetes && p.Version != "" {
			if err := tx.RecordStable(ctx, &store.StableVersion{Subject: subjectOf(p), Environment: cfg.ProductionEnvironment(), Version: p.Version,
				Source: "released", Actor: a.Name, RecordedAt: now}, p.ID); err != nil {
				return err
			}
		}
	case patchctl.StateInProgress:
		if from == patchctl.StateRolledBack {
			p.Halt = nil
		}
	}
	if p.State.Terminal() {
		p.ClosedAt = &now
		p.Halt = nil
	}
	if err := tx.UpdatePatch(ctx, p, rev); err != nil {
		return err
	}
	t := &patchctl.Transition{From: from, To: edge.To, Action: edge.Action, Actor: a.Name, Note: note, Override: len(overridden) > 0, At: now}
	if err := tx.AddTransition(ctx, p.ID, t); err != nil {
		return err
	}
	f.EnteredAt[edge.To] = now
	data := map[string]any{"from": from, "to": edge.To, "action": edge.Action, "revision": p.Revision}
	if note != "" {
		data["note"] = note
	}
	if len(overridden) > 0 {
		o := &patchctl.Override{From: from, To: edge.To, Action: edge.Action, Gates: overridden, Justification: justification,
			Actor: a.Name, Role: a.Role, At: now}
		if err := tx.AddOverride(ctx, p.ID, o); err != nil {
			return err
		}
		data["override"] = map[string]any{"gates": overridden, "justification": justification}
	}
	if err := s.audit(ctx, tx, a, "patch.transition", p.Key, now, data); err != nil {
		return err
	}
	if p.State.Terminal() {
		return tx.CancelTimers(ctx, p.Key, "sla.")
	}
	return nil
}

func subjectOf(p *patchctl.Patch) string {
	if p.Kind == patchctl.KindInfrastructure {
		return p.Target.System
	}
	return p.Target.Application
}

// RollbackInput is a rollback decision.
type RollbackInput struct {
	// Environment to roll back; default: the furthest environment the patch
	// was deployed to.
	Environment string `json:"environment,omitempty"`
	// Severity of the issue: sev1 (critical) to sev4 (minor).
	Severity string `json:"severity"`
	Reason   string `json:"reason"`
	// Version names the version to return to when patchctl knows no previous
	// stable version; it is recorded as named by the decider.
	Version  string `json:"version,omitempty"`
	Revision int64  `json:"revision,omitempty"`
}

// Severities of a rollback decision.
var RollbackSeverities = []string{"sev1", "sev2", "sev3", "sev4"}

// RollbackResult says what was decided.
type RollbackResult struct {
	Patch       *patchctl.Patch    `json:"patch"`
	Environment string             `json:"environment"`
	FromVersion string             `json:"from_version"`
	ToVersion   string             `json:"to_version"`
	Evidence    *patchctl.Evidence `json:"evidence"`
}

// Rollback records a rollback decision: only the on-call engineer or a team
// lead may decide it (SOP-005); it returns the environment to the previous
// stable version, the last version validated there before this patch. The
// redeploy itself is requested through the outbox (rollback.requested),
// which the GitOps integration carries out.
func (s *Service) Rollback(ctx context.Context, a patchctl.Actor, key string, in RollbackInput) (*RollbackResult, error) {
	if err := authorize(a, patchctl.PermRollback, "deciding a rollback"); err != nil {
		return nil, err
	}
	if err := person(a, "a rollback"); err != nil {
		return nil, err
	}
	if !slices.Contains(RollbackSeverities, in.Severity) {
		return nil, patchctl.FieldError("severity", "%q is not a severity (want sev1, sev2, sev3 or sev4)", in.Severity)
	}
	if strings.TrimSpace(in.Reason) == "" {
		return nil, patchctl.FieldError("reason", "is required: say what went wrong")
	}
	id, err := resolve(key)
	if err != nil {
		return nil, err
	}
	var res *RollbackResult
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		p, err := tx.Patch(ctx, id)
		if err != nil {
			return err
		}
		if in.Revision != 0 && in.Revision != p.Revision {
			return staleRevision(p, in.Revision)
		}
		edge, err := lifecycle.Find(p, patchctl.StateRolledBack)
		if err != nil {
			return err
		}
		f, err := s.facts(ctx, tx, p)
		if err != nil {
			return err
		}
		cfg := s.Config()
		env := in.Environment
		if env == "" {
			env = rollbackEnv(cfg, p, f.Evidence)
		} else if !slices.Contains(p.Target.Environments, env) {
			return patchctl.FieldError("environment", "%q is not an environment of %s (%s)", env, p.Key, strings.Join(p.Target.Environments, ", "))
		}
		source := "previous stable"
		to := ""
		prev, err := s.previousStable(ctx, tx, p, f.Evidence, env)
		switch {
		case err == nil:
			to = prev.Version
			if prev.PatchKey != "" {
				source = "previous stable (validated by " + prev.PatchKey + ")"
			}
		case patchctl.ErrorCode(err) != patchctl.CodeNotFound:
			return err
		case in.Version != "":
			to, source = in.Version, "named by "+a.Name
		}
		if in.Version != "" && to != in.Version {
			return patchctl.FieldError("version", "the previous stable version in %s is %s, not %s", env, to, in.Version)
		}
		if to != "" {
			f.PreviousStable = map[string]string{env: to}
		}
		if refusing := patchctl.Refusing(lifecycle.Evaluate(edge, f)); len(refusing) > 0 {
			return lifecycle.GateRefusal(p, edge.To, refusing)
		}
		now := s.Now()
		ev := &patchctl.Evidence{Kind: patchctl.EvidenceRollback, Environment: env, Version: to, Subject: a.Name, Source: "decision",
			Result: in.Severity, Ref: p.Key + "/" + env,
			Details: map[string]string{"severity": in.Severity, "reason": in.Reason, "from_version": p.Version,
				"to_version": to, "decided_by": a.Name, "role": string(a.Role), "version_source": source}}
		if err := s.addEvidence(ctx, tx, a, p, ev); err != nil {
			return err
		}
		if err := s.apply(ctx, tx, a, p, f, edge, in.Severity+": "+in.Reason, nil, ""); err != nil {
			return err
		}
		if _, err := tx.Enqueue(ctx, TopicRollback, p.Key, map[string]any{
			"patch": p.Key, "kind": p.Kind, "subject": subjectOf(p), "environment": env, "from_version": ev.Details["from_version"],
			"to_version": to, "severity": in.Severity, "reason": in.Reason, "decided_by": a.Name,
		}, now); err != nil {
			return err
		}
		res = &RollbackResult{Patch: p, Environment: env, FromVersion: ev.Details["from_version"], ToVersion: to, Evidence: ev}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Warn("rollback decided", "patch_id", res.Patch.Key, "environment", res.Environment, "to_version", res.ToVersion, "actor", a.Name)
	return res, nil
}

// rollbackEnv is the environment a rollback applies to by default: where
// the patch's state says it runs (production once it reached production,
// otherwise the furthest non-production environment it was deployed to).
func rollbackEnv(cfg *config.Config, p *patchctl.Patch, ev []patchctl.Evidence) string {
	switch p.State {
	case patchctl.StateProduction, patchctl.StateUpgrading, patchctl.StateVerified, patchctl.StateResumed:
		return cfg.ProductionEnvironment()
	}
	best, bestIdx := "", -1
	for _, e := range ev {
		if e.Kind != patchctl.EvidenceDeployment || e.Result == patchctl.ResultFailed {
			continue
		}
		for i, env := range cfg.Environments {
			if env.Name == e.Environment && !env.Production && i > bestIdx {
				best, bestIdx = env.Name, i
			}
		}
	}
	if best == "" && len(p.Target.Environments) > 0 {
		return p.Target.Environments[0]
	}
	return best
}

// previousStable finds the version a rollback in env returns to: the last
// version recorded stable there before this patch first deployed there.
func (s *Service) previousStable(ctx context.Context, r querier, p *patchctl.Patch, ev []patchctl.Evidence, env string) (*store.StableVersion, error) {
	before := s.Now().Add(time.Microsecond)
	for _, e := range ev {
		if e.Kind == patchctl.EvidenceDeployment && e.Environment == env && e.At.Before(before) {
			before = e.At
		}
	}
	return r.PreviousStable(ctx, subjectOf(p), env, before, p.ID, p.Version)
}

// rollbackPreview says what a rollback of p in env would return to. It
// returns the preview, marked unknown, with previousStable's error.
func (s *Service) rollbackPreview(ctx context.Context, r querier, p *patchctl.Patch, ev []patchctl.Evidence, env string) (*RollbackPreview, error) {
	rp := &RollbackPreview{Environment: env, FromVersion: p.Version}
	prev, err := s.previousStable(ctx, r, p, ev, env)
	if err != nil {
		return rp, err
	}
	rp.ToVersion, rp.Known, rp.Patch = prev.Version, true, prev.PatchKey
	return rp, nil
}

// checkStable validates a stable version to record and settles its time:
// now when unset or in the future, at the store's precision.
func (s *Service) checkStable(sv *store.StableVersion, now time.Time) error {
	if sv.Subject == "" {
		return patchctl.FieldError("subject", "is required (an application or system)")
	}
	if _, ok := s.Config().Environment(sv.Environment); !ok {
		return patchctl.FieldError("environment", "%q is not a configured environment", sv.Environment)
	}
	if strings.TrimSpace(sv.Version) == "" {
		return patchctl.FieldError("version", "is required")
	}
	if sv.RecordedAt.IsZero() || sv.RecordedAt.After(now) {
		sv.RecordedAt = now
	}
	sv.RecordedAt = store.Micro(sv.RecordedAt)
	return nil
}

// RecordStable records a known-good version of an application or system in
// an environment, e.g. the baseline before patchctl was adopted, or a
// release seen in Helm history.
func (s *Service) RecordStable(ctx context.Context, a patchctl.Actor, sv store.StableVersion) (*store.StableVersion, error) {
	if err := authorize(a, patchctl.PermWrite, "recording a stable version"); err != nil {
		return nil, err
	}
	now := s.Now()
	if err := s.checkStable(&sv, now); err != nil {
		return nil, err
	}
	if sv.Source == "" {
		sv.Source = "manual"
	}
	if err := s.db.InTx(ctx, func(tx *store.Tx) error { return s.recordStable(ctx, tx, a, &sv, now) }); err != nil {
		return nil, err
	}
	return &sv, nil
}

// recordStable records a checked stable version as the actor's, with its
// audit event, in tx.
func (s *Service) recordStable(ctx context.Context, tx *store.Tx, a patchctl.Actor, sv *store.StableVersion, now time.Time) error {
	sv.Actor = a.Name
	if err := tx.RecordStable(ctx, sv, 0); err != nil {
		return err
	}
	return s.audit(ctx, tx, a, "release.record", "release:"+sv.Subject+"/"+sv.Environment, now, *sv)
}

// StableVersions lists the known stable versions of a subject.
func (s *Service) StableVersions(ctx context.Context, a patchctl.Actor, subject string) ([]store.StableVersion, error) {
	if err := authorize(a, patchctl.PermRead, "reading releases"); err != nil {
		return nil, err
	}
	return s.db.Read().StableVersions(ctx, subject, 100)
}

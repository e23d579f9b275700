package service

import (
	"context"
	"strings"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/store"
)

// validateEvidence checks the fields each kind of evidence needs.
func (s *Service) validateEvidence(a patchctl.Actor, e *patchctl.Evidence) error {
	if !e.Kind.Valid() {
		return patchctl.FieldError("kind", "%q is not an evidence kind", e.Kind)
	}
	need := func(field, v string) error {
		if strings.TrimSpace(v) == "" {
			return patchctl.FieldError(field, "is required for %s evidence", e.Kind)
		}
		return nil
	}
	env := func() error {
		if err := need("environment", e.Environment); err != nil {
			return err
		}
		if _, ok := s.Config().Environment(e.Environment); !ok {
			return patchctl.FieldError("environment", "%q is not a configured environment", e.Environment)
		}
		return nil
	}
	result := func(allowed ...string) error {
		for _, r := range allowed {
			if e.Result == r {
				return nil
			}
		}
		return patchctl.FieldError("result", "%q is not a result of %s evidence (want %s)", e.Result, e.Kind, strings.Join(allowed, ", "))
	}
	var errs []error
	switch e.Kind {
	case patchctl.EvidenceBranch:
		errs = append(errs, need("ref", e.Ref))
	case patchctl.EvidencePullRequest:
		errs = append(errs, need("ref", e.Ref), need("subject", e.Subject))
		if e.Result == "" {
			e.Result = "open"
		}
		errs = append(errs, result("open", "closed", "merged", "draft"))
	case patchctl.EvidenceReview:
		errs = append(errs, need("subject", e.Subject),
			result(patchctl.ResultApproved, patchctl.ResultChangesRequested, patchctl.ResultCommented, patchctl.ResultDismissed))
	case patchctl.EvidenceMerge:
		errs = append(errs, need("version", e.Version))
	case patchctl.EvidenceTestRun:
		errs = append(errs, env(), need("version", e.Version), result(patchctl.ResultPassed, patchctl.ResultFailed))
	case patchctl.EvidenceDeployment:
		if e.Result == "" {
			e.Result = patchctl.ResultPassed
		}
		errs = append(errs, env(), need("version", e.Version), result(patchctl.ResultPassed, patchctl.ResultFailed))
	case patchctl.EvidenceSignoff:
		// A sign-off is a person's manual validation, never automation's.
		if err := person(a, "a manual validation sign-off"); err != nil {
			return err
		}
		if e.Result == "" {
			e.Result = patchctl.ResultPassed
		}
		errs = append(errs, env(), need("version", e.Version), result(patchctl.ResultPassed, patchctl.ResultFailed))
		e.Subject = a.Name
	case patchctl.EvidenceHealthCheck:
		errs = append(errs, need("ref", e.Ref), result(patchctl.ResultPassed, patchctl.ResultFailed))
	case patchctl.EvidenceWaveUpgrade:
		if e.Result == "" {
			e.Result = patchctl.ResultPassed
		}
		errs = append(errs, need("subject", e.Subject), need("version", e.Version), result(patchctl.ResultPassed, patchctl.ResultFailed))
	case patchctl.EvidenceBackup:
		if e.Result == "" {
			e.Result = patchctl.ResultPassed
		}
		errs = append(errs, need("ref", e.Ref), result(patchctl.ResultPassed, patchctl.ResultFailed))
	case patchctl.EvidenceAnnouncement:
		errs = append(errs, need("ref", e.Ref))
	case patchctl.EvidenceTerraformPlan, patchctl.EvidenceTerraformApply:
		errs = append(errs, need("ref", e.Ref))
	case patchctl.EvidenceNote:
		if e.Details["text"] == "" && e.Ref == "" {
			return patchctl.FieldError("details.text", "a note needs text")
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if len(e.Ref) > 2000 || len(e.Version) > 200 || len(e.Subject) > 300 {
		return patchctl.FieldError("ref", "is too long")
	}
	return nil
}

// AddEvidence records evidence for a patch. A failed health check during a
// rollout halts it: nothing moves forward until a person decides.
func (s *Service) AddEvidence(ctx context.Context, a patchctl.Actor, key string, e patchctl.Evidence) (*patchctl.Evidence, error) {
	if err := authorize(a, patchctl.PermWrite, "recording evidence"); err != nil {
		return nil, err
	}
	id, err := resolve(key)
	if err != nil {
		return nil, err
	}
	if err := s.validateEvidence(a, &e); err != nil {
		return nil, err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		p, err := tx.Patch(ctx, id)
		if err != nil {
			return err
		}
		return s.addEvidence(ctx, tx, a, p, &e)
	})
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// addEvidence writes evidence inside tx and applies its consequences.
func (s *Service) addEvidence(ctx context.Context, tx *store.Tx, a patchctl.Actor, p *patchctl.Patch, e *patchctl.Evidence) error {
	t := s.Now()
	if p.State.Terminal() {
		return patchctl.Errorf(patchctl.CodeConflict, "%s is %s; evidence goes to open patches", p.Key, p.State)
	}
	if e.At.IsZero() || e.At.After(t) {
		e.At = t
	}
	e.RecordedAt = t
	e.Actor = a.Name
	if e.Source == "" {
		e.Source = "manual"
	}
	if err := tx.AddEvidence(ctx, p.ID, e); err != nil {
		return err
	}
	// Evidence changes what the gates see: the revision moves with it.
	if err := tx.TouchPatch(ctx, p, t); err != nil {
		return err
	}
	if err := s.audit(ctx, tx, a, "patch.evidence", p.Key, t, e); err != nil {
		return err
	}
	if e.Kind == patchctl.EvidenceHealthCheck && e.Result == patchctl.ResultFailed && rollingOut(p) && p.Halt == nil {
		rev := p.Revision
		p.Halt = &patchctl.Halt{Reason: "health check " + e.Ref + " failed", By: a.Name, At: t}
		p.UpdatedAt = t
		if err := tx.UpdatePatch(ctx, p, rev); err != nil {
			return err
		}
		return s.halted(ctx, tx, a, p, t)
	}
	return nil
}

// rollingOut reports whether a failed health check halts the patch now.
func rollingOut(p *patchctl.Patch) bool {
	switch p.State {
	case patchctl.StateUpgradingManagement, patchctl.StateSoaking, patchctl.StateUpgradingMain,
		patchctl.StateStaging, patchctl.StateValidated, patchctl.StateUpgrading:
		return true
	}
	return false
}

package service_test

import (
	"slices"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/service"
)

// TestAdvanceSeesEachStepItEnters lets automation advance a patch whose
// evidence was all recorded up front: it walks every step the evidence
// allows in one call, and each step's gates see the states entered by the
// steps before it (a production deployment recorded before the patch was
// validated does not count).
func TestAdvanceSeesEachStepItEnters(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		in := appPatch()
		in.Links = []patchctl.Link{cve("CVE-2024-9143", 5.0)}
		p := f.create(alice, in)
		key := p.Key
		branch := patchctl.BranchName(key, p.Title)
		const v = "9f2c1e7"
		pr := "https://github.com/acme/payments/pull/7"
		for _, e := range []struct {
			a patchctl.Actor
			e patchctl.Evidence
		}{
			{alice, patchctl.Evidence{Kind: patchctl.EvidenceBranch, Ref: branch}},
			{alice, patchctl.Evidence{Kind: patchctl.EvidencePullRequest, Ref: pr, Subject: "alice", Details: map[string]string{"branch": branch}}},
			{bob, patchctl.Evidence{Kind: patchctl.EvidenceReview, Subject: "bob", Result: patchctl.ResultApproved}},
			{github, patchctl.Evidence{Kind: patchctl.EvidenceMerge, Ref: pr, Version: v, Source: "github"}},
			{github, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "staging", Version: v, Source: "argocd"}},
			{github, patchctl.Evidence{Kind: patchctl.EvidenceTestRun, Environment: "staging", Version: v, Result: patchctl.ResultPassed, Ref: "run/1"}},
			{bob, patchctl.Evidence{Kind: patchctl.EvidenceSignoff, Environment: "staging", Version: v}},
			{github, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "production", Version: v, Source: "argocd"}},
		} {
			f.evidence(e.a, key, e.e)
		}
		f.clock.Advance(time.Minute)

		var adv *service.Advance
		f.must(f.svc.Automate(f.ctx, github, func(au *service.Automation) error {
			p, err := au.Patch(f.ctx, key)
			if err != nil {
				return err
			}
			adv, err = au.Advance(f.ctx, p, patchctl.StateDone, "test")
			return err
		}))
		want := []patchctl.State{patchctl.StateInProgress, patchctl.StateInReview, patchctl.StateMerged,
			patchctl.StateStaging, patchctl.StateValidated}
		if !slices.Equal(adv.Steps, want) || adv.To != patchctl.StateValidated {
			t.Fatalf("advanced through %v to %s, want %v", adv.Steps, adv.To, want)
		}
		if adv.Refused == nil || adv.Refused.To != patchctl.StateProduction {
			t.Fatalf("refused = %+v, want the step to production", adv.Refused)
		}
		var gates []string
		for _, g := range adv.Refused.Gates {
			gates = append(gates, g.Gate)
		}
		if !slices.Equal(gates, []string{"deployed_to_production"}) {
			t.Fatalf("refused by %v, want deployed_to_production (%s)", gates, adv.Missing())
		}

		got := f.state(key)
		if got.State != patchctl.StateValidated || got.Branch != branch || got.Version != v {
			t.Fatalf("patch after advance: %s branch %q version %q", got.State, got.Branch, got.Version)
		}
		d, err := f.svc.Patch(f.ctx, viola, key)
		f.must(err)
		var entered []patchctl.State
		for _, tr := range d.Transitions[1:] { // after "create"
			entered = append(entered, tr.To)
		}
		if !slices.Equal(entered, want) {
			t.Fatalf("transitions recorded %v, want %v", entered, want)
		}

		// A deployment after the validation lets it go on.
		f.clock.Advance(time.Minute)
		f.evidence(github, key, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "production", Version: v, Source: "argocd"})
		f.must(f.svc.Automate(f.ctx, github, func(au *service.Automation) error {
			p, err := au.Patch(f.ctx, key)
			if err != nil {
				return err
			}
			adv, err = au.Advance(f.ctx, p, patchctl.StateDone, "test")
			return err
		}))
		if !slices.Equal(adv.Steps, []patchctl.State{patchctl.StateProduction, patchctl.StateDone}) || adv.Refused != nil {
			t.Fatalf("second advance: %v refused %+v", adv.Steps, adv.Refused)
		}
		f.verifyAudit()
	})
}

package service_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

func appPatch() service.CreatePatch {
	return service.CreatePatch{
		Title: "Upgrade openssl in payments", Kind: patchctl.KindApplication,
		Target: patchctl.Target{Application: "payments"}, Owner: "alice",
	}
}

func cve(id string, cvss float64) patchctl.Link {
	return patchctl.Link{Type: patchctl.LinkVulnerability, Ref: id, Attributes: patchctl.Attributes{CVSS: cvss}}
}

// TestApplicationPath walks an application patch from draft to production,
// trying to skip every gate on the way, then rolls it back.
func TestApplicationPath(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.create(alice, appPatch())
		key := p.Key
		if p.State != patchctl.StateDraft || p.Priority != patchctl.PriorityRoutine {
			t.Fatalf("new patch: %s %s", p.State, p.Priority)
		}
		if got := strings.Join(p.Target.Environments, ","); got != "staging,production" {
			t.Errorf("default environments = %s", got)
		}

		// has_trigger: a patch with no trigger cannot leave draft.
		f.refused(alice, key, "has_trigger")
		_, err := f.svc.AddLink(f.ctx, alice, key, cve("CVE-2024-9143", 9.8))
		f.must(err)
		p = f.state(key)
		if p.Priority != patchctl.PriorityEmergency || !p.DueAt.Equal(start.Add(24*time.Hour)) {
			t.Fatalf("after linking a CVSS 9.8 CVE: %s due %v; want emergency due in 24h", p.Priority, p.DueAt)
		}
		f.advance(alice, key, patchctl.StateInProgress)

		// dedicated_branch and pull_request_open.
		f.refused(alice, key, "dedicated_branch", "pull_request_open")
		f.evidence(alice, key, patchctl.Evidence{Kind: patchctl.EvidenceBranch, Ref: "feature/openssl"})
		f.refused(alice, key, "dedicated_branch", "pull_request_open")
		f.evidence(alice, key, patchctl.Evidence{Kind: patchctl.EvidenceBranch, Ref: "patch/PATCH-12-other-patch"})
		f.refused(alice, key, "dedicated_branch", "pull_request_open")
		branch := patchctl.BranchName(key, p.Title)
		f.evidence(alice, key, patchctl.Evidence{Kind: patchctl.EvidenceBranch, Ref: branch})
		f.refused(alice, key, "pull_request_open")
		pr := patchctl.Evidence{Kind: patchctl.EvidencePullRequest, Ref: "https://github.com/acme/payments/pull/7",
			Subject: "alice", Details: map[string]string{"branch": branch, "number": "7"}}
		f.evidence(alice, key, pr)
		f.advance(alice, key, patchctl.StateInReview)
		if got := f.state(key).Branch; got != branch {
			t.Errorf("branch = %q, want %q", got, branch)
		}

		// review_by_other and merged_via_pr.
		f.refused(alice, key, "review_by_other", "merged_via_pr")
		f.evidence(alice, key, patchctl.Evidence{Kind: patchctl.EvidenceReview, Subject: "alice", Result: patchctl.ResultApproved})
		f.refused(alice, key, "review_by_other", "merged_via_pr")
		f.evidence(bob, key, patchctl.Evidence{Kind: patchctl.EvidenceReview, Subject: "carol", Result: patchctl.ResultChangesRequested})
		f.evidence(bob, key, patchctl.Evidence{Kind: patchctl.EvidenceReview, Subject: "bob", Result: patchctl.ResultApproved})
		f.refused(alice, key, "review_by_other", "merged_via_pr") // carol still requests changes
		f.clock.Advance(time.Minute)
		f.evidence(bob, key, patchctl.Evidence{Kind: patchctl.EvidenceReview, Subject: "carol", Result: patchctl.ResultApproved})
		f.refused(alice, key, "merged_via_pr")
		f.evidence(github, key, patchctl.Evidence{Kind: patchctl.EvidenceMerge, Ref: pr.Ref, Version: "9f2c1e7", Source: "github"})
		f.advance(alice, key, patchctl.StateMerged)
		if v := f.state(key).Version; v != "9f2c1e7" {
			t.Fatalf("version after merge = %q", v)
		}

		// deployed_to_staging, with the merged version only.
		f.refused(alice, key, "deployed_to_staging")
		f.evidence(github, key, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "staging", Version: "0000000", Source: "argocd"})
		f.refused(alice, key, "deployed_to_staging")
		f.evidence(github, key, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "production", Version: "9f2c1e7", Source: "argocd"})
		f.refused(alice, key, "deployed_to_staging")
		f.evidence(github, key, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "staging", Version: "9f2c1e7", Source: "argocd"})
		f.advance(alice, key, patchctl.StateStaging)

		// automated_tests_passed AND manual_signoff.
		f.refused(alice, key, "automated_tests_passed", "manual_signoff")
		f.evidence(github, key, patchctl.Evidence{Kind: patchctl.EvidenceTestRun, Environment: "staging", Version: "9f2c1e7", Result: "failed", Ref: "run/1"})
		f.refused(alice, key, "automated_tests_passed", "manual_signoff")
		f.clock.Advance(time.Minute)
		f.evidence(github, key, patchctl.Evidence{Kind: patchctl.EvidenceTestRun, Environment: "staging", Version: "9f2c1e7", Result: "passed", Ref: "run/2"})
		f.refused(alice, key, "manual_signoff")
		if _, err := f.svc.AddEvidence(f.ctx, github, key, patchctl.Evidence{Kind: patchctl.EvidenceSignoff, Environment: "staging", Version: "9f2c1e7"}); code(err) != patchctl.CodeForbidden {
			t.Fatalf("automation signing off: %v, want forbidden", err)
		}
		f.evidence(bob, key, patchctl.Evidence{Kind: patchctl.EvidenceSignoff, Environment: "staging", Version: "9f2c1e7"})
		f.advance(alice, key, patchctl.StateValidated)

		// same_version_validated and deployed_to_production.
		f.refused(alice, key, "deployed_to_production")
		f.evidence(github, key, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "production", Version: "1111111", Source: "argocd"})
		f.clock.Advance(time.Minute)
		f.refused(alice, key, "deployed_to_production")
		f.evidence(github, key, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "production", Version: "9f2c1e7", Source: "argocd"})
		f.advance(alice, key, patchctl.StateProduction)

		// Rollback: only on-call or lead, to the previous stable version.
		_, err = f.svc.Rollback(f.ctx, alice, key, service.RollbackInput{Severity: "sev2", Reason: "checkout errors"})
		if code(err) != patchctl.CodeForbidden {
			t.Fatalf("engineer rollback: %v, want forbidden", err)
		}
		_, err = f.svc.Rollback(f.ctx, olga, key, service.RollbackInput{Severity: "sev2", Reason: "checkout errors"})
		f.gateErr(err, "previous_stable_known")
		// v1.4.1 went out before this patch; v1.4.0 before it.
		for i, v := range []string{"v1.4.0", "v1.4.1"} {
			_, err := f.svc.RecordStable(f.ctx, alice, store.StableVersion{Subject: "payments", Environment: "production", Version: v,
				RecordedAt: start.Add(-time.Duration(2-i) * time.Hour)})
			f.must(err)
		}
		d, err := f.svc.Patch(f.ctx, viola, key)
		f.must(err)
		if d.Rollback == nil || d.Rollback.Environment != "production" || d.Rollback.ToVersion != "v1.4.1" {
			t.Fatalf("rollback preview = %+v, want production to v1.4.1", d.Rollback)
		}
		if _, err := f.svc.Rollback(f.ctx, olga, key, service.RollbackInput{Severity: "sev9", Reason: "x"}); code(err) != patchctl.CodeInvalid {
			t.Errorf("bad severity: %v", err)
		}
		if _, err := f.svc.Rollback(f.ctx, olga, key, service.RollbackInput{Severity: "sev2"}); code(err) != patchctl.CodeInvalid {
			t.Errorf("missing reason: %v", err)
		}
		rb, err := f.svc.Rollback(f.ctx, olga, key, service.RollbackInput{Severity: "sev2", Reason: "checkout errors"})
		f.must(err)
		if rb.ToVersion != "v1.4.1" || rb.FromVersion != "9f2c1e7" || rb.Environment != "production" || rb.Patch.State != patchctl.StateRolledBack {
			t.Fatalf("rollback = %+v", rb)
		}
		if rb.Evidence.Details["decided_by"] != "olga" || rb.Evidence.Details["severity"] != "sev2" || rb.Evidence.Details["reason"] != "checkout errors" {
			t.Errorf("rollback evidence = %+v", rb.Evidence.Details)
		}
		msgs, err := f.svc.Outbox(f.ctx, viola, store.OutboxFilter{Topic: service.TopicRollback})
		f.must(err)
		if len(msgs) != 1 {
			t.Fatalf("rollback.requested messages = %d", len(msgs))
		}
		var req map[string]any
		f.must(json.Unmarshal(msgs[0].Payload, &req))
		if req["to_version"] != "v1.4.1" || req["environment"] != "production" {
			t.Errorf("rollback request = %v", req)
		}
		// After a rollback the patch goes back to work.
		f.advance(alice, key, patchctl.StateInProgress)

		v := f.verifyAudit()
		if v.Checked < 30 {
			t.Errorf("audit has %d events, want every step recorded", v.Checked)
		}
		ev, _ := f.svc.AuditEvents(f.ctx, viola, store.AuditFilter{Subject: key, Action: "patch.transition", Limit: 100})
		if len(ev) != 8 {
			t.Errorf("%d transition events, want 8", len(ev))
		}
	})
}

func TestOverride(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.create(alice, appPatch())
		_, err := f.svc.AddLink(f.ctx, alice, p.Key, patchctl.Link{Type: patchctl.LinkIssue, Ref: "https://github.com/acme/payments/issues/3"})
		f.must(err)
		f.advance(alice, p.Key, patchctl.StateInProgress)
		ov := &service.OverrideInput{Justification: "branch lives in the private fork; PR reviewed there"}
		if _, err := f.svc.Transition(f.ctx, alice, p.Key, service.TransitionInput{Override: ov}); code(err) != patchctl.CodeForbidden {
			t.Fatalf("engineer override: %v, want forbidden", err)
		}
		if _, err := f.svc.Transition(f.ctx, olga, p.Key, service.TransitionInput{Override: ov}); code(err) != patchctl.CodeForbidden {
			t.Fatalf("on-call override: %v, want forbidden", err)
		}
		if _, err := f.svc.Transition(f.ctx, lena, p.Key, service.TransitionInput{Override: &service.OverrideInput{Justification: "ok"}}); code(err) != patchctl.CodeInvalid {
			t.Fatalf("override without justification: %v, want invalid", err)
		}
		res, err := f.svc.Transition(f.ctx, lena, p.Key, service.TransitionInput{Override: ov})
		f.must(err)
		if res.To != patchctl.StateInReview || strings.Join(res.Overridden, ",") != "dedicated_branch,pull_request_open" {
			t.Fatalf("override result = %+v", res)
		}
		d, _ := f.svc.Patch(f.ctx, viola, p.Key)
		if len(d.Overrides) != 1 || d.Overrides[0].Actor != "lena" || d.Overrides[0].Justification != ov.Justification {
			t.Errorf("overrides on the patch = %+v", d.Overrides)
		}
		last := d.Transitions[len(d.Transitions)-1]
		if !last.Override {
			t.Errorf("transition not marked as an override: %+v", last)
		}
		ev, _ := f.svc.AuditEvents(f.ctx, viola, store.AuditFilter{Subject: p.Key, Action: "patch.transition", Desc: true, Limit: 1})
		if !strings.Contains(string(ev[0].Data), ov.Justification) {
			t.Errorf("audit event lacks the override: %s", ev[0].Data)
		}
	})
}

func TestConcurrentTransitionsOneWins(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.create(alice, appPatch())
		_, err := f.svc.AddLink(f.ctx, alice, p.Key, cve("CVE-2024-0001", 5))
		f.must(err)
		rev := f.state(p.Key).Revision
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = f.svc.Transition(f.ctx, alice, p.Key, service.TransitionInput{To: patchctl.StateInProgress, Revision: rev})
			}()
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch code(err) {
			case "":
				wins++
			case patchctl.CodeConflict:
			default:
				t.Errorf("unexpected: %v", err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d concurrent transitions succeeded, want 1", wins)
		}
		tr, _ := f.svc.AuditEvents(f.ctx, viola, store.AuditFilter{Subject: p.Key, Action: "patch.transition"})
		if len(tr) != 1 {
			t.Errorf("%d transition events audited, want 1", len(tr))
		}
	})
}

func TestRolesAndInput(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		if _, err := f.svc.CreatePatch(f.ctx, viola, appPatch()); code(err) != patchctl.CodeForbidden {
			t.Errorf("viewer create: %v", err)
		}
		bad := appPatch()
		bad.Links = []patchctl.Link{{Type: patchctl.LinkVulnerability, Ref: "CVE-24-1"}}
		_, err := f.svc.CreatePatch(f.ctx, alice, bad)
		if e, ok := err.(*patchctl.Error); !ok || e.Code != patchctl.CodeInvalid || e.Field != "links[0].ref" {
			t.Errorf("bad CVE id: %#v", err)
		}
		bad = appPatch()
		bad.Target.Environments = []string{"production"}
		if _, err := f.svc.CreatePatch(f.ctx, alice, bad); code(err) != patchctl.CodeInvalid {
			t.Errorf("production without staging: %v", err)
		}
		bad = appPatch()
		bad.Target.Environments = []string{"qa"}
		if _, err := f.svc.CreatePatch(f.ctx, alice, bad); code(err) != patchctl.CodeInvalid {
			t.Errorf("unknown environment: %v", err)
		}
		if _, err := f.svc.AddLink(f.ctx, alice, "PATCH-99", cve("CVE-2024-0001", 1)); code(err) != patchctl.CodeNotFound {
			t.Errorf("link to missing patch: %v", err)
		}
		// Nothing was written by the refused operations.
		v := f.verifyAudit()
		if v.Checked != 0 {
			t.Errorf("refused operations wrote %d audit events", v.Checked)
		}
	})
}

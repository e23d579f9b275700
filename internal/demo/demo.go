// Package demo seeds a database with a realistic picture of a team's patch
// work — patches of every kind and priority in various states, with their
// evidence, overrides, a rollback and a halted rollout — by driving the real
// service through the real gates with a clock walked from the past to now.
// It also generates bulk data for benchmarks.
package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/policy"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

type clock struct{ now time.Time }

func (c *clock) Now() time.Time          { return c.now }
func (c *clock) advance(d time.Duration) { c.now = c.now.Add(d) }

var (
	erin = patchctl.Actor{Name: "erin", Role: patchctl.RoleEngineer}
	eli  = patchctl.Actor{Name: "eli", Role: patchctl.RoleEngineer}
	otto = patchctl.Actor{Name: "otto", Role: patchctl.RoleOncall}
	lena = patchctl.Actor{Name: "lena", Role: patchctl.RoleLead}
	gh   = patchctl.SystemActor("github")
	argo = patchctl.SystemActor("argocd")
	prom = patchctl.SystemActor("prometheus")
	gke  = patchctl.SystemActor("gke")
)

// Seed writes the demo scenario, ending at now. It refuses a database that
// already holds patches.
func Seed(ctx context.Context, db *store.DB, pol *policy.Policy, now time.Time) error {
	open := true
	if n, err := db.Read().CountPatches(ctx, store.PatchFilter{Open: &open}); err != nil {
		return err
	} else if n > 0 {
		return patchctl.Errorf(patchctl.CodeConflict, "the database already holds patches; the demo goes into an empty database")
	}
	c := &clock{now: now.Add(-30 * 24 * time.Hour).Truncate(time.Hour)}
	s := service.New(db, pol, c.Now, nil)
	d := &seeder{ctx: ctx, s: s, c: c, pol: pol, end: now}
	// Each scenario starts some time before now; the clock only moves
	// forward, so the audit log reads in time order.
	steps := []struct {
		ago  time.Duration
		step func()
	}{
		{30 * 24 * time.Hour, d.baselines},
		{9 * 24 * time.Hour, d.doneGateway},
		{3 * 24 * time.Hour, d.rolledBackBilling},
		{50 * time.Hour, d.haproxyProduction},
		{30 * time.Hour, d.gkeSoaking},
		{14 * time.Hour, d.checkoutStaging},
		{12 * time.Hour, d.postgresWindow},
		{8 * time.Hour, d.gkeHalted},
		{5 * time.Hour, d.overrideInReview},
		{4 * time.Hour, d.xzEmergency},
		{time.Hour, d.frontendDraft},
	}
	for _, st := range steps {
		if at := now.Add(-st.ago); at.After(c.now) {
			c.now = at
		}
		st.step()
		if d.err != nil {
			return d.err
		}
	}
	return nil
}

type seeder struct {
	end time.Time
	ctx context.Context
	s   *service.Service
	c   *clock
	pol *policy.Policy
	err error
}

func (d *seeder) ok(err error) {
	if err != nil && d.err == nil {
		d.err = err
	}
}

func (d *seeder) create(a patchctl.Actor, in service.CreatePatch) string {
	if d.err != nil {
		return ""
	}
	p, err := d.s.CreatePatch(d.ctx, a, in)
	d.ok(err)
	if p == nil {
		return ""
	}
	return p.Key
}

func (d *seeder) ev(a patchctl.Actor, key string, e patchctl.Evidence) {
	if d.err != nil {
		return
	}
	_, err := d.s.AddEvidence(d.ctx, a, key, e)
	d.ok(err)
	d.c.advance(7 * time.Minute)
}

func (d *seeder) adv(a patchctl.Actor, key string) {
	if d.err != nil {
		return
	}
	_, err := d.s.Transition(d.ctx, a, key, service.TransitionInput{})
	if err != nil {
		d.ok(fmt.Errorf("demo: advancing %s: %w", key, err))
	}
	d.c.advance(11 * time.Minute)
}

func vuln(id string, cvss float64, kev bool, detected time.Time) patchctl.Link {
	return patchctl.Link{Type: patchctl.LinkVulnerability, Ref: id, DetectedAt: detected,
		Attributes: patchctl.Attributes{CVSS: cvss, KEV: kev, Severity: patchctl.SeverityFromCVSS(cvss)}}
}

func (d *seeder) baselines() {
	for _, b := range []struct{ app, env, v string }{
		{"api-gateway", "staging", "v2.7.3"}, {"api-gateway", "production", "v2.7.3"},
		{"billing", "staging", "v5.12.0"}, {"billing", "production", "v5.12.0"},
		{"checkout", "production", "v3.9.1"}, {"payments", "production", "v8.2.0"},
		{"edge-lb", "production", "2.8.5"}, {"postgres-primary", "production", "15.6"},
	} {
		_, err := d.s.RecordStable(d.ctx, lena, store.StableVersion{Subject: b.app, Environment: b.env, Version: b.v, Source: "baseline"})
		d.ok(err)
	}
	d.c.advance(time.Hour)
}

// appThroughProduction walks an application patch to production with real
// evidence at every gate.
func (d *seeder) appThroughProduction(key, repo, author, reviewer, version string) {
	d.adv(erin, key)
	branch := "patch/" + key
	d.ev(gh, key, patchctl.Evidence{Kind: patchctl.EvidenceBranch, Ref: branch, Source: "github"})
	pr := "https://github.com/acme/" + repo + "/pull/" + fmt.Sprint(100+rand.IntN(800))
	d.ev(gh, key, patchctl.Evidence{Kind: patchctl.EvidencePullRequest, Ref: pr, Subject: author, Source: "github",
		Details: map[string]string{"branch": branch, "repository": "acme/" + repo}})
	d.adv(erin, key)
	d.c.advance(3 * time.Hour)
	d.ev(gh, key, patchctl.Evidence{Kind: patchctl.EvidenceReview, Subject: reviewer, Result: patchctl.ResultApproved, Ref: pr + "#pullrequestreview-1", Source: "github"})
	d.ev(gh, key, patchctl.Evidence{Kind: patchctl.EvidenceMerge, Ref: pr, Version: version, Source: "github"})
	d.adv(erin, key)
	d.ev(argo, key, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "staging", Version: version, Ref: repo + "-staging", Source: "argocd"})
	d.adv(erin, key)
	d.ev(gh, key, patchctl.Evidence{Kind: patchctl.EvidenceTestRun, Environment: "staging", Version: version, Result: patchctl.ResultPassed,
		Ref: "https://github.com/acme/" + repo + "/actions/runs/" + fmt.Sprint(9000000+rand.IntN(99999)), Source: "github"})
	d.c.advance(2 * time.Hour)
	d.ev(reviewerActor(reviewer), key, patchctl.Evidence{Kind: patchctl.EvidenceSignoff, Environment: "staging", Version: version})
	d.adv(erin, key)
	d.c.advance(time.Hour)
	d.ev(argo, key, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "production", Version: version, Ref: repo + "-production", Source: "argocd"})
	d.adv(erin, key)
}

func reviewerActor(name string) patchctl.Actor {
	return patchctl.Actor{Name: name, Role: patchctl.RoleEngineer}
}

func (d *seeder) doneGateway() {
	key := d.create(erin, service.CreatePatch{Title: "Upgrade Go toolchain to 1.23.4 in api-gateway (net/http fixes)", Kind: patchctl.KindApplication,
		Target: patchctl.Target{Application: "api-gateway", Repository: "acme/api-gateway"}, Owner: "erin",
		Links: []patchctl.Link{vuln("CVE-2024-45336", 6.1, false, d.c.now.Add(-2*24*time.Hour)), vuln("GO-2025-3420", 0, false, d.c.now.Add(-2*24*time.Hour))}})
	d.appThroughProduction(key, "api-gateway", "erin", "eli", "v2.7.4")
	d.c.advance(2 * time.Hour)
	d.adv(erin, key)
}

func (d *seeder) rolledBackBilling() {
	key := d.create(eli, service.CreatePatch{Title: "Upgrade openssl to 3.0.15 in billing images", Kind: patchctl.KindApplication,
		Target: patchctl.Target{Application: "billing", Repository: "acme/billing"}, Owner: "eli",
		Links: []patchctl.Link{vuln("CVE-2024-9143", 4.3, false, d.c.now.Add(-30*time.Hour)), vuln("CVE-2024-5535", 7.4, false, d.c.now.Add(-30*time.Hour))}})
	d.appThroughProduction(key, "billing", "eli", "erin", "v5.12.1")
	d.c.advance(40 * time.Minute)
	if d.err == nil {
		_, err := d.s.Rollback(d.ctx, otto, key, service.RollbackInput{Severity: "sev2", Reason: "invoice PDF rendering fails with the new openssl; 5xx on /invoices"})
		d.ok(err)
	}
}

func (d *seeder) gkeSoaking() {
	const v = "1.30.5-gke.1014001"
	key := d.create(erin, service.CreatePatch{Title: "GKE 1.30.5 (CVE-2024-10220 gitRepo volume escape)", Kind: patchctl.KindKubernetes,
		Target: patchctl.Target{Clusters: clusters(d.pol), Upgrade: patchctl.UpgradeVersion, Version: v}, Owner: "erin",
		Links: []patchctl.Link{vuln("CVE-2024-10220", 8.1, false, d.c.now.Add(-4*time.Hour))}})
	d.adv(erin, key)
	d.adv(erin, key)
	if d.err != nil {
		return
	}
	det, err := d.s.Patch(d.ctx, erin, key)
	d.ok(err)
	if err != nil {
		return
	}
	for _, w := range det.Waves {
		if w.Phase != patchctl.PhaseManagement {
			continue
		}
		_, err := d.s.Wave(d.ctx, erin, key, w.Seq, service.WaveInput{Op: "start"})
		d.ok(err)
		d.c.advance(25 * time.Minute)
		d.ev(gke, key, patchctl.Evidence{Kind: patchctl.EvidenceWaveUpgrade, Subject: w.Subject(), Version: v,
			Ref: "operation-" + fmt.Sprint(1700000000+rand.IntN(9999999)), Source: "gke"})
		_, err = d.s.Wave(d.ctx, erin, key, w.Seq, service.WaveInput{Op: "complete"})
		d.ok(err)
	}
	d.adv(erin, key)
	for range 4 {
		d.c.advance(3 * time.Hour)
		d.ev(prom, key, patchctl.Evidence{Kind: patchctl.EvidenceHealthCheck, Ref: "prometheus: sum(kube_node_status_condition{condition=\"Ready\",status!=\"true\"}) == 0", Result: patchctl.ResultPassed, Source: "prometheus"})
	}
}

func clusters(pol *policy.Policy) []string {
	var out []string
	for _, c := range pol.Config().Clusters {
		out = append(out, c.Name)
	}
	return out
}

func (d *seeder) gkeHalted() {
	key := d.create(eli, service.CreatePatch{Title: "Node image refresh: COS containerd 1.7.24", Kind: patchctl.KindKubernetes,
		Target: patchctl.Target{Clusters: clusters(d.pol), Upgrade: patchctl.UpgradeNode, Version: "1.29.10-gke.1227000"}, Owner: "eli",
		Links: []patchctl.Link{{Type: patchctl.LinkIssue, Ref: "https://github.com/acme/infra/issues/412", DetectedAt: d.c.now.Add(-3 * 24 * time.Hour)}}})
	d.adv(eli, key)
	d.adv(eli, key)
	if d.err != nil {
		return
	}
	_, err := d.s.Wave(d.ctx, eli, key, 1, service.WaveInput{Op: "start"})
	d.ok(err)
	d.c.advance(50 * time.Minute)
	if d.err == nil {
		_, err = d.s.Wave(d.ctx, eli, key, 1, service.WaveInput{Op: "fail", Reason: "nodes stuck NotReady after surge upgrade (PDB on ingress blocks drain)"})
		d.ok(err)
	}
}

func (d *seeder) postgresWindow() {
	key := d.create(erin, service.CreatePatch{Title: "PostgreSQL 15.8 on postgres-primary (CVE-2024-7348)", Kind: patchctl.KindInfrastructure,
		Target: patchctl.Target{System: "postgres-primary", Downtime: true}, Owner: "erin",
		Links: []patchctl.Link{vuln("CVE-2024-7348", 7.5, false, d.c.now.Add(-24*time.Hour))}})
	d.adv(erin, key)
	d.ev(erin, key, patchctl.Evidence{Kind: patchctl.EvidenceTerraformPlan, Ref: "https://github.com/acme/infra/pull/233"})
	ver := "15.8"
	if d.err == nil {
		_, err := d.s.EditPatch(d.ctx, erin, key, service.EditPatch{Version: &ver})
		d.ok(err)
	}
	d.ev(erin, key, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "staging", Version: ver, Ref: "postgres-staging"})
	d.adv(erin, key)
	d.ev(gh, key, patchctl.Evidence{Kind: patchctl.EvidenceTestRun, Environment: "staging", Version: ver, Result: patchctl.ResultPassed, Ref: "pgbench + app smoke tests", Source: "github"})
	d.ev(lena, key, patchctl.Evidence{Kind: patchctl.EvidenceSignoff, Environment: "staging", Version: ver})
	d.adv(erin, key)
	start := d.end.Truncate(24 * time.Hour).Add(3*24*time.Hour + 22*time.Hour)
	if d.err == nil {
		_, err := d.s.BookWindow(d.ctx, erin, key, service.BookingInput{Start: start, End: start.Add(2 * time.Hour)})
		d.ok(err)
	}
	d.adv(erin, key)
	if d.err == nil {
		_, err := d.s.Announce(d.ctx, erin, key, "#sre-announce", "")
		d.ok(err)
	}
	d.adv(erin, key)
}

func (d *seeder) haproxyProduction() {
	key := d.create(eli, service.CreatePatch{Title: "HAProxy 2.8.10 on edge-lb", Kind: patchctl.KindInfrastructure,
		Target: patchctl.Target{System: "edge-lb"}, Owner: "eli",
		Links: []patchctl.Link{vuln("CVE-2023-45539", 6.5, false, d.c.now.Add(-5*24*time.Hour))}})
	d.adv(eli, key)
	d.ev(eli, key, patchctl.Evidence{Kind: patchctl.EvidenceTerraformPlan, Ref: "https://github.com/acme/infra/pull/229"})
	ver := "2.8.10"
	if d.err == nil {
		_, err := d.s.EditPatch(d.ctx, eli, key, service.EditPatch{Version: &ver})
		d.ok(err)
	}
	d.ev(eli, key, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "staging", Version: ver, Ref: "edge-lb-staging"})
	d.adv(eli, key)
	d.ev(gh, key, patchctl.Evidence{Kind: patchctl.EvidenceTestRun, Environment: "staging", Version: ver, Result: patchctl.ResultPassed, Ref: "synthetic checks", Source: "github"})
	d.ev(erin, key, patchctl.Evidence{Kind: patchctl.EvidenceSignoff, Environment: "staging", Version: ver})
	d.adv(eli, key)
	d.ev(eli, key, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "production", Version: ver, Ref: "edge-lb-production"})
	d.adv(eli, key)
}

func (d *seeder) checkoutStaging() {
	key := d.create(erin, service.CreatePatch{Title: "Bump golang.org/x/net to v0.33.0 in checkout", Kind: patchctl.KindApplication,
		Target: patchctl.Target{Application: "checkout", Repository: "acme/checkout"}, Owner: "erin",
		Links: []patchctl.Link{vuln("CVE-2024-45338", 7.5, false, d.c.now.Add(-2*24*time.Hour)), {Type: patchctl.LinkVulnerability, Ref: "GHSA-w32m-9786-jp63", DetectedAt: d.c.now.Add(-2 * 24 * time.Hour)}}})
	d.adv(erin, key)
	branch := "patch/" + key + "-bump-x-net"
	d.ev(gh, key, patchctl.Evidence{Kind: patchctl.EvidenceBranch, Ref: branch, Source: "github"})
	d.ev(gh, key, patchctl.Evidence{Kind: patchctl.EvidencePullRequest, Ref: "https://github.com/acme/checkout/pull/512", Subject: "erin", Source: "github", Details: map[string]string{"branch": branch}})
	d.adv(erin, key)
	d.ev(gh, key, patchctl.Evidence{Kind: patchctl.EvidenceReview, Subject: "eli", Result: patchctl.ResultApproved, Source: "github"})
	d.ev(gh, key, patchctl.Evidence{Kind: patchctl.EvidenceMerge, Ref: "https://github.com/acme/checkout/pull/512", Version: "4be1c09", Source: "github"})
	d.adv(erin, key)
	d.ev(argo, key, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "staging", Version: "4be1c09", Ref: "checkout-staging", Source: "argocd"})
	d.adv(erin, key)
	d.ev(gh, key, patchctl.Evidence{Kind: patchctl.EvidenceTestRun, Environment: "staging", Version: "4be1c09", Result: patchctl.ResultPassed, Ref: "https://github.com/acme/checkout/actions/runs/9112233", Source: "github"})
}

func (d *seeder) xzEmergency() {
	key := d.create(otto, service.CreatePatch{Title: "Remove backdoored xz-utils 5.6.1 from payments base image", Kind: patchctl.KindApplication,
		Target: patchctl.Target{Application: "payments", Repository: "acme/payments"}, Owner: "otto", Labels: []string{"data-breach-risk"},
		Links: []patchctl.Link{vuln("CVE-2024-3094", 10, true, d.c.now.Add(-2*time.Hour))}})
	d.adv(otto, key)
	branch := "patch/" + key + "-xz-utils"
	d.ev(gh, key, patchctl.Evidence{Kind: patchctl.EvidenceBranch, Ref: branch, Source: "github"})
	d.ev(gh, key, patchctl.Evidence{Kind: patchctl.EvidencePullRequest, Ref: "https://github.com/acme/payments/pull/1207", Subject: "otto", Source: "github", Details: map[string]string{"branch": branch}})
	d.adv(otto, key)
	d.ev(gh, key, patchctl.Evidence{Kind: patchctl.EvidenceReview, Subject: "otto", Result: patchctl.ResultApproved, Source: "github"})
}

func (d *seeder) frontendDraft() {
	d.create(eli, service.CreatePatch{Title: "Monthly dependency upgrades for web-frontend", Kind: patchctl.KindApplication,
		Target: patchctl.Target{Application: "web-frontend", Repository: "acme/web-frontend"}, Owner: "eli",
		Links: []patchctl.Link{{Type: patchctl.LinkIssue, Ref: "https://github.com/acme/web-frontend/issues/88"}}})
	d.create(erin, service.CreatePatch{Title: "Investigate CVE report from pentest (no trigger linked yet)", Kind: patchctl.KindApplication,
		Target: patchctl.Target{Application: "search"}, Owner: "erin", Labels: []string{"user-facing"}})
}

func (d *seeder) overrideInReview() {
	key := d.create(erin, service.CreatePatch{Title: "Patch log4j-core 2.17.1 in legacy reporting", Kind: patchctl.KindApplication,
		Target: patchctl.Target{Application: "reporting"}, Owner: "erin",
		Links: []patchctl.Link{vuln("CVE-2021-44832", 6.6, false, d.c.now.Add(-3*24*time.Hour))}})
	d.adv(erin, key)
	if d.err == nil {
		_, err := d.s.Transition(d.ctx, lena, key, service.TransitionInput{Override: &service.OverrideInput{
			Justification: "reporting lives in the legacy SVN mirror; branch and review happen there (REL-2291)"}})
		d.ok(err)
	}
}

// Bulk inserts n patches of every kind, priority and state with due times
// spread around now, in batches of 500 per transaction, for benchmarks.
// Each batch is one audit event (dev.seed), not n.
func Bulk(ctx context.Context, db *store.DB, pol *policy.Policy, n int, now time.Time, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	kinds := []patchctl.Kind{patchctl.KindApplication, patchctl.KindApplication, patchctl.KindKubernetes, patchctl.KindInfrastructure}
	prios := []patchctl.Priority{patchctl.PriorityEmergency, patchctl.PriorityHigh, patchctl.PriorityHigh, patchctl.PriorityRoutine, patchctl.PriorityRoutine, patchctl.PriorityRoutine}
	apps := []string{"payments", "checkout", "billing", "api-gateway", "search", "web-frontend", "reporting", "auth"}
	actor := patchctl.SystemActor("seed")
	for done := 0; done < n; {
		batch := min(500, n-done)
		err := db.InTx(ctx, func(tx *store.Tx) error {
			for i := range batch {
				k := kinds[r.IntN(len(kinds))]
				pr := prios[r.IntN(len(prios))]
				detected := now.Add(-time.Duration(r.IntN(30*24)) * time.Hour)
				due, _ := pol.Due(pr, k, patchctl.Target{Application: "x"}, detected)
				p := &patchctl.Patch{Title: fmt.Sprintf("Seeded patch %d for %s", done+i+1, apps[r.IntN(len(apps))]), Kind: k,
					Priority: pr, PriorityRule: "seed", PolicyVersion: pol.Version(), DetectedAt: detected, DueAt: &due,
					CreatedBy: actor.Name, CreatedAt: detected, UpdatedAt: detected, Owner: []string{"erin", "eli", "otto", "lena"}[r.IntN(4)]}
				switch k {
				case patchctl.KindKubernetes:
					p.Target = patchctl.Target{Clusters: clusters(pol), Upgrade: patchctl.UpgradeNode, Version: "1.30.5-gke.1"}
					p.State = []patchctl.State{patchctl.StateDraft, patchctl.StatePlanned, patchctl.StateSoaking, patchctl.StateDone}[r.IntN(4)]
				case patchctl.KindInfrastructure:
					p.Target = patchctl.Target{System: "postgres-" + fmt.Sprint(r.IntN(20)), Environments: []string{"staging", "production"}}
					p.State = []patchctl.State{patchctl.StateDraft, patchctl.StateInProgress, patchctl.StateValidated, patchctl.StateDone}[r.IntN(4)]
				default:
					p.Target = patchctl.Target{Application: apps[r.IntN(len(apps))], Environments: []string{"staging", "production"}}
					p.State = []patchctl.State{patchctl.StateDraft, patchctl.StateInProgress, patchctl.StateInReview, patchctl.StateStaging,
						patchctl.StateProduction, patchctl.StateDone, patchctl.StateDone}[r.IntN(7)]
				}
				if p.State == patchctl.StateDone {
					t := due.Add(-time.Duration(r.IntN(48)) * time.Hour)
					p.ClosedAt = &t
				}
				if err := tx.CreatePatch(ctx, p); err != nil {
					return err
				}
			}
			return tx.Audit(ctx, &patchctl.AuditEvent{At: now, Actor: actor.Name, Role: actor.Role, Action: "dev.seed", Subject: "patches"},
				map[string]any{"patches": batch, "first": done + 1})
		})
		if err != nil {
			return err
		}
		done += batch
	}
	return nil
}

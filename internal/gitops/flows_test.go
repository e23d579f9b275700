package gitops_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/gitops"
	"github.com/patchctl/patchctl/internal/integration/argocd/argocdtest"
	"github.com/patchctl/patchctl/internal/integration/github"
	"github.com/patchctl/patchctl/internal/integration/github/githubtest"
	"github.com/patchctl/patchctl/internal/scheduler"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

// TestReconcile opens a patch's branch and draft pull request through the
// API, then loses every webhook: the review, the merge and the CI run on
// the merge commit, and for a second patch the pull request itself. The
// reconcile timer reads them from the GitHub API (the fake is backed by
// real git repositories) and both patches catch up.
func TestReconcile(t *testing.T) {
	h := newHarness(t, setup{githubREST: true})
	ctx := context.Background()
	clk := h.s.Clock
	p1 := h.createPatch("Upgrade openssl in payments")

	// The branch is created; GitHub opens no pull request without commits.
	var br gitops.BranchResult
	h.must(200, "POST", "/patches/"+p1.Key+"/branch", patchctl.RoleEngineer, nil, &br)
	if !br.BranchCreated || br.PullRequest != nil || !strings.Contains(br.Pending, "push the change") ||
		br.Branch.Name != patchctl.BranchName(p1.Key, p1.Title) {
		t.Fatalf("first branch call: %+v", br)
	}
	h.gh.Commit(repo, br.Branch.Name, "openssl.version", "3.0.15\n", "Upgrade openssl ("+p1.Key+")")
	h.must(200, "POST", "/patches/"+p1.Key+"/branch", patchctl.RoleEngineer, nil, &br)
	if br.BranchCreated || !br.PullRequestCreated || br.PullRequest == nil || br.Advance == nil || br.Advance.To != patchctl.StateInReview {
		t.Fatalf("second branch call: %+v", br)
	}
	prs := h.gh.PullRequests(repo)
	if len(prs) != 1 || !prs[0].GetDraft() || !strings.Contains(prs[0].GetBody(), "SOP-005 checklist") ||
		!strings.Contains(prs[0].GetBody(), "CVE-2024-6119") || !strings.Contains(prs[0].GetTitle(), p1.Key) {
		t.Fatalf("draft pull request: %+v", prs)
	}
	number := br.PullRequest.Number

	// Reviewed, merged and tested on GitHub; no delivery reaches patchctl.
	h.gh.AddReview(repo, number, "hubot", githubtest.Approved)
	merge := h.gh.MergePR(repo, number, "lena-gh")
	h.gh.AddCheckRun(repo, githubtest.CheckRun{Name: "e2e (staging)", Status: "completed", Conclusion: "success", HeadSHA: merge})

	// A second patch in progress whose pull request was opened by hand,
	// and whose opened delivery was lost.
	p2 := h.createPatch("Bump zlib")
	h.must(200, "POST", "/patches/"+p2.Key+"/transitions", patchctl.RoleEngineer, map[string]any{}, nil)
	cl, err := github.NewClient(github.Config{BaseURL: h.gh.URL, Token: h.gh.Token})
	if err != nil {
		t.Fatal(err)
	}
	b2 := patchctl.BranchName(p2.Key, p2.Title)
	if _, _, err := cl.CreatePatchBranch(ctx, repo, b2); err != nil {
		t.Fatal(err)
	}
	h.gh.Commit(repo, b2, "zlib.version", "1.3.1\n", "Bump zlib")
	if _, _, err := cl.OpenDraftPR(ctx, repo, b2, "Bump zlib", "by hand"); err != nil {
		t.Fatal(err)
	}

	clk.Advance(11 * time.Minute)
	h.runTimers() // the periodic reconcile schedules one timer per patch
	h.runTimers() // which read GitHub
	d1 := h.detail(p1.Key)
	if d1.Patch.State != patchctl.StateMerged || d1.Patch.Version != merge {
		t.Fatalf("%s after reconcile: %s version %q", p1.Key, d1.Patch.State, d1.Patch.Version)
	}
	reviews := evidenceOf(d1, patchctl.EvidenceReview)
	if len(reviews) != 1 || reviews[0].Subject != "hubot" || reviews[0].Result != "approved" || reviews[0].Actor != "system:github" ||
		reviews[0].Details["via"] != "reconcile" {
		t.Errorf("reconciled review %+v", reviews)
	}
	tests := evidenceOf(d1, patchctl.EvidenceTestRun)
	if len(tests) != 1 || tests[0].Environment != "staging" || tests[0].Version != merge || tests[0].Result != "passed" {
		t.Errorf("reconciled check run %+v", tests)
	}
	d2 := h.detail(p2.Key)
	if d2.Patch.State != patchctl.StateInReview || len(evidenceOf(d2, patchctl.EvidencePullRequest)) != 1 {
		t.Fatalf("%s after reconcile: %s, %+v", p2.Key, d2.Patch.State, d2.Evidence)
	}

	// Reconciling again finds nothing new.
	n1, n2 := len(d1.Evidence), len(d2.Evidence)
	clk.Advance(11 * time.Minute)
	h.runTimers()
	h.runTimers()
	if len(h.detail(p1.Key).Evidence) != n1 || len(h.detail(p2.Key).Evidence) != n2 {
		t.Errorf("a second reconcile recorded evidence again")
	}

	// Argo CD deploys the merge commit to staging; the notification is
	// lost too. The reconcile pass reads the application from the API.
	stg := argoApp(t, "payments-staging")
	synced(stg, merge, "Healthy", clk.Now(), argocdtest.History{ID: 4, Revision: merge, DeployedAt: clk.Now()})
	h.argo.Put(stg)
	clk.Advance(11 * time.Minute)
	h.runTimers()
	h.runTimers()
	d1 = h.detail(p1.Key)
	deps := evidenceOf(d1, patchctl.EvidenceDeployment)
	if d1.Patch.State != patchctl.StateStaging || len(deps) != 1 || deps[0].Environment != "staging" || deps[0].Actor != "system:argocd" ||
		deps[0].Details["via"] != "reconcile" || deps[0].Ref != "argocd:payments-staging#4" {
		t.Errorf("after the Argo CD reconcile: %s, %+v", d1.Patch.State, deps)
	}

	var timers []store.Timer
	h.must(200, "GET", "/timers?kind="+gitops.TimerReconcile, patchctl.RoleViewer, nil, &timers)
	next := slices.DeleteFunc(timers, func(tm store.Timer) bool { return tm.Kind != gitops.TimerReconcile })
	if len(next) != 1 || !next[0].DueAt.After(clk.Now()) {
		t.Errorf("the next reconcile is not scheduled once: %+v", next)
	}
}

// rollbackSetup is a patch of payments in production at version merged,
// deployed by Argo CD from revision, with the previous stable version old
// known, and a rollback decided by on-call.
func rollbackSetup(t *testing.T, h *harness, merged, revision, old string, beforeRollback func(key string)) string {
	t.Helper()
	clk := h.s.Clock
	h.must(201, "POST", "/releases", patchctl.RoleEngineer, map[string]any{"subject": "payments", "environment": "production",
		"version": old, "at": clk.Now().Add(-30 * 24 * time.Hour)}, nil)
	p := h.createPatch("Upgrade openssl in payments")
	h.must(200, "PATCH", "/patches/"+p.Key, patchctl.RoleEngineer, map[string]any{"version": merged}, nil)
	h.override(p.Key, patchctl.StateMerged)
	if beforeRollback != nil {
		beforeRollback(p.Key)
	}
	clk.Advance(time.Hour)
	h.deployed(argoApp(t, "payments-staging"), revision, argocdtest.History{ID: 2, Revision: revision, DeployedAt: clk.Now()})
	h.override(p.Key, patchctl.StateValidated)
	clk.Advance(time.Hour)
	prod := argoApp(t, "payments-prod")
	h.deployed(prod, revision, argocdtest.History{ID: 7, Revision: old, DeployedAt: clk.Now().Add(-30 * 24 * time.Hour)},
		argocdtest.History{ID: 8, Revision: revision, DeployedAt: clk.Now()})
	h.override(p.Key, patchctl.StateProduction)
	clk.Advance(time.Hour)
	h.must(200, "POST", "/patches/"+p.Key+"/rollback", patchctl.RoleLead, map[string]any{"severity": "sev1", "reason": "checkout fails"}, nil)
	return p.Key
}

// TestRevertPRRollback carries a rollback out in revert_pr mode: the
// deployment repository is a real git repository (a bare repository of
// the fake GitHub, cloned and pushed to through gitrepo), the revert of the
// commit that deployed the patch is pushed on its own branch, and a draft
// pull request is opened for it; doing it again changes nothing.
func TestRevertPRRollback(t *testing.T) {
	const deploy = "acme/deploy"
	h := newHarness(t, setup{githubREST: true, config: func(c *config.Config) {
		c.Integrations.ArgoCD.RollbackMode = "revert_pr"
		c.Integrations.ArgoCD.DeployRepository = deploy
	}})
	h.gh.AddRepo(deploy)
	const merged, old = "4444444444444444444444444444444444444444", "5555555555555555555555555555555555555555"
	bump := h.gh.Commit(deploy, "main", "payments/values.yaml", "image: payments@"+merged+"\n", "Deploy payments "+merged[:8])
	key := rollbackSetup(t, h, merged, bump, old, func(key string) {
		// The deployment repository's pull request that bumps the image
		// refers to the patch: its merge is the revision Argo CD deploys.
		m := payload(t, "pull_request__closed-merged__reallyfastci__webhook-pr-close.json")
		pr{number: 3, branch: "bump-payments", head: bump, title: "Deploy payments (" + key + ")", author: "erin-gh", state: "closed",
			merged: true, mergeSHA: bump, mergedBy: "erin-gh", created: h.s.Clock.Now(), updated: h.s.Clock.Now(), closed: h.s.Clock.Now()}.write(m)
		set(m, "repository.full_name", deploy)
		set(m, "pull_request.head.repo.full_name", deploy)
		set(m, "pull_request.base.repo.full_name", deploy)
		h.deliver(delivery{"pull_request", "deploy-pr", encode(t, m)}, store.DeliveryProcessed, "deployment repository merge")
	})

	// The executor runs with the deployment repository's bare repository
	// as its remote.
	loop := gitops.New(h.s.App.Service, gitops.Options{Getenv: os.Getenv, CloneURL: func(r string) string { return h.gh.Repo(r).Dir }})
	sched := scheduler.New(h.s.App.DB, h.s.Clock.Now, nil, time.Second)
	loop.Register(sched)
	sched.Handle("sla.", h.s.App.Service.HandleSLATimer)
	run := func() {
		for range 2 {
			if _, err := sched.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.s.Clock.Advance(10 * time.Second)
	run()

	prs := h.gh.PullRequests(deploy)
	if len(prs) != 1 || !strings.HasPrefix(prs[0].GetHead().GetRef(), "patchctl/rollback-"+key+"-production-") ||
		!strings.Contains(prs[0].GetTitle(), "Roll back "+key+" in production") || !strings.Contains(prs[0].GetBody(), "checkout fails") {
		t.Fatalf("revert pull requests: %+v", prs)
	}
	branch := prs[0].GetHead().GetRef()
	dir := h.gh.Repo(deploy).Dir
	subject, err := exec.Command("git", "-C", dir, "log", "-1", "--format=%s", branch).Output()
	if err != nil || !strings.HasPrefix(string(subject), `Revert "Deploy payments `) {
		t.Errorf("revert commit: %q %v", subject, err)
	}
	if err := exec.Command("git", "-C", dir, "cat-file", "-e", branch+":payments/values.yaml").Run(); err == nil {
		t.Error("the revert branch still deploys the patch")
	}
	d := h.detail(key)
	var executed *patchctl.Evidence
	for _, e := range evidenceOf(d, patchctl.EvidenceRollback) {
		if e.Result == gitops.RollbackExecuted {
			executed = &e
		}
	}
	if executed == nil || executed.Source != "github" || executed.Ref != prs[0].GetHTMLURL() || executed.Details["reverted"] != bump ||
		executed.Details["decided_by"] != "lena" || executed.Version != old || executed.Details["reason"] != "checkout fails" {
		t.Fatalf("rollback evidence %+v", executed)
	}

	h.s.Clock.Advance(time.Minute)
	run()
	if n := len(h.gh.PullRequests(deploy)); n != 1 {
		t.Errorf("%d revert pull requests after running again", n)
	}
}

// TestRollbackRefused records rollbacks that are not carried out, pages
// on-call, and does not retry them.
func TestRollbackRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config func(*config.Config)
		delay  time.Duration
		runs   int
		want   string
	}{
		{"auto-sync on", func(c *config.Config) { c.Integrations.ArgoCD.DisableAutoSyncOnRollback = false },
			10 * time.Second, 1, "automated sync is on for payments-prod"},
		{"decided too long ago", nil, 2 * time.Hour, 1, "the decision is 2h0m0s old"},
		{"Argo CD unreachable", func(c *config.Config) { c.Integrations.ArgoCD.URL = "http://127.0.0.1:1" },
			10 * time.Second, 8, "not carried out after 8 attempts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, setup{config: tc.config})
			const merged, old = "6666666666666666666666666666666666666666", "7777777777777777777777777777777777777777"
			key := rollbackSetup(t, h, merged, merged, old, nil)
			h.s.Clock.Advance(tc.delay) // the scheduler is down meanwhile
			h.runTimers()               // the outbox poll picks the decision up
			for range tc.runs {
				h.runTimers()
				h.s.Clock.Advance(5 * time.Minute) // past the retry backoff
			}
			if n := len(h.argo.Rollbacks()); n != 0 {
				t.Fatalf("%d rollback calls", n)
			}
			d := h.detail(key)
			var refused *patchctl.Evidence
			for _, e := range evidenceOf(d, patchctl.EvidenceRollback) {
				if e.Result == gitops.RollbackRefused {
					refused = &e
				}
			}
			if refused == nil || !strings.Contains(refused.Details["error"], tc.want) || refused.Details["decided_by"] != "lena" {
				t.Fatalf("refusal evidence %+v, want an error with %q", refused, tc.want)
			}
			var pages []store.OutboxMessage
			h.must(200, "GET", "/notifications?topic="+service.TopicPageOncall+"&subject="+key, patchctl.RoleViewer, nil, &pages)
			if !slices.ContainsFunc(pages, func(m store.OutboxMessage) bool { return strings.Contains(string(m.Payload), "was NOT carried out") }) {
				t.Errorf("on-call not paged: %+v", pages)
			}
			var timers []store.Timer
			h.must(200, "GET", "/timers?kind="+gitops.TimerRollback, patchctl.RoleViewer, nil, &timers)
			if len(timers) != 0 {
				t.Errorf("a refused rollback is still pending: %+v", timers)
			}
		})
	}
}

// TestHelmHistory imports `helm history -o json|yaml` output through the
// API as stable versions, once, and the patch page names the previous
// stable version a rollback would return to.
func TestHelmHistory(t *testing.T) {
	h := newHarness(t, setup{})
	read := func(name string) []byte {
		b, err := os.ReadFile(corpus.Path(t, "helm/"+name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var imp gitops.HelmImport
	h.must(200, "POST", "/releases/helm?application=payments&environment=production", patchctl.RoleEngineer, read("helm__history.json"), &imp)
	if len(imp.Recorded) != 1 || imp.Recorded[0].Version != "1.0" || imp.Known != 1 || imp.Release != "payments" ||
		imp.Current == nil || imp.Current.Revision != 4 || imp.PreviousStable == nil || imp.PreviousStable.Revision != 3 {
		t.Fatalf("first import: %+v", imp)
	}
	h.must(200, "POST", "/releases/helm?application=payments&environment=production", patchctl.RoleEngineer, read("helm__history.yaml"), &imp)
	if len(imp.Recorded) != 0 || imp.Known != 2 {
		t.Errorf("second import: %+v", imp)
	}
	if code, out := h.api("POST", "/releases/helm?application=payments&environment=moon", patchctl.RoleEngineer, read("helm__history.json")); code != 400 ||
		!strings.Contains(string(out), "moon") {
		t.Errorf("unknown environment: %d %s", code, out)
	}
	if code, out := h.api("POST", "/releases/helm?application=payments&environment=production", patchctl.RoleEngineer, `[{"revision": "x"}]`); code != 400 {
		t.Errorf("malformed history: %d %s", code, out)
	}
	if code, _ := h.api("POST", "/releases/helm?application=payments&environment=production", patchctl.RoleViewer, read("helm__history.json")); code != 403 {
		t.Errorf("viewer import: %d", code)
	}

	p := h.createPatch("Upgrade the payments chart")
	h.must(200, "PATCH", "/patches/"+p.Key, patchctl.RoleEngineer, map[string]any{"version": "1.1"}, nil)
	h.override(p.Key, patchctl.StateProduction)
	if rb := h.detail(p.Key).Rollback; rb == nil || rb.ToVersion != "1.0" || !rb.Known {
		t.Errorf("rollback preview %+v, want back to 1.0 from Helm history", rb)
	}
}

// TestTerraform links a plan and records an apply from the state: for a
// kubernetes patch, the waves the state shows upgraded get wave_upgrade
// evidence, which the wave's completion gate reads.
func TestTerraform(t *testing.T) {
	h := newHarness(t, setup{})
	plan, err := os.ReadFile(corpus.Path(t, "terraform/terraform-validator__full_container_node_pool.tfplan.json"))
	if err != nil {
		t.Fatal(err)
	}
	p := h.createPatch("Node pool upgrade of payments")
	var pi gitops.PlanImport
	h.must(200, "POST", "/patches/"+p.Key+"/tfplan?ref=plan-42", patchctl.RoleEngineer, plan, &pi)
	if !pi.Recorded || !pi.HasChanges || pi.Evidence.Ref != "plan-42" || pi.Evidence.Kind != patchctl.EvidenceTerraformPlan ||
		!strings.Contains(pi.Evidence.Details["gke_changes"], "google_container_node_pool.full_list_default_1") || len(pi.GKE) == 0 {
		t.Fatalf("plan import: %+v", pi)
	}
	h.must(200, "POST", "/patches/"+p.Key+"/tfplan?ref=plan-42", patchctl.RoleEngineer, plan, &pi)
	if pi.Recorded {
		t.Error("the same plan was recorded twice")
	}
	if code, out := h.api("POST", "/patches/"+p.Key+"/tfplan", patchctl.RoleEngineer, `{"format_version": "1.0", "resource_changes": [`); code != 400 ||
		!strings.Contains(string(out), "line") {
		t.Errorf("malformed plan: %d %s", code, out)
	}

	var k patchctl.Patch
	h.must(201, "POST", "/patches", patchctl.RoleEngineer, map[string]any{
		"title": "GKE node upgrade to 1.29.8", "kind": "kubernetes",
		"target": map[string]any{"clusters": []string{"mgmt", "main"}, "upgrade": "node", "version": "1.29.8"},
		"links":  []map[string]any{{"type": "vulnerability", "ref": "CVE-2024-10220"}},
	}, &k)
	h.must(200, "POST", "/patches/"+k.Key+"/transitions", patchctl.RoleEngineer, map[string]any{}, nil) // planned: waves exist
	h.must(200, "POST", "/patches/"+k.Key+"/transitions", patchctl.RoleEngineer, map[string]any{}, nil) // upgrading_management
	h.must(200, "POST", "/patches/"+k.Key+"/waves/1", patchctl.RoleEngineer, map[string]any{"op": "start"}, nil)
	state, err := os.ReadFile("../integration/tfplan/testdata/state-gke.json")
	if err != nil {
		t.Fatal(err)
	}
	var si gitops.StateImport
	h.must(200, "POST", "/patches/"+k.Key+"/tfstate", patchctl.RoleEngineer, state, &si)
	if !si.Recorded || si.Evidence.Kind != patchctl.EvidenceTerraformApply || len(si.Waves) != 1 ||
		si.Waves[0].Subject != "mgmt/system" || si.Waves[0].Version != "1.29.8" || si.Waves[0].Details["observed_version"] != "1.29.8-gke.1031000" {
		t.Fatalf("state import: %s", mustJSON(si))
	}
	// The wave's completion gate accepts the apply as its evidence.
	h.must(200, "POST", "/patches/"+k.Key+"/waves/1", patchctl.RoleEngineer, map[string]any{"op": "complete"}, nil)
}

func mustJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

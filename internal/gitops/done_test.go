package gitops_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/app/apptest"
	"github.com/patchctl/patchctl/internal/integration/argocd/argocdtest"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/testdb"
)

// pr describes a pull request of acme/payments to write into a corpus
// payload.
type pr struct {
	number                   int
	branch, head, title      string
	author                   string
	state                    string
	merged                   bool
	mergeSHA, mergedBy       string
	created, updated, closed time.Time
}

func (p pr) write(m map[string]any) {
	url := fmt.Sprintf("https://github.com/%s/pull/%d", repo, p.number)
	set(m, "number", p.number)
	set(m, "repository.full_name", repo)
	set(m, "pull_request.number", p.number)
	set(m, "pull_request.html_url", url)
	set(m, "pull_request.title", p.title)
	set(m, "pull_request.body", "Fixes CVE-2024-6119.")
	set(m, "pull_request.user.login", p.author)
	set(m, "pull_request.state", p.state)
	set(m, "pull_request.draft", false)
	set(m, "pull_request.head.ref", p.branch)
	set(m, "pull_request.head.sha", p.head)
	set(m, "pull_request.head.repo.full_name", repo)
	set(m, "pull_request.base.ref", "main")
	set(m, "pull_request.base.repo.full_name", repo)
	set(m, "pull_request.created_at", stamp(p.created))
	set(m, "pull_request.updated_at", stamp(p.updated))
	set(m, "pull_request.merged", p.merged)
	if p.merged {
		set(m, "pull_request.merge_commit_sha", p.mergeSHA)
		set(m, "pull_request.merged_by", map[string]any{"login": p.mergedBy})
		set(m, "pull_request.merged_at", stamp(p.closed))
	} else {
		set(m, "pull_request.merged_by", nil)
		set(m, "pull_request.merged_at", nil)
	}
	if p.state == "closed" {
		set(m, "pull_request.closed_at", stamp(p.closed))
	} else {
		set(m, "pull_request.closed_at", nil)
	}
}

// review builds a pull_request_review delivery from the corpus's
// submitted review, rewritten to a review of p by login.
func review(t *testing.T, p pr, id int64, login, state string, at time.Time) []byte {
	m := payload(t, "pull_request_review__submitted.payload.json")
	p.write(m)
	set(m, "action", "submitted")
	set(m, "review.id", id)
	set(m, "review.user.login", login)
	set(m, "review.state", state)
	set(m, "review.commit_id", p.head)
	set(m, "review.submitted_at", stamp(at))
	set(m, "review.html_url", fmt.Sprintf("https://github.com/%s/pull/%d#pullrequestreview-%d", repo, p.number, id))
	return encode(t, m)
}

// workflowRun builds a completed workflow_run delivery from the corpus's.
func workflowRun(t *testing.T, id int64, name, sha, conclusion string, at time.Time) []byte {
	m := payload(t, "workflow_run__completed.payload.json")
	set(m, "repository.full_name", repo)
	set(m, "workflow_run.id", id)
	set(m, "workflow_run.name", name)
	set(m, "workflow_run.head_sha", sha)
	set(m, "workflow_run.head_branch", "main")
	set(m, "workflow_run.status", "completed")
	set(m, "workflow_run.conclusion", conclusion)
	set(m, "workflow_run.html_url", fmt.Sprintf("https://github.com/%s/actions/runs/%d", repo, id))
	set(m, "workflow_run.updated_at", stamp(at))
	return encode(t, m)
}

// TestDoneWhen drives an application patch from its pull request to
// production purely by webhook deliveries (built from the corpus payloads)
// and Argo CD notifications rendered from the shipped template, with the
// one step SOP-005 reserves to a person (the manual sign-off) done through
// the API. It then rolls production back as on-call and checks that Argo
// CD was asked to roll back to the history entry of the previous stable
// version, and that replayed and forged deliveries change nothing.
func TestDoneWhen(t *testing.T) {
	for _, engine := range testdb.Engines {
		t.Run(string(engine), func(t *testing.T) { doneWhen(t, engine) })
	}
}

func doneWhen(t *testing.T, engine store.Engine) {
	h := newHarness(t, setup{engine: engine})
	clk := h.s.Clock
	start := apptest.Start
	const (
		old    = "1111111111111111111111111111111111111111" // production before the patch
		head   = "2222222222222222222222222222222222222222" // the PR's head
		merged = "3333333333333333333333333333333333333333" // the merge commit
	)
	// The version running in production before the patch, known stable.
	h.must(201, "POST", "/releases", patchctl.RoleEngineer, map[string]any{"subject": "payments", "environment": "production",
		"version": old, "source": "baseline", "at": start.Add(-30 * 24 * time.Hour)}, nil)

	p := h.createPatch("Upgrade openssl in payments")
	key := p.Key
	branch := patchctl.BranchName(key, p.Title)
	the := pr{number: 12, branch: branch, head: head, title: "Upgrade openssl (" + key + ")", author: "erin-gh", state: "open",
		created: start.Add(time.Hour), updated: start.Add(time.Hour)}

	// 1. The pull request is opened: draft → in_progress → in_review.
	clk.Set(start.Add(time.Hour))
	opened := payload(t, "pull_request__opened.payload.json")
	the.write(opened)
	set(opened, "action", "opened")
	a := h.deliver(delivery{"pull_request", "d-opened", encode(t, opened)}, store.DeliveryProcessed, "pull request #12 open (author erin-gh)", "in_review")
	if !slices.Equal(a.Patches, []string{key}) {
		t.Errorf("patches = %v", a.Patches)
	}
	if st := h.detail(key).Patch.State; st != patchctl.StateInReview {
		t.Fatalf("after opened: %s", st)
	}

	// 2. The author approves their own pull request, which does not count.
	clk.Set(start.Add(90 * time.Minute))
	h.deliver(delivery{"pull_request_review", "d-self-review", review(t, the, 501, "erin-gh", "approved", clk.Now())},
		store.DeliveryProcessed, "review by erin-gh: approved")

	// 3. It is merged: the merge is recorded, but review_by_other refuses
	// the move to merged, and the delivery says what is missing.
	clk.Set(start.Add(2 * time.Hour))
	closed := payload(t, "pull_request__closed-merged__reallyfastci__webhook-pr-close.json")
	merge := the
	merge.state, merge.merged, merge.mergeSHA, merge.mergedBy, merge.closed, merge.updated = "closed", true, merged, "lena-gh", clk.Now(), clk.Now()
	merge.write(closed)
	set(closed, "action", "closed")
	h.deliver(delivery{"pull_request", "d-merged", encode(t, closed)}, store.DeliveryProcessed,
		"merged as "+merged[:12]+" by lena-gh", "stays in_review", "review_by_other", "someone other than the author (erin-gh)")
	d := h.detail(key)
	if d.Patch.State != patchctl.StateInReview || len(evidenceOf(d, patchctl.EvidenceMerge)) != 1 {
		t.Fatalf("after a merge without review: %s, merge evidence %v", d.Patch.State, evidenceOf(d, patchctl.EvidenceMerge))
	}

	// 4. Another person's approval arrives after the merge: the advance is
	// tried again and the patch is merged, its version the merge commit.
	clk.Set(start.Add(150 * time.Minute))
	h.deliver(delivery{"pull_request_review", "d-review", review(t, merge, 502, "hubot", "approved", clk.Now())},
		store.DeliveryProcessed, "review by hubot: approved", "in_review → merged")
	d = h.detail(key)
	if d.Patch.State != patchctl.StateMerged || d.Patch.Version != merged {
		t.Fatalf("after the approval: %s version %q", d.Patch.State, d.Patch.Version)
	}

	// 5. CI on the merge commit: a workflow named after staging is the
	// automated tests there; one naming no environment is a note.
	clk.Set(start.Add(3 * time.Hour))
	h.deliver(delivery{"workflow_run", "d-build", workflowRun(t, 900, "Build", merged, "success", clk.Now())},
		store.DeliveryProcessed, "note \"Build\" passed")
	h.deliver(delivery{"workflow_run", "d-tests", workflowRun(t, 901, "Staging tests", merged, "success", clk.Now())},
		store.DeliveryProcessed, "test_run in staging \"Staging tests\" passed", "deployed_to_staging")

	// 6. Argo CD deploys the merge commit to staging: merged → staging.
	clk.Set(start.Add(4 * time.Hour))
	stg := argoApp(t, "payments-staging")
	argocdtest.SetAutoSync(stg, false)
	synced(stg, merged, "Healthy", clk.Now(), argocdtest.History{ID: 3, Revision: merged, DeployedAt: clk.Now()})
	h.argo.Put(stg)
	code, a, raw := h.notify(stg, "on-deployed", "")
	if code != 200 || a.Status != store.DeliveryProcessed || !strings.Contains(a.Summary, "merged → staging") {
		t.Fatalf("staging on-deployed: %d %+v\n%s", code, a, raw)
	}

	// 7. The manual sign-off is a person's, through the API; automation
	// may not give it.
	clk.Set(start.Add(5 * time.Hour))
	h.must(201, "POST", "/patches/"+key+"/evidence", patchctl.RoleEngineer,
		map[string]any{"kind": "signoff", "environment": "staging", "version": merged}, nil)
	var tr service.TransitionResult
	h.must(200, "POST", "/patches/"+key+"/transitions", patchctl.RoleEngineer, map[string]any{}, &tr)
	if tr.To != patchctl.StateValidated {
		t.Fatalf("validation: %+v", tr)
	}

	// 8. Argo CD deploys the same version to production: validated →
	// production.
	clk.Set(start.Add(6 * time.Hour))
	prod := argoApp(t, "payments-prod")
	synced(prod, merged, "Healthy", clk.Now(),
		argocdtest.History{ID: 7, Revision: old, DeployedAt: start.Add(-30 * 24 * time.Hour)},
		argocdtest.History{ID: 8, Revision: merged, DeployedAt: clk.Now()})
	h.argo.Put(prod) // automated sync stays on, as the corpus manifest has it
	code, a, raw = h.notify(prod, "on-deployed", "")
	if code != 200 || !strings.Contains(a.Summary, "validated → production") {
		t.Fatalf("production on-deployed: %d %+v\n%s", code, a, raw)
	}
	d = h.detail(key)
	if d.Patch.State != patchctl.StateProduction {
		t.Fatalf("after production: %s", d.Patch.State)
	}
	if d.Rollback == nil || d.Rollback.ToVersion != old || d.Rollback.Environment != "production" {
		t.Fatalf("rollback preview %+v, want production back to %s", d.Rollback, old)
	}

	// Replays and forgeries change nothing: same revision, same audit head.
	rev, head0 := d.Patch.Revision, h.auditHead()
	code, a, _ = h.send(delivery{"pull_request_review", "d-review", review(t, merge, 502, "hubot", "approved", clk.Now())}, "")
	if code != 200 || a.Status != "duplicate" {
		t.Errorf("replayed review: %d %+v", code, a)
	}
	code, a, _ = h.notify(prod, "on-deployed", "")
	if code != 200 || a.Status != "duplicate" {
		t.Errorf("replayed notification: %d %+v", code, a)
	}
	forged := review(t, merge, 503, "mallory", "changes_requested", clk.Now())
	if code, _, _ := h.send(delivery{"pull_request_review", "d-forged", forged}, "not the secret"); code != 401 {
		t.Errorf("forged delivery: %d, want 401", code)
	}
	if code, _, _ := h.notify(prod, "on-health-degraded", "wrong token"); code != 401 {
		t.Errorf("forged notification: %d, want 401", code)
	}
	d = h.detail(key)
	if d.Patch.Revision != rev || h.auditHead() != head0 {
		t.Fatalf("replays and forgeries changed something: revision %d → %d, audit head %d → %d", rev, d.Patch.Revision, head0, h.auditHead())
	}
	var forgedRows []store.Delivery
	h.must(200, "GET", "/deliveries?source=github", patchctl.RoleViewer, nil, &forgedRows)
	for _, r := range forgedRows {
		if r.DeliveryID == "d-forged" {
			t.Errorf("a forged delivery was recorded: %+v", r)
		}
	}
	if len(forgedRows) != 6 {
		t.Errorf("%d github deliveries recorded, want 6", len(forgedRows))
	}

	// 9. Production turns degraded: on-call gets the rollback proposal.
	clk.Set(start.Add(7 * time.Hour))
	argocdtest.SetHealth(prod, "Degraded")
	h.argo.Put(prod)
	code, a, raw = h.notify(prod, "on-health-degraded", "")
	if code != 200 || !strings.Contains(a.Summary, "on-call alerted") {
		t.Fatalf("degraded: %d %+v\n%s", code, a, raw)
	}
	var msgs []store.OutboxMessage
	h.must(200, "GET", "/notifications?topic="+service.TopicDegraded, patchctl.RoleViewer, nil, &msgs)
	if len(msgs) != 1 {
		t.Fatalf("%d degraded alerts", len(msgs))
	}
	var alert struct {
		Recipient string         `json:"recipient"`
		Proposal  map[string]any `json:"proposal"`
	}
	if err := json.Unmarshal(msgs[0].Payload, &alert); err != nil {
		t.Fatal(err)
	}
	prop := alert.Proposal
	if alert.Recipient != "oncall" || prop["environment"] != "production" || prop["from_version"] != merged || prop["to_version"] != old {
		t.Errorf("degraded alert %s", msgs[0].Payload)
	}

	// 10. On-call decides the rollback through the API; the executor
	// carries it out on Argo CD: auto-sync off (configured), then the
	// rollback to history 7, which deployed the previous stable version.
	var rb service.RollbackResult
	h.must(200, "POST", "/patches/"+key+"/rollback", patchctl.RoleOncall,
		map[string]any{"severity": "sev2", "reason": "5xx after the upgrade"}, &rb)
	if rb.ToVersion != old || rb.Environment != "production" {
		t.Fatalf("rollback decision %+v", rb)
	}
	clk.Advance(10 * time.Second)
	h.runTimers() // the outbox poll picks the decision up
	h.runTimers() // the rollback timer carries it out
	rbs := h.argo.Rollbacks()
	if len(rbs) != 1 || rbs[0].Name != "payments-prod" || rbs[0].ID != 7 || rbs[0].Refused != "" {
		t.Fatalf("Argo CD rollbacks %+v, want one of payments-prod to history 7", rbs)
	}
	if argocdtest.AutoSyncEnabled(h.argo.App("payments-prod")) {
		t.Error("automated sync still on after the rollback")
	}
	d = h.detail(key)
	var executed *patchctl.Evidence
	for _, e := range evidenceOf(d, patchctl.EvidenceRollback) {
		if e.Result == "executed" {
			executed = &e
		}
	}
	if executed == nil || executed.Details["history_id"] != "7" || executed.Details["decided_by"] != apptest.People[patchctl.RoleOncall] ||
		executed.Details["reason"] != "5xx after the upgrade" || executed.Version != old || executed.Actor != "system:argocd" {
		t.Fatalf("rollback execution evidence %+v", executed)
	}
	if !slices.ContainsFunc(evidenceOf(d, patchctl.EvidenceNote), func(e patchctl.Evidence) bool {
		return strings.Contains(e.Details["text"], "automated sync of payments-prod turned off")
	}) {
		t.Error("turning auto-sync off is not on the record")
	}

	// Run again, later: the decision is carried out once.
	clk.Advance(time.Minute)
	h.runTimers()
	h.runTimers()
	if n := len(h.argo.Rollbacks()); n != 1 {
		t.Errorf("%d rollback calls after running the timers again, want 1", n)
	}
	var v struct {
		OK bool `json:"ok"`
	}
	h.must(200, "GET", "/audit/verify", patchctl.RoleViewer, nil, &v)
	if !v.OK {
		t.Error("audit chain does not verify")
	}
}

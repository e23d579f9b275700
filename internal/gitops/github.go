package gitops

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/integration/github"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/textutil"
)

// HandleGitHub applies a verified, parsed GitHub delivery: its evidence,
// the transitions it makes possible and its delivery record commit in one
// transaction, as system:github. A delivery id seen before is a duplicate
// and changes nothing.
func (l *Loop) HandleGitHub(ctx context.Context, ev *github.Event) (*service.DeliveryResult, error) {
	d := store.Delivery{Source: SourceGitHub, DeliveryID: ev.Delivery, Event: ev.Name, Action: ev.Action, Repository: ev.Repo}
	res, err := l.svc.Deliver(ctx, actorGitHub, d, func(ctx context.Context, au *service.Automation, d *store.Delivery) error {
		return l.applyGitHub(ctx, au, ev, d)
	})
	if err == nil && !res.Duplicate {
		l.log.Info("github delivery", "delivery", ev.Delivery, "event", ev.Name, "action", ev.Action, "repo", ev.Repo,
			"status", res.Delivery.Status, "patches", strings.Join(res.Delivery.PatchKeys, " "))
	}
	return res, err
}

func (l *Loop) applyGitHub(ctx context.Context, au *service.Automation, ev *github.Event, d *store.Delivery) error {
	cfg := au.Config()
	switch {
	case ev.Type == github.TypeIgnored:
		d.Status, d.Summary = store.DeliveryIgnored, ev.Name+" events are not acted on"
		return nil
	case ev.Type == github.TypePing:
		d.Status = store.DeliveryIgnored
		d.Summary = "ping: the webhook reaches patchctl"
		if ev.Ping != nil && ev.Ping.HookID != 0 {
			d.Summary = fmt.Sprintf("ping from hook %d: the webhook reaches patchctl", ev.Ping.HookID)
		}
		return nil
	case ev.Repo != "" && !repoAllowed(cfg, ev.Repo):
		d.Status = store.DeliveryUnmatched
		d.Summary = "repository " + ev.Repo + " is not in integrations.github.repositories"
		return nil
	}
	o := &outcome{}
	var unmatched string
	var err error
	switch ev.Type {
	case github.TypePullRequest:
		unmatched, err = l.onPullRequest(ctx, au, ev, o)
	case github.TypePullRequestReview:
		unmatched, err = l.onReview(ctx, au, ev, o, d)
	case github.TypeCheckSuite, github.TypeCheckRun, github.TypeWorkflowRun:
		unmatched, err = l.onCheck(ctx, au, ev, o, d)
	case github.TypeDeploymentStatus:
		unmatched, err = l.onDeployment(ctx, au, ev, o, d)
	case github.TypePush:
		unmatched, err = l.onPush(ctx, au, ev, o, d)
	case github.TypeDependabotAlert, github.TypeRepositoryVulnerabilityAlert:
		return l.onAlert(ctx, au, ev, d)
	case github.TypeSecurityAdvisory:
		unmatched, err = l.onAdvisory(ctx, au, ev, o)
	default:
		d.Status, d.Summary = store.DeliveryIgnored, ev.Name+" events are not acted on"
		return nil
	}
	if err != nil || d.Status == store.DeliveryIgnored {
		return err
	}
	o.finish(d, unmatched)
	return nil
}

// onPullRequest records the pull request on the patches it refers to
// (branch patch/PATCH-n-..., or PATCH-n in its title or body) and moves
// them forward: to in_review while it is open, to merged once merged.
func (l *Loop) onPullRequest(ctx context.Context, au *service.Automation, ev *github.Event, o *outcome) (string, error) {
	pr := ev.PullRequest
	if deploy := au.Config().Integrations.ArgoCD.DeployRepository; deploy != "" && strings.EqualFold(ev.Repo, deploy) {
		return l.onDeployPullRequest(ctx, au, ev, o)
	}
	patches, err := openPatches(ctx, au, ev.PatchKeys, ev.Repo, o)
	if err != nil {
		return "", err
	}
	for _, p := range patches {
		if err := l.recordPullRequest(ctx, au, p, pr, ev.Action, "delivery "+ev.Delivery, o); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("pull request #%d (branch %s) refers to no open patch", pr.Number, pr.HeadRef), nil
}

// onDeployPullRequest handles a pull request of the deployment repository
// (integrations.argocd.deploy_repository), which serves every
// application: when one that refers to merged patches (PATCH-n in its
// title or body) is merged, its merge commit is the revision Argo CD will
// deploy them with, recorded as merge evidence whose version is that
// revision (the patch's own version stays). Argo CD syncs of the revision
// are then matched to the patches. Nothing else of it is recorded, and it
// moves no patch: the patch's review and merge are its own pull request's.
func (l *Loop) onDeployPullRequest(ctx context.Context, au *service.Automation, ev *github.Event, o *outcome) (string, error) {
	pr := ev.PullRequest
	if !pr.Merged || pr.MergeCommitSHA == "" {
		return fmt.Sprintf("pull request #%d of the deployment repository counts once merged", pr.Number), nil
	}
	patches, err := openPatches(ctx, au, ev.PatchKeys, "", o)
	if err != nil {
		return "", err
	}
	for _, p := range patches {
		if !reached(p, patchctl.StateMerged) {
			o.skip("%s is %s: a deployment is matched to a patch once its own pull request is merged", p.Key, p.State)
			continue
		}
		m := patchctl.Evidence{Kind: patchctl.EvidenceMerge, Ref: prRef(pr), Version: pr.MergeCommitSHA, Subject: orUnknown(pr.MergedBy),
			Source: SourceGitHub, At: timeOr(pr.MergedAt, pr.UpdatedAt),
			Details: map[string]string{"repo": pr.Repo, "number": strconv.Itoa(pr.Number), "deploys": p.Version, "role": "deployment",
				"via": "delivery " + ev.Delivery}}
		if _, added, err := au.Record(ctx, p, m); err != nil {
			return "", err
		} else if added {
			o.did(p.Key, "deployment repository merge %s deploys %s", short(pr.MergeCommitSHA), short(p.Version))
		}
	}
	return fmt.Sprintf("merged pull request #%d of the deployment repository refers to no merged open patch", pr.Number), nil
}

// recordPullRequest records a pull request's state on p (and its merge)
// and attempts the transitions it allows. via says where it was learnt.
func (l *Loop) recordPullRequest(ctx context.Context, au *service.Automation, p *patchctl.Patch, pr *github.PullRequest, action, via string, o *outcome) error {
	e := prEvidence(pr, action, via)
	if _, added, err := au.Record(ctx, p, e); err != nil {
		return err
	} else if added {
		o.did(p.Key, "pull request #%d %s (author %s)", pr.Number, e.Result, e.Subject)
	}
	ceiling := patchctl.StateInReview
	switch {
	case pr.Merged && pr.MergeCommitSHA != "":
		m := patchctl.Evidence{Kind: patchctl.EvidenceMerge, Ref: e.Ref, Version: pr.MergeCommitSHA, Subject: orUnknown(pr.MergedBy),
			Source: SourceGitHub, At: timeOr(pr.MergedAt, pr.UpdatedAt),
			Details: map[string]string{"repo": pr.Repo, "number": strconv.Itoa(pr.Number), "branch": pr.HeadRef, "base": pr.BaseRef,
				"pr_author": pr.Author, "via": via}}
		if _, added, err := au.Record(ctx, p, m); err != nil {
			return err
		} else if added {
			o.did(p.Key, "merged as %s by %s", short(pr.MergeCommitSHA), m.Subject)
		}
		ceiling = patchctl.StateMerged
	case pr.Merged:
		o.did(p.Key, "pull request #%d merged, but GitHub sent no merge commit: no merge evidence", pr.Number)
		return nil
	case pr.State == "closed":
		return nil
	}
	adv, err := au.Advance(ctx, p, ceiling, "github: pull request #"+strconv.Itoa(pr.Number)+" "+e.Result+" ("+via+")")
	if err != nil {
		return err
	}
	o.advanced(p, adv)
	return nil
}

// prEvidence is the pull_request evidence of a pull request: the author is
// its subject (review_by_other compares reviewers with it) and the head
// branch is in its details (dedicated_branch reads it).
func prEvidence(pr *github.PullRequest, action, via string) patchctl.Evidence {
	result := "open"
	switch {
	case pr.State == "closed" && pr.Merged:
		result = "merged"
	case pr.State == "closed":
		result = "closed"
	case pr.Draft:
		result = "draft"
	}
	at := pr.UpdatedAt
	switch action {
	case github.ActionOpened:
		at = pr.CreatedAt
	case github.ActionClosed:
		at = timeOr(pr.ClosedAt, pr.UpdatedAt)
	}
	details := map[string]string{"repo": pr.Repo, "number": strconv.Itoa(pr.Number), "branch": pr.HeadRef,
		"head_sha": pr.HeadSHA, "base": pr.BaseRef, "title": textutil.Clip(pr.Title, 200), "via": via}
	if action != "" {
		details["action"] = action
	}
	return patchctl.Evidence{Kind: patchctl.EvidencePullRequest, Ref: prRef(pr), Subject: orUnknown(pr.Author), Result: result,
		Source: SourceGitHub, At: at, Details: details}
}

func prRef(pr *github.PullRequest) string {
	if pr.URL != "" {
		return pr.URL
	}
	return pr.Repo + "#" + strconv.Itoa(pr.Number)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func timeOr(t *time.Time, fallback time.Time) time.Time {
	if t != nil {
		return *t
	}
	return fallback
}

// onReview records a review on the patches its pull request refers to;
// once the pull request is merged, an approval may be what the merge was
// waiting for, so the advance to merged is attempted again.
func (l *Loop) onReview(ctx context.Context, au *service.Automation, ev *github.Event, o *outcome, d *store.Delivery) (string, error) {
	r, pr := ev.Review, ev.PullRequest
	if r.State == github.ReviewPending {
		d.Status, d.Summary = store.DeliveryIgnored, "a pending review is not submitted yet"
		return "", nil
	}
	patches, err := openPatches(ctx, au, ev.PatchKeys, ev.Repo, o)
	if err != nil {
		return "", err
	}
	for _, p := range patches {
		if err := l.recordReview(ctx, au, p, pr, r, "delivery "+ev.Delivery, o); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("review of pull request #%d (branch %s) refers to no open patch", pr.Number, pr.HeadRef), nil
}

// recordReview records a review of pr on p (and pr itself when p has no
// record of it yet) and attempts the advance the review may unblock.
func (l *Loop) recordReview(ctx context.Context, au *service.Automation, p *patchctl.Patch, pr *github.PullRequest, r *github.Review, via string, o *outcome) error {
	ev, err := au.Evidence(ctx, p)
	if err != nil {
		return err
	}
	ref := prRef(pr)
	if !hasRef(ev, patchctl.EvidencePullRequest, ref) {
		if _, _, err := au.Record(ctx, p, prEvidence(pr, "", via)); err != nil {
			return err
		}
	}
	reviewRef := r.URL
	if reviewRef == "" {
		reviewRef = fmt.Sprintf("%s#pullrequestreview-%d", ref, r.ID)
	}
	e := patchctl.Evidence{Kind: patchctl.EvidenceReview, Ref: reviewRef, Subject: orUnknown(r.Reviewer), Result: r.State,
		Source: SourceGitHub, At: timeOr(r.SubmittedAt, time.Time{}),
		Details: map[string]string{"repo": pr.Repo, "number": strconv.Itoa(pr.Number), "commit": r.CommitID,
			"pr_author": orUnknown(pr.Author), "association": r.AuthorAssociation, "via": via}}
	if _, added, err := au.Record(ctx, p, e); err != nil {
		return err
	} else if added {
		o.did(p.Key, "review by %s: %s", e.Subject, e.Result)
	}
	// What was recorded here is no merge: the evidence read above says
	// whether the patch is merged.
	ceiling := patchctl.StateInReview
	if hasKind(ev, patchctl.EvidenceMerge) {
		ceiling = patchctl.StateMerged
	}
	adv, err := au.Advance(ctx, p, ceiling, "github: review by "+e.Subject+" ("+via+")")
	if err != nil {
		return err
	}
	o.advanced(p, adv)
	return nil
}

func hasRef(ev []patchctl.Evidence, kind patchctl.EvidenceKind, ref string) bool {
	for _, e := range ev {
		if e.Kind == kind && e.Ref == ref {
			return true
		}
	}
	return false
}

// onCheck records a concluded CI run (check suite, check run, workflow
// run) on the patches it is about: those shipping its head commit, and
// those its head branch is dedicated to. See recordCheck for what it
// becomes.
func (l *Loop) onCheck(ctx context.Context, au *service.Automation, ev *github.Event, o *outcome, d *store.Delivery) (string, error) {
	c := ev.Check
	if c.Result != patchctl.ResultPassed && c.Result != patchctl.ResultFailed {
		d.Status, d.Summary = store.DeliveryIgnored, fmt.Sprintf("%s %q on %s has not concluded (%s)", ev.Name, c.Name, short(c.HeadSHA), c.Status)
		return "", nil
	}
	patches, err := shippingOrNamed(ctx, au, ev, c.HeadSHA, o)
	if err != nil {
		return "", err
	}
	for _, p := range patches {
		if err := l.recordCheck(ctx, au, p, ev.Type, c, "delivery "+ev.Delivery, o); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%s %q on %s (branch %s) is about no open patch", ev.Name, c.Name, short(c.HeadSHA), orDash(c.HeadBranch)), nil
}

// shippingOrNamed returns the open patches a CI run or deployment of sha
// is about: those ev names (its branch) and those shipping sha, which may
// take evidence from ev's repository.
func shippingOrNamed(ctx context.Context, au *service.Automation, ev *github.Event, sha string, o *outcome) ([]*patchctl.Patch, error) {
	byVersion, err := au.PatchesByVersion(ctx, sha)
	if err != nil {
		return nil, err
	}
	patches, err := openPatches(ctx, au, ev.PatchKeys, ev.Repo, o)
	if err != nil {
		return nil, err
	}
	for _, p := range byVersion {
		if keep(p, ev.Repo, o) {
			patches = union(patches, p)
		}
	}
	return patches, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// recordCheck turns a concluded CI run into evidence on p:
//
//   - a workflow run whose name contains the word "apply" is the Terraform
//     apply of the patch (terraform_apply evidence);
//   - a run whose name names one environment (EnvironmentOf) is the
//     automated tests of its head commit in that environment (test_run
//     evidence), which the staging gate counts when the commit is the
//     patch's version;
//   - any other run is recorded as a note: CI evidence without an
//     environment, which satisfies no gate.
func (l *Loop) recordCheck(ctx context.Context, au *service.Automation, p *patchctl.Patch, typ github.Type, c *github.Check, via string, o *outcome) error {
	cfg := au.Config()
	ref := c.URL
	if ref == "" {
		ref = fmt.Sprintf("%s:%d", typ, c.ID)
	}
	details := map[string]string{"check": string(typ), "name": c.Name, "id": strconv.FormatInt(c.ID, 10), "conclusion": c.Conclusion,
		"head_sha": c.HeadSHA, "branch": c.HeadBranch, "via": via}
	at := timeOr(c.CompletedAt, time.Time{})
	env := EnvironmentOf(cfg.Environments, c.Name)
	var e patchctl.Evidence
	switch {
	case typ == github.TypeWorkflowRun && hasWord(c.Name, "apply"):
		e = patchctl.Evidence{Kind: patchctl.EvidenceTerraformApply, Ref: ref, Version: c.HeadSHA, Result: c.Result, Subject: c.Name,
			Source: SourceGitHub, At: at, Details: details}
	case env != "":
		e = patchctl.Evidence{Kind: patchctl.EvidenceTestRun, Ref: ref, Environment: env, Version: c.HeadSHA, Result: c.Result,
			Subject: c.Name, Source: SourceGitHub, At: at, Details: details}
	default:
		details["text"] = fmt.Sprintf("CI %q %s on %s; its name names no environment, so it does not count as the automated tests of one",
			c.Name, c.Result, short(c.HeadSHA))
		e = patchctl.Evidence{Kind: patchctl.EvidenceNote, Ref: ref, Result: c.Result, Subject: c.Name, Source: SourceGitHub, At: at, Details: details}
	}
	if _, added, err := au.Record(ctx, p, e); err != nil {
		return err
	} else if added {
		what := string(e.Kind)
		if env != "" && e.Kind == patchctl.EvidenceTestRun {
			what += " in " + env
		}
		o.did(p.Key, "%s %q %s on %s", what, c.Name, c.Result, short(c.HeadSHA))
	}
	if e.Kind != patchctl.EvidenceTestRun || c.Result != patchctl.ResultPassed || c.HeadSHA != p.Version {
		return nil
	}
	if ce, ok := cfg.Environment(env); !ok || ce.Production {
		return nil
	}
	adv, err := au.Advance(ctx, p, patchctl.StateValidated, "github: "+c.Name+" passed ("+via+")")
	if err != nil {
		return err
	}
	o.advanced(p, adv)
	return nil
}

// onDeployment records a concluded deployment status as deployment
// evidence for its environment on the patches shipping its commit (or
// whose dedicated branch it deployed) and moves them to staging or
// production.
func (l *Loop) onDeployment(ctx context.Context, au *service.Automation, ev *github.Event, o *outcome, d *store.Delivery) (string, error) {
	dep := ev.Deployment
	var result string
	switch dep.State {
	case "success":
		result = patchctl.ResultPassed
	case "failure", "error":
		result = patchctl.ResultFailed
	default:
		d.Status, d.Summary = store.DeliveryIgnored, fmt.Sprintf("deployment %d to %s is %s", dep.ID, dep.Environment, dep.State)
		return "", nil
	}
	cfg := au.Config()
	env, ok := environment(cfg, dep.Environment)
	if !ok {
		return fmt.Sprintf("deployment environment %q is not a configured environment", dep.Environment), nil
	}
	patches, err := shippingOrNamed(ctx, au, ev, dep.SHA, o)
	if err != nil {
		return "", err
	}
	for _, p := range patches {
		if !targets(p, env.Name) {
			o.skip("%s does not deploy to %s", p.Key, env.Name)
			continue
		}
		pev, err := au.Evidence(ctx, p)
		if err != nil {
			return "", err
		}
		version := dep.SHA
		if p.Version != "" && shipsVersion(p, pev, dep.SHA) {
			version = p.Version
		}
		e := patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Ref: fmt.Sprintf("github:%s/deployments/%d", ev.Repo, dep.ID),
			Environment: env.Name, Version: version, Result: result, Subject: dep.Creator, Source: SourceGitHub,
			At: timeOr(dep.CreatedAt, time.Time{}),
			Details: map[string]string{"deployment": strconv.FormatInt(dep.ID, 10), "status": strconv.FormatInt(dep.StatusID, 10),
				"sha": dep.SHA, "ref": dep.Ref, "url": firstOf(dep.EnvironmentURL, dep.TargetURL, dep.LogURL), "via": "delivery " + ev.Delivery}}
		if _, added, err := au.Record(ctx, p, e); err != nil {
			return "", err
		} else if added {
			o.did(p.Key, "deployment of %s to %s %s", short(version), env.Name, result)
		}
		if result != patchctl.ResultPassed || version != p.Version {
			continue
		}
		adv, err := au.Advance(ctx, p, ceilingFor(cfg, env.Name), "github: deployed to "+env.Name+" (delivery "+ev.Delivery+")")
		if err != nil {
			return "", err
		}
		o.advanced(p, adv)
	}
	return fmt.Sprintf("deployment of %s to %s is about no open patch", short(dep.SHA), env.Name), nil
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// onPush records a push to a patch's dedicated branch as branch evidence
// and moves a draft patch to in_progress: work on it has started.
func (l *Loop) onPush(ctx context.Context, au *service.Automation, ev *github.Event, o *outcome, d *store.Delivery) (string, error) {
	push := ev.Push
	if push.Deleted {
		d.Status, d.Summary = store.DeliveryIgnored, "deletion of "+push.Ref
		return "", nil
	}
	patches, err := openPatches(ctx, au, ev.PatchKeys, ev.Repo, o)
	if err != nil {
		return "", err
	}
	for _, p := range patches {
		e := patchctl.Evidence{Kind: patchctl.EvidenceBranch, Ref: push.Branch, Subject: push.Pusher, Source: SourceGitHub,
			Details: map[string]string{"repo": ev.Repo, "head": push.After, "created": strconv.FormatBool(push.Created), "via": "delivery " + ev.Delivery}}
		if _, added, err := au.Record(ctx, p, e); err != nil {
			return "", err
		} else if added {
			o.did(p.Key, "branch %s pushed by %s", push.Branch, push.Pusher)
		}
		adv, err := au.Advance(ctx, p, patchctl.StateInProgress, "github: push to "+push.Branch+" (delivery "+ev.Delivery+")")
		if err != nil {
			return "", err
		}
		o.advanced(p, adv)
	}
	return "push to " + push.Ref + " is to no patch's dedicated branch", nil
}

// onAdvisory notes a GitHub security advisory on the open patches linked
// to its GHSA or CVE ids.
func (l *Loop) onAdvisory(ctx context.Context, au *service.Automation, ev *github.Event, o *outcome) (string, error) {
	a := ev.Advisory
	var ids []string
	for _, id := range append([]string{a.GHSAID, a.CVEID}, a.Aliases...) {
		if n, err := patchctl.NormalizeVulnID(id); err == nil && !slices.Contains(ids, n) {
			ids = append(ids, n)
		}
	}
	if len(ids) == 0 {
		return "the advisory carries no GHSA or CVE id", nil
	}
	patches, err := au.PatchesLinkedTo(ctx, ids...)
	if err != nil {
		return "", err
	}
	verb := a.Action
	if a.Withdrawn() {
		verb = "withdrawn"
	}
	text := fmt.Sprintf("GitHub security advisory %s %s: %s", ids[0], verb, textutil.Clip(a.Summary, 300))
	if a.Severity != "" {
		text += fmt.Sprintf(" (severity %s", a.Severity)
		if a.CVSS > 0 {
			text += fmt.Sprintf(", CVSS %.1f", a.CVSS)
		}
		text += ")"
	}
	for _, p := range patches {
		e := patchctl.Evidence{Kind: patchctl.EvidenceNote, Ref: ids[0] + "#" + verb, Subject: ids[0], Source: SourceGitHub,
			Details: map[string]string{"text": text, "advisory": ids[0], "ids": strings.Join(ids, " "), "action": verb,
				"severity": string(a.Severity), "via": "delivery " + ev.Delivery}}
		if _, added, err := au.Record(ctx, p, e); err != nil {
			return "", err
		} else if added {
			o.did(p.Key, "advisory %s %s noted", ids[0], verb)
		}
	}
	return "no open patch is linked to " + strings.Join(ids, ", "), nil
}

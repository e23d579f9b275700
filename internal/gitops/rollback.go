package gitops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/integration/argocd"
	"github.com/patchctl/patchctl/internal/integration/gitrepo"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

// Rollback outcomes, the result of the rollback evidence the executor
// records next to the decision's.
const (
	RollbackExecuted = "executed"
	RollbackRefused  = "refused"
)

// rollbackAttempts bounds the attempts at a rollback that fails before
// anything changed remotely (Argo CD or GitHub unreachable): with the
// scheduler's backoff, eight attempts take about four minutes. It is below
// the scheduler's own limit, so that the last failure is recorded and
// on-call paged rather than the timer silently marked failed.
const rollbackAttempts = 8

// refusal is a rollback that cannot be carried out automatically: it is
// recorded, on-call is paged, and it is not retried.
type refusal struct {
	msg     string
	details map[string]string
}

func (r *refusal) Error() string { return r.msg }

func refuse(format string, args ...any) error { return &refusal{msg: fmt.Sprintf(format, args...)} }

// handleRollback carries out one rollback decision, inside the transaction
// that finishes its timer, so that the evidence of the execution and the
// timer's completion commit together.
//
// Durability and idempotence: the timer is created once per outbox message
// (ScheduleTimerOnce), in the scheduler's store, and is retried with
// backoff while it fails before anything changed remotely (Argo CD or
// GitHub unreachable, an operation still running), up to rollbackAttempts. Each remote step is
// idempotent or checked first: an Argo CD application already at the
// target revision since the decision, or with a rollback running, is not
// rolled back again; a revert branch that exists is not pushed again and
// OpenDraftPR returns the open pull request. A failure after a remote
// change (auto-sync turned off, then the rollback refused) is recorded as
// refused with what was done, and on-call is paged: it is not retried
// blindly.
func (l *Loop) handleRollback(ctx context.Context, tx *store.Tx, t store.Timer) error {
	var req rollbackRequest
	if err := json.Unmarshal(t.Payload, &req); err != nil {
		return &patchctl.Error{Code: patchctl.CodeInternal, Message: "rollback request unreadable", Err: err}
	}
	cfg := l.cfg()
	mode := cfg.Integrations.ArgoCD.RollbackMode
	actor, source := actorArgoCD, SourceArgoCD
	if mode == "revert_pr" {
		actor, source = actorGitHub, SourceGitHub
	}
	au, err := l.svc.AutomateIn(tx, actor)
	if err != nil {
		return err
	}
	p, err := au.Patch(ctx, req.Patch)
	if patchctl.ErrorCode(err) == patchctl.CodeNotFound {
		l.log.Error("rollback of an unknown patch", "patch_id", req.Patch, "outbox", req.Outbox)
		return nil
	}
	if err != nil {
		return err
	}
	var e *patchctl.Evidence
	age := l.svc.Now().Sub(req.CreatedAt)
	switch {
	case age > l.opts.RollbackMaxAge:
		err = refuse("the decision is %s old, over the %s patchctl waits before it stops carrying rollbacks out by itself", age.Round(time.Second), l.opts.RollbackMaxAge)
	case patchctl.Kind(req.Kind) != patchctl.KindApplication:
		err = refuse("%s patches are rolled back by hand; patchctl carries out application rollbacks only", req.Kind)
	case mode == "argocd":
		e, err = l.rollbackArgo(ctx, au, p, req)
	case mode == "revert_pr":
		e, err = l.rollbackRevert(ctx, au, p, req)
	default:
		err = refuse("rollback mode %q is not argocd or revert_pr", mode)
	}
	var r *refusal
	if err != nil && !errors.As(err, &r) && t.Attempts >= rollbackAttempts {
		// Stop retrying before the scheduler gives up on its own, which
		// would leave the timer failed without telling anyone.
		r = &refusal{msg: fmt.Sprintf("not carried out after %d attempts: %s", t.Attempts, patchctl.ErrorMessage(err))}
	}
	if r != nil {
		return l.refused(ctx, au, p, req, mode, source, r)
	}
	if err != nil {
		l.log.Warn("rollback not carried out yet; retrying", "patch_id", req.Patch, "environment", req.Environment, "err", err)
		return err
	}
	l.log.Warn("rollback carried out", "patch_id", p.Key, "environment", req.Environment, "to_version", req.ToVersion, "ref", e.Ref)
	return nil
}

// rollbackEvidence is the evidence of carrying a decision out: who decided,
// why, and the version returned to.
func rollbackEvidence(req rollbackRequest, source, result, ref string, extra map[string]string) patchctl.Evidence {
	d := map[string]string{"decided_by": req.DecidedBy, "reason": req.Reason, "severity": req.Severity, "from_version": req.FromVersion,
		"to_version": req.ToVersion, "outbox": strconv.FormatInt(req.Outbox, 10)}
	for k, v := range extra {
		d[k] = v
	}
	return patchctl.Evidence{Kind: patchctl.EvidenceRollback, Ref: ref, Environment: req.Environment, Version: req.ToVersion,
		Subject: req.DecidedBy, Result: result, Source: source, Details: d}
}

// refused records a rollback that was not carried out and pages on-call to
// redeploy by hand.
func (l *Loop) refused(ctx context.Context, au *service.Automation, p *patchctl.Patch, req rollbackRequest, mode, source string, r *refusal) error {
	extra := map[string]string{"error": r.msg, "mode": mode}
	for k, v := range r.details {
		extra[k] = v
	}
	e := rollbackEvidence(req, source, RollbackRefused, "outbox:"+strconv.FormatInt(req.Outbox, 10), extra)
	if !p.State.Terminal() {
		if _, _, err := au.Record(ctx, p, e); err != nil {
			return err
		}
	}
	summary := fmt.Sprintf("Rollback of %s in %s to %s (decided by %s) was NOT carried out: %s. Redeploy %s by hand.",
		p.Key, req.Environment, req.ToVersion, req.DecidedBy, r.msg, req.ToVersion)
	if _, err := au.Enqueue(ctx, service.TopicPageOncall, p.Key, map[string]any{"patch": p.Key, "title": p.Title,
		"environment": req.Environment, "to_version": req.ToVersion, "decided_by": req.DecidedBy, "reason": r.msg, "summary": summary}); err != nil {
		return err
	}
	l.log.Error("rollback not carried out", "patch_id", p.Key, "environment", req.Environment, "err", r.msg)
	return nil
}

// rollbackArgo rolls the Argo CD application of (application, environment)
// back to the history entry that deployed the target version.
func (l *Loop) rollbackArgo(ctx context.Context, au *service.Automation, p *patchctl.Patch, req rollbackRequest) (*patchctl.Evidence, error) {
	cfg := au.Config()
	m, ok := argoAppFor(cfg, req.Subject, req.Environment)
	if !ok {
		return nil, refuse("no Argo CD application deploys %s to %s (integrations.argocd.applications)", req.Subject, req.Environment)
	}
	cl, err := l.ArgoCD()
	if err != nil {
		return nil, refuse("%s", patchctl.ErrorMessage(err))
	}
	app, err := cl.GetApplication(ctx, m.Name)
	if patchctl.ErrorCode(err) == patchctl.CodeNotFound {
		return nil, refuse("Argo CD has no application %s", m.Name)
	}
	if err != nil {
		return nil, err
	}
	// The target version is a revision Argo CD deployed, or the version of
	// a patch whose recorded deployment names the revision.
	revisions := []string{req.ToVersion}
	past, err := au.EvidenceByVersion(ctx, patchctl.EvidenceDeployment, req.Environment, req.ToVersion)
	if err != nil {
		return nil, err
	}
	for _, e := range past {
		if r := e.Details["revision"]; e.Source == SourceArgoCD && r != "" && !slices.Contains(revisions, r) {
			revisions = append(revisions, r)
		}
	}
	var hid int64
	var rev string
	for _, r := range revisions {
		if id, err := argocd.HistoryIDForRevision(app, r); err == nil {
			hid, rev = id, r
			break
		}
	}
	if rev == "" {
		return nil, refuse("the deployment history of %s has no entry for %s", m.Name, req.ToVersion)
	}
	extra := map[string]string{"app": m.Name, "history_id": strconv.FormatInt(hid, 10), "revision": rev, "mode": "argocd"}
	ref := "argocd:" + m.Name + "#rollback-" + strconv.FormatInt(hid, 10)
	// Carried out already (a retry after the transaction that recorded it
	// failed): the application runs the target since the decision.
	if n := len(app.History); n > 0 && app.History[n-1].Revision == rev && !app.History[n-1].DeployedAt.Before(req.CreatedAt) {
		extra["note"] = "the application already ran " + rev + " when patchctl looked again"
		return l.executed(ctx, au, p, req, SourceArgoCD, ref, extra)
	}
	if app.OperationPending {
		if op := app.Operation; op != nil && op.Revision == rev {
			extra["note"] = "the rollback operation was already running"
			return l.executed(ctx, au, p, req, SourceArgoCD, ref, extra)
		}
		return nil, patchctl.Errorf(patchctl.CodeConflict, "an operation is running on %s; the rollback waits for it", m.Name)
	}
	if app.AutoSync {
		if !cfg.Integrations.ArgoCD.DisableAutoSyncOnRollback {
			return nil, &refusal{details: extra, msg: fmt.Sprintf("automated sync is on for %s and Argo CD refuses a rollback while it is; "+
				"turn it off and roll back to history %d, or set integrations.argocd.disable_auto_sync_on_rollback", m.Name, hid)}
		}
		if _, err := cl.DisableAutoSync(ctx, m.Name); err != nil {
			return nil, err
		}
		extra["auto_sync"] = "turned off by patchctl before the rollback"
		note := patchctl.Evidence{Kind: patchctl.EvidenceNote, Ref: "argocd:" + m.Name + "#auto-sync-off", Environment: req.Environment,
			Source: SourceArgoCD, Subject: m.Name, Details: map[string]string{"text": fmt.Sprintf(
				"automated sync of %s turned off for the rollback decided by %s (integrations.argocd.disable_auto_sync_on_rollback); turn it back on once %s is fixed",
				m.Name, req.DecidedBy, p.Key), "app": m.Name, "outbox": strconv.FormatInt(req.Outbox, 10)}}
		if _, _, err := au.Record(ctx, p, note); err != nil {
			return nil, err
		}
		if managed := app.ManagedBy; managed != "" {
			extra["managed_by"] = managed
		}
	}
	if _, err := cl.Rollback(ctx, m.Name, hid, false, false); err != nil {
		if extra["auto_sync"] != "" || patchctl.ErrorCode(err) == patchctl.CodeNotFound {
			return nil, &refusal{details: extra, msg: "Argo CD refused the rollback of " + m.Name + ": " + patchctl.ErrorMessage(err)}
		}
		return nil, err
	}
	return l.executed(ctx, au, p, req, SourceArgoCD, ref, extra)
}

func (l *Loop) executed(ctx context.Context, au *service.Automation, p *patchctl.Patch, req rollbackRequest, source, ref string, extra map[string]string) (*patchctl.Evidence, error) {
	e := rollbackEvidence(req, source, RollbackExecuted, ref, extra)
	if p.State.Terminal() {
		return &e, nil
	}
	got, _, err := au.Record(ctx, p, e)
	return got, err
}

// rollbackRevert opens a pull request on the deployment repository that
// reverts the commit which deployed the patch: the revision recorded with
// its deployment to the environment, else the patch's version.
func (l *Loop) rollbackRevert(ctx context.Context, au *service.Automation, p *patchctl.Patch, req rollbackRequest) (*patchctl.Evidence, error) {
	cfg := au.Config()
	repo := cfg.Integrations.ArgoCD.DeployRepository
	if repo == "" {
		return nil, refuse("integrations.argocd.deploy_repository is not set")
	}
	gh, err := l.GitHub()
	if err != nil {
		return nil, refuse("%s", patchctl.ErrorMessage(err))
	}
	ev, err := au.Evidence(ctx, p)
	if err != nil {
		return nil, err
	}
	commit := req.FromVersion
	for i := len(ev) - 1; i >= 0; i-- {
		e := ev[i]
		if e.Kind == patchctl.EvidenceDeployment && e.Environment == req.Environment && e.Version == req.FromVersion &&
			e.Source == SourceArgoCD && e.Details["revision"] != "" {
			commit = e.Details["revision"]
			break
		}
	}
	if commit == "" {
		return nil, refuse("%s names no version deployed to %s to revert", p.Key, req.Environment)
	}
	branch := fmt.Sprintf("patchctl/rollback-%s-%s-%d", p.Key, patchctl.Slug(req.Environment, 30), req.Outbox)
	extra := map[string]string{"repo": repo, "branch": branch, "reverted": commit, "mode": "revert_pr"}
	_, err = gh.GetBranch(ctx, repo, branch)
	switch {
	case patchctl.ErrorCode(err) == patchctl.CodeNotFound:
		revert, err := l.pushRevert(ctx, repo, branch, commit, req)
		if err != nil {
			return nil, err
		}
		extra["revert"] = revert
	case err != nil:
		return nil, err
	default:
		extra["note"] = "branch " + branch + " was pushed by an earlier attempt"
	}
	title := fmt.Sprintf("Roll back %s in %s to %s", p.Key, req.Environment, short(req.ToVersion))
	body := fmt.Sprintf("Rollback of **%s** (%s) in **%s**, decided by **%s** (%s): %s\n\n"+
		"This reverts %s, which deployed %s, to return %s to the previous stable version %s.\n\n"+
		"Opened by patchctl. Merge it to redeploy; patchctl records the deployment when Argo CD syncs it.\n",
		p.Key, p.Title, req.Environment, req.DecidedBy, req.Severity, req.Reason, commit, req.FromVersion, req.Environment, req.ToVersion)
	pr, _, err := gh.OpenDraftPR(ctx, repo, branch, title, body)
	if err != nil {
		if patchctl.ErrorCode(err) == patchctl.CodeInvalid {
			return nil, &refusal{details: extra, msg: "GitHub refused the revert pull request: " + patchctl.ErrorMessage(err)}
		}
		return nil, err
	}
	extra["pull_request"] = strconv.Itoa(pr.Number)
	return l.executed(ctx, au, p, req, SourceGitHub, prRef(pr), extra)
}

// pushRevert clones the deployment repository, reverts commit on a new
// branch and pushes it; it returns the revert commit.
func (l *Loop) pushRevert(ctx context.Context, repo, branch, commit string, req rollbackRequest) (string, error) {
	remote, err := l.cloneURL(repo)
	if err != nil {
		return "", refuse("%s", patchctl.ErrorMessage(err))
	}
	wc, err := gitrepo.Clone(ctx, remote, "", "", gitrepo.Options{Logger: l.log})
	if err != nil {
		return "", err
	}
	defer wc.Close()
	if _, err := wc.RevParse(ctx, commit+"^{commit}"); patchctl.ErrorCode(err) == patchctl.CodeNotFound {
		return "", refuse("commit %s is not in %s", commit, repo)
	} else if err != nil {
		return "", err
	}
	if err := wc.CreateBranch(ctx, branch, ""); err != nil {
		return "", err
	}
	author := gitrepo.Author{Name: "patchctl (rollback decided by " + req.DecidedBy + ")", Email: "patchctl@users.noreply.github.com"}
	revert, err := wc.Revert(ctx, commit, author)
	if errors.Is(err, gitrepo.ErrConflict) || errors.Is(err, gitrepo.ErrNothingToCommit) {
		return "", refuse("reverting %s in %s: %s", commit, repo, patchctl.ErrorMessage(err))
	}
	if err != nil {
		return "", err
	}
	if err := wc.Push(ctx, branch); err != nil {
		return "", err
	}
	l.log.Info("revert pushed", "repo", repo, "branch", branch, "reverted", commit, "commit", revert)
	return revert, nil
}

package gitops

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/integration/argocd"
	"github.com/patchctl/patchctl/internal/integration/github"
	"github.com/patchctl/patchctl/internal/scheduler"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

// Timer kinds of the GitOps loop.
const (
	// TimerReconcile fires every integrations.github.reconcile_interval and
	// schedules one TimerReconcilePatch per in-flight patch and one
	// TimerReconcileApp per mapped Argo CD application.
	TimerReconcile = "gitops.reconcile"
	// TimerReconcilePatch re-reads one patch's pull requests, reviews and
	// check runs (subject: the patch key).
	TimerReconcilePatch = "gitops.reconcile.patch"
	// TimerReconcileApp re-reads one Argo CD application (subject: its name).
	TimerReconcileApp = "gitops.reconcile.argocd"
	// TimerOutbox fires every few seconds and turns new rollback.requested
	// outbox messages into TimerRollback timers.
	TimerOutbox = "gitops.outbox"
	// TimerRollback carries out one rollback decision (subject:
	// outbox:<message id>).
	TimerRollback = "gitops.rollback"
)

// reconcileStates are the states in which a patch waits for something
// GitHub reports: a pull request, its reviews and merge, CI on the merge.
// Drafts with a branch of their own are reconciled too.
var reconcileStates = []patchctl.State{patchctl.StateInProgress, patchctl.StateInReview, patchctl.StateMerged, patchctl.StateStaging}

// Register makes the scheduler run the loop's timers; a failing handler is
// retried with backoff (GitHub's rate limit, Argo CD down). The periodic
// timers and rollbacks run inside the transaction that finishes their
// timer, so what they record and the timer's completion commit together.
// The per-patch and per-application reconciles read GitHub and Argo CD
// outside any transaction and record what they read in a short one of
// their own; recording is idempotent, so a repeat after a crash between
// the two adds nothing.
func (l *Loop) Register(s *scheduler.Scheduler) {
	s.Handle(TimerReconcile, l.handleReconcile)
	s.HandleOutside(TimerReconcilePatch, l.handleReconcilePatch)
	s.HandleOutside(TimerReconcileApp, l.handleReconcileApp)
	s.Handle(TimerOutbox, l.handleOutbox)
	s.Handle(TimerRollback, l.handleRollback)
	if l.opts.Wake == nil {
		l.opts.Wake = s.Wake
	}
}

// reconcileEnabled reports whether there is anything to reconcile with.
func (l *Loop) reconcileEnabled() bool {
	return l.githubConfigured() || (l.argoConfigured() && len(l.cfg().Integrations.ArgoCD.Applications) > 0)
}

// rollbackEnabled reports whether rollback decisions can be carried out.
func (l *Loop) rollbackEnabled() bool {
	a := l.cfg().Integrations.ArgoCD
	switch a.RollbackMode {
	case "argocd":
		return a.URL != ""
	case "revert_pr":
		return a.DeployRepository != ""
	}
	return false
}

func (l *Loop) reconcileEvery() time.Duration {
	if d := l.cfg().Integrations.GitHub.ReconcileInterval.D(); d > 0 {
		return d
	}
	return 10 * time.Minute
}

// Start schedules the periodic timers of what is configured: the
// reconcile loop when GitHub or Argo CD REST access is configured, and the
// pick-up of rollback decisions when a rollback mode can run. A periodic
// timer already pending is left alone, so replicas starting together share
// one chain.
func (l *Loop) Start(ctx context.Context) error {
	now := l.svc.Now()
	return l.svc.DB().InTx(ctx, func(tx *store.Tx) error {
		for _, p := range []struct {
			kind string
			on   bool
			due  time.Time
		}{
			{TimerReconcile, l.reconcileEnabled(), now.Add(l.reconcileEvery())},
			{TimerOutbox, l.rollbackEnabled(), now.Add(l.opts.OutboxPoll)},
		} {
			if !p.on {
				continue
			}
			pending, err := pendingOf(ctx, tx, p.kind)
			if err != nil || len(pending) > 0 {
				return err
			}
			if err := tx.ScheduleTimer(ctx, p.kind, occurrence(p.due), p.due, nil, now); err != nil {
				return err
			}
			l.log.Info("gitops timer scheduled", "kind", p.kind, "due_at", p.due)
		}
		return nil
	})
}

// pendingOf lists the pending timers of exactly kind.
func pendingOf(ctx context.Context, tx *store.Tx, kind string) ([]store.Timer, error) {
	ts, err := tx.Timers(ctx, kind, "", true, 1000)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(ts, func(t store.Timer) bool { return t.Kind != kind }), nil
}

// occurrence names one occurrence of a periodic timer by its due time: a
// timer is unique per kind and subject, and the occurrence that runs
// cannot move itself (finishing it would then fail), so each schedules the
// next under a new subject and removes the finished ones.
func occurrence(due time.Time) string { return due.UTC().Format(time.RFC3339Nano) }

// periodic does one occurrence's work, then schedules the next unless the
// feature was turned off or another chain exists.
func (l *Loop) periodic(ctx context.Context, tx *store.Tx, t store.Timer, every time.Duration, on bool, work func() error) error {
	if on {
		if err := work(); err != nil {
			return err
		}
	}
	if err := tx.DeleteFinishedTimers(ctx, t.Kind); err != nil {
		return err
	}
	if !on {
		l.log.Info("gitops timer stopped: not configured", "kind", t.Kind)
		return nil
	}
	pending, err := pendingOf(ctx, tx, t.Kind)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(pending, func(o store.Timer) bool { return o.ID != t.ID }) {
		return nil
	}
	now := l.svc.Now()
	next := now.Add(every)
	return tx.ScheduleTimer(ctx, t.Kind, occurrence(next), next, nil, now)
}

// handleReconcile schedules the reconciliation of every in-flight patch
// and every mapped Argo CD application, each a timer of its own: one
// patch's failure (a deleted repository, the rate limit) retries alone.
func (l *Loop) handleReconcile(ctx context.Context, tx *store.Tx, t store.Timer) error {
	return l.periodic(ctx, tx, t, l.reconcileEvery(), l.reconcileEnabled(), func() error {
		now := l.svc.Now()
		n := 0
		if l.githubConfigured() {
			open := true
			kinds := []patchctl.Kind{patchctl.KindApplication, patchctl.KindInfrastructure}
			ps, _, err := tx.ListPatches(ctx, store.PatchFilter{Kinds: kinds, States: reconcileStates, Open: &open, Sort: "created", Limit: 1000})
			if err != nil {
				return err
			}
			drafts, _, err := tx.ListPatches(ctx, store.PatchFilter{Kinds: kinds, States: []patchctl.State{patchctl.StateDraft},
				Open: &open, Sort: "-updated", Limit: 1000})
			if err != nil {
				return err
			}
			for _, p := range append(ps, drafts...) {
				// Drafts are many (intake creates them); only those with a
				// branch of their own can have a pull request to find.
				if p.State == patchctl.StateDraft {
					ev, err := tx.Evidence(ctx, p.ID)
					if err != nil {
						return err
					}
					if !hasKind(ev, patchctl.EvidenceBranch) {
						continue
					}
				}
				if err := tx.ScheduleTimer(ctx, TimerReconcilePatch, p.Key, now, nil, now); err != nil {
					return err
				}
				n++
			}
		}
		if l.argoConfigured() {
			for _, a := range l.cfg().Integrations.ArgoCD.Applications {
				if err := tx.ScheduleTimer(ctx, TimerReconcileApp, a.Name, now, nil, now); err != nil {
					return err
				}
				n++
			}
		}
		if n > 0 {
			l.wake()
		}
		l.log.Debug("reconcile scheduled", "timers", n)
		return nil
	})
}

// handleReconcilePatch re-reads one patch's pull requests, reviews and
// check runs from GitHub and records what is missing, as webhooks would
// have, then attempts the transitions it allows. The pull requests are
// those its evidence names, or, when it has none (the opened delivery was
// lost), the latest one from its dedicated branch.
//
// GitHub is read outside any transaction (a slow or rate-limited API must
// not hold SQLite's single writer), then what was read is recorded in one
// short transaction that re-reads the patch: a change made meanwhile is
// seen, and evidence already recorded is not added twice.
func (l *Loop) handleReconcilePatch(ctx context.Context, t store.Timer) (time.Time, error) {
	snap, err := l.fetchPatch(ctx, t.Subject)
	if err != nil || snap == nil {
		return time.Time{}, err
	}
	var lines []string
	err = l.svc.DB().InTx(ctx, func(tx *store.Tx) error {
		au, err := l.svc.AutomateIn(tx, actorGitHub)
		if err != nil {
			return err
		}
		lines, err = l.applyPatchSnapshot(ctx, au, snap)
		return err
	})
	if err != nil {
		return time.Time{}, err
	}
	if len(lines) > 0 {
		l.log.Info("patch reconciled", "patch_id", t.Subject, "changes", strings.Join(lines, "; "))
	}
	return time.Time{}, nil
}

// patchSnapshot is what GitHub said about one patch's change.
type patchSnapshot struct {
	key     string
	repo    string
	prs     []*github.PullRequest
	reviews map[int][]github.Review
	// checks are the check runs of the versions the patch may ship once
	// the pull requests are recorded: its version, the merge commits.
	checks map[string][]github.Check
}

// fetchPatch reads from GitHub what the patch's evidence points at; nil
// when there is nothing to reconcile (an unknown or finished patch, no
// repository, GitHub no longer configured).
func (l *Loop) fetchPatch(ctx context.Context, key string) (*patchSnapshot, error) {
	id, err := patchctl.ParsePatchKey(key)
	if err != nil {
		return nil, nil
	}
	r := l.svc.DB().Read()
	p, err := r.Patch(ctx, id)
	if patchctl.ErrorCode(err) == patchctl.CodeNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !reconcilable(p) {
		return nil, nil
	}
	gh, err := l.GitHub()
	if err != nil {
		return nil, nil // not configured (any more): nothing to read
	}
	ev, err := r.Evidence(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	repo := repositoryOf(l.cfg().Integrations.GitHub.Repositories, p, ev)
	if repo == "" {
		return nil, nil
	}
	snap := &patchSnapshot{key: key, repo: repo, reviews: map[int][]github.Review{}, checks: map[string][]github.Check{}}
	for _, n := range prNumbers(ev, repo) {
		pr, err := gh.PullRequest(ctx, repo, n)
		if err != nil {
			return nil, err
		}
		snap.prs = append(snap.prs, pr)
	}
	if len(snap.prs) == 0 {
		pr, err := gh.FindPullRequest(ctx, repo, branchOf(p, ev))
		switch {
		case patchctl.ErrorCode(err) == patchctl.CodeNotFound:
		case err != nil:
			return nil, err
		default:
			snap.prs = append(snap.prs, pr)
		}
	}
	for _, pr := range snap.prs {
		reviews, err := gh.ListReviews(ctx, repo, pr.Number)
		if err != nil {
			return nil, err
		}
		snap.reviews[pr.Number] = reviews
	}
	refs := []string{p.Version}
	for _, pr := range snap.prs {
		if pr.Merged {
			refs = append(refs, pr.MergeCommitSHA)
		}
	}
	for _, ref := range refs {
		if _, done := snap.checks[ref]; ref == "" || done {
			continue
		}
		if snap.checks[ref], err = gh.ListCheckRuns(ctx, repo, ref); err != nil {
			return nil, err
		}
	}
	return snap, nil
}

// reconcilable says whether p waits for something GitHub reports.
func reconcilable(p *patchctl.Patch) bool {
	return !p.State.Terminal() && (p.State == patchctl.StateDraft || slices.Contains(reconcileStates, p.State))
}

// applyPatchSnapshot records what fetchPatch read on the patch as it is
// now, and attempts the transitions it allows.
func (l *Loop) applyPatchSnapshot(ctx context.Context, au *service.Automation, snap *patchSnapshot) ([]string, error) {
	p, err := au.Patch(ctx, snap.key)
	if patchctl.ErrorCode(err) == patchctl.CodeNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !reconcilable(p) {
		return nil, nil
	}
	o := &outcome{}
	via := "reconcile"
	for _, pr := range snap.prs {
		reviews := snap.reviews[pr.Number]
		// Reviews first: a merged pull request then finds its approval.
		if len(reviews) > 0 {
			if _, _, err := au.Record(ctx, p, prEvidence(pr, "", via)); err != nil {
				return nil, err
			}
		}
		for i := range reviews {
			r := &reviews[i]
			if r.State == github.ReviewPending {
				continue
			}
			if err := l.recordReview(ctx, au, p, pr, r, via, o); err != nil {
				return nil, err
			}
		}
		if err := l.recordPullRequest(ctx, au, p, pr, "", via, o); err != nil {
			return nil, err
		}
	}
	// Recording a merge may have set the version.
	checks := snap.checks[p.Version]
	for i := range checks {
		c := &checks[i]
		if c.Result != patchctl.ResultPassed && c.Result != patchctl.ResultFailed {
			continue
		}
		if err := l.recordCheck(ctx, au, p, github.TypeCheckRun, c, via, o); err != nil {
			return nil, err
		}
	}
	return o.lines, nil
}

// repositoryOf is the GitHub repository of a patch: its target's, else the
// one its pull request evidence names, else the only configured one.
func repositoryOf(configured []string, p *patchctl.Patch, ev []patchctl.Evidence) string {
	if p.Target.Repository != "" {
		return p.Target.Repository
	}
	for i := len(ev) - 1; i >= 0; i-- {
		if r := ev[i].Details["repo"]; r != "" && (ev[i].Kind == patchctl.EvidencePullRequest || ev[i].Kind == patchctl.EvidenceBranch) {
			return r
		}
	}
	if len(configured) == 1 {
		return configured[0]
	}
	return ""
}

// prNumbers lists the pull requests of repo that p's evidence names.
func prNumbers(ev []patchctl.Evidence, repo string) []int {
	var out []int
	for _, e := range ev {
		if e.Kind != patchctl.EvidencePullRequest || !strings.EqualFold(e.Details["repo"], repo) {
			continue
		}
		if n, err := strconv.Atoi(e.Details["number"]); err == nil && n > 0 && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// branchOf is p's dedicated branch: the recorded one, else the canonical
// name.
func branchOf(p *patchctl.Patch, ev []patchctl.Evidence) string {
	if p.Branch != "" {
		return p.Branch
	}
	for i := len(ev) - 1; i >= 0; i-- {
		if ev[i].Kind == patchctl.EvidenceBranch && patchctl.BranchBelongsTo(ev[i].Ref, p.Key) {
			return ev[i].Ref
		}
	}
	return patchctl.BranchName(p.Key, p.Title)
}

// handleReconcileApp reads one Argo CD application and records a
// deployment that no notification brought. Only a succeeded, synced and
// healthy state counts; health alerts come from notifications alone, so a
// degraded application is not re-alerted every interval. Argo CD is read
// outside any transaction; the observation is then applied in one.
func (l *Loop) handleReconcileApp(ctx context.Context, t store.Timer) (time.Time, error) {
	if _, ok := argoApp(l.cfg(), t.Subject); !ok {
		return time.Time{}, nil
	}
	cl, err := l.ArgoCD()
	if err != nil {
		return time.Time{}, nil
	}
	app, err := cl.GetApplication(ctx, t.Subject)
	if err != nil {
		return time.Time{}, err
	}
	op := app.Operation
	if op == nil || op.Phase != argocd.PhaseSucceeded || app.HealthStatus != argocd.HealthHealthy || app.SyncStatus != argocd.SyncSynced {
		return time.Time{}, nil
	}
	obs := observation{App: app.Name, Trigger: "reconcile", Revision: firstOf(op.Revision, app.SyncRevision), Phase: op.Phase,
		Health: app.HealthStatus, Sync: app.SyncStatus, At: op.FinishedAt, Via: "reconcile"}
	if n := len(app.History); n > 0 {
		obs.HistoryID, obs.HasHist = app.History[n-1].ID, true
	}
	o := &outcome{}
	err = l.svc.DB().InTx(ctx, func(tx *store.Tx) error {
		au, err := l.svc.AutomateIn(tx, actorArgoCD)
		if err != nil {
			return err
		}
		_, err = l.applyArgo(ctx, au, obs, o, nil)
		return err
	})
	if err != nil {
		return time.Time{}, err
	}
	if len(o.lines) > 0 {
		l.log.Info("argocd application reconciled", "app", app.Name, "changes", strings.Join(o.lines, "; "))
	}
	return time.Time{}, nil
}

// rollbackRequest is a rollback.requested outbox message with its id.
type rollbackRequest struct {
	Outbox      int64     `json:"outbox"`
	CreatedAt   time.Time `json:"created_at"`
	Patch       string    `json:"patch"`
	Kind        string    `json:"kind"`
	Subject     string    `json:"subject"`
	Environment string    `json:"environment"`
	FromVersion string    `json:"from_version"`
	ToVersion   string    `json:"to_version"`
	Severity    string    `json:"severity"`
	Reason      string    `json:"reason"`
	DecidedBy   string    `json:"decided_by"`
}

// handleOutbox turns the rollback decisions of the last day into one
// TimerRollback each, keyed by the outbox message id: a decision is
// carried out once however often it is seen. Scanning a time window rather
// than after a cursor also catches messages whose transaction committed
// late with a smaller id (PostgreSQL identities are not commit-ordered).
func (l *Loop) handleOutbox(ctx context.Context, tx *store.Tx, t store.Timer) error {
	return l.periodic(ctx, tx, t, l.opts.OutboxPoll, l.rollbackEnabled(), func() error {
		now := l.svc.Now()
		msgs, err := tx.OutboxSince(ctx, service.TopicRollback, now.Add(-24*time.Hour), 1000)
		if err != nil {
			return err
		}
		created := 0
		for _, m := range msgs {
			var req rollbackRequest
			if err := json.Unmarshal(m.Payload, &req); err != nil {
				l.log.Error("rollback request unreadable", "outbox", m.ID, "err", err)
				continue
			}
			req.Outbox, req.CreatedAt = m.ID, m.CreatedAt
			ok, err := tx.ScheduleTimerOnce(ctx, TimerRollback, "outbox:"+strconv.FormatInt(m.ID, 10), now, req, now)
			if err != nil {
				return err
			}
			if ok {
				created++
				l.log.Info("rollback request picked up", "patch_id", req.Patch, "environment", req.Environment, "outbox", m.ID)
			}
		}
		if created > 0 {
			l.wake()
		}
		return nil
	})
}

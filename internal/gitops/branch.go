package gitops

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/integration/github"
	"github.com/patchctl/patchctl/internal/service"
)

// BranchResult says what OpenBranch did.
type BranchResult struct {
	Patch      string         `json:"patch"`
	Repository string         `json:"repository"`
	Branch     *github.Branch `json:"branch"`
	// BranchCreated is false when the branch existed already.
	BranchCreated bool                `json:"branch_created"`
	PullRequest   *github.PullRequest `json:"pull_request,omitempty"`
	// PullRequestCreated is false when an open pull request existed.
	PullRequestCreated bool `json:"pull_request_created"`
	// Pending says why no pull request is open yet and what to do.
	Pending  string              `json:"pending,omitempty"`
	Evidence []patchctl.Evidence `json:"evidence"`
	Advance  *service.Advance    `json:"advance,omitempty"`
}

// OpenBranch creates a patch's dedicated branch (patch/PATCH-n-slug) in its
// repository from the default branch and opens a draft pull request whose
// body lists the triggers and the SOP-005 checklist, then records branch
// and pull_request evidence as a and attempts the move to in_review. Both
// GitHub steps are idempotent, so running it again after pushing the
// change opens the pull request GitHub refused while the branch had no
// commits of its own.
//
// The repository is the patch's target.repository, else the only one in
// integrations.github.repositories.
func (l *Loop) OpenBranch(ctx context.Context, a patchctl.Actor, key string) (*BranchResult, error) {
	if !a.Role.Allowed(patchctl.PermWrite) {
		return nil, patchctl.Errorf(patchctl.CodeForbidden, "opening a patch branch needs the role engineer, oncall, lead or admin; %s has %s", a.Name, orName(string(a.Role), "no role"))
	}
	d, err := l.svc.Patch(ctx, a, key)
	if err != nil {
		return nil, err
	}
	p := d.Patch
	if p.State.Terminal() {
		return nil, patchctl.Errorf(patchctl.CodeConflict, "%s is %s", p.Key, p.State)
	}
	cfg := l.cfg()
	repo := repositoryOf(cfg.Integrations.GitHub.Repositories, p, d.Evidence)
	if repo == "" {
		return nil, patchctl.FieldError("target.repository", "%s names no GitHub repository: set its target.repository (owner/name)", p.Key)
	}
	if !repoAllowed(cfg, repo) {
		return nil, patchctl.FieldError("target.repository", "%s is not in integrations.github.repositories", repo)
	}
	gh, err := l.GitHub()
	if err != nil {
		return nil, err
	}
	name := p.Branch
	if !patchctl.BranchBelongsTo(name, p.Key) {
		name = patchctl.BranchName(p.Key, p.Title)
	}
	res := &BranchResult{Patch: p.Key, Repository: repo}
	if res.Branch, res.BranchCreated, err = gh.CreatePatchBranch(ctx, repo, name); err != nil {
		return nil, err
	}
	info := prInfo(d, name, cfg.Server.BaseURL)
	res.PullRequest, res.PullRequestCreated, err = gh.OpenDraftPR(ctx, repo, name, p.Key+": "+p.Title, github.PRBody(info))
	switch {
	case errors.Is(err, github.ErrNoCommits):
		res.Pending = "GitHub opens no pull request for a branch without commits of its own: push the change to " + name +
			", then run `patchctl patch branch " + p.Key + "` again to open the draft pull request"
	case err != nil:
		return nil, err
	}
	err = l.svc.Automate(ctx, a, func(au *service.Automation) error {
		p, err := au.Patch(ctx, key)
		if err != nil {
			return err
		}
		b := patchctl.Evidence{Kind: patchctl.EvidenceBranch, Ref: name, Subject: a.Name, Source: SourceGitHub,
			Details: map[string]string{"repo": repo, "head": res.Branch.SHA, "base": res.Branch.Base, "created": strconv.FormatBool(res.BranchCreated)}}
		e, _, err := au.Record(ctx, p, b)
		if err != nil {
			return err
		}
		res.Evidence = append(res.Evidence, *e)
		if res.PullRequest == nil {
			return nil
		}
		pr := prEvidence(res.PullRequest, github.ActionOpened, "patchctl patch branch")
		pr.Details["requested_by"] = a.Name
		e, _, err = au.Record(ctx, p, pr)
		if err != nil {
			return err
		}
		res.Evidence = append(res.Evidence, *e)
		res.Advance, err = au.Advance(ctx, p, patchctl.StateInReview, "pull request #"+strconv.Itoa(res.PullRequest.Number)+" opened through patchctl")
		return err
	})
	if err != nil {
		return nil, err
	}
	l.log.Info("patch branch opened", "patch_id", p.Key, "repo", repo, "branch", name, "branch_created", res.BranchCreated,
		"pull_request", res.PullRequest != nil, "actor", a.Name)
	return res, nil
}

// prInfo is what the pull request body shows of a patch.
func prInfo(d *service.Detail, branch, baseURL string) github.PRInfo {
	p := d.Patch
	info := github.PRInfo{Key: p.Key, Title: p.Title, Priority: string(p.Priority), Branch: branch, Environments: p.Target.Environments}
	if p.DueAt != nil {
		info.DueAt = *p.DueAt
	}
	if baseURL != "" {
		info.URL = strings.TrimSuffix(baseURL, "/") + "/patches/" + p.Key
	}
	for _, l := range d.Links {
		switch l.Type {
		case patchctl.LinkIssue:
			info.Issues = append(info.Issues, l.Ref)
		default:
			info.Vulnerabilities = append(info.Vulnerabilities, l.Ref)
		}
	}
	info.Progress = github.Progress{Branch: true, Reviewed: reached(p, patchctl.StateMerged), Merged: reached(p, patchctl.StateMerged),
		Staged: reached(p, patchctl.StateStaging), TestsPassed: reached(p, patchctl.StateValidated), SignedOff: reached(p, patchctl.StateValidated),
		InProduction: reached(p, patchctl.StateProduction)}
	return info
}

package github

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/textutil"
)

// DefaultBaseURL is the REST API of github.com.
const DefaultBaseURL = "https://api.github.com/"

// Config configures a Client.
type Config struct {
	// BaseURL is the REST API root: DefaultBaseURL when empty; a GitHub
	// Enterprise Server's https://ghe.example.com/api/v3/; a test server.
	BaseURL string
	// Token authenticates the client (a personal, fine-grained or
	// installation token). Exactly one of Token and App is required.
	Token string
	// App authenticates as a GitHub App installation; the client mints and
	// renews installation tokens itself.
	App *AppAuth
	// HTTPClient is the transport; nil means one with a 30 s timeout.
	HTTPClient *http.Client
	UserAgent  string
	Logger     *slog.Logger
	// Clock times App tokens; nil means patchctl.SystemClock.
	Clock patchctl.Clock
}

// Client is the REST client patchctl uses to open a patch's branch and
// draft pull request and to reconcile pull requests, reviews and checks.
// Every method returns *patchctl.Error values (see apiError for the codes)
// and is safe for concurrent use.
//
// Rate limits are respected: after GitHub reports the limit exhausted, the
// client refuses further calls until the reset without sending them, and
// returns CodeUnavailable with a *RateLimitError cause saying when to retry.
type Client struct {
	api *gh.Client
	log *slog.Logger
}

// maxPages bounds a listing: 100 pages of 100 items.
const maxPages = 100

const perPage = 100

// NewClient returns a client for cfg.
func NewClient(cfg Config) (*Client, error) {
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "github")
	opts := []gh.ClientOptionsFunc{gh.WithHTTPClient(hc), gh.WithURLs(&base, &base)}
	if cfg.UserAgent != "" {
		opts = append(opts, gh.WithUserAgent(cfg.UserAgent))
	}
	switch {
	case cfg.Token != "" && cfg.App != nil:
		return nil, patchctl.FieldError("github", "configure a token or a GitHub App, not both")
	case cfg.Token != "":
		opts = append(opts, gh.WithAuthToken(cfg.Token))
	case cfg.App != nil:
		clock := cfg.Clock
		if clock == nil {
			clock = patchctl.SystemClock
		}
		t, err := newAppTransport(*cfg.App, base, hc, clock, log)
		if err != nil {
			return nil, err
		}
		opts = append(opts, gh.WithTransport(t))
	default:
		return nil, patchctl.FieldError("github", "a token or a GitHub App is required")
	}
	api, err := gh.NewClient(opts...)
	if err != nil {
		return nil, patchctl.FieldError("github.base_url", "%v", err)
	}
	return &Client{api: api, log: log}, nil
}

// errEmptyResponse is a 2xx response whose body was JSON null.
var errEmptyResponse = errors.New("empty response body")

// splitRepo splits "owner/name".
func splitRepo(repo string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || !validRepoPart(owner) || !validRepoPart(name) {
		return "", "", patchctl.FieldError("repo", "%q is not a repository (want owner/name)", textutil.Clip(repo, 100))
	}
	return owner, name, nil
}

func validRepoPart(s string) bool {
	return s != "" && len(s) <= 100 && s != "." && s != ".." && nameChars(s)
}

// validBranch applies git check-ref-format's rules to a branch name.
func validBranch(b string) error {
	bad := func(why string) error {
		return patchctl.FieldError("branch", "%q is not a branch name: %s", textutil.Clip(b, 100), why)
	}
	switch {
	case b == "" || strings.TrimSpace(b) != b:
		return bad("empty or surrounded by spaces")
	case len(b) > 255:
		return bad("longer than 255 bytes")
	case strings.HasPrefix(b, "-") || strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") || strings.HasSuffix(b, "."):
		return bad("starts with '-' or '/', or ends with '/' or '.'")
	case strings.HasPrefix(b, "refs/"):
		return bad("give the branch name, not refs/heads/...")
	case strings.Contains(b, "..") || strings.Contains(b, "//") || strings.Contains(b, "@{") || strings.Contains(b, "/.") || strings.HasPrefix(b, "."):
		return bad("contains '..', '//', '@{' or a component starting with '.'")
	case strings.HasSuffix(b, ".lock") || strings.Contains(b, ".lock/") || b == "@":
		return bad("a component ends with .lock")
	}
	for _, r := range b {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\", r) {
			return bad("contains a space, a control character or one of ~^:?*[\\")
		}
	}
	return nil
}

// Branch is a branch of a repository.
type Branch struct {
	Repo string `json:"repo"`
	Name string `json:"name"`
	// SHA is the commit the branch points to.
	SHA string `json:"sha"`
	// Base is the default branch the branch was created from (set only
	// when CreatePatchBranch created it).
	Base string `json:"base,omitempty"`
}

// CreatePatchBranch creates branch (e.g. patchctl.BranchName(key, title))
// in repo at the head of the default branch. It is idempotent: when the
// branch exists, wherever it points, it is returned with created false.
func (c *Client) CreatePatchBranch(ctx context.Context, repo, branch string) (b *Branch, created bool, err error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, false, err
	}
	if err := validBranch(branch); err != nil {
		return nil, false, err
	}
	r, _, err := c.api.Repositories.Get(ctx, owner, name)
	if err != nil {
		return nil, false, apiError("get repository "+repo, err)
	}
	base := r.GetDefaultBranch()
	if base == "" {
		return nil, false, patchctl.Errorf(patchctl.CodeConflict, "github: repository %s has no default branch (is it empty?)", repo)
	}
	head, _, err := c.api.Git.GetRef(ctx, owner, name, "heads/"+base)
	if err != nil {
		return nil, false, apiError(fmt.Sprintf("get default branch %s of %s", base, repo), err)
	}
	sha := head.GetObject().GetSHA()
	ref, _, err := c.api.Git.CreateRef(ctx, owner, name, gh.CreateRef{Ref: "refs/heads/" + branch, SHA: sha})
	if err == nil {
		c.log.InfoContext(ctx, "branch_created", "repo", repo, "branch", branch, "sha", sha)
		return &Branch{Repo: repo, Name: branch, SHA: ref.GetObject().GetSHA(), Base: base}, true, nil
	}
	if statusOf(err) != http.StatusUnprocessableEntity {
		return nil, false, apiError(fmt.Sprintf("create branch %s in %s", branch, repo), err)
	}
	// 422 is GitHub's "Reference already exists" (among others): if the
	// branch is there, that is the idempotent outcome.
	existing, _, gerr := c.api.Git.GetRef(ctx, owner, name, "heads/"+branch)
	if gerr != nil {
		return nil, false, apiError(fmt.Sprintf("create branch %s in %s", branch, repo), err)
	}
	return &Branch{Repo: repo, Name: branch, SHA: existing.GetObject().GetSHA()}, false, nil
}

// GetBranch returns a branch; a missing one is CodeNotFound.
func (c *Client) GetBranch(ctx context.Context, repo, branch string) (*Branch, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	if err := validBranch(branch); err != nil {
		return nil, err
	}
	ref, _, err := c.api.Git.GetRef(ctx, owner, name, "heads/"+branch)
	if err != nil {
		return nil, apiError(fmt.Sprintf("get branch %s of %s", branch, repo), err)
	}
	return &Branch{Repo: repo, Name: branch, SHA: ref.GetObject().GetSHA()}, nil
}

// OpenDraftPR opens a draft pull request from branch into the default
// branch of repo. It is idempotent: when an open pull request from branch
// exists, it is returned with created false (its title and body are left
// alone). A branch with no commits ahead of the default branch is a
// CodeConflict error with cause ErrNoCommits: GitHub refuses such pull
// requests, so push the change first. Repositories whose plan has no draft
// pull requests refuse it with CodeInvalid.
func (c *Client) OpenDraftPR(ctx context.Context, repo, branch, title, body string) (pr *PullRequest, created bool, err error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, false, err
	}
	if err := validBranch(branch); err != nil {
		return nil, false, err
	}
	if strings.TrimSpace(title) == "" {
		return nil, false, patchctl.FieldError("title", "is required")
	}
	if open, err := c.openPRFor(ctx, repo, owner, name, branch); err != nil || open != nil {
		return open, false, err
	}
	r, _, err := c.api.Repositories.Get(ctx, owner, name)
	if err != nil {
		return nil, false, apiError("get repository "+repo, err)
	}
	base := r.GetDefaultBranch()
	cmp, _, err := c.api.Repositories.CompareCommits(ctx, owner, name, base, branch, &gh.ListOptions{PerPage: 1})
	if err != nil {
		return nil, false, apiError(fmt.Sprintf("compare %s with %s in %s", branch, base, repo), err)
	}
	if cmp.GetAheadBy() == 0 {
		return nil, false, &patchctl.Error{Code: patchctl.CodeConflict, Err: ErrNoCommits, Message: fmt.Sprintf(
			"github: branch %s has no commits ahead of %s in %s: push the patch to it before opening the pull request", branch, base, repo)}
	}
	p, _, err := c.api.PullRequests.Create(ctx, owner, name, gh.CreatePullRequest{
		Title: gh.Ptr(title), Head: branch, Base: base, Body: gh.Ptr(body), Draft: gh.Ptr(true),
	})
	if err == nil && p == nil {
		err = errEmptyResponse
	}
	if err == nil {
		out := normalisePR(repo, p)
		c.log.InfoContext(ctx, "pull_request_opened", "repo", repo, "branch", branch, "number", out.Number)
		return out, true, nil
	}
	if statusOf(err) == http.StatusUnprocessableEntity {
		// Someone (or a concurrent call) opened it in between.
		if open, lerr := c.openPRFor(ctx, repo, owner, name, branch); lerr == nil && open != nil {
			return open, false, nil
		}
	}
	return nil, false, apiError(fmt.Sprintf("open pull request for %s in %s", branch, repo), err)
}

// openPRFor returns the open pull request whose head is branch of the
// repository itself, or nil.
func (c *Client) openPRFor(ctx context.Context, repo, owner, name, branch string) (*PullRequest, error) {
	opts := &gh.PullRequestListOptions{State: "open", Head: owner + ":" + branch, ListOptions: gh.ListOptions{PerPage: perPage}}
	for page := 0; page < maxPages; page++ {
		prs, resp, err := c.api.PullRequests.List(ctx, owner, name, opts)
		if err != nil {
			return nil, apiError(fmt.Sprintf("list pull requests for %s in %s", branch, repo), err)
		}
		for _, p := range prs {
			if p == nil {
				continue
			}
			// The head filter is GitHub's; check it anyway so that a
			// server ignoring it cannot make us adopt someone else's PR.
			if p.GetHead().GetRef() == branch && strings.EqualFold(p.GetHead().GetRepo().GetFullName(), repo) {
				return normalisePR(repo, p), nil
			}
		}
		if resp.NextPage == 0 {
			return nil, nil
		}
		opts.Page = resp.NextPage
	}
	return nil, tooManyPages("pull requests of " + repo)
}

// FindPullRequest returns the latest pull request, open or closed, whose
// head is branch of repo itself; CodeNotFound when there is none. It lets a
// reconciliation find a patch's pull request whose "opened" delivery was
// lost, when only the branch is known.
func (c *Client) FindPullRequest(ctx context.Context, repo, branch string) (*PullRequest, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	if err := validBranch(branch); err != nil {
		return nil, err
	}
	opts := &gh.PullRequestListOptions{State: "all", Head: owner + ":" + branch, ListOptions: gh.ListOptions{PerPage: perPage}}
	var best *gh.PullRequest
	for page := 0; page < maxPages; page++ {
		prs, resp, err := c.api.PullRequests.List(ctx, owner, name, opts)
		if err != nil {
			return nil, apiError(fmt.Sprintf("list pull requests for %s in %s", branch, repo), err)
		}
		for _, p := range prs {
			// As in openPRFor, the head filter is checked here too.
			if p == nil || p.GetHead().GetRef() != branch || !strings.EqualFold(p.GetHead().GetRepo().GetFullName(), repo) {
				continue
			}
			if best == nil || p.GetNumber() > best.GetNumber() {
				best = p
			}
		}
		if resp.NextPage == 0 {
			if best == nil {
				return nil, patchctl.NotFound("pull request from branch", branch+" in "+repo)
			}
			return normalisePR(repo, best), nil
		}
		opts.Page = resp.NextPage
	}
	return nil, tooManyPages("pull requests of " + repo)
}

func tooManyPages(what string) error {
	return patchctl.Errorf(patchctl.CodeUnavailable, "github: more than %d pages of %s; refusing to read further", maxPages, what)
}

// PullRequest returns pull request number of repo.
func (c *Client) PullRequest(ctx context.Context, repo string, number int) (*PullRequest, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	p, _, err := c.api.PullRequests.Get(ctx, owner, name, number)
	if err == nil && p == nil {
		err = errEmptyResponse
	}
	if err != nil {
		return nil, apiError(fmt.Sprintf("get pull request %s#%d", repo, number), err)
	}
	return normalisePR(repo, p), nil
}

// ListReviews returns every review of a pull request, oldest first (all
// pages). Their PRAuthor and HeadSHA are not set: the review API does not
// carry them.
func (c *Client) ListReviews(ctx context.Context, repo string, number int) ([]Review, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	var out []Review
	opts := &gh.ListOptions{PerPage: perPage}
	for page := 0; page < maxPages; page++ {
		rs, resp, err := c.api.PullRequests.ListReviews(ctx, owner, name, number, opts)
		if err != nil {
			return nil, apiError(fmt.Sprintf("list reviews of %s#%d", repo, number), err)
		}
		for _, r := range rs {
			if r != nil {
				out = append(out, *normaliseReview(r, number))
			}
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
	return nil, tooManyPages(fmt.Sprintf("reviews of %s#%d", repo, number))
}

// ListCheckRuns returns the latest check run of each check for ref (a SHA
// or a branch name), all pages, with Result set.
func (c *Client) ListCheckRuns(ctx context.Context, repo, ref string) ([]Check, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(ref) == "" {
		return nil, patchctl.FieldError("ref", "is required")
	}
	var out []Check
	opts := &gh.ListCheckRunsOptions{Filter: gh.Ptr("latest"), ListOptions: gh.ListOptions{PerPage: perPage}}
	for page := 0; page < maxPages; page++ {
		res, resp, err := c.api.Checks.ListCheckRunsForRef(ctx, owner, name, ref, opts)
		if err != nil {
			return nil, apiError(fmt.Sprintf("list check runs for %s in %s", ref, repo), err)
		}
		for _, r := range res.GetCheckRuns() {
			if r != nil {
				out = append(out, *normaliseCheckRun(r))
			}
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
	return nil, tooManyPages(fmt.Sprintf("check runs for %s in %s", ref, repo))
}

// Status is the combined commit status of a ref (statuses posted by
// external CI through the Statuses API, not check runs).
type Status struct {
	SHA string `json:"sha"`
	// State is GitHub's combined state: success, failure or pending.
	// GitHub says pending when there is no status at all: see Statuses.
	State string `json:"state"`
	// Result is passed, failed or in_progress; "" when there are no
	// statuses.
	Result   string          `json:"result"`
	Statuses []StatusContext `json:"statuses"`
}

// StatusContext is the latest status of one context.
type StatusContext struct {
	Context     string `json:"context"`
	State       string `json:"state"` // error, failure, pending, success
	Description string `json:"description,omitempty"`
	TargetURL   string `json:"target_url,omitempty"`
}

// CombinedStatus returns the combined status of ref, all pages.
func (c *Client) CombinedStatus(ctx context.Context, repo, ref string) (*Status, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(ref) == "" {
		return nil, patchctl.FieldError("ref", "is required")
	}
	st := &Status{}
	opts := &gh.ListOptions{PerPage: perPage}
	for page := 0; page < maxPages; page++ {
		cs, resp, err := c.api.Repositories.GetCombinedStatus(ctx, owner, name, ref, opts)
		if err != nil {
			return nil, apiError(fmt.Sprintf("get combined status of %s in %s", ref, repo), err)
		}
		st.SHA, st.State = cs.GetSHA(), strings.ToLower(cs.GetState())
		for _, s := range cs.GetStatuses() {
			st.Statuses = append(st.Statuses, StatusContext{Context: s.GetContext(), State: strings.ToLower(s.GetState()),
				Description: s.GetDescription(), TargetURL: s.GetTargetURL()})
		}
		if resp.NextPage == 0 {
			switch {
			case len(st.Statuses) == 0:
			case st.State == "success":
				st.Result = patchctl.ResultPassed
			case st.State == "pending":
				st.Result = ResultInProgress
			default:
				st.Result = patchctl.ResultFailed
			}
			return st, nil
		}
		opts.Page = resp.NextPage
	}
	return nil, tooManyPages(fmt.Sprintf("statuses of %s in %s", ref, repo))
}

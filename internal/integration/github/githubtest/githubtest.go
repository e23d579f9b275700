// Package githubtest is a fake GitHub REST API for tests, backed by real
// git repositories: each repository is a bare repository on disk (git init
// --bare, seeded with one commit through a temporary clone), and branches,
// refs, comparisons and merges are real git operations on it.
//
// It serves the endpoints patchctl's GitHub client uses, with GitHub's
// documented response shapes (marshalled from go-github's types):
//
//	GET  /repos/{owner}/{repo}
//	GET  /repos/{owner}/{repo}/git/ref/heads/{branch}
//	POST /repos/{owner}/{repo}/git/refs
//	GET  /repos/{owner}/{repo}/compare/{base}...{head}
//	GET  /repos/{owner}/{repo}/pulls           (state, head, base; paginated)
//	POST /repos/{owner}/{repo}/pulls
//	GET  /repos/{owner}/{repo}/pulls/{number}
//	GET  /repos/{owner}/{repo}/pulls/{number}/reviews        (paginated)
//	GET  /repos/{owner}/{repo}/commits/{ref}/check-runs      (paginated)
//	GET  /repos/{owner}/{repo}/commits/{ref}/status          (paginated)
//	POST /app/installations/{id}/access_tokens               (EnableApp)
//
// Every request must carry the server's token (or an installation token
// it issued); every call is recorded (Calls) and faults can be injected
// (FailNext, Respond, ExhaustRateLimit). Tests seed reviews, check runs and
// statuses, commit to branches and merge pull requests through methods.
package githubtest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gh "github.com/google/go-github/v93/github"
)

// Server is a running fake GitHub.
type Server struct {
	// URL is the API base URL, with a trailing slash: use it as the
	// client's base URL.
	URL string
	// Token is the token requests must carry ("Bearer" or "token").
	Token string
	// Login is the user the token belongs to: the author of pull requests
	// opened through the API.
	Login string

	t   testing.TB
	srv *httptest.Server
	dir string

	mu       sync.Mutex
	now      func() time.Time
	repos    map[string]*Repo // by lowercase full name
	calls    []Call
	faults   []fault
	holds    []*hold
	nextID   int64
	app      *App
	appToks  map[string]time.Time // installation token → expiry
	rateUsed int
	// maxPerPage caps per_page as GitHub does (at 100).
	maxPerPage int
}

// Call is one recorded request.
type Call struct {
	Method string
	// Path is the unescaped path (/repos/acme/app/git/refs); Query the raw
	// query.
	Path   string
	Query  string
	Body   string
	Status int
}

// Repo is a repository of the fake, backed by a bare git repository.
type Repo struct {
	FullName      string
	DefaultBranch string
	// Dir is the bare repository: clone it, or inspect it with git.
	Dir string

	id       int64
	nextNum  int
	pulls    []*gh.PullRequest
	reviews  map[int][]*gh.PullRequestReview
	runs     []*gh.CheckRun
	statuses map[string][]*gh.RepoStatus // by SHA, oldest first
}

type fault struct {
	method, pathPrefix string
	status             int
	header             http.Header
	body               string
	times              int
}

// New starts a fake GitHub for the test; it stops at cleanup. It fails
// the test when git is not installed.
func New(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("githubtest needs git: %v", err)
	}
	s := &Server{
		Token:      "ghp_githubtest" + randHex(8),
		Login:      "patchctl-bot",
		t:          t,
		dir:        t.TempDir(),
		now:        time.Now,
		repos:      map[string]*Repo{},
		appToks:    map[string]time.Time{},
		nextID:     1000,
		maxPerPage: 100,
	}
	s.srv = httptest.NewServer(s.routes())
	s.URL = s.srv.URL + "/"
	t.Cleanup(s.srv.Close)
	return s
}

// SetMaxPerPage lowers the cap on per_page (GitHub's is 100) so that
// listings span several pages.
func (s *Server) SetMaxPerPage(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxPerPage = max(n, 1)
}

// SetClock sets the server's clock (timestamps, app token expiry).
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// AddRepo creates repository fullName (owner/name) with default branch
// "main" holding one commit.
func (s *Server) AddRepo(fullName string) *Repo {
	return s.AddRepoWithBranch(fullName, "main")
}

// AddRepoWithBranch creates repository fullName with the given default
// branch holding one commit.
func (s *Server) AddRepoWithBranch(fullName, defaultBranch string) *Repo {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(fullName)
	if _, ok := s.repos[key]; ok {
		s.t.Fatalf("githubtest: repository %s exists", fullName)
	}
	dir := filepath.Join(s.dir, strings.ReplaceAll(fullName, "/", "__")+".git")
	tmp, err := os.MkdirTemp(s.dir, "tmp-")
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := initBare(dir, defaultBranch, tmp); err != nil {
		s.t.Fatalf("githubtest: create %s: %v", fullName, err)
	}
	s.nextID++
	r := &Repo{FullName: fullName, DefaultBranch: defaultBranch, Dir: dir, id: s.nextID,
		reviews: map[int][]*gh.PullRequestReview{}, statuses: map[string][]*gh.RepoStatus{}}
	s.repos[key] = r
	return r
}

// Repo returns a repository added before, failing the test otherwise.
func (s *Server) Repo(fullName string) *Repo {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[strings.ToLower(fullName)]
	if !ok {
		s.t.Fatalf("githubtest: no repository %s", fullName)
	}
	return r
}

// RevParse resolves a ref of the repository ("main", "refs/heads/x", a
// SHA); ok is false when it does not exist.
func (r *Repo) RevParse(ref string) (sha string, ok bool) {
	sha, err := revParse(r.Dir, ref)
	return sha, err == nil
}

// Commit commits content to path on branch (which must exist) through a
// temporary clone and pushes it, as an engineer would; it returns the new
// head.
func (s *Server) Commit(fullName, branch, path, content, message string) string {
	s.t.Helper()
	r := s.Repo(fullName)
	s.mu.Lock()
	defer s.mu.Unlock()
	tmp, err := os.MkdirTemp(s.dir, "tmp-")
	if err != nil {
		s.t.Fatal(err)
	}
	sha, err := commitFile(r.Dir, tmp, branch, path, content, message)
	if err != nil {
		s.t.Fatalf("githubtest: commit to %s %s: %v", fullName, branch, err)
	}
	return sha
}

// Review states as the REST API spells them.
const (
	Approved         = "APPROVED"
	ChangesRequested = "CHANGES_REQUESTED"
	Commented        = "COMMENTED"
	Dismissed        = "DISMISSED"
)

// AddReview records a review by login on pull request number, on its
// current head, and returns its id.
func (s *Server) AddReview(fullName string, number int, login, state string) int64 {
	s.t.Helper()
	r := s.Repo(fullName)
	s.mu.Lock()
	defer s.mu.Unlock()
	pr := r.pull(number)
	if pr == nil {
		s.t.Fatalf("githubtest: no pull request %s#%d", fullName, number)
	}
	s.refreshHead(r, pr)
	s.nextID++
	rv := &gh.PullRequestReview{
		ID:                gh.Ptr(s.nextID),
		User:              &gh.User{Login: gh.Ptr(login), Type: gh.Ptr("User")},
		Body:              gh.Ptr(""),
		State:             gh.Ptr(state),
		CommitID:          pr.Head.SHA,
		SubmittedAt:       &gh.Timestamp{Time: s.now().UTC().Truncate(time.Second)},
		HTMLURL:           gh.Ptr(fmt.Sprintf("%s#pullrequestreview-%d", pr.GetHTMLURL(), s.nextID)),
		PullRequestURL:    pr.URL,
		AuthorAssociation: gh.Ptr("MEMBER"),
	}
	r.reviews[number] = append(r.reviews[number], rv)
	return s.nextID
}

// CheckRun describes a check run to add.
type CheckRun struct {
	Name       string
	Status     string // queued, in_progress, completed
	Conclusion string // when completed
	// HeadSHA defaults to the head of HeadBranch.
	HeadSHA    string
	HeadBranch string
}

// AddCheckRun records a check run and returns its id. Adding a run with
// the name of an earlier one for the same commit supersedes it for
// filter=latest, as a re-run does.
func (s *Server) AddCheckRun(fullName string, c CheckRun) int64 {
	s.t.Helper()
	r := s.Repo(fullName)
	s.mu.Lock()
	defer s.mu.Unlock()
	sha := c.HeadSHA
	if sha == "" {
		var err error
		if sha, err = revParse(r.Dir, "refs/heads/"+c.HeadBranch); err != nil {
			s.t.Fatalf("githubtest: check run on unknown branch %q", c.HeadBranch)
		}
	}
	s.nextID++
	now := &gh.Timestamp{Time: s.now().UTC().Truncate(time.Second)}
	run := &gh.CheckRun{
		ID:         gh.Ptr(s.nextID),
		Name:       gh.Ptr(c.Name),
		HeadSHA:    gh.Ptr(sha),
		Status:     gh.Ptr(c.Status),
		HTMLURL:    gh.Ptr(fmt.Sprintf("%s%s/runs/%d", s.srv.URL+"/", r.FullName, s.nextID)),
		URL:        gh.Ptr(fmt.Sprintf("%srepos/%s/check-runs/%d", s.URL, r.FullName, s.nextID)),
		StartedAt:  now,
		CheckSuite: &gh.CheckSuite{ID: gh.Ptr(s.nextID + 500000)},
		App:        &gh.App{Slug: gh.Ptr("github-actions"), Name: gh.Ptr("GitHub Actions")},
	}
	if c.Status == "completed" {
		run.Conclusion = gh.Ptr(c.Conclusion)
		run.CompletedAt = now
	}
	for _, p := range r.pulls {
		if p.GetState() == "open" && s.headSHA(r, p) == sha {
			run.PullRequests = append(run.PullRequests, &gh.PullRequest{Number: p.Number, URL: p.URL,
				Head: &gh.PullRequestBranch{Ref: p.Head.Ref, SHA: gh.Ptr(sha)}, Base: &gh.PullRequestBranch{Ref: p.Base.Ref}})
		}
	}
	r.runs = append(r.runs, run)
	return s.nextID
}

// AddStatus records a commit status (error, failure, pending, success)
// for context on sha.
func (s *Server) AddStatus(fullName, sha, context, state string) {
	s.t.Helper()
	r := s.Repo(fullName)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	r.statuses[sha] = append(r.statuses[sha], &gh.RepoStatus{ID: gh.Ptr(s.nextID), Context: gh.Ptr(context), State: gh.Ptr(state),
		Description: gh.Ptr(context + " is " + state), TargetURL: gh.Ptr(s.srv.URL + "/ci/" + context)})
}

// MergePR merges pull request number with a real merge commit on its base
// branch, closes it as merged by login and returns the merge commit.
func (s *Server) MergePR(fullName string, number int, login string) string {
	s.t.Helper()
	r := s.Repo(fullName)
	s.mu.Lock()
	defer s.mu.Unlock()
	pr := r.pull(number)
	if pr == nil || pr.GetState() != "open" {
		s.t.Fatalf("githubtest: no open pull request %s#%d", fullName, number)
	}
	s.refreshHead(r, pr)
	tmp, err := os.MkdirTemp(s.dir, "tmp-")
	if err != nil {
		s.t.Fatal(err)
	}
	msg := fmt.Sprintf("Merge pull request #%d from %s", number, pr.GetHead().GetLabel())
	sha, err := mergeBranch(r.Dir, tmp, pr.GetBase().GetRef(), pr.GetHead().GetRef(), msg)
	if err != nil {
		s.t.Fatalf("githubtest: merge %s#%d: %v", fullName, number, err)
	}
	now := &gh.Timestamp{Time: s.now().UTC().Truncate(time.Second)}
	pr.State, pr.Merged, pr.MergeCommitSHA = gh.Ptr("closed"), gh.Ptr(true), gh.Ptr(sha)
	pr.MergedBy = &gh.User{Login: gh.Ptr(login)}
	pr.MergedAt, pr.ClosedAt, pr.UpdatedAt = now, now, now
	return sha
}

// PullRequests returns copies of the repository's pull requests, oldest
// first.
func (s *Server) PullRequests(fullName string) []gh.PullRequest {
	r := s.Repo(fullName)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]gh.PullRequest, len(r.pulls))
	for i, p := range r.pulls {
		s.refreshHead(r, p)
		out[i] = *p
	}
	return out
}

// Calls returns the requests received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallCount counts the recorded requests with method whose path starts
// with prefix.
func (s *Server) CallCount(method, prefix string) int {
	n := 0
	for _, c := range s.Calls() {
		if c.Method == method && strings.HasPrefix(c.Path, prefix) {
			n++
		}
	}
	return n
}

// FailNext makes the next times requests with method (any if "") whose
// path starts with pathPrefix fail with status, header and a GitHub-style
// JSON body carrying message.
func (s *Server) FailNext(method, pathPrefix string, times, status int, header http.Header, message string) {
	body, _ := json.Marshal(map[string]string{"message": message, "documentation_url": "https://docs.github.com/rest"})
	s.Respond(method, pathPrefix, times, status, header, string(body))
}

// Respond makes the next times requests with method (any if "") whose path
// starts with pathPrefix get this response instead of the fake's, before
// any credential check. Injected responses are used in the order added.
func (s *Server) Respond(method, pathPrefix string, times, status int, header http.Header, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{method: method, pathPrefix: pathPrefix, status: status, header: header, body: body, times: times})
}

type hold struct {
	method, pathPrefix string
	entered            chan struct{}
	release            chan struct{}
	once               sync.Once
}

// Hold makes requests with method (any if "") whose path starts with
// pathPrefix wait until release is called (or the test ends): a slow
// GitHub. entered is closed when the first such request arrives.
func (s *Server) Hold(method, pathPrefix string) (entered <-chan struct{}, release func()) {
	h := &hold{method: method, pathPrefix: pathPrefix, entered: make(chan struct{}), release: make(chan struct{})}
	s.mu.Lock()
	s.holds = append(s.holds, h)
	s.mu.Unlock()
	var once sync.Once
	release = func() { once.Do(func() { close(h.release) }) }
	s.t.Cleanup(release)
	return h.entered, release
}

// wait blocks a request that a Hold matches until it is released.
func (s *Server) wait(r *http.Request) {
	s.mu.Lock()
	var hs []*hold
	for _, h := range s.holds {
		if (h.method == "" || h.method == r.Method) && strings.HasPrefix(r.URL.Path, h.pathPrefix) {
			hs = append(hs, h)
		}
	}
	s.mu.Unlock()
	for _, h := range hs {
		h.once.Do(func() { close(h.entered) })
		select {
		case <-h.release:
		case <-r.Context().Done():
		}
	}
}

// ExhaustRateLimit makes the next request fail as GitHub does when the
// primary rate limit is used up: 403 with X-RateLimit-Remaining 0 and the
// reset time.
func (s *Server) ExhaustRateLimit(reset time.Time) {
	h := http.Header{}
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Used", "5000")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	s.FailNext("", "/", 1, http.StatusForbidden, h, "API rate limit exceeded for user ID 1.")
}

// App configures GitHub App authentication (EnableApp).
type App struct {
	// ClientID or AppID must be the JWT's issuer.
	ClientID       string
	AppID          int64
	InstallationID int64
	PublicKey      *rsa.PublicKey
	// TokenTTL is the lifetime of installation tokens; default one hour.
	TokenTTL time.Duration
}

// EnableApp accepts JWTs of app at POST /app/installations/{id}/access_tokens
// and the installation tokens it issues on every other endpoint.
func (s *Server) EnableApp(app App) {
	if app.TokenTTL == 0 {
		app.TokenTTL = time.Hour
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.app = &app
}

func (r *Repo) pull(number int) *gh.PullRequest {
	for _, p := range r.pulls {
		if p.GetNumber() == number {
			return p
		}
	}
	return nil
}

// headSHA is the current head of an open pull request's branch (GitHub
// follows pushes), or the recorded one once closed.
func (s *Server) headSHA(r *Repo, p *gh.PullRequest) string {
	if p.GetState() == "open" {
		if sha, err := revParse(r.Dir, "refs/heads/"+p.GetHead().GetRef()); err == nil {
			return sha
		}
	}
	return p.GetHead().GetSHA()
}

func (s *Server) refreshHead(r *Repo, p *gh.PullRequest) {
	p.Head.SHA = gh.Ptr(s.headSHA(r, p))
	if p.GetState() == "open" {
		if sha, err := revParse(r.Dir, "refs/heads/"+p.GetBase().GetRef()); err == nil {
			p.Base.SHA = gh.Ptr(sha)
		}
	}
}

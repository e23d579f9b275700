package github

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/integration/github/githubtest"
)

const acme = "acme/payments"

func newTestClient(t *testing.T, srv *githubtest.Server) *Client {
	t.Helper()
	c, err := NewClient(Config{BaseURL: srv.URL, Token: srv.Token, UserAgent: "patchctl-test"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bareRevParse asks git itself, in the bare repository, where ref points.
func bareRevParse(t *testing.T, dir, ref string) (string, bool) {
	t.Helper()
	out, err := exec.Command("git", "-C", dir, "rev-parse", "--verify", "--quiet", ref).Output()
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(out)), true
}

func wantCode(t *testing.T, err error, code patchctl.Code) *patchctl.Error {
	t.Helper()
	var pe *patchctl.Error
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("err = %v (%T), want a %s *patchctl.Error", err, err, code)
	}
	return pe
}

func TestCreatePatchBranch(t *testing.T) {
	ctx := context.Background()
	srv := githubtest.New(t)
	repo := srv.AddRepo(acme)
	c := newTestClient(t, srv)
	mainSHA, ok := bareRevParse(t, repo.Dir, "refs/heads/main")
	if !ok {
		t.Fatal("seeded repository has no main")
	}
	branch := patchctl.BranchName("PATCH-42", "Bump semver to 7.5.2")

	if _, ok := bareRevParse(t, repo.Dir, "refs/heads/"+branch); ok {
		t.Fatalf("branch %s exists before the test", branch)
	}
	b, created, err := c.CreatePatchBranch(ctx, acme, branch)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Error("created = false for a new branch")
	}
	if diff := cmp.Diff(&Branch{Repo: acme, Name: branch, SHA: mainSHA, Base: "main"}, b); diff != "" {
		t.Errorf("branch (-want +got):\n%s", diff)
	}
	got, ok := bareRevParse(t, repo.Dir, "refs/heads/"+branch)
	if !ok || got != mainSHA {
		t.Fatalf("git rev-parse %s in the bare repo = %q, %v; want %s", branch, got, ok, mainSHA)
	}

	// Again: the existing branch is returned, not an error.
	b2, created, err := c.CreatePatchBranch(ctx, acme, branch)
	if err != nil || created || b2.SHA != mainSHA {
		t.Fatalf("second call: %+v created=%v err=%v", b2, created, err)
	}

	// The branch moved on (an engineer pushed): still returned as is.
	pushed := srv.Commit(acme, branch, "package-lock.json", `{"semver":"7.5.2"}`, "Bump semver")
	b3, created, err := c.CreatePatchBranch(ctx, acme, branch)
	if err != nil || created || b3.SHA != pushed {
		t.Fatalf("after a push: %+v created=%v err=%v, want sha %s", b3, created, err, pushed)
	}
	if got, _ := bareRevParse(t, repo.Dir, "refs/heads/"+branch); got != pushed {
		t.Errorf("the existing branch was moved to %s", got)
	}
	if n := srv.CallCount(http.MethodPost, "/repos/acme/payments/git/refs"); n != 3 {
		t.Errorf("%d ref creations sent, want 3 (one created, two refused as existing)", n)
	}

	gb, err := c.GetBranch(ctx, acme, branch)
	if err != nil || gb.SHA != pushed {
		t.Errorf("GetBranch = %+v, %v", gb, err)
	}
	_, err = c.GetBranch(ctx, acme, "patch/PATCH-404")
	wantCode(t, err, patchctl.CodeNotFound)
}

func TestCreatePatchBranchInvalid(t *testing.T) {
	srv := githubtest.New(t)
	srv.AddRepo(acme)
	c := newTestClient(t, srv)
	for _, tc := range []struct{ repo, branch, field string }{
		{"acme", "patch/PATCH-1", "repo"},
		{"acme/payments/x", "patch/PATCH-1", "repo"},
		{"acme/pay ments", "patch/PATCH-1", "repo"},
		{"../etc", "patch/PATCH-1", "repo"},
		{acme, "", "branch"},
		{acme, "refs/heads/patch/PATCH-1", "branch"},
		{acme, "patch/PATCH-1..2", "branch"},
		{acme, "patch/PATCH 1", "branch"},
		{acme, "patch/PATCH-1.lock", "branch"},
		{acme, "-patch", "branch"},
		{acme, "patch/PATCH-1/", "branch"},
		{acme, "patch/.hidden", "branch"},
		{acme, "patch/x~1", "branch"},
	} {
		_, _, err := c.CreatePatchBranch(context.Background(), tc.repo, tc.branch)
		if pe := wantCode(t, err, patchctl.CodeInvalid); pe.Field != tc.field {
			t.Errorf("%q %q: field %q, want %q", tc.repo, tc.branch, pe.Field, tc.field)
		}
	}
	if n := len(srv.Calls()); n != 0 {
		t.Errorf("%d requests sent for invalid input", n)
	}
	_, _, err := c.CreatePatchBranch(context.Background(), "acme/missing", "patch/PATCH-1")
	pe := wantCode(t, err, patchctl.CodeNotFound)
	if !strings.Contains(pe.Message, "acme/missing") {
		t.Errorf("message %q does not name the repository", pe.Message)
	}
}

func TestOpenDraftPR(t *testing.T) {
	ctx := context.Background()
	srv := githubtest.New(t)
	repo := srv.AddRepo(acme)
	c := newTestClient(t, srv)
	branch := patchctl.BranchName("PATCH-42", "Bump semver")
	if _, _, err := c.CreatePatchBranch(ctx, acme, branch); err != nil {
		t.Fatal(err)
	}
	body := PRBody(PRInfo{Key: "PATCH-42", Title: "Bump semver", Branch: branch, Vulnerabilities: []string{"CVE-2022-25883"},
		Progress: Progress{Branch: true}})

	// Nothing pushed yet: GitHub would refuse; we say why, without trying.
	_, _, err := c.OpenDraftPR(ctx, acme, branch, "PATCH-42: Bump semver", body)
	if pe := wantCode(t, err, patchctl.CodeConflict); !errors.Is(pe, ErrNoCommits) || !strings.Contains(pe.Message, "push") {
		t.Fatalf("no commits: %v", err)
	}
	if n := srv.CallCount(http.MethodPost, "/repos/acme/payments/pulls"); n != 0 {
		t.Fatalf("%d pull requests created for an empty branch", n)
	}

	head := srv.Commit(acme, branch, "package-lock.json", `{"semver":"7.5.2"}`, "Bump semver to 7.5.2")
	pr, created, err := c.OpenDraftPR(ctx, acme, branch, "PATCH-42: Bump semver", body)
	if err != nil {
		t.Fatal(err)
	}
	mainSHA, _ := bareRevParse(t, repo.Dir, "refs/heads/main")
	if !created || pr.Number != 1 || !pr.Draft || pr.State != "open" || pr.HeadRef != branch || pr.HeadSHA != head ||
		pr.BaseRef != "main" || pr.BaseSHA != mainSHA || pr.Author != srv.Login || pr.BodyText() != body || pr.Repo != acme {
		t.Fatalf("opened %+v created=%v", pr, created)
	}
	if got := PatchKeys(pr.HeadRef, pr.Title, pr.BodyText()); !cmp.Equal(got, []string{"PATCH-42"}) {
		t.Errorf("PatchKeys of the opened PR = %v", got)
	}

	// Idempotent: the open PR is returned, nothing is created.
	again, created, err := c.OpenDraftPR(ctx, acme, branch, "another title", "another body")
	if err != nil || created || again.Number != 1 || again.Title != "PATCH-42: Bump semver" {
		t.Fatalf("second call: %+v created=%v err=%v", again, created, err)
	}
	if n := srv.CallCount(http.MethodPost, "/repos/acme/payments/pulls"); n != 1 {
		t.Errorf("%d creations sent, want 1", n)
	}

	// A concurrent opener: our listing misses the PR, GitHub refuses the
	// duplicate with 422, and the existing PR is adopted.
	srv.Respond(http.MethodGet, "/repos/acme/payments/pulls", 1, http.StatusOK, nil, "[]")
	raced, created, err := c.OpenDraftPR(ctx, acme, branch, "PATCH-42: Bump semver", body)
	if err != nil || created || raced.Number != 1 {
		t.Fatalf("race: %+v created=%v err=%v", raced, created, err)
	}
	if n := len(srv.PullRequests(acme)); n != 1 {
		t.Errorf("%d pull requests exist, want 1", n)
	}

	_, _, err = c.OpenDraftPR(ctx, acme, "patch/PATCH-7", "t", "b")
	wantCode(t, err, patchctl.CodeNotFound)
	_, _, err = c.OpenDraftPR(ctx, acme, branch, "  ", "b")
	wantCode(t, err, patchctl.CodeInvalid)
}

func TestReconcileReads(t *testing.T) {
	ctx := context.Background()
	srv := githubtest.New(t)
	repo := srv.AddRepo(acme)
	srv.SetMaxPerPage(2) // every listing below spans several pages
	c := newTestClient(t, srv)
	branch := "patch/PATCH-7-openssl"
	if _, _, err := c.CreatePatchBranch(ctx, acme, branch); err != nil {
		t.Fatal(err)
	}
	head := srv.Commit(acme, branch, "Dockerfile", "FROM debian:12.5\n", "Bump base image")
	pr, _, err := c.OpenDraftPR(ctx, acme, branch, "PATCH-7: OpenSSL", "")
	if err != nil {
		t.Fatal(err)
	}

	srv.AddReview(acme, pr.Number, "alice", githubtest.Commented)
	srv.AddReview(acme, pr.Number, "bob", githubtest.ChangesRequested)
	srv.AddReview(acme, pr.Number, "bob", githubtest.Dismissed)
	srv.AddReview(acme, pr.Number, "carol", githubtest.Approved)
	srv.AddReview(acme, pr.Number, srv.Login, githubtest.Approved)
	reviews, err := c.ListReviews(ctx, acme, pr.Number)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range reviews {
		got = append(got, r.Reviewer+":"+r.State)
		if r.PRNumber != pr.Number || r.CommitID != head || r.ID == 0 || r.SubmittedAt == nil {
			t.Errorf("review %+v", r)
		}
	}
	want := []string{"alice:commented", "bob:changes_requested", "bob:dismissed", "carol:approved", srv.Login + ":approved"}
	if !cmp.Equal(got, want) {
		t.Errorf("reviews = %v, want %v", got, want)
	}
	if n := srv.CallCount(http.MethodGet, "/repos/acme/payments/pulls/1/reviews"); n != 3 {
		t.Errorf("%d review pages read, want 3", n)
	}

	srv.AddCheckRun(acme, githubtest.CheckRun{Name: "unit", Status: "completed", Conclusion: "success", HeadBranch: branch})
	srv.AddCheckRun(acme, githubtest.CheckRun{Name: "lint", Status: "completed", Conclusion: "failure", HeadBranch: branch})
	srv.AddCheckRun(acme, githubtest.CheckRun{Name: "e2e", Status: "in_progress", HeadBranch: branch})
	srv.AddCheckRun(acme, githubtest.CheckRun{Name: "lint", Status: "completed", Conclusion: "success", HeadBranch: branch}) // re-run
	srv.AddCheckRun(acme, githubtest.CheckRun{Name: "skipped-job", Status: "completed", Conclusion: "skipped", HeadBranch: branch})
	srv.AddCheckRun(acme, githubtest.CheckRun{Name: "unit", Status: "completed", Conclusion: "success", HeadBranch: "main"})
	for _, ref := range []string{head, branch} {
		runs, err := c.ListCheckRuns(ctx, acme, ref)
		if err != nil {
			t.Fatal(err)
		}
		results := map[string]string{}
		for _, r := range runs {
			if r.HeadSHA != head {
				t.Errorf("run %s on %s, want %s", r.Name, r.HeadSHA, head)
			}
			if _, dup := results[r.Name]; dup {
				t.Errorf("run %s listed twice with filter=latest", r.Name)
			}
			results[r.Name] = r.Result
		}
		wantResults := map[string]string{"unit": patchctl.ResultPassed, "lint": patchctl.ResultPassed,
			"e2e": ResultInProgress, "skipped-job": patchctl.ResultPassed}
		if diff := cmp.Diff(wantResults, results); diff != "" {
			t.Errorf("check results for %s (-want +got):\n%s", ref, diff)
		}
	}

	st, err := c.CombinedStatus(ctx, acme, head)
	if err != nil {
		t.Fatal(err)
	}
	if st.Result != "" || len(st.Statuses) != 0 || st.State != "pending" {
		t.Errorf("no statuses: %+v", st)
	}
	srv.AddStatus(acme, head, "ci/jenkins", "pending")
	srv.AddStatus(acme, head, "ci/jenkins", "success")
	srv.AddStatus(acme, head, "security/scan", "success")
	srv.AddStatus(acme, head, "deploy/preview", "success")
	if st, err = c.CombinedStatus(ctx, acme, head); err != nil || st.Result != patchctl.ResultPassed || len(st.Statuses) != 3 {
		t.Errorf("all green: %+v, %v", st, err)
	}
	srv.AddStatus(acme, head, "security/scan", "error")
	if st, err = c.CombinedStatus(ctx, acme, head); err != nil || st.Result != patchctl.ResultFailed || st.State != "failure" {
		t.Errorf("one error: %+v, %v", st, err)
	}

	// Merge for real; the pull request then reports the merge commit.
	mergeSHA := srv.MergePR(acme, pr.Number, "carol")
	merged, err := c.PullRequest(ctx, acme, pr.Number)
	if err != nil {
		t.Fatal(err)
	}
	mainSHA, _ := bareRevParse(t, repo.Dir, "refs/heads/main")
	if !merged.Merged || merged.MergeCommitSHA != mergeSHA || mergeSHA != mainSHA || merged.MergedBy != "carol" || merged.State != "closed" {
		t.Errorf("merged PR = %+v; main is %s", merged, mainSHA)
	}
	parents, err := exec.Command("git", "-C", repo.Dir, "rev-parse", mergeSHA+"^2").Output()
	if err != nil || strings.TrimSpace(string(parents)) != head {
		t.Errorf("merge commit's second parent = %q, %v; want the PR head %s", parents, err, head)
	}

	_, err = c.PullRequest(ctx, acme, 99)
	wantCode(t, err, patchctl.CodeNotFound)
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	srv := githubtest.New(t)
	srv.AddRepo(acme)
	c := newTestClient(t, srv)

	t.Run("bad credentials", func(t *testing.T) {
		bad, err := NewClient(Config{BaseURL: srv.URL, Token: "ghp_wrong"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = bad.PullRequest(ctx, acme, 1)
		pe := wantCode(t, err, patchctl.CodeUnavailable)
		if !strings.Contains(pe.Message, "credentials") || !strings.Contains(pe.Message, "401") || strings.Contains(pe.Message, "ghp_wrong") {
			t.Errorf("message %q", pe.Message)
		}
	})
	t.Run("forbidden", func(t *testing.T) {
		srv.FailNext(http.MethodGet, "/repos/", 1, http.StatusForbidden, nil, "Resource not accessible by integration")
		_, err := c.PullRequest(ctx, acme, 1)
		pe := wantCode(t, err, patchctl.CodeUnavailable)
		if !strings.Contains(pe.Message, "credentials") || !strings.Contains(pe.Message, "Resource not accessible by integration") {
			t.Errorf("message %q", pe.Message)
		}
	})
	t.Run("server error", func(t *testing.T) {
		srv.FailNext("", "/repos/", 1, http.StatusBadGateway, nil, "Server Error")
		_, err := c.ListReviews(ctx, acme, 1)
		if pe := wantCode(t, err, patchctl.CodeUnavailable); !strings.Contains(pe.Message, "HTTP 502") {
			t.Errorf("message %q", pe.Message)
		}
	})
	t.Run("not found", func(t *testing.T) {
		_, err := c.ListReviews(ctx, acme, 404)
		wantCode(t, err, patchctl.CodeNotFound)
	})
	t.Run("secondary rate limit", func(t *testing.T) {
		h := http.Header{}
		h.Set("Retry-After", "30")
		srv.Respond("", "/repos/", 1, http.StatusForbidden, h,
			`{"message":"You have exceeded a secondary rate limit.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`)
		// A client of its own: after a secondary limit the client holds
		// back every call until Retry-After has passed.
		_, err := newTestClient(t, srv).PullRequest(ctx, acme, 1)
		pe := wantCode(t, err, patchctl.CodeUnavailable)
		var rl *RateLimitError
		if !errors.As(err, &rl) || !rl.Secondary || rl.RetryAfter != 30*time.Second || !strings.Contains(pe.Message, "retry after 30s") {
			t.Errorf("err = %v, cause %+v", err, rl)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		dead, err := NewClient(Config{BaseURL: "http://127.0.0.1:1/", Token: "x", HTTPClient: &http.Client{Timeout: 5 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = dead.PullRequest(ctx, acme, 1)
		if pe := wantCode(t, err, patchctl.CodeUnavailable); !strings.Contains(pe.Message, "unreachable") {
			t.Errorf("message %q", pe.Message)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := c.PullRequest(cctx, acme, 1)
		wantCode(t, err, patchctl.CodeUnavailable)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err %v does not wrap context.Canceled", err)
		}
	})
}

// TestRateLimit: once GitHub says the limit is used up, the client stops
// calling until the reset and says when that is.
func TestRateLimit(t *testing.T) {
	ctx := context.Background()
	srv := githubtest.New(t)
	srv.AddRepo(acme)
	c := newTestClient(t, srv)
	reset := time.Now().Add(20 * time.Minute).UTC().Truncate(time.Second)
	srv.ExhaustRateLimit(reset)

	_, err := c.PullRequest(ctx, acme, 1)
	pe := wantCode(t, err, patchctl.CodeUnavailable)
	var rl *RateLimitError
	if !errors.As(err, &rl) || !rl.Reset.Equal(reset) || rl.Remaining != 0 || rl.Limit != 5000 {
		t.Fatalf("cause = %+v", rl)
	}
	if !strings.Contains(pe.Message, reset.Format(time.RFC3339)) {
		t.Errorf("message %q does not give the reset time", pe.Message)
	}
	before := len(srv.Calls())
	_, err = c.ListReviews(ctx, acme, 1)
	if !errors.As(err, &rl) || !rl.Reset.Equal(reset) {
		t.Fatalf("second call: %v", err)
	}
	if after := len(srv.Calls()); after != before {
		t.Errorf("%d requests sent while rate limited", after-before)
	}
}

func TestNewClientConfig(t *testing.T) {
	if _, err := NewClient(Config{}); patchctl.ErrorCode(err) != patchctl.CodeInvalid {
		t.Errorf("no credentials: %v", err)
	}
	if _, err := NewClient(Config{Token: "t", App: &AppAuth{}}); patchctl.ErrorCode(err) != patchctl.CodeInvalid {
		t.Errorf("both: %v", err)
	}
	for _, app := range []AppAuth{
		{InstallationID: 1, PrivateKeyPEM: []byte("x")},
		{AppID: 1, PrivateKeyPEM: []byte("x")},
		{AppID: 1, InstallationID: 1, PrivateKeyPEM: []byte("not pem")},
		{AppID: 1, InstallationID: 1, PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte("junk")})},
	} {
		if _, err := NewClient(Config{App: &app}); patchctl.ErrorCode(err) != patchctl.CodeInvalid {
			t.Errorf("app %+v: %v", app, err)
		}
	}
}

// fakeClock is a settable clock shared by the client and the fake.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestAppInstallationAuth(t *testing.T) {
	ctx := context.Background()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)}
	srv := githubtest.New(t)
	srv.SetClock(clock.Now)
	srv.AddRepo(acme)
	srv.EnableApp(githubtest.App{ClientID: "Iv23liPatchctl", InstallationID: 4242, PublicKey: &key.PublicKey})

	for _, tc := range []struct {
		name string
		der  []byte
		typ  string
		auth AppAuth
	}{
		{"pkcs1 client id", x509.MarshalPKCS1PrivateKey(key), "RSA PRIVATE KEY", AppAuth{ClientID: "Iv23liPatchctl", InstallationID: 4242}},
		{"pkcs8", mustPKCS8(t, key), "PRIVATE KEY", AppAuth{ClientID: "Iv23liPatchctl", InstallationID: 4242}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.auth.PrivateKeyPEM = pem.EncodeToMemory(&pem.Block{Type: tc.typ, Bytes: tc.der})
			c, err := NewClient(Config{BaseURL: srv.URL, App: &tc.auth, Clock: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			mints := srv.CallCount(http.MethodPost, "/app/installations/4242/access_tokens")
			for i := 0; i < 3; i++ {
				if _, _, err := c.CreatePatchBranch(ctx, acme, "patch/PATCH-1"); err != nil {
					t.Fatal(err)
				}
			}
			if n := srv.CallCount(http.MethodPost, "/app/installations/4242/access_tokens") - mints; n != 1 {
				t.Errorf("%d tokens minted for 3 calls, want 1", n)
			}
			// 56 minutes on, the hour-long token is within the renewal margin.
			clock.Add(56 * time.Minute)
			if _, err := c.GetBranch(ctx, acme, "patch/PATCH-1"); err != nil {
				t.Fatal(err)
			}
			if n := srv.CallCount(http.MethodPost, "/app/installations/4242/access_tokens") - mints; n != 2 {
				t.Errorf("%d tokens minted after renewal, want 2", n)
			}
		})
	}

	t.Run("wrong installation", func(t *testing.T) {
		c, err := NewClient(Config{BaseURL: srv.URL, Clock: clock.Now, App: &AppAuth{ClientID: "Iv23liPatchctl", InstallationID: 1,
			PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetBranch(ctx, acme, "main")
		if pe := wantCode(t, err, patchctl.CodeNotFound); !strings.Contains(pe.Message, "installation token") {
			t.Errorf("message %q", pe.Message)
		}
	})
	t.Run("other key", func(t *testing.T) {
		other, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewClient(Config{BaseURL: srv.URL, Clock: clock.Now, App: &AppAuth{ClientID: "Iv23liPatchctl", InstallationID: 4242,
			PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)})}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetBranch(ctx, acme, "main")
		if pe := wantCode(t, err, patchctl.CodeUnavailable); !strings.Contains(pe.Message, "credentials") {
			t.Errorf("message %q", pe.Message)
		}
	})
}

func mustPKCS8(t *testing.T, key *rsa.PrivateKey) []byte {
	t.Helper()
	b, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

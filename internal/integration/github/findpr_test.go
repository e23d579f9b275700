package github

import (
	"context"
	"testing"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/integration/github/githubtest"
)

// TestFindPullRequest finds a branch's pull request whatever its state,
// the latest when there are several, and answers CodeNotFound for a branch
// without one; the listing is paged.
func TestFindPullRequest(t *testing.T) {
	ctx := context.Background()
	srv := githubtest.New(t)
	srv.AddRepo(acme)
	srv.SetMaxPerPage(1)
	c := newTestClient(t, srv)
	open := func(branch string) *PullRequest {
		t.Helper()
		if _, _, err := c.CreatePatchBranch(ctx, acme, branch); err != nil {
			t.Fatal(err)
		}
		srv.Commit(acme, branch, branch+".txt", "x\n", "change on "+branch)
		pr, _, err := c.OpenDraftPR(ctx, acme, branch, "change", "")
		if err != nil {
			t.Fatal(err)
		}
		return pr
	}
	other := open("patch/PATCH-1-other")
	first := open("patch/PATCH-2-fix")
	merge := srv.MergePR(acme, first.Number, "lena")

	got, err := c.FindPullRequest(ctx, acme, "patch/PATCH-2-fix")
	if err != nil || got.Number != first.Number || !got.Merged || got.MergeCommitSHA != merge {
		t.Fatalf("merged pull request of the branch: %+v %v", got, err)
	}
	// A newer pull request from the same branch wins.
	srv.Commit(acme, "patch/PATCH-2-fix", "again.txt", "y\n", "again")
	second, _, err := c.OpenDraftPR(ctx, acme, "patch/PATCH-2-fix", "again", "")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.FindPullRequest(ctx, acme, "patch/PATCH-2-fix"); err != nil || got.Number != second.Number || got.State != "open" {
		t.Errorf("latest pull request: %+v %v (other is #%d)", got, err, other.Number)
	}
	_, err = c.FindPullRequest(ctx, acme, "patch/PATCH-3")
	wantCode(t, err, patchctl.CodeNotFound)
	_, err = c.FindPullRequest(ctx, "not a repo", "x")
	wantCode(t, err, patchctl.CodeInvalid)
}

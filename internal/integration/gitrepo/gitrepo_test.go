package gitrepo

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
)

var (
	bot   = Author{Name: "patchctl", Email: "patchctl@example.invalid"}
	alice = Author{Name: "Alice Example", Email: "alice@example.invalid"}
)

// testGitEnv keeps the machine's git configuration out of the tests.
var testGitEnv = []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=" + os.DevNull}

func sh(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), testGitEnv...)
	cmd.Env = append(cmd.Env, "GIT_AUTHOR_NAME=seed", "GIT_AUTHOR_EMAIL=seed@example.invalid",
		"GIT_COMMITTER_NAME=seed", "GIT_COMMITTER_EMAIL=seed@example.invalid")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// remote is a bare repository on disk with a seeding clone next to it.
type remote struct {
	bare, seed string
}

// newRemote creates a bare repository whose main holds two commits:
// versions.tf at 1.29 then at 1.30 (the change a revert undoes).
func newRemote(t *testing.T) (*remote, string, string) {
	t.Helper()
	root := t.TempDir()
	r := &remote{bare: filepath.Join(root, "infra.git"), seed: filepath.Join(root, "seed")}
	sh(t, root, "init", "--quiet", "--bare", "--initial-branch=main", r.bare)
	sh(t, root, "clone", "--quiet", r.bare, r.seed)
	sh(t, r.seed, "checkout", "--quiet", "-b", "main")
	first := r.commit(t, "versions.tf", "gke_version = \"1.29.4-gke.100\"\n", "Pin GKE 1.29")
	second := r.commit(t, "versions.tf", "gke_version = \"1.30.1-gke.200\"\n", "PATCH-12: GKE 1.30")
	return r, first, second
}

func (r *remote) commit(t *testing.T, file, content, msg string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(r.seed, file), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	sh(t, r.seed, "add", file)
	sh(t, r.seed, "commit", "--quiet", "-m", msg)
	sh(t, r.seed, "push", "--quiet", "origin", "HEAD")
	return sh(t, r.seed, "rev-parse", "HEAD")
}

func clone(t *testing.T, remote string) *Repo {
	t.Helper()
	r, err := Clone(context.Background(), remote, "", "", Options{Env: testGitEnv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func wantCode(t *testing.T, err error, code patchctl.Code) *patchctl.Error {
	t.Helper()
	var pe *patchctl.Error
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("err = %v, want a %s *patchctl.Error", err, code)
	}
	return pe
}

func TestRevertAndPush(t *testing.T) {
	ctx := context.Background()
	rem, first, second := newRemote(t)
	for _, url := range []string{rem.bare, "file://" + rem.bare} {
		t.Run(url[:4], func(t *testing.T) {
			r := clone(t, url)
			if head, err := r.Head(ctx); err != nil || head != second {
				t.Fatalf("cloned head = %s, %v; want %s", head, err, second)
			}
			branch := "patch/PATCH-12-rollback-" + url[:4]
			if err := r.CreateBranch(ctx, branch, ""); err != nil {
				t.Fatal(err)
			}
			rev, err := r.Revert(ctx, second[:10], alice)
			if err != nil {
				t.Fatal(err)
			}
			b, err := r.ReadFile("versions.tf")
			if err != nil || string(b) != "gke_version = \"1.29.4-gke.100\"\n" {
				t.Errorf("after revert versions.tf = %q, %v", b, err)
			}
			if got := sh(t, r.Dir, "log", "-1", "--format=%an <%ae>|%cn|%s|%P"); got !=
				"Alice Example <alice@example.invalid>|Alice Example|Revert \"PATCH-12: GKE 1.30\"|"+second {
				t.Errorf("revert commit = %q", got)
			}
			if err := r.Push(ctx, branch); err != nil {
				t.Fatal(err)
			}
			if got := sh(t, rem.bare, "rev-parse", "refs/heads/"+branch); got != rev {
				t.Errorf("bare repo has %s at %s, want %s", branch, got, rev)
			}
			if got := sh(t, rem.bare, "rev-parse", "refs/heads/main"); got != second {
				t.Errorf("main moved to %s", got)
			}
			if got := sh(t, rem.bare, "show", rev+":versions.tf"); got != "gke_version = \"1.29.4-gke.100\"" {
				t.Errorf("pushed tree has %q", got)
			}
			_ = first
		})
	}
}

func TestRevertMergeCommit(t *testing.T) {
	ctx := context.Background()
	rem, _, second := newRemote(t)
	// A merged pull request: a feature branch merged with a merge commit.
	sh(t, rem.seed, "checkout", "--quiet", "-b", "patch/PATCH-13")
	rem.commit(t, "values.yaml", "image: app:1.4.3\n", "PATCH-13: bump app")
	sh(t, rem.seed, "checkout", "--quiet", "main")
	sh(t, rem.seed, "merge", "--quiet", "--no-ff", "-m", "Merge pull request #5 from acme/patch/PATCH-13", "patch/PATCH-13")
	sh(t, rem.seed, "push", "--quiet", "origin", "main")
	merge := sh(t, rem.seed, "rev-parse", "HEAD")

	r := clone(t, rem.bare)
	if err := r.CreateBranch(ctx, "revert-pr-5", "main"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Revert(ctx, merge, bot); err != nil {
		t.Fatal(err)
	}
	if got := sh(t, r.Dir, "log", "-1", "--format=%an|%cn|%s"); got != `patchctl|patchctl|Revert "Merge pull request #5 from acme/patch/PATCH-13"` {
		t.Errorf("merge revert commit = %q", got)
	}
	if _, err := r.ReadFile("values.yaml"); patchctl.ErrorCode(err) != patchctl.CodeNotFound {
		t.Errorf("values.yaml still there after reverting the merge: %v", err)
	}
	if got := sh(t, r.Dir, "rev-parse", "HEAD^{tree}"); got != sh(t, r.Dir, "rev-parse", second+"^{tree}") {
		t.Errorf("tree after revert differs from the mainline parent's")
	}
}

func TestRevertRefusals(t *testing.T) {
	ctx := context.Background()
	rem, first, second := newRemote(t)
	r := clone(t, rem.bare)

	// Reverting the first commit conflicts with the second, which changed
	// the same line.
	_, err := r.Revert(ctx, first, bot)
	pe := wantCode(t, err, patchctl.CodeConflict)
	if !errors.Is(err, ErrConflict) || !strings.Contains(pe.Message, "versions.tf") {
		t.Errorf("conflict: %v", err)
	}
	if st := sh(t, r.Dir, "status", "--porcelain"); st != "" {
		t.Errorf("working tree not restored after the conflict: %q", st)
	}
	if head, _ := r.Head(ctx); head != second {
		t.Errorf("head moved to %s", head)
	}

	// Reverted twice: the second revert has nothing to undo.
	if _, err := r.Revert(ctx, second, bot); err != nil {
		t.Fatal(err)
	}
	head, _ := r.Head(ctx)
	if _, err := r.Revert(ctx, second, bot); !errors.Is(err, ErrNothingToCommit) || patchctl.ErrorCode(err) != patchctl.CodeConflict {
		t.Errorf("double revert: %v", err)
	}
	if again, _ := r.Head(ctx); again != head {
		t.Errorf("head moved on an empty revert")
	}
	if st := sh(t, r.Dir, "status", "--porcelain"); st != "" {
		t.Errorf("working tree not clean: %q", st)
	}

	_, err = r.Revert(ctx, "0123456789abcdef0123456789abcdef01234567", bot)
	wantCode(t, err, patchctl.CodeNotFound)
	_, err = r.Revert(ctx, "--help", bot)
	wantCode(t, err, patchctl.CodeInvalid)
	_, err = r.Revert(ctx, second, Author{Name: "x"})
	wantCode(t, err, patchctl.CodeInvalid)
}

func TestEditCommitPush(t *testing.T) {
	ctx := context.Background()
	rem, _, second := newRemote(t)
	r := clone(t, rem.bare)
	if err := r.CreateBranch(ctx, "patch/PATCH-14-gke-1.30.2", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Commit(ctx, "no change", bot); !errors.Is(err, ErrNothingToCommit) {
		t.Errorf("empty commit: %v", err)
	}
	b, _ := r.ReadFile("versions.tf")
	edited := strings.Replace(string(b), "1.30.1-gke.200", "1.30.2-gke.300", 1)
	if err := r.WriteFile("versions.tf", []byte(edited)); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteFile("modules/gke/README.md", []byte("bumped by PATCH-14\n")); err != nil {
		t.Fatal(err)
	}
	msg := "PATCH-14: GKE 1.30.2\n\nBumps the management cluster first (SOP-005)."
	sha, err := r.Commit(ctx, msg, alice, "versions.tf", "modules/gke/README.md")
	if err != nil {
		t.Fatal(err)
	}
	if got := sh(t, r.Dir, "log", "-1", "--format=%an|%P|%B"); got != "Alice Example|"+second+"|"+msg {
		t.Errorf("commit = %q", got)
	}
	if err := r.Push(ctx, "patch/PATCH-14-gke-1.30.2"); err != nil {
		t.Fatal(err)
	}
	if got := sh(t, rem.bare, "rev-parse", "refs/heads/patch/PATCH-14-gke-1.30.2"); got != sha {
		t.Errorf("bare has %s", got)
	}

	// Someone else pushes to main; our stale main cannot be pushed over it.
	rem.commit(t, "other.tf", "x = 1\n", "unrelated")
	if err := r.CreateBranch(ctx, "stale", second); err != nil {
		t.Fatal(err)
	}
	sh(t, r.Dir, "switch", "--quiet", "-C", "main", second)
	if err := r.WriteFile("versions.tf", []byte("mine\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Commit(ctx, "diverge", bot); err != nil {
		t.Fatal(err)
	}
	err = r.Push(ctx, "main")
	if pe := wantCode(t, err, patchctl.CodeConflict); !errors.Is(err, ErrRejected) || !strings.Contains(pe.Message, "fetch first") && !strings.Contains(pe.Message, "non-fast-forward") {
		t.Errorf("push over a moved branch: %v", err)
	}

	for _, bad := range []string{"", "../outside", "/etc/passwd", ".git/config", ".GIT/hooks/pre-commit", "a/../../b"} {
		if err := r.WriteFile(bad, []byte("x")); patchctl.ErrorCode(err) != patchctl.CodeInvalid {
			t.Errorf("WriteFile(%q): %v", bad, err)
		}
	}
	for _, bad := range []string{"", "-x", "a..b", "has space", "refs/heads/x.lock"} {
		if err := r.CreateBranch(ctx, bad, ""); patchctl.ErrorCode(err) != patchctl.CodeInvalid {
			t.Errorf("CreateBranch(%q): %v", bad, err)
		}
	}
	if err := r.CreateBranch(ctx, "patch/PATCH-14-gke-1.30.2", ""); patchctl.ErrorCode(err) != patchctl.CodeConflict {
		t.Errorf("existing branch: %v", err)
	}
}

func TestCommitter(t *testing.T) {
	ctx := context.Background()
	rem, _, _ := newRemote(t)
	r, err := Clone(ctx, rem.bare, "", "", Options{Env: testGitEnv, Committer: bot})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.WriteFile("versions.tf", []byte("x\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Commit(ctx, "edit", alice); err != nil {
		t.Fatal(err)
	}
	if got := sh(t, r.Dir, "log", "-1", "--format=%an <%ae>|%cn <%ce>"); got != "Alice Example <alice@example.invalid>|patchctl <patchctl@example.invalid>" {
		t.Errorf("author|committer = %q", got)
	}
}

func TestCloneFailures(t *testing.T) {
	ctx := context.Background()
	_, err := Clone(ctx, filepath.Join(t.TempDir(), "missing.git"), "", "", Options{Env: testGitEnv})
	pe := wantCode(t, err, patchctl.CodeUnavailable)
	var ge *GitError
	if !errors.As(err, &ge) || ge.ExitCode == 0 || ge.Stderr == "" || !strings.Contains(pe.Message, "missing.git") {
		t.Errorf("missing remote: %v (git error %+v)", err, ge)
	}

	// Credentials in a URL never reach a message or the GitError.
	_, err = Clone(ctx, "http://deploy:s3cr3t-t0ken@127.0.0.1:1/acme/infra.git", "", "", Options{Env: testGitEnv})
	wantCode(t, err, patchctl.CodeUnavailable)
	if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(patchctl.ErrorMessage(err), "s3cr3t") {
		t.Errorf("credentials leaked: %v", err)
	}

	rem, _, _ := newRemote(t)
	_, err = Clone(ctx, rem.bare, "", "no-such-branch", Options{Env: testGitEnv})
	wantCode(t, err, patchctl.CodeUnavailable)
	_, err = Clone(ctx, "--upload-pack=touch /tmp/pwned", "", "", Options{Env: testGitEnv})
	wantCode(t, err, patchctl.CodeUnavailable)

	cctx, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	time.Sleep(time.Millisecond)
	if _, err := Clone(cctx, rem.bare, "", "", Options{Env: testGitEnv}); err == nil {
		t.Error("clone with an expired context succeeded")
	}

	dir := filepath.Join(t.TempDir(), "work")
	r, err := Clone(ctx, rem.bare, dir, "main", Options{Env: testGitEnv})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("Close removed a directory the caller chose: %v", err)
	}
	tmp := clone(t, rem.bare)
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp.Dir); !os.IsNotExist(err) {
		t.Errorf("temporary clone left behind: %v", err)
	}
}

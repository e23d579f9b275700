package githubtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// zeroSHA as the old value of update-ref means "the ref must not exist".
const zeroSHA = "0000000000000000000000000000000000000000"

// gitEnv isolates git from the machine's configuration so that the fake
// behaves the same everywhere (no init.defaultBranch, hooks or signing).
var gitEnv = []string{
	"GIT_CONFIG_NOSYSTEM=1",
	"GIT_CONFIG_GLOBAL=" + os.DevNull,
	"GIT_TERMINAL_PROMPT=0",
	"GIT_AUTHOR_NAME=githubtest", "GIT_AUTHOR_EMAIL=githubtest@example.invalid",
	"GIT_COMMITTER_NAME=githubtest", "GIT_COMMITTER_EMAIL=githubtest@example.invalid",
}

// gitTimeout bounds one git command.
const gitTimeout = 30 * time.Second

// git runs git in dir and returns its trimmed stdout; the error carries
// stderr.
func git(dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), gitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), gitEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// initBare creates a bare repository with one commit on branch, seeded
// through a temporary clone as a user would push it.
func initBare(dir, branch, tmp string) (string, error) {
	if _, err := git(tmp, "init", "--bare", "--initial-branch="+branch, dir); err != nil {
		return "", err
	}
	work := filepath.Join(tmp, "seed")
	if _, err := git(tmp, "clone", "--quiet", dir, work); err != nil {
		return "", err
	}
	if _, err := git(work, "checkout", "--quiet", "-b", branch); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(work, "README.md"), []byte("# seeded by githubtest\n"), 0o644); err != nil {
		return "", err
	}
	if _, err := git(work, "add", "README.md"); err != nil {
		return "", err
	}
	if _, err := git(work, "commit", "--quiet", "-m", "Initial commit"); err != nil {
		return "", err
	}
	if _, err := git(work, "push", "--quiet", "origin", "HEAD:refs/heads/"+branch); err != nil {
		return "", err
	}
	if err := os.RemoveAll(work); err != nil {
		return "", err
	}
	return revParse(dir, "refs/heads/"+branch)
}

// revParse resolves ref to a commit SHA; a missing ref is errNoRef.
func revParse(dir, ref string) (string, error) {
	out, err := git(dir, "rev-parse", "--verify", "--quiet", ref+"^{commit}")
	if err != nil {
		return "", errNoRef
	}
	return out, nil
}

type noRef struct{}

func (noRef) Error() string { return "no such ref" }

var errNoRef error = noRef{}

// createRef creates ref at sha, failing when the ref exists (atomic: the
// old value is checked by git under its ref lock).
func createRef(dir, ref, sha string) error {
	_, err := git(dir, "update-ref", ref, sha, zeroSHA)
	return err
}

// isCommit reports whether sha names a commit of the repository.
func isCommit(dir, sha string) bool {
	_, err := git(dir, "cat-file", "-e", sha+"^{commit}")
	return err == nil
}

// aheadBy counts the commits of head not in base.
func aheadBy(dir, base, head string) (int, error) {
	out, err := git(dir, "rev-list", "--count", base+".."+head)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(out)
}

// commitFile commits content to path on branch through a temporary clone
// and pushes it; it returns the new head.
func commitFile(bare, tmp, branch, path, content, message string) (string, error) {
	work, err := os.MkdirTemp(tmp, "work-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	if _, err := git(tmp, "clone", "--quiet", "--branch", branch, bare, work); err != nil {
		return "", err
	}
	full := filepath.Join(work, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		return "", err
	}
	if _, err := git(work, "add", "--", path); err != nil {
		return "", err
	}
	if _, err := git(work, "commit", "--quiet", "-m", message); err != nil {
		return "", err
	}
	if _, err := git(work, "push", "--quiet", "origin", "HEAD:refs/heads/"+branch); err != nil {
		return "", err
	}
	return revParse(bare, "refs/heads/"+branch)
}

// mergeBranch merges head into base with a merge commit, as GitHub's
// "Create a merge commit" does, and pushes it; it returns the merge commit.
func mergeBranch(bare, tmp, base, head, message string) (string, error) {
	work, err := os.MkdirTemp(tmp, "merge-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	if _, err := git(tmp, "clone", "--quiet", "--branch", base, bare, work); err != nil {
		return "", err
	}
	if _, err := git(work, "merge", "--quiet", "--no-ff", "-m", message, "origin/"+head); err != nil {
		return "", err
	}
	if _, err := git(work, "push", "--quiet", "origin", "HEAD:refs/heads/"+base); err != nil {
		return "", err
	}
	return revParse(bare, "refs/heads/"+base)
}

// Package gitrepo is a minimal wrapper over the git command line for
// patchctl's GitOps flows (reverting a change in a Terraform or deployment
// repository, editing a version pin): clone a remote into a working
// directory, create a branch, revert a commit or edit files, commit with a
// given author, push.
//
// It runs the installed git through os/exec with the caller's context,
// never prompts (GIT_TERMINAL_PROMPT=0) and runs git with the C locale so
// that its messages are stable. Failures are *patchctl.Error values whose
// cause is a *GitError carrying the command, exit code and stderr;
// credentials embedded in remote URLs are redacted from both.
package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/patchctl/patchctl"
)

// Causes of the *patchctl.Error values returned (test with errors.Is).
var (
	// ErrConflict: a revert does not apply cleanly; the working tree was
	// restored.
	ErrConflict = errors.New("revert conflicts")
	// ErrNothingToCommit: there is no change to commit (or to revert: the
	// change is already undone).
	ErrNothingToCommit = errors.New("nothing to commit")
	// ErrRejected: the remote refused the push (not a fast-forward, or a
	// protected branch).
	ErrRejected = errors.New("push rejected")
)

// GitError is one failed git command.
type GitError struct {
	Args     []string // redacted
	Dir      string
	ExitCode int
	Stderr   string // redacted
	Err      error
}

func (e *GitError) Error() string {
	s := "git " + strings.Join(e.Args, " ") + ": " + e.Err.Error()
	if e.Stderr != "" {
		s += ": " + e.Stderr
	}
	return s
}

func (e *GitError) Unwrap() error { return e.Err }

// Author is who a commit is by.
type Author struct {
	Name  string
	Email string
}

func (a Author) validate() error {
	if strings.TrimSpace(a.Name) == "" || strings.TrimSpace(a.Email) == "" {
		return patchctl.FieldError("author", "a name and an email are required")
	}
	if strings.ContainsAny(a.Name+a.Email, "<>\n\r\x00") {
		return patchctl.FieldError("author", "name and email may not contain '<', '>', newlines or NUL")
	}
	return nil
}

// Options configure how git runs.
type Options struct {
	// Env is added to git's environment, e.g. GIT_SSH_COMMAND.
	Env []string
	// Committer commits; empty means the commit's author.
	Committer Author
	Logger    *slog.Logger
}

// Repo is a working copy.
type Repo struct {
	// Dir is the working directory.
	Dir  string
	opts Options
	log  *slog.Logger
	temp bool // Dir was created by Clone and Close removes it
}

// Clone clones remote (a local path, a file:// URL or a network URL) into
// dir, or into a new temporary directory when dir is "" (removed by Close).
// branch selects the branch to check out; "" means the remote's default.
func Clone(ctx context.Context, remote, dir, branch string, opts Options) (*Repo, error) {
	if strings.TrimSpace(remote) == "" {
		return nil, patchctl.FieldError("remote", "is required")
	}
	r := &Repo{opts: opts, log: opts.Logger}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("component", "gitrepo")
	if dir == "" {
		tmp, err := os.MkdirTemp("", "patchctl-git-")
		if err != nil {
			return nil, &patchctl.Error{Code: patchctl.CodeInternal, Message: "creating a working directory failed", Err: err}
		}
		dir, r.temp = filepath.Join(tmp, "repo"), true
	}
	r.Dir = dir
	args := []string{"clone", "--quiet", "--no-tags"}
	if branch != "" {
		if err := checkBranch(ctx, branch); err != nil {
			r.Close()
			return nil, err
		}
		args = append(args, "--branch", branch)
	}
	// "--" keeps a remote starting with '-' from being read as an option.
	args = append(args, "--", remote, dir)
	if _, err := run(ctx, "", opts.Env, nil, args...); err != nil {
		r.Close()
		return nil, &patchctl.Error{Code: patchctl.CodeUnavailable, Err: err,
			Message: fmt.Sprintf("git clone of %s failed: %s", redact(remote), summary(err))}
	}
	r.log.InfoContext(ctx, "repository_cloned", "remote", redact(remote), "dir", dir)
	return r, nil
}

// Close removes the working directory if Clone created it.
func (r *Repo) Close() error {
	if !r.temp {
		return nil
	}
	return os.RemoveAll(filepath.Dir(r.Dir))
}

// git runs a git command in the working copy.
func (r *Repo) git(ctx context.Context, env []string, args ...string) (string, error) {
	r.log.DebugContext(ctx, "git", "args", redactArgs(args))
	return run(ctx, r.Dir, append(append([]string(nil), r.opts.Env...), env...), nil, args...)
}

// Head returns the commit checked out.
func (r *Repo) Head(ctx context.Context) (string, error) {
	return r.RevParse(ctx, "HEAD")
}

// RevParse resolves rev to a commit; an unknown one is CodeNotFound.
func (r *Repo) RevParse(ctx context.Context, rev string) (string, error) {
	if rev == "" || strings.HasPrefix(rev, "-") {
		return "", patchctl.FieldError("rev", "%q is not a revision", rev)
	}
	out, err := r.git(ctx, nil, "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}")
	if err != nil {
		if ctx.Err() != nil {
			return "", &patchctl.Error{Code: patchctl.CodeUnavailable, Message: "git rev-parse interrupted", Err: err}
		}
		return "", &patchctl.Error{Code: patchctl.CodeNotFound, Err: err, Message: fmt.Sprintf("commit %s not found in the repository", rev)}
	}
	return out, nil
}

// CreateBranch creates branch at from ("" means HEAD) and checks it out.
func (r *Repo) CreateBranch(ctx context.Context, branch, from string) error {
	if err := checkBranch(ctx, branch); err != nil {
		return err
	}
	start := "HEAD"
	if from != "" {
		sha, err := r.RevParse(ctx, from)
		if err != nil {
			return err
		}
		start = sha
	}
	if _, err := r.git(ctx, nil, "switch", "--quiet", "--create", branch, start); err != nil {
		return &patchctl.Error{Code: patchctl.CodeConflict, Err: err,
			Message: fmt.Sprintf("creating branch %s failed: %s", branch, summary(err))}
	}
	return nil
}

// checkBranch validates a branch name with git check-ref-format --branch.
func checkBranch(ctx context.Context, branch string) error {
	if branch == "" || strings.HasPrefix(branch, "-") {
		return patchctl.FieldError("branch", "%q is not a branch name", branch)
	}
	if _, err := run(ctx, "", nil, nil, "check-ref-format", "--branch", branch); err != nil {
		return &patchctl.Error{Code: patchctl.CodeInvalid, Field: "branch", Err: err, Message: fmt.Sprintf("%q is not a branch name", branch)}
	}
	return nil
}

// authorEnv sets author and committer for one command, whatever the
// machine's git configuration says.
func (r *Repo) authorEnv(a Author) []string {
	c := r.opts.Committer
	if c.Name == "" {
		c = a
	}
	return []string{
		"GIT_AUTHOR_NAME=" + a.Name, "GIT_AUTHOR_EMAIL=" + a.Email,
		"GIT_COMMITTER_NAME=" + c.Name, "GIT_COMMITTER_EMAIL=" + c.Email,
	}
}

// Revert commits the revert of sha on the current branch as author and
// returns the new commit, with git's own message (Revert "..." / This
// reverts commit ...). A merge commit is reverted to its first parent
// (-m 1): the branch it was merged into, as when undoing a merged pull
// request. A revert that does not apply is CodeConflict with cause
// ErrConflict, and one with nothing left to undo is CodeConflict with cause
// ErrNothingToCommit; either way the working tree is restored.
//
// It runs git revert --no-edit --no-commit, then git commit --no-edit:
// the same commit as git revert --no-edit, but the outcome is read from
// the index (conflicted, empty or not) rather than from git's messages.
func (r *Repo) Revert(ctx context.Context, sha string, author Author) (string, error) {
	if err := author.validate(); err != nil {
		return "", err
	}
	full, err := r.RevParse(ctx, sha)
	if err != nil {
		return "", err
	}
	args := []string{"revert", "--no-edit", "--no-commit"}
	parents, err := r.git(ctx, nil, "rev-list", "--parents", "-n", "1", full)
	if err != nil {
		return "", &patchctl.Error{Code: patchctl.CodeInternal, Message: "reading the commit's parents failed", Err: err}
	}
	if len(strings.Fields(parents)) > 2 {
		args = append(args, "-m", "1")
	}
	args = append(args, full)
	env := r.authorEnv(author)
	if _, err := r.git(ctx, env, args...); err != nil {
		return "", r.revertFailed(ctx, full, err)
	}
	// diff --cached --quiet exits 0 when nothing is staged.
	if _, err := r.git(ctx, nil, "diff", "--cached", "--quiet"); err == nil {
		r.abortRevert()
		return "", &patchctl.Error{Code: patchctl.CodeConflict, Err: ErrNothingToCommit, Message: fmt.Sprintf(
			"reverting %s changes nothing: its change is already undone", short(full))}
	}
	if _, err := r.git(ctx, env, "commit", "--quiet", "--no-edit", "--no-verify"); err != nil {
		r.abortRevert()
		return "", &patchctl.Error{Code: patchctl.CodeInternal, Err: err, Message: fmt.Sprintf("committing the revert of %s failed: %s", short(full), summary(err))}
	}
	head, err := r.Head(ctx)
	if err != nil {
		return "", err
	}
	r.log.InfoContext(ctx, "commit_reverted", "reverted", full, "commit", head)
	return head, nil
}

// revertFailed classifies a failed revert by the repository's state (not
// by git's wording) and restores the working tree.
func (r *Repo) revertFailed(ctx context.Context, sha string, err error) error {
	if ctx.Err() != nil {
		r.abortRevert()
		return &patchctl.Error{Code: patchctl.CodeUnavailable, Message: "git revert interrupted", Err: err}
	}
	unmerged, _ := r.git(context.Background(), nil, "diff", "--name-only", "--diff-filter=U")
	r.abortRevert()
	if unmerged != "" {
		files := strings.Fields(unmerged)
		return &patchctl.Error{Code: patchctl.CodeConflict, Err: errors.Join(ErrConflict, err), Message: fmt.Sprintf(
			"reverting %s conflicts with later changes in %s: revert it by hand", short(sha), strings.Join(files, ", "))}
	}
	return &patchctl.Error{Code: patchctl.CodeInternal, Err: err, Message: fmt.Sprintf("git revert of %s failed: %s", short(sha), summary(err))}
}

// abortRevert leaves no revert in progress. It runs without the caller's
// context so that a cancelled request still cleans up.
func (r *Repo) abortRevert() {
	if _, err := r.git(context.Background(), nil, "rev-parse", "--verify", "--quiet", "REVERT_HEAD"); err == nil {
		r.git(context.Background(), nil, "revert", "--abort")
	}
	r.git(context.Background(), nil, "reset", "--quiet", "--hard", "HEAD")
}

// cleanPath checks that rel names a file inside the working copy and not
// inside .git.
func (r *Repo) cleanPath(rel string) (string, error) {
	p := path.Clean(filepath.ToSlash(rel))
	if rel == "" || path.IsAbs(p) || filepath.IsAbs(rel) || p == "." || p == ".." || strings.HasPrefix(p, "../") {
		return "", patchctl.FieldError("path", "%q is not a path inside the repository", rel)
	}
	if first, _, _ := strings.Cut(p, "/"); strings.EqualFold(first, ".git") {
		return "", patchctl.FieldError("path", "%q is inside .git", rel)
	}
	return filepath.Join(r.Dir, filepath.FromSlash(p)), nil
}

// ReadFile reads a file of the working copy.
func (r *Repo) ReadFile(rel string) ([]byte, error) {
	full, err := r.cleanPath(rel)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(full)
	if errors.Is(err, os.ErrNotExist) {
		return nil, patchctl.NotFound("file", rel)
	}
	if err != nil {
		return nil, &patchctl.Error{Code: patchctl.CodeInternal, Message: "reading " + rel + " failed", Err: err}
	}
	return b, nil
}

// WriteFile writes a file of the working copy, creating its directories.
// Existing files keep their mode; new ones get 0644.
func (r *Repo) WriteFile(rel string, data []byte) error {
	full, err := r.cleanPath(rel)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if st, err := os.Lstat(full); err == nil {
		if !st.Mode().IsRegular() {
			return patchctl.FieldError("path", "%q is not a regular file", rel)
		}
		mode = st.Mode().Perm()
	}
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return &patchctl.Error{Code: patchctl.CodeInternal, Message: "creating the directory of " + rel + " failed", Err: err}
	}
	if err := os.WriteFile(full, data, mode); err != nil {
		return &patchctl.Error{Code: patchctl.CodeInternal, Message: "writing " + rel + " failed", Err: err}
	}
	return nil
}

// Commit stages paths (every change when none is given) and commits them
// as author with message; it returns the new commit. With nothing to
// commit it is CodeConflict with cause ErrNothingToCommit.
func (r *Repo) Commit(ctx context.Context, message string, author Author, paths ...string) (string, error) {
	if strings.TrimSpace(message) == "" {
		return "", patchctl.FieldError("message", "is required")
	}
	if err := author.validate(); err != nil {
		return "", err
	}
	add := []string{"add", "--all", "--"}
	for _, p := range paths {
		if _, err := r.cleanPath(p); err != nil {
			return "", err
		}
		add = append(add, path.Clean(filepath.ToSlash(p)))
	}
	if len(paths) == 0 {
		add = append(add, ".")
	}
	if _, err := r.git(ctx, nil, add...); err != nil {
		return "", &patchctl.Error{Code: patchctl.CodeInvalid, Err: err, Message: "git add failed: " + summary(err)}
	}
	// diff --cached --quiet exits 1 when something is staged.
	if _, err := r.git(ctx, nil, "diff", "--cached", "--quiet"); err == nil {
		return "", &patchctl.Error{Code: patchctl.CodeConflict, Err: ErrNothingToCommit, Message: "nothing to commit: the files are unchanged"}
	}
	if _, err := run(ctx, r.Dir, append(append([]string(nil), r.opts.Env...), r.authorEnv(author)...), []byte(message),
		"commit", "--quiet", "--no-verify", "--file=-"); err != nil {
		return "", &patchctl.Error{Code: patchctl.CodeInternal, Err: err, Message: "git commit failed: " + summary(err)}
	}
	head, err := r.Head(ctx)
	if err != nil {
		return "", err
	}
	r.log.InfoContext(ctx, "committed", "commit", head)
	return head, nil
}

// Push pushes the local branch to the same branch of origin, never
// forcing. A refusal by the remote (not a fast-forward, protected branch)
// is CodeConflict with cause ErrRejected; an unreachable remote is
// CodeUnavailable.
func (r *Repo) Push(ctx context.Context, branch string) error {
	if err := checkBranch(ctx, branch); err != nil {
		return err
	}
	ref := "refs/heads/" + branch
	out, err := r.git(ctx, nil, "push", "--porcelain", "origin", ref+":"+ref)
	if err == nil {
		r.log.InfoContext(ctx, "pushed", "branch", branch)
		return nil
	}
	// --porcelain marks each refused ref with "!" on stdout.
	for _, line := range strings.Split(out+"\n"+stdoutOf(err), "\n") {
		if strings.HasPrefix(line, "!\t") {
			reason := line
			if i := strings.LastIndexByte(line, '\t'); i >= 0 {
				reason = line[i+1:]
			}
			return &patchctl.Error{Code: patchctl.CodeConflict, Err: errors.Join(ErrRejected, err), Message: fmt.Sprintf(
				"the remote refused the push of %s: %s", branch, strings.TrimSpace(reason))}
		}
	}
	return &patchctl.Error{Code: patchctl.CodeUnavailable, Err: err, Message: fmt.Sprintf("git push of %s failed: %s", branch, summary(err))}
}

// run runs git with args in dir (the process's directory if ""), extra
// environment and optional stdin. The error is a *GitError.
func run(ctx context.Context, dir string, env []string, stdin []byte, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "LC_ALL=C", "LANGUAGE=C")
	cmd.Env = append(cmd.Env, env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		ge := &GitError{Args: redactArgs(args), Dir: dir, ExitCode: -1, Stderr: redact(strings.TrimSpace(errb.String())), Err: err}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			ge.ExitCode = ee.ExitCode()
		}
		if ctx.Err() != nil {
			ge.Err = errors.Join(ctx.Err(), err)
		}
		return "", &stdoutError{GitError: ge, stdout: out.String()}
	}
	return strings.TrimSpace(out.String()), nil
}

// stdoutError keeps a failed command's stdout for callers that parse it
// (push --porcelain) without putting it in messages.
type stdoutError struct {
	*GitError
	stdout string
}

func (e *stdoutError) Unwrap() error { return e.GitError }

func stdoutOf(err error) string {
	var se *stdoutError
	if errors.As(err, &se) {
		return se.stdout
	}
	return ""
}

// summary is the part of a git failure worth showing: the last lines of
// its stderr, or the exit status.
func summary(err error) string {
	var ge *GitError
	if !errors.As(err, &ge) {
		return err.Error()
	}
	s := ge.Stderr
	if s == "" {
		return ge.Err.Error()
	}
	lines := strings.Split(s, "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	s = strings.Join(lines, " / ")
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	return s
}

// userinfo matches the credentials of a URL: scheme://user:secret@.
var userinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@`)

// redact removes credentials from URLs in s.
func redact(s string) string {
	return userinfo.ReplaceAllString(s, "${1}***@")
}

func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = redact(a)
	}
	return out
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

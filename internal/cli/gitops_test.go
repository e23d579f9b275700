package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/app/apptest"
	"github.com/patchctl/patchctl/internal/cli"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/integration/github/githubtest"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

// TestGitOpsCommands runs the GitOps commands against a server whose
// GitHub is a fake backed by real git repositories: patch branch opens the
// branch and, once it has a commit, the draft pull request; import tfplan
// links a plan; release import-helm records Helm history; delivery lists
// what webhooks did.
func TestGitOpsCommands(t *testing.T) {
	gh := githubtest.New(t)
	gh.AddRepo("acme/payments")
	t.Setenv("PATCHCTL_CLI_TEST_GH_TOKEN", gh.Token)
	s := apptest.StartServer(t, apptest.Options{Config: func(c *config.Config) {
		c.Integrations.GitHub.APIURL = gh.URL
		c.Integrations.GitHub.TokenEnv = "PATCHCTL_CLI_TEST_GH_TOKEN"
	}})
	r := newRunner(t, s)
	eng := patchctl.RoleEngineer
	r.ok(eng, "patch", "create", "--app", "payments", "--repo", "acme/payments", "--title", "Upgrade openssl", "--cve", "CVE-2024-9143")

	out := r.ok(eng, "patch", "branch", "PATCH-1")
	if !strings.Contains(out, "branch patch/PATCH-1-upgrade-openssl created in acme/payments") || !strings.Contains(out, "push the change") {
		t.Errorf("first patch branch:\n%s", out)
	}
	gh.Commit("acme/payments", "patch/PATCH-1-upgrade-openssl", "openssl.version", "3.0.15\n", "Upgrade openssl")
	out = r.ok(eng, "patch", "branch", "PATCH-1", "-o", "json")
	var br struct {
		PullRequest struct {
			Number int `json:"number"`
		} `json:"pull_request"`
		PullRequestCreated bool `json:"pull_request_created"`
	}
	if err := json.Unmarshal([]byte(out), &br); err != nil || !br.PullRequestCreated || br.PullRequest.Number == 0 {
		t.Fatalf("second patch branch: %v\n%s", err, out)
	}
	if out := r.ok(patchctl.RoleViewer, "patch", "show", "PATCH-1"); !strings.Contains(out, "in_review") {
		t.Errorf("after the pull request:\n%s", out)
	}
	if errs := r.code(cli.ExitForbidden, patchctl.RoleViewer, "patch", "branch", "PATCH-1"); !strings.Contains(errs, "engineer") {
		t.Errorf("viewer: %s", errs)
	}

	plan := corpus.Path(t, "terraform/terraform-validator__full_container_node_pool.tfplan.json")
	if out := r.ok(eng, "import", "tfplan", plan, "--patch", "PATCH-1"); !strings.Contains(out, "recorded (create=1)") ||
		!strings.Contains(out, "GKE google_container_node_pool.full_list_default_1") {
		t.Errorf("import tfplan:\n%s", out)
	}
	if out := r.ok(eng, "import", "tfplan", plan, "--patch", "PATCH-1"); !strings.Contains(out, "already recorded") {
		t.Errorf("second import tfplan:\n%s", out)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"format_version": "1.0",`), 0o600); err != nil {
		t.Fatal(err)
	}
	if errs := r.code(cli.ExitUsage, eng, "import", "tfplan", bad, "--patch", "PATCH-1"); !strings.Contains(errs, "line") {
		t.Errorf("malformed plan: %s", errs)
	}
	r.code(cli.ExitUsage, eng, "import", "tfplan", plan)

	helm := corpus.Path(t, "helm/helm__history.json")
	if out := r.ok(eng, "release", "import-helm", helm, "--app", "payments", "--env", "production"); !strings.Contains(out, "1 stable version(s) recorded") ||
		!strings.Contains(out, "previous stable: revision 3 (1.0)") {
		t.Errorf("release import-helm:\n%s", out)
	}

	if out := r.ok(patchctl.RoleViewer, "delivery", "list"); !strings.HasPrefix(out, "ID") {
		t.Errorf("delivery list:\n%s", out)
	}
	r.code(cli.ExitNotFound, patchctl.RoleViewer, "delivery", "show", "99")
}

// TestGitOpsLocal imports a Terraform plan into a local database.
func TestGitOpsLocal(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"PATCHCTL_DATABASE": "sqlite:" + filepath.Join(dir, "p.db"), "PATCHCTL_USER": "erin"}
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := cli.Run(context.Background(), args, &out, &errb, func(k string) string { return env[k] })
		return code, out.String(), errb.String()
	}
	if code, out, errs := run("patch", "create", "--app", "payments", "--title", "local", "--cve", "CVE-2024-0001"); code != 0 {
		t.Fatalf("create: %s %s", out, errs)
	}
	plan := corpus.Path(t, "terraform/terraform-json__basic__plan.json")
	code, out, errs := run("import", "tfplan", plan, "--patch", "PATCH-1", "--ref", "basic")
	if code != 0 || !strings.Contains(out, "PATCH-1: plan basic recorded") {
		t.Fatalf("local import tfplan: %d %s %s", code, out, errs)
	}
	if code, out, _ := run("patch", "show", "PATCH-1", "-o", "json"); code != 0 || !strings.Contains(out, `"terraform_plan"`) {
		t.Errorf("evidence not recorded:\n%s", out)
	}
	// Without a GitHub token, opening a branch says which variable to set.
	if code, _, errs := run("patch", "branch", "PATCH-1"); code == 0 || !strings.Contains(errs, "target.repository") && !strings.Contains(errs, "PATCHCTL_GITHUB_TOKEN") {
		t.Errorf("branch without GitHub: %d %s", code, errs)
	}
}

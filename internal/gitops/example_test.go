package gitops_test

import (
	"testing"

	"github.com/patchctl/patchctl/internal/config"
)

// TestExampleConfig keeps deploy/gitops.example.yaml loadable: the settings
// docs/GITOPS.md describes are the ones patchctl reads.
func TestExampleConfig(t *testing.T) {
	cfg, err := config.Load("../../deploy/gitops.example.yaml", false, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	g, a := cfg.Integrations.GitHub, cfg.Integrations.ArgoCD
	if g.WebhookSecretEnv != "PATCHCTL_GITHUB_WEBHOOK_SECRET" || len(g.Repositories) != 1 || a.RollbackMode != "argocd" ||
		len(a.Applications) != 2 || a.Applications[1].Environment != "production" || a.DeployRepository != "acme/deploy" {
		t.Errorf("example config read as %+v %+v", g, a)
	}
}

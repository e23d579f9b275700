package app

import (
	"context"
	"net/http"
	"os"
	"time"

	"github.com/patchctl/patchctl/internal/gitops"
	"github.com/patchctl/patchctl/internal/webhook"
)

// mountHooks wires the GitOps loop: the signed webhook endpoints
// (/hooks/github, /hooks/argocd), its REST operations (deliveries, patch
// branch, Terraform and Helm imports), its scheduler timers (reconcile,
// rollback execution), and the periodic timers of what is configured.
// Secrets come from the environment variables the configuration names.
// Finding intake is not wired yet: GitHub alert deliveries are recorded as
// unmatched until a gitops.FindingSink is passed here.
func (a *App) mountHooks(mux *http.ServeMux) {
	loop := gitops.New(a.Service, gitops.Options{Logger: a.log, Getenv: os.Getenv})
	loop.Register(a.Scheduler)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := loop.Start(ctx); err != nil {
		// The database answered migrations a moment ago; a failure here
		// leaves only the periodic reconcile and rollback pick-up
		// unscheduled until the next start.
		a.log.Error("gitops timers not scheduled", "err", err)
	}
	a.API.MountGitOps(loop)
	webhook.New(loop, a.log).Mount(mux)
}

package app

import (
	"context"
	"net/http"
	"os"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/gitops"
	"github.com/patchctl/patchctl/internal/intake"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/webhook"
)

// mountHooks wires the GitOps loop: the signed webhook endpoints
// (/hooks/github, /hooks/argocd), its REST operations (deliveries, patch
// branch, Terraform and Helm imports), its scheduler timers (reconcile,
// rollback execution), and the periodic timers of what is configured.
// Secrets come from the environment variables the configuration names.
// GitHub vulnerability alerts go to finding intake.
func (a *App) mountHooks(mux *http.ServeMux) {
	loop := gitops.New(a.Service, gitops.Options{Logger: a.log, Getenv: os.Getenv, Findings: alertSink{a.Intake}})
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

// alertSink hands GitHub vulnerability alerts to the intake, inside the
// delivery's transaction.
type alertSink struct{ in *intake.Intake }

func (s alertSink) RecordAlert(ctx context.Context, tx *store.Tx, actor patchctl.Actor, al gitops.Alert) (*gitops.AlertResult, error) {
	v := al.Vulnerability
	repo := al.Repository
	if repo == "" {
		repo = v.Repo
	}
	out, err := s.in.RecordAlert(ctx, tx, actor, intake.Alert{
		Repository: repo, Source: al.Event + " " + al.Delivery, Action: v.Action, GHSA: v.GHSAID, CVE: v.CVEID, Aliases: v.Aliases,
		Package: v.Package, Ecosystem: v.Ecosystem, VulnerableRange: v.VulnerableRange, PatchedVersion: v.PatchedVersion,
		Manifest: v.ManifestPath, Severity: v.Severity, SeverityRaw: v.SeverityRaw, CVSS: v.CVSS, CVSSVector: v.CVSSVector,
		Summary: v.Summary, URL: v.URL, DismissedReason: v.DismissedReason,
	})
	if err != nil {
		return nil, err
	}
	return &gitops.AlertResult{Summary: out.Summary, Patches: out.Patches, Ignored: out.Ignored}, nil
}

package httpapi

import (
	"bytes"
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/gitops"
	"github.com/patchctl/patchctl/internal/integration/helm"
	"github.com/patchctl/patchctl/internal/integration/tfplan"
	"github.com/patchctl/patchctl/internal/store"
)

type deliveriesIn struct {
	Source     string `query:"source" enum:"github,argocd" doc:"Only deliveries from this sender"`
	Status     string `query:"status" enum:"processed,ignored,unmatched,failed"`
	Event      string `query:"event" doc:"GitHub event name (pull_request, ...) or argocd"`
	Patch      string `query:"patch" doc:"Only deliveries matched to this patch, e.g. PATCH-42"`
	Repository string `query:"repository" doc:"Only deliveries about this repository (owner/name)"`
	Before     int64  `query:"before" minimum:"0" doc:"Page backwards: deliveries recorded before this id"`
	Limit      int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

type deliveriesOut struct{ Body []store.Delivery }

type deliveryIn struct {
	Delivery int64 `path:"delivery" minimum:"1" doc:"The delivery record's id"`
}

type deliveryOut struct{ Body *store.Delivery }

type branchOut struct{ Body *gitops.BranchResult }

type uploadIn struct {
	ID  string `path:"id" doc:"Patch id, e.g. PATCH-42" example:"PATCH-42"`
	Ref string `query:"ref" maxLength:"2000" doc:"Name of the upload in the evidence (a file name or CI run URL); default its content hash"`
	// RawBody is not decoded by the API: the importers read it, so that
	// their errors name the line and byte offset at fault.
	RawBody []byte
}

type planOut struct{ Body *gitops.PlanImport }
type stateOut struct{ Body *gitops.StateImport }

type helmIn struct {
	Application string `query:"application" required:"true" minLength:"1" doc:"The application the release deploys"`
	Environment string `query:"environment" required:"true" minLength:"1" doc:"The environment it runs in"`
	Release     string `query:"release" doc:"The Helm release (default: helm_release of the mapped Argo CD application)"`
	RawBody     []byte
}

type helmOut struct{ Body *gitops.HelmImport }

// MountGitOps registers the operations of the GitOps loop: the record of
// webhook deliveries, opening a patch's branch and draft pull request,
// linking Terraform plans and states, and importing Helm release history.
func (a *API) MountGitOps(g *gitops.Loop) {
	tag := []string{"gitops"}
	handle(a, huma.Operation{OperationID: "list-deliveries", Method: http.MethodGet, Path: "/deliveries", Tags: tag,
		Summary:     "List webhook deliveries",
		Description: "Every verified GitHub and Argo CD delivery, newest first, with what it did: processed, ignored, unmatched (an unknown repository, application or patch) or failed."},
		func(ctx context.Context, actor patchctl.Actor, in *deliveriesIn) (*deliveriesOut, error) {
			ds, err := a.svc.Deliveries(ctx, actor, store.DeliveryFilter{Source: in.Source, Status: in.Status, Event: in.Event,
				PatchKey: in.Patch, Repository: in.Repository, BeforeID: in.Before, Limit: in.Limit})
			if err != nil {
				return nil, err
			}
			return &deliveriesOut{Body: ds}, nil
		})

	handle(a, huma.Operation{OperationID: "get-delivery", Method: http.MethodGet, Path: "/deliveries/{delivery}", Tags: tag,
		Summary: "Show a webhook delivery"},
		func(ctx context.Context, actor patchctl.Actor, in *deliveryIn) (*deliveryOut, error) {
			d, err := a.svc.Delivery(ctx, actor, in.Delivery)
			if err != nil {
				return nil, err
			}
			return &deliveryOut{Body: d}, nil
		})

	handle(a, huma.Operation{OperationID: "open-patch-branch", Method: http.MethodPost, Path: "/patches/{id}/branch", Tags: tag,
		Summary: "Open the patch's branch and draft pull request",
		Description: "Creates the dedicated branch patch/PATCH-n-... from the default branch of the patch's repository and opens a draft pull request " +
			"listing the triggers and the SOP-005 checklist; records branch and pull_request evidence. Idempotent: run it again after pushing " +
			"to a branch that had no commits, and the pull request is opened then.",
		Errors: []int{400, 401, 403, 404, 409, 503}},
		func(ctx context.Context, actor patchctl.Actor, in *idPath) (*branchOut, error) {
			res, err := g.OpenBranch(ctx, actor, in.ID)
			if err != nil {
				return nil, err
			}
			return &branchOut{Body: res}, nil
		})

	handle(a, huma.Operation{OperationID: "import-tfplan", Method: http.MethodPost, Path: "/patches/{id}/tfplan", Tags: tag,
		Summary:      "Link a Terraform plan",
		Description:  "The body is `terraform show -json PLANFILE` output; it is recorded as terraform_plan evidence with the resources it changes and its GKE version changes.",
		MaxBodyBytes: tfplan.MaxInputBytes, Errors: []int{400, 401, 403, 404, 409, 413}},
		func(ctx context.Context, actor patchctl.Actor, in *uploadIn) (*planOut, error) {
			res, err := g.ImportPlan(ctx, actor, in.ID, bytes.NewReader(in.RawBody), in.Ref)
			if err != nil {
				return nil, err
			}
			return &planOut{Body: res}, nil
		})

	handle(a, huma.Operation{OperationID: "import-tfstate", Method: http.MethodPost, Path: "/patches/{id}/tfstate", Tags: tag,
		Summary: "Record a Terraform apply from its state",
		Description: "The body is `terraform show -json` output after an apply; it is recorded as terraform_apply evidence, and for a kubernetes patch " +
			"as wave_upgrade evidence for every wave whose control plane or node pool the state shows at the wave's version.",
		MaxBodyBytes: tfplan.MaxInputBytes, Errors: []int{400, 401, 403, 404, 409, 413}},
		func(ctx context.Context, actor patchctl.Actor, in *uploadIn) (*stateOut, error) {
			res, err := g.ImportState(ctx, actor, in.ID, bytes.NewReader(in.RawBody), in.Ref)
			if err != nil {
				return nil, err
			}
			return &stateOut{Body: res}, nil
		})

	handle(a, huma.Operation{OperationID: "import-helm-history", Method: http.MethodPost, Path: "/releases/helm", Tags: []string{"releases"},
		Summary: "Record stable versions from Helm release history",
		Description: "The body is `helm history RELEASE -o json` (or -o yaml) output. Every deployed or superseded revision is recorded as a stable version " +
			"(its appVersion, else its chart version) of the application in the environment at the time Helm deployed it; rollbacks return to them.",
		MaxBodyBytes: helm.MaxInputBytes, Errors: []int{400, 401, 403, 413}},
		func(ctx context.Context, actor patchctl.Actor, in *helmIn) (*helmOut, error) {
			res, err := g.ImportHelmHistory(ctx, actor, in.Application, in.Environment, in.Release, in.RawBody)
			if err != nil {
				return nil, err
			}
			return &helmOut{Body: res}, nil
		})
}

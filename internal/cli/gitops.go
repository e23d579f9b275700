package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/gitops"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

// gitopsCmds adds the GitOps commands where they belong: `patch branch`,
// `release import-helm`, `import tfplan|tfstate` (under the import command
// when there is one), and returns the new top-level commands (delivery, and
// import when root has none yet). Call it after the other commands are
// added.
func (e *env) gitopsCmds(root *cobra.Command) []*cobra.Command {
	find := func(name string) *cobra.Command {
		for _, c := range root.Commands() {
			if c.Name() == name {
				return c
			}
		}
		return nil
	}
	var out []*cobra.Command
	if patch := find("patch"); patch != nil {
		patch.AddCommand(e.patchBranchCmd())
	} else {
		out = append(out, &cobra.Command{Use: "patch", Short: "Work on patches"})
		out[0].AddCommand(e.patchBranchCmd())
	}
	if release := find("release"); release != nil {
		release.AddCommand(e.importHelmCmd())
	}
	imp := find("import")
	if imp == nil {
		imp = &cobra.Command{Use: "import", Short: "Import Terraform plans and states"}
		out = append(out, imp)
	}
	imp.AddCommand(e.importTerraformCmd("tfplan"), e.importTerraformCmd("tfstate"))
	return append(out, e.deliveryCmd())
}

// gitopsAPI is what the GitOps commands need: the server's API, or the
// GitOps loop over the local database.
type gitopsAPI interface {
	OpenBranch(ctx context.Context, key string) (*gitops.BranchResult, error)
	ImportPlan(ctx context.Context, key string, r io.Reader, ref string) (*gitops.PlanImport, error)
	ImportState(ctx context.Context, key string, r io.Reader, ref string) (*gitops.StateImport, error)
	ImportHelm(ctx context.Context, app, env, release string, data []byte) (*gitops.HelmImport, error)
	Deliveries(ctx context.Context, f store.DeliveryFilter) ([]store.Delivery, error)
	Delivery(ctx context.Context, id int64) (*store.Delivery, error)
}

func (e *env) gitops() (gitopsAPI, error) {
	if e.server != "" {
		c, err := e.remote(&http.Client{Timeout: 10 * time.Minute})
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	svc, _, err := e.openLocal()
	if err != nil {
		return nil, err
	}
	loop := gitops.New(svc, gitops.Options{Getenv: e.getenv, Logger: e.logger()})
	return &gitopsLocal{loop: loop, svc: svc, actor: e.localActor()}, nil
}

func (e *env) patchBranchCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "branch PATCH-ID",
		Short: "Create the patch's branch and open its draft pull request on GitHub",
		Long: `Create the dedicated branch patch/PATCH-n-<title> from the default branch of
the patch's repository (target.repository) and open a draft pull request whose
body lists what triggered the patch and the SOP-005 checklist. The branch and
the pull request are recorded as evidence, and the patch moves to in_review
when its gates allow.

GitHub opens no pull request for a branch without commits of its own: push
the change to the branch and run the command again; it is idempotent.
Locally it needs the GitHub token named by integrations.github.token_env.`,
		Example: `  patchctl patch branch PATCH-42`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			api, err := e.gitops()
			if err != nil {
				return err
			}
			res, err := api.OpenBranch(e.ctx, a[0])
			if err != nil {
				return err
			}
			return e.emit(res, func(w io.Writer) {
				verb := "exists"
				if res.BranchCreated {
					verb = "created"
				}
				fmt.Fprintf(w, "%s: branch %s %s in %s\n", res.Patch, res.Branch.Name, verb, res.Repository)
				switch {
				case res.PullRequest != nil:
					verb = "is open"
					if res.PullRequestCreated {
						verb = "opened (draft)"
					}
					fmt.Fprintf(w, "pull request #%d %s: %s\n", res.PullRequest.Number, verb, res.PullRequest.URL)
				default:
					fmt.Fprintln(w, res.Pending)
				}
				if res.Advance != nil && len(res.Advance.Steps) > 0 {
					fmt.Fprintf(w, "%s → %s\n", res.Advance.From, res.Advance.To)
				}
			})
		},
	}
}

// openInput opens FILE, or standard input for "-".
func openInput(name string) (io.ReadCloser, string, error) {
	if name == "-" {
		return io.NopCloser(os.Stdin), "", nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, "", patchctl.FieldError("file", "%v", err)
	}
	return f, name, nil
}

func (e *env) importTerraformCmd(kind string) *cobra.Command {
	var key, ref string
	short := "Link a Terraform plan (terraform show -json PLANFILE) to a patch"
	long := `Record the plan as terraform_plan evidence of the patch, with the resources it
changes and the GKE version changes it makes (control planes and node pools).`
	example := `  terraform show -json plan.out > plan.json
  patchctl import tfplan plan.json --patch PATCH-9`
	if kind == "tfstate" {
		short = "Record a Terraform apply from the state after it (terraform show -json)"
		long = `Record the state as terraform_apply evidence of the patch. For a kubernetes
patch, every rollout wave whose control plane or node pool the state shows at
the wave's version gets wave_upgrade evidence: the apply landed, and the wave
may be completed.`
		example = `  terraform show -json > state.json
  patchctl import tfstate state.json --patch PATCH-7`
	}
	cmd := &cobra.Command{
		Use:     kind + " FILE|- --patch PATCH-ID",
		Short:   short,
		Long:    long,
		Example: example,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if key == "" {
				return usagef("--patch is required")
			}
			r, name, err := openInput(a[0])
			if err != nil {
				return err
			}
			defer r.Close()
			if ref == "" {
				ref = name
			}
			api, err := e.gitops()
			if err != nil {
				return err
			}
			if kind == "tfplan" {
				res, err := api.ImportPlan(e.ctx, key, r, ref)
				if err != nil {
					return err
				}
				return e.emit(res, func(w io.Writer) {
					fmt.Fprintf(w, "%s: plan %s %s (%s)\n", key, res.Evidence.Ref, recordedOrKnown(res.Recorded), res.Evidence.Details["changes"])
					for _, c := range res.GKE {
						fmt.Fprintf(w, "  GKE %s %s: %s → %s\n", c.Address, c.Attribute, orDash(c.From), orDash(c.To))
					}
				})
			}
			res, err := api.ImportState(e.ctx, key, r, ref)
			if err != nil {
				return err
			}
			return e.emit(res, func(w io.Writer) {
				fmt.Fprintf(w, "%s: apply %s %s\n", key, res.Evidence.Ref, recordedOrKnown(res.Recorded))
				for _, w2 := range res.Waves {
					fmt.Fprintf(w, "  wave %s upgraded to %s (%s)\n", w2.Subject, w2.Version, w2.Details["observed_version"])
				}
			})
		},
	}
	cmd.Flags().StringVar(&key, "patch", "", "the patch (PATCH-n)")
	cmd.Flags().StringVar(&ref, "ref", "", "name of the upload in the evidence (default the file name)")
	return cmd
}

func recordedOrKnown(recorded bool) string {
	if recorded {
		return "recorded"
	}
	return "already recorded"
}

func (e *env) importHelmCmd() *cobra.Command {
	var app, envName, release string
	cmd := &cobra.Command{
		Use:   "import-helm FILE|- --app APP --env ENV",
		Short: "Record stable versions from Helm release history (helm history -o json)",
		Long: `Record every deployed or superseded revision of a Helm release as a stable
version of the application in the environment (its appVersion, else its chart
version), at the time Helm deployed it. Rollbacks return to the last of them
before a patch was deployed, and the patch shows it as its previous stable
version. Importing the same history again records nothing new.`,
		Example: `  helm history payments -n payments -o json > history.json
  patchctl release import-helm history.json --app payments --env production`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if app == "" || envName == "" {
				return usagef("--app and --env are required")
			}
			r, _, err := openInput(a[0])
			if err != nil {
				return err
			}
			defer r.Close()
			data, err := io.ReadAll(r)
			if err != nil {
				return patchctl.FieldError("file", "%v", err)
			}
			api, err := e.gitops()
			if err != nil {
				return err
			}
			res, err := api.ImportHelm(e.ctx, app, envName, release, data)
			if err != nil {
				return err
			}
			return e.emit(res, func(w io.Writer) {
				fmt.Fprintf(w, "%s in %s: %d stable version(s) recorded, %d known already\n", res.Application, res.Environment, len(res.Recorded), res.Known)
				if res.Current != nil {
					fmt.Fprintf(w, "deployed: revision %d (%s)\n", res.Current.Revision, gitops.HelmVersion(*res.Current))
				}
				if res.PreviousStable != nil {
					fmt.Fprintf(w, "previous stable: revision %d (%s)\n", res.PreviousStable.Revision, gitops.HelmVersion(*res.PreviousStable))
				}
			})
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "the application the release deploys")
	cmd.Flags().StringVar(&envName, "env", "", "the environment it runs in")
	cmd.Flags().StringVar(&release, "release", "", "the Helm release name (default: helm_release of the mapped Argo CD application)")
	return cmd
}

func (e *env) deliveryCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "delivery", Aliases: []string{"deliveries"}, Short: "Webhook deliveries from GitHub and Argo CD and what they did"}
	var f store.DeliveryFilter
	list := &cobra.Command{
		Use:   "list",
		Short: "List webhook deliveries, newest first",
		Long: `List the verified webhook deliveries patchctl recorded, with their outcome:
processed (evidence recorded, transitions attempted), ignored (an event
patchctl does not act on), unmatched (an unconfigured repository or
application, or no patch) or failed (nothing kept; a redelivery retries).`,
		Example: `  patchctl delivery list --status unmatched
  patchctl delivery list --patch PATCH-42 -o json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := e.gitops()
			if err != nil {
				return err
			}
			ds, err := api.Deliveries(e.ctx, f)
			if err != nil {
				return err
			}
			return e.emit(ds, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tRECEIVED\tSOURCE\tEVENT\tSTATUS\tPATCHES\tSUMMARY")
				for _, d := range ds {
					event := d.Event
					if d.Action != "" {
						event += "/" + d.Action
					}
					summary, _, _ := strings.Cut(d.Summary, "\n")
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, ts(d.ReceivedAt), d.Source, event, d.Status,
						orDash(strings.Join(d.PatchKeys, " ")), truncate(summary, 80))
				}
			})
		},
	}
	fl := list.Flags()
	fl.StringVar(&f.Source, "source", "", "github or argocd")
	fl.StringVar(&f.Status, "status", "", "processed, ignored, unmatched or failed")
	fl.StringVar(&f.Event, "event", "", "event name (pull_request, ..., argocd)")
	fl.StringVar(&f.PatchKey, "patch", "", "deliveries matched to this patch")
	fl.StringVar(&f.Repository, "repository", "", "deliveries about this repository (owner/name)")
	fl.Int64Var(&f.BeforeID, "before", 0, "page backwards: deliveries recorded before this id")
	fl.IntVar(&f.Limit, "limit", 50, "how many")
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one delivery with its whole summary",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			id, err := strconv.ParseInt(a[0], 10, 64)
			if err != nil || id <= 0 {
				return usagef("%q is not a delivery id", a[0])
			}
			api, err := e.gitops()
			if err != nil {
				return err
			}
			d, err := api.Delivery(e.ctx, id)
			if err != nil {
				return err
			}
			return e.emit(d, func(w io.Writer) {
				fmt.Fprintf(w, "Delivery:\t%s %s\n", d.Source, d.DeliveryID)
				fmt.Fprintf(w, "Event:\t%s %s\n", d.Event, d.Action)
				fmt.Fprintf(w, "Received:\t%s\n", ts(d.ReceivedAt))
				fmt.Fprintf(w, "Status:\t%s\n", d.Status)
				fmt.Fprintf(w, "Patches:\t%s\n", orDash(strings.Join(d.PatchKeys, " ")))
				fmt.Fprintf(w, "Repository:\t%s\n", orDash(d.Repository))
				if d.Error != "" {
					fmt.Fprintf(w, "Error:\t%s\n", d.Error)
				}
				for _, line := range strings.Split(d.Summary, "\n") {
					fmt.Fprintf(w, "\t%s\n", line)
				}
			})
		},
	}
	cmd.AddCommand(list, show)
	return cmd
}

// gitopsLocal runs the GitOps operations on the local database.
type gitopsLocal struct {
	loop  *gitops.Loop
	svc   *service.Service
	actor patchctl.Actor
}

func (l *gitopsLocal) OpenBranch(ctx context.Context, key string) (*gitops.BranchResult, error) {
	return l.loop.OpenBranch(ctx, l.actor, key)
}
func (l *gitopsLocal) ImportPlan(ctx context.Context, key string, r io.Reader, ref string) (*gitops.PlanImport, error) {
	return l.loop.ImportPlan(ctx, l.actor, key, r, ref)
}
func (l *gitopsLocal) ImportState(ctx context.Context, key string, r io.Reader, ref string) (*gitops.StateImport, error) {
	return l.loop.ImportState(ctx, l.actor, key, r, ref)
}
func (l *gitopsLocal) ImportHelm(ctx context.Context, app, env, release string, data []byte) (*gitops.HelmImport, error) {
	return l.loop.ImportHelmHistory(ctx, l.actor, app, env, release, data)
}
func (l *gitopsLocal) Deliveries(ctx context.Context, f store.DeliveryFilter) ([]store.Delivery, error) {
	return l.svc.Deliveries(ctx, l.actor, f)
}
func (l *gitopsLocal) Delivery(ctx context.Context, id int64) (*store.Delivery, error) {
	return l.svc.Delivery(ctx, l.actor, id)
}

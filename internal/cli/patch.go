package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

func (e *env) patchCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "patch", Aliases: []string{"patches", "p"}, Short: "Create, list, show and move patches"}
	cmd.AddCommand(e.patchList(), e.patchShow(), e.patchCreate(), e.patchEdit(), e.patchAdvance(), e.patchCancel(),
		e.patchRollback(), e.patchLink(), e.patchUnlink(), e.patchEvidence())
	return cmd
}

var stateNames = func() []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range []patchctl.State{patchctl.StateDraft, patchctl.StateInProgress, patchctl.StateInReview, patchctl.StateMerged,
		patchctl.StateStaging, patchctl.StateValidated, patchctl.StateProduction, patchctl.StatePlanned, patchctl.StateUpgradingManagement,
		patchctl.StateSoaking, patchctl.StateUpgradingMain, patchctl.StateScheduled, patchctl.StateAnnounced, patchctl.StateBackedUp,
		patchctl.StateUpgrading, patchctl.StateVerified, patchctl.StateResumed, patchctl.StateDone, patchctl.StateRolledBack,
		patchctl.StateCancelled, patchctl.StateAborted} {
		if !seen[string(s)] {
			seen[string(s)] = true
			out = append(out, string(s))
		}
	}
	return out
}()

func complete(values ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeAll completes the values of a domain list (patchctl.Kinds, ...).
func completeAll[T ~string](values []T) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	words := make([]string, len(values))
	for i, v := range values {
		words[i] = string(v)
	}
	return complete(words...)
}

func (e *env) patchList() *cobra.Command {
	var kinds, prios, states []string
	var owner, q, sort, dueBefore string
	var overdue, all bool
	var limit, offset int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List patches, most urgent first",
		Example: `  patchctl patch list --overdue
  patchctl patch list --priority emergency,high --state in_review
  patchctl patch list --due-before 2026-12-01 -o json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := store.PatchFilter{Owner: owner, Overdue: overdue, Text: q, Sort: sort, Limit: limit, Offset: offset}
			for _, k := range kinds {
				f.Kinds = append(f.Kinds, patchctl.Kind(lower(k)))
			}
			for _, p := range prios {
				f.Priorities = append(f.Priorities, patchctl.Priority(lower(p)))
			}
			for _, s := range states {
				f.States = append(f.States, patchctl.State(lower(s)))
			}
			if !all && len(states) == 0 {
				open := true
				f.Open = &open
			}
			if dueBefore != "" {
				t, err := parseTime(dueBefore)
				if err != nil {
					return usagef("--due-before: %v", err)
				}
				f.DueBefore = &t
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			res, err := api.ListPatches(e.ctx, f)
			if err != nil {
				return err
			}
			now := serverNow(res.Now)
			return e.emit(res, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tPRIORITY\tSLA\tSTATE\tKIND\tTARGET\tOWNER\tTITLE")
				for _, p := range res.Patches {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Key, p.Priority, SLA(p, now), stateWithHalt(p), p.Kind,
						truncate(target(p), 28), orDash(p.Owner), truncate(p.Title, 50))
				}
				if res.More {
					fmt.Fprintf(w, "… more: --offset %d\n", res.Offset+res.Limit)
				}
			})
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&kinds, "kind", nil, "application, kubernetes, infrastructure")
	fl.StringSliceVar(&prios, "priority", nil, "emergency, high, routine")
	fl.StringSliceVar(&states, "state", nil, "lifecycle states (default: open patches)")
	fl.BoolVar(&all, "all", false, "include closed patches")
	fl.StringVar(&owner, "owner", "", "owner")
	fl.BoolVar(&overdue, "overdue", false, "only patches past their due time")
	fl.StringVar(&dueBefore, "due-before", "", "only patches due before this time (RFC 3339 or YYYY-MM-DD)")
	fl.StringVarP(&q, "query", "q", "", "words to find in id, title, target, owner, labels")
	fl.StringVar(&sort, "sort", "due", "due, priority, created, -created, -updated")
	fl.IntVar(&limit, "limit", 50, "page size (max 500)")
	fl.IntVar(&offset, "offset", 0, "skip this many")
	_ = cmd.RegisterFlagCompletionFunc("kind", completeAll(patchctl.Kinds))
	_ = cmd.RegisterFlagCompletionFunc("priority", completeAll(patchctl.Priorities))
	_ = cmd.RegisterFlagCompletionFunc("state", complete(stateNames...))
	_ = cmd.RegisterFlagCompletionFunc("sort", complete("due", "priority", "created", "-created", "-updated"))
	return cmd
}

// serverNow is the server's time when it sent one, else the local clock.
func serverNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

func stateWithHalt(p *patchctl.Patch) string {
	if p.Halt != nil {
		return string(p.State) + " (HALTED)"
	}
	return string(p.State)
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (want RFC 3339, YYYY-MM-DDTHH:MM or YYYY-MM-DD, UTC)", s)
}

func (e *env) patchShow() *cobra.Command {
	return &cobra.Command{
		Use:   "show PATCH-ID",
		Short: "Show a patch with its triggers, evidence, history and the gate checklist of its next step",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			d, err := api.Patch(e.ctx, a[0])
			if err != nil {
				return err
			}
			return e.emit(d, func(w io.Writer) { printDetail(w, d, serverNow(d.Now)) })
		},
	}
}

func printDetail(w io.Writer, d *service.Detail, now time.Time) {
	p := d.Patch
	fmt.Fprintf(w, "%s\t%s\n", p.Key, p.Title)
	fmt.Fprintf(w, "Kind:\t%s\n", p.Kind)
	fmt.Fprintf(w, "Target:\t%s\n", target(p))
	if len(p.Target.Environments) > 0 {
		fmt.Fprintf(w, "Environments:\t%s\n", strings.Join(p.Target.Environments, " → "))
	}
	fmt.Fprintf(w, "State:\t%s (revision %d)\n", stateWithHalt(p), p.Revision)
	fmt.Fprintf(w, "Priority:\t%s (rule %s, policy %s)\n", p.Priority, p.PriorityRule, p.PolicyVersion)
	fmt.Fprintf(w, "SLA:\t%s (detected %s, due %s)\n", SLA(p, now), ts(p.DetectedAt), tsp(p.DueAt))
	fmt.Fprintf(w, "Owner:\t%s\n", orDash(p.Owner))
	if p.Version != "" {
		fmt.Fprintf(w, "Version:\t%s\n", p.Version)
	}
	if p.Branch != "" {
		fmt.Fprintf(w, "Branch:\t%s\n", p.Branch)
	}
	if p.Window != nil {
		fmt.Fprintf(w, "Window:\t%s → %s (booked by %s)\n", ts(p.Window.Start), ts(p.Window.End), p.Window.BookedBy)
	}
	if p.Halt != nil {
		fmt.Fprintf(w, "HALTED:\t%s (%s, %s) — decide: patchctl rollout decide %s resume|retry|abort --reason ...\n", p.Halt.Reason, p.Halt.By, ts(p.Halt.At), p.Key)
	}
	fmt.Fprintf(w, "Path:\t%s\n", pathLine(d))
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Triggers:")
	if len(d.Links) == 0 {
		fmt.Fprintln(w, "  (none: link what triggered the patch)")
	}
	for _, l := range d.Links {
		fmt.Fprintf(w, "  #%d\t%s\t%s\t%s\n", l.ID, l.Type, l.Ref, attrs(l.Attributes))
	}
	if d.Next != nil {
		fmt.Fprintln(w)
		verdict := "ready"
		if !d.Next.Ready {
			verdict = "blocked"
		}
		fmt.Fprintf(w, "Next step: %s → %s (%s)\n", p.State, d.Next.To, verdict)
		for _, g := range d.Next.Gates {
			if g.OK {
				fmt.Fprintf(w, "  ✓ %s\t%s\n", g.Gate, g.Detail)
			} else {
				fmt.Fprintf(w, "  ✗ %s\t%s\n", g.Gate, g.Missing)
			}
		}
	}
	if d.Rollback != nil {
		to := "unknown: record one with patchctl release record"
		if d.Rollback.Known {
			to = d.Rollback.ToVersion
		}
		fmt.Fprintf(w, "\nRollback (on-call or lead):\t%s from %s to %s\n", d.Rollback.Environment, orDash(d.Rollback.FromVersion), to)
	}
	if len(d.Waves) > 0 {
		fmt.Fprintln(w, "\nWaves:")
		for _, wv := range d.Waves {
			fmt.Fprintf(w, "  %d\t%s\t%s\t%s\tstarted %s\tcompleted %s\n", wv.Seq, wv.Phase, wv.Subject(), wv.State, tsp(wv.StartedAt), tsp(wv.CompletedAt))
		}
		if p.SoakStartedAt != nil {
			fmt.Fprintf(w, "  soak since %s\n", ts(*p.SoakStartedAt))
		}
	}
	if len(d.Evidence) > 0 {
		fmt.Fprintln(w, "\nEvidence:")
		for _, ev := range d.Evidence {
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%s\tby %s\n", ts(ev.At), ev.Kind, orDash(ev.Environment), orDash(ev.Version),
				orDash(ev.Result), truncate(orDash(firstNonEmpty(ev.Ref, ev.Subject)), 60), ev.Actor)
		}
	}
	if len(d.Overrides) > 0 {
		fmt.Fprintln(w, "\nOverrides:")
		for _, o := range d.Overrides {
			fmt.Fprintf(w, "  %s\t%s → %s\t%s\tby %s (%s): %s\n", ts(o.At), o.From, o.To, strings.Join(o.Gates, ","), o.Actor, o.Role, o.Justification)
		}
	}
	fmt.Fprintln(w, "\nHistory:")
	for _, t := range d.Transitions {
		mark := ""
		if t.Override {
			mark = " [OVERRIDE]"
		}
		fmt.Fprintf(w, "  %s\t%s\t%s → %s\tby %s%s\t%s\n", ts(t.At), t.Action, orDash(string(t.From)), t.To, t.Actor, mark, t.Note)
	}
}

func pathLine(d *service.Detail) string {
	var parts []string
	for _, s := range d.Path {
		if s == d.Patch.State {
			parts = append(parts, "["+string(s)+"]")
		} else {
			parts = append(parts, string(s))
		}
	}
	line := strings.Join(parts, " → ")
	if !strings.Contains(line, "[") {
		line += "   (now " + string(d.Patch.State) + ")"
	}
	return line
}

func attrs(a patchctl.Attributes) string {
	var parts []string
	if a.KEV {
		parts = append(parts, "KEV")
	}
	if a.CVSS > 0 {
		parts = append(parts, fmt.Sprintf("CVSS %.1f", a.CVSS))
	}
	if a.Severity != "" {
		parts = append(parts, string(a.Severity))
	}
	if a.EPSS > 0 {
		parts = append(parts, fmt.Sprintf("EPSS %.3f", a.EPSS))
	}
	if a.Exploit != "" {
		parts = append(parts, "exploit "+a.Exploit)
	}
	parts = append(parts, a.Labels...)
	return strings.Join(parts, ", ")
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// linkFlags collects a trigger from flags shared by create and link.
type linkFlags struct {
	cves, vulns, issues []string
	finding             []string
	cvss, epss          float64
	kev                 bool
	exploit, severity   string
	labels              []string
	detected            string
}

func (lf *linkFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringSliceVar(&lf.cves, "cve", nil, "CVE id that triggered the patch (repeatable)")
	fl.StringSliceVar(&lf.vulns, "vuln", nil, "any vulnerability id: GHSA-..., GO-..., OSV ids (repeatable)")
	fl.StringSliceVar(&lf.issues, "issue", nil, "issue or incident URL (repeatable)")
	fl.StringSliceVar(&lf.finding, "finding", nil, "finding id (repeatable)")
	fl.Float64Var(&lf.cvss, "cvss", 0, "CVSS base score of the vulnerability")
	fl.BoolVar(&lf.kev, "kev", false, "the vulnerability is on the CISA KEV list")
	fl.Float64Var(&lf.epss, "epss", 0, "EPSS probability (0..1)")
	fl.StringVar(&lf.exploit, "exploit", "", "exploit maturity: none, poc, active")
	fl.StringVar(&lf.severity, "severity", "", "severity: critical, high, medium, low")
	fl.StringSliceVar(&lf.labels, "trigger-label", nil, "labels of the trigger, e.g. data-breach-risk, user-facing")
	fl.StringVar(&lf.detected, "detected-at", "", "first detection (starts the SLA clock; default now)")
	_ = cmd.RegisterFlagCompletionFunc("exploit", complete("none", "poc", "active"))
}

func (lf *linkFlags) links() ([]patchctl.Link, error) {
	attrs := patchctl.Attributes{CVSS: lf.cvss, KEV: lf.kev, EPSS: lf.epss, Exploit: lf.exploit,
		Severity: patchctl.Severity(lower(lf.severity)), Labels: lf.labels}
	var detected time.Time
	if lf.detected != "" {
		t, err := parseTime(lf.detected)
		if err != nil {
			return nil, usagef("--detected-at: %v", err)
		}
		detected = t
	}
	var out []patchctl.Link
	for _, v := range append(append([]string{}, lf.cves...), lf.vulns...) {
		out = append(out, patchctl.Link{Type: patchctl.LinkVulnerability, Ref: v, Attributes: attrs, DetectedAt: detected})
	}
	for _, u := range lf.issues {
		out = append(out, patchctl.Link{Type: patchctl.LinkIssue, Ref: u, Attributes: patchctl.Attributes{Labels: lf.labels}, DetectedAt: detected})
	}
	for _, f := range lf.finding {
		out = append(out, patchctl.Link{Type: patchctl.LinkFinding, Ref: f, Attributes: attrs, DetectedAt: detected})
	}
	return out, nil
}

func (e *env) patchCreate() *cobra.Command {
	var in service.CreatePatch
	var kind, prio string
	var lf linkFlags
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a patch (a draft, classified by the policy)",
		Example: `  patchctl patch create --kind application --app payments --title "Upgrade openssl to 3.0.15" --cve CVE-2024-9143 --cvss 9.8
  patchctl patch create --kind kubernetes --clusters mgmt,main --upgrade version --version 1.30.5-gke.1014001 --title "GKE 1.30.5" --issue https://...
  patchctl patch create --kind infrastructure --system postgres-primary --downtime --title "PostgreSQL 15.8" --cve CVE-2024-7348`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			in.Kind = patchctl.Kind(lower(kind))
			in.Priority = patchctl.Priority(lower(prio))
			links, err := lf.links()
			if err != nil {
				return err
			}
			in.Links = links
			api, err := e.api()
			if err != nil {
				return err
			}
			p, err := api.CreatePatch(e.ctx, in)
			if err != nil {
				return err
			}
			return e.emit(p, func(w io.Writer) {
				fmt.Fprintf(w, "%s created: %s, %s (rule %s), %s\n", p.Key, p.State, p.Priority, p.PriorityRule, SLA(p, time.Now()))
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&in.Title, "title", "", "what the patch does (required)")
	fl.StringVar(&in.Description, "description", "", "details")
	fl.StringVar(&kind, "kind", "application", "application, kubernetes or infrastructure")
	fl.StringVar(&in.Target.Application, "app", "", "application (kind application)")
	fl.StringSliceVar(&in.Target.Environments, "env", nil, "environments in order (default all configured)")
	fl.StringVar(&in.Target.Repository, "repo", "", "GitHub repository owner/name")
	fl.StringSliceVar(&in.Target.Clusters, "clusters", nil, "clusters (kind kubernetes)")
	fl.StringVar(&in.Target.Upgrade, "upgrade", "node", "node or version (kind kubernetes)")
	fl.StringVar(&in.Target.Version, "version", "", "GKE version to roll out (kind kubernetes)")
	fl.StringVar(&in.Target.System, "system", "", "system (kind infrastructure)")
	fl.BoolVar(&in.Target.Downtime, "downtime", false, "the upgrade needs downtime: a maintenance window, announcement and backup")
	fl.StringVar(&in.Owner, "owner", "", "owner")
	fl.StringSliceVar(&in.Labels, "label", nil, "labels, e.g. data-breach-risk, user-facing")
	fl.StringVar(&prio, "priority", "", "pin a priority by hand (default: the policy classifies)")
	lf.add(cmd)
	_ = cmd.RegisterFlagCompletionFunc("kind", completeAll(patchctl.Kinds))
	_ = cmd.RegisterFlagCompletionFunc("upgrade", complete("node", "version"))
	_ = cmd.RegisterFlagCompletionFunc("priority", completeAll(patchctl.Priorities))
	return cmd
}

func (e *env) patchEdit() *cobra.Command {
	var title, desc, owner, version, prio string
	var labels []string
	var unpin bool
	var rev int64
	cmd := &cobra.Command{
		Use:   "edit PATCH-ID",
		Short: "Edit a patch's title, description, owner, labels, version or pinned priority",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			in := service.EditPatch{Unpin: unpin, Revision: rev}
			fl := cmd.Flags()
			if fl.Changed("title") {
				in.Title = &title
			}
			if fl.Changed("description") {
				in.Description = &desc
			}
			if fl.Changed("owner") {
				in.Owner = &owner
			}
			if fl.Changed("version") {
				in.Version = &version
			}
			if fl.Changed("label") {
				in.Labels = &labels
			}
			if fl.Changed("priority") {
				pr := patchctl.Priority(lower(prio))
				in.Priority = &pr
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			p, err := api.EditPatch(e.ctx, a[0], in)
			if err != nil {
				return err
			}
			return e.emit(p, func(w io.Writer) {
				fmt.Fprintf(w, "%s updated (revision %d): %s, %s\n", p.Key, p.Revision, p.Priority, SLA(p, time.Now()))
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&title, "title", "", "title")
	fl.StringVar(&desc, "description", "", "description")
	fl.StringVar(&owner, "owner", "", "owner")
	fl.StringVar(&version, "version", "", "the version the patch ships")
	fl.StringSliceVar(&labels, "label", nil, "labels (replaces the list)")
	fl.StringVar(&prio, "priority", "", "pin a priority by hand")
	fl.BoolVar(&unpin, "unpin", false, "let the policy classify again")
	fl.Int64Var(&rev, "revision", 0, "fail if the patch changed since this revision")
	return cmd
}

func (e *env) patchAdvance() *cobra.Command {
	var to, note, override string
	var rev int64
	cmd := &cobra.Command{
		Use:   "advance PATCH-ID",
		Short: "Move a patch to its next step (or --to a state); refused unless every gate passes",
		Long: `Move a patch along its SOP-005 path. Every gate of the step must pass; a
refusal names each gate and what evidence is missing (exit code 3).

A lead or admin may push past refusing gates with --override "justification";
the override is recorded on the patch and in the audit log for ever.`,
		Example: `  patchctl patch advance PATCH-42
  patchctl patch advance PATCH-42 --to in_review --override "PR reviewed in the private fork, see INC-77"`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			if rev == 0 {
				// Act on the revision just read: a concurrent change makes
				// this a conflict instead of a surprise.
				d, err := api.Patch(e.ctx, a[0])
				if err != nil {
					return err
				}
				rev = d.Patch.Revision
			}
			in := service.TransitionInput{To: patchctl.State(lower(to)), Note: note, Revision: rev}
			if override != "" {
				in.Override = &service.OverrideInput{Justification: override}
			}
			res, err := api.Transition(e.ctx, a[0], in)
			if err != nil {
				return err
			}
			return e.emit(res, func(w io.Writer) { printTransition(w, res) })
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "target state (default: the next step on the SOP path)")
	cmd.Flags().StringVar(&note, "note", "", "note recorded with the transition")
	cmd.Flags().StringVar(&override, "override", "", "lead/admin: justification for pushing past refusing gates")
	cmd.Flags().Int64Var(&rev, "revision", 0, "fail if the patch changed since this revision (default: the revision read just before)")
	_ = cmd.RegisterFlagCompletionFunc("to", complete(stateNames...))
	return cmd
}

func printTransition(w io.Writer, res *service.TransitionResult) {
	fmt.Fprintf(w, "%s: %s → %s\n", res.Patch.Key, res.From, res.To)
	for _, g := range res.Gates {
		mark := "✓"
		if !g.OK {
			mark = "✗ OVERRIDDEN"
		}
		fmt.Fprintf(w, "  %s %s\t%s\n", mark, g.Gate, firstNonEmpty(g.Detail, g.Missing))
	}
}

func (e *env) patchCancel() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "cancel PATCH-ID --reason TEXT",
		Short: "Cancel a patch",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if strings.TrimSpace(reason) == "" {
				return usagef("--reason is required")
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			res, err := api.Transition(e.ctx, a[0], service.TransitionInput{To: patchctl.StateCancelled, Note: reason})
			if err != nil {
				return err
			}
			return e.emit(res, func(w io.Writer) { printTransition(w, res) })
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why")
	return cmd
}

func (e *env) patchRollback() *cobra.Command {
	var in service.RollbackInput
	cmd := &cobra.Command{
		Use:   "rollback PATCH-ID --severity sevN --reason TEXT",
		Short: "Decide a rollback to the previous stable version (on-call or lead)",
		Long: `Roll an environment back to the previous stable version: the last version
validated there before this patch. SOP-005 reserves the decision to the
on-call engineer or a team lead; severity and reason are recorded.`,
		Example: `  patchctl patch rollback PATCH-42 --severity sev2 --reason "checkout 5xx after deploy"`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			res, err := api.Rollback(e.ctx, a[0], in)
			if err != nil {
				return err
			}
			return e.emit(res, func(w io.Writer) {
				fmt.Fprintf(w, "%s rolled back in %s: %s → %s (%s: %s)\n", res.Patch.Key, res.Environment, orDash(res.FromVersion), res.ToVersion, in.Severity, in.Reason)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&in.Environment, "env", "", "environment (default: the furthest one deployed)")
	fl.StringVar(&in.Severity, "severity", "", "sev1 (critical) .. sev4 (minor)")
	fl.StringVar(&in.Reason, "reason", "", "what went wrong")
	fl.StringVar(&in.Version, "version", "", "version to return to, when patchctl knows none")
	fl.Int64Var(&in.Revision, "revision", 0, "fail if the patch changed since this revision")
	_ = cmd.RegisterFlagCompletionFunc("severity", complete(service.RollbackSeverities...))
	return cmd
}

func (e *env) patchLink() *cobra.Command {
	var lf linkFlags
	cmd := &cobra.Command{
		Use:     "link PATCH-ID (--cve ID | --vuln ID | --issue URL | --finding ID)",
		Short:   "Link what triggered a patch; the patch is reclassified",
		Example: `  patchctl patch link PATCH-42 --cve CVE-2024-3094 --kev --cvss 10`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			links, err := lf.links()
			if err != nil {
				return err
			}
			if len(links) == 0 {
				return usagef("name a trigger: --cve, --vuln, --issue or --finding")
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			var out []*patchctl.Link
			for _, l := range links {
				got, err := api.AddLink(e.ctx, a[0], l)
				if err != nil {
					return err
				}
				out = append(out, got)
			}
			return e.emit(out, func(w io.Writer) {
				for _, l := range out {
					fmt.Fprintf(w, "%s linked to %s %s (#%d)\n", a[0], l.Type, l.Ref, l.ID)
				}
			})
		},
	}
	lf.add(cmd)
	return cmd
}

func (e *env) patchUnlink() *cobra.Command {
	return &cobra.Command{
		Use:   "unlink PATCH-ID LINK-ID",
		Short: "Remove a trigger link",
		Args:  args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			id, err := strconv.ParseInt(strings.TrimPrefix(a[1], "#"), 10, 64)
			if err != nil {
				return usagef("%q is not a link id", a[1])
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			if err := api.RemoveLink(e.ctx, a[0], id); err != nil {
				return err
			}
			return e.emit(map[string]any{"patch": a[0], "unlinked": id}, func(w io.Writer) { fmt.Fprintf(w, "%s: link #%d removed\n", a[0], id) })
		},
	}
}

func (e *env) patchEvidence() *cobra.Command {
	var ev patchctl.Evidence
	var kind, at string
	var details []string
	cmd := &cobra.Command{
		Use:   "evidence PATCH-ID --kind KIND [flags]",
		Short: "Record evidence that a step happened",
		Long: `Record evidence. What each kind needs:
  branch          --ref BRANCH
  pull_request    --ref URL --subject AUTHOR [--detail branch=patch/PATCH-n-...]
  review          --subject REVIEWER --result approved|changes_requested|commented|dismissed
  merge           --version MERGE-COMMIT [--ref PR-URL]
  test_run        --env ENV --version V --result passed|failed [--ref RUN-URL]
  deployment      --env ENV --version V [--ref ...]
  signoff         --env ENV --version V   (a person's manual validation)
  health_check    --ref CHECK --result passed|failed
  wave_upgrade    --subject CLUSTER/POOL --version V [--ref OPERATION]
  backup          --ref BACKUP-ID
  announcement    --ref MESSAGE-URL
  terraform_plan, terraform_apply   --ref URL
  note            --detail text=...`,
		Example: `  patchctl patch evidence PATCH-42 --kind test_run --env staging --version 9f2c1e7 --result passed --ref https://ci/run/881
  patchctl patch evidence PATCH-42 --kind signoff --env staging --version 9f2c1e7`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			ev.Kind = patchctl.EvidenceKind(lower(kind))
			for _, d := range details {
				k, v, ok := strings.Cut(d, "=")
				if !ok || k == "" {
					return usagef("--detail %q: want key=value", d)
				}
				if ev.Details == nil {
					ev.Details = map[string]string{}
				}
				ev.Details[k] = v
			}
			if at != "" {
				t, err := parseTime(at)
				if err != nil {
					return usagef("--at: %v", err)
				}
				ev.At = t
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			got, err := api.AddEvidence(e.ctx, a[0], ev)
			if err != nil {
				return err
			}
			return e.emit(got, func(w io.Writer) {
				fmt.Fprintf(w, "%s: %s evidence #%d recorded\n", a[0], got.Kind, got.ID)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&kind, "kind", "", "evidence kind (see above)")
	fl.StringVar(&ev.Ref, "ref", "", "URL or id of the thing itself")
	fl.StringVar(&ev.Environment, "env", "", "environment")
	fl.StringVar(&ev.Version, "version", "", "version")
	fl.StringVar(&ev.Result, "result", "", "result")
	fl.StringVar(&ev.Subject, "subject", "", "author, reviewer, or cluster/pool")
	fl.StringVar(&ev.Source, "source", "", "where it came from (default manual)")
	fl.StringSliceVar(&details, "detail", nil, "key=value details (repeatable)")
	fl.StringVar(&at, "at", "", "when it happened (default now)")
	_ = cmd.RegisterFlagCompletionFunc("kind", completeAll(patchctl.EvidenceKinds))
	return cmd
}

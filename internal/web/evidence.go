package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/service"
)

// evField is one input of the evidence form. Which inputs a kind has
// follows what the service requires of that kind of evidence.
type evField struct {
	Name        string
	Label       string
	Type        string // text, url, select, textarea
	Options     []string
	Required    bool
	Help        string
	Placeholder string
}

// formKinds are the evidence kinds the evidence form offers: those people
// record by hand, except sign-offs (their own form) and announcements
// (recorded by announcing the window).
var formKinds = evidenceFormKinds()

func evidenceFormKinds() []patchctl.EvidenceKind {
	var out []patchctl.EvidenceKind
	for _, k := range patchctl.EvidenceKinds {
		if k != patchctl.EvidenceSignoff && k != patchctl.EvidenceAnnouncement {
			out = append(out, k)
		}
	}
	return out
}

var passFail = []string{patchctl.ResultPassed, patchctl.ResultFailed}

// evidenceInputs returns the inputs of one kind of evidence for a patch.
func evidenceInputs(kind patchctl.EvidenceKind, p *patchctl.Patch, envs []string, waves []patchctl.Wave) []evField {
	env := evField{Name: "environment", Label: "Environment", Type: "select", Options: envs, Required: true}
	version := evField{Name: "version", Label: "Version", Type: "text", Required: true, Help: "The version this evidence is about: a merge commit, image tag or release."}
	result := evField{Name: "result", Label: "Result", Type: "select", Options: passFail, Required: true}
	switch kind {
	case patchctl.EvidenceBranch:
		return []evField{{Name: "ref", Label: "Branch", Type: "text", Required: true,
			Placeholder: patchctl.BranchName(p.Key, p.Title), Help: "The dedicated branch is named after the patch: " + patchctl.BranchPrefix + p.Key + "-…"}}
	case patchctl.EvidencePullRequest:
		return []evField{
			{Name: "ref", Label: "Pull request URL", Type: "url", Required: true, Placeholder: "https://github.com/org/repo/pull/123"},
			{Name: "subject", Label: "Author", Type: "text", Required: true, Help: "Who opened it: a review by someone else is needed to merge."},
			{Name: "branch", Label: "Branch", Type: "text", Placeholder: patchctl.BranchName(p.Key, p.Title)},
			{Name: "result", Label: "State", Type: "select", Options: []string{"open", "draft", "merged", "closed"}},
		}
	case patchctl.EvidenceReview:
		return []evField{
			{Name: "subject", Label: "Reviewer", Type: "text", Required: true},
			{Name: "result", Label: "Verdict", Type: "select", Options: []string{patchctl.ResultApproved, patchctl.ResultChangesRequested, patchctl.ResultCommented, patchctl.ResultDismissed}, Required: true},
			{Name: "ref", Label: "Review URL", Type: "url"},
		}
	case patchctl.EvidenceMerge:
		return []evField{
			{Name: "version", Label: "Merge commit or release", Type: "text", Required: true, Help: "This becomes the patch's version: the one deployed and validated next."},
			{Name: "ref", Label: "Pull request URL", Type: "url"},
		}
	case patchctl.EvidenceTestRun:
		return []evField{env, version, result, {Name: "ref", Label: "CI run", Type: "text", Placeholder: "https://github.com/org/repo/actions/runs/…"}}
	case patchctl.EvidenceDeployment:
		return []evField{env, version, result, {Name: "ref", Label: "Deployment", Type: "text", Placeholder: "Argo CD application, Helm release or run URL"}}
	case patchctl.EvidenceHealthCheck:
		return []evField{{Name: "ref", Label: "Check", Type: "text", Required: true, Placeholder: "prometheus: up{job=\"api\"} == 1"}, result}
	case patchctl.EvidenceWaveUpgrade:
		subject := evField{Name: "subject", Label: "Cluster / node pool", Type: "text", Required: true, Placeholder: "cluster/pool"}
		if len(waves) > 0 {
			subject.Type = "select"
			for _, w := range waves {
				subject.Options = append(subject.Options, w.Subject())
			}
		}
		return []evField{subject, version, result, {Name: "ref", Label: "Operation", Type: "text", Placeholder: "GKE operation id or Terraform apply"}}
	case patchctl.EvidenceBackup:
		return []evField{{Name: "ref", Label: "Backup id", Type: "text", Required: true}, result}
	case patchctl.EvidenceTerraformPlan:
		return []evField{{Name: "ref", Label: "Plan", Type: "text", Required: true, Placeholder: "https://github.com/org/infra/pull/…"}}
	case patchctl.EvidenceTerraformApply:
		return []evField{{Name: "ref", Label: "Apply", Type: "text", Required: true, Placeholder: "run URL or state serial"}}
	case patchctl.EvidenceNote:
		return []evField{{Name: "text", Label: "Note", Type: "textarea", Required: true}}
	}
	return nil
}

// evidenceErrFields maps the service's evidence fields to the form's.
var evidenceErrFields = map[string]string{
	"ref": "ref", "environment": "environment", "version": "version", "result": "result",
	"subject": "subject", "details.text": "text", "details": "text", "kind": "kind",
}

// evidenceDefaults fills the evidence form with what the patch already
// says: its version, the environment its next step is about, its branch.
func evidenceDefaults(f *form, kind patchctl.EvidenceKind, d *service.Detail, envs []config.Environment) {
	p := d.Patch
	version := p.Version
	if kind == patchctl.EvidenceWaveUpgrade && p.Target.Version != "" {
		version = p.Target.Version
	}
	f.Default("version", version)
	f.Default("environment", nextEnv(d, envs))
	switch kind {
	case patchctl.EvidenceBranch:
		f.Default("ref", patchctl.BranchName(p.Key, p.Title))
	case patchctl.EvidencePullRequest:
		b := p.Branch
		if b == "" {
			b = patchctl.BranchName(p.Key, p.Title)
		}
		f.Default("branch", b)
	case patchctl.EvidenceWaveUpgrade:
		for _, w := range d.Waves {
			if w.State == patchctl.WaveInProgress {
				f.Default("subject", w.Subject())
			}
		}
	}
}

// nextEnv is the environment the patch's next step is about: production
// once it was validated, the first non-production environment before.
func nextEnv(d *service.Detail, envs []config.Environment) string {
	prod, pre := "", ""
	for _, e := range envs {
		if !slices.Contains(d.Patch.Target.Environments, e.Name) && len(d.Patch.Target.Environments) > 0 {
			continue
		}
		if e.Production && prod == "" {
			prod = e.Name
		} else if !e.Production && pre == "" {
			pre = e.Name
		}
	}
	switch d.Patch.State {
	case patchctl.StateValidated, patchctl.StateProduction, patchctl.StateUpgrading, patchctl.StateVerified, patchctl.StateResumed:
		if prod != "" {
			return prod
		}
	}
	if pre != "" {
		return pre
	}
	return prod
}

// evidenceFromForm builds the evidence the form describes.
func evidenceFromForm(f *form) patchctl.Evidence {
	e := patchctl.Evidence{Kind: patchctl.EvidenceKind(f.Get("kind")), Ref: strings.TrimSpace(f.Get("ref")),
		Environment: f.Get("environment"), Version: strings.TrimSpace(f.Get("version")), Result: f.Get("result"),
		Subject: strings.TrimSpace(f.Get("subject"))}
	details := map[string]string{}
	if b := strings.TrimSpace(f.Get("branch")); b != "" {
		details["branch"] = b
	}
	if t := strings.TrimSpace(f.Get("text")); t != "" {
		details["text"] = t
	}
	if len(details) > 0 {
		e.Details = details
	}
	return e
}

// gateHelp says how to satisfy a gate from the patch page: a link to the
// form that records what it misses.
type gateHelp struct {
	Text string
	Href string
	// Kind is the evidence that satisfies the gate, when evidence does.
	Kind patchctl.EvidenceKind
}

// gateHelpFor returns the help for a refusing gate of a patch.
func gateHelpFor(gate string, key string) *gateHelp {
	ev := func(kind patchctl.EvidenceKind, text string) *gateHelp {
		return &gateHelp{Text: text, Href: "/patches/" + key + "?evidence=" + url.QueryEscape(string(kind)) + "#add-evidence", Kind: kind}
	}
	switch gate {
	case "has_trigger":
		return &gateHelp{Text: "Link a trigger", Href: "#link-trigger"}
	case "dedicated_branch":
		return ev(patchctl.EvidenceBranch, "Record the branch")
	case "pull_request_open":
		return ev(patchctl.EvidencePullRequest, "Record the pull request")
	case "review_by_other":
		return ev(patchctl.EvidenceReview, "Record a review")
	case "merged_via_pr":
		return ev(patchctl.EvidenceMerge, "Record the merge")
	case "deployed_to_staging":
		return ev(patchctl.EvidenceDeployment, "Record the deployment")
	case "automated_tests_passed":
		return ev(patchctl.EvidenceTestRun, "Record a test run")
	case "manual_signoff", "upgrade_validated":
		return &gateHelp{Text: "Sign off", Href: "#signoff"}
	case "deployed_to_production":
		return ev(patchctl.EvidenceDeployment, "Record the production deployment")
	case "version_set":
		return &gateHelp{Text: "Set the version", Href: "#set-version"}
	case "change_tracked":
		return ev(patchctl.EvidenceTerraformPlan, "Record the Terraform plan")
	case "window_booked":
		return &gateHelp{Text: "Book a window", Href: "#window"}
	case "announced_in_time":
		return &gateHelp{Text: "Announce the window", Href: "#announce"}
	case "backup_taken":
		return ev(patchctl.EvidenceBackup, "Record the backup")
	case "soak_health_checks_passed":
		return ev(patchctl.EvidenceHealthCheck, "Record a health check")
	case "management_waves_completed", "main_waves_completed":
		return &gateHelp{Text: "Drive the waves", Href: "#waves"}
	case "not_halted":
		return &gateHelp{Text: "Decide on the halt", Href: "#halt"}
	}
	return nil
}

// evidenceFieldsData is the evidence form's kind-specific inputs.
type evidenceFieldsData struct {
	Kind   patchctl.EvidenceKind
	Fields []evField
	Form   *form
}

// evidenceFields answers htmx when the kind of the evidence form changes:
// the inputs of the chosen kind, filled with the patch's defaults.
func (u *UI) evidenceFields(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	d, err := u.svc.Patch(r.Context(), s.Actor, r.PathValue("id"))
	if err != nil {
		u.failed(w, r, err)
		return
	}
	kind := patchctl.EvidenceKind(r.URL.Query().Get("kind"))
	if !slices.Contains(formKinds, kind) {
		kind = defaultEvidenceKind(d)
	}
	cfg := u.svc.Config()
	f := newForm(nil)
	evidenceDefaults(f, kind, d, cfg.Environments)
	data := evidenceFieldsData{Kind: kind, Fields: evidenceInputs(kind, d.Patch, envNames(cfg.Environments), d.Waves), Form: f}
	u.renderTemplate(w, r, "patch", "evidence-fields", http.StatusOK, data)
}

// defaultEvidenceKind is the evidence the next step misses first.
func defaultEvidenceKind(d *service.Detail) patchctl.EvidenceKind {
	if d.Next != nil {
		for _, g := range d.Next.Gates {
			if g.OK {
				continue
			}
			if h := gateHelpFor(g.Gate, d.Patch.Key); h != nil && h.Kind != "" {
				return h.Kind
			}
		}
	}
	return patchctl.EvidenceNote
}

func envNames(envs []config.Environment) []string {
	out := make([]string, len(envs))
	for i, e := range envs {
		out[i] = e.Name
	}
	return out
}

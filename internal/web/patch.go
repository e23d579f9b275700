package web

import (
	"net/http"
	"slices"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/lifecycle"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

// patchData is the patch page.
type patchData struct {
	base
	D        *service.Detail
	Timeline []patchctl.AuditEvent
	// The state of every form of the page (patchForms).
	pageForms

	Steps    []step
	EvKind   patchctl.EvidenceKind
	EvKinds  []patchctl.EvidenceKind
	EvFields []evField
	Envs     []string
	// Moves are the transitions offered besides the next step: cancel,
	// back to work after a rollback.
	Moves           []service.AllowedTransition
	VersionEditable bool
	NeedsSignoff    bool
	Downtime        bool
	Severities      []string
	Halted          bool
}

// patchForms are the forms of the patch page.
var patchForms = []string{"transition", "move", "override", "evidence", "signoff", "link", "version",
	"rollback", "wave", "decision", "window", "announce"}

// patch shows one patch: summary, triggers, the gate checklist of its next
// step, evidence, waves, timeline, and the actions the role may take.
func (u *UI) patch(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	u.showPatch(w, r, s, http.StatusOK, "", nil)
}

// showPatch renders the patch page. After a refused form, failed names it
// and f holds what the person typed and what was wrong, shown in place.
func (u *UI) showPatch(w http.ResponseWriter, r *http.Request, s *service.WebSession, status int, failed string, f *form) {
	key := r.PathValue("id")
	d, err := u.svc.Patch(r.Context(), s.Actor, key)
	if err != nil {
		u.failed(w, r, err)
		return
	}
	key = d.Patch.Key
	timeline, err := u.svc.AuditEvents(r.Context(), s.Actor, store.AuditFilter{Subject: key, Limit: 1000})
	if err != nil {
		u.failed(w, r, err)
		return
	}
	cfg := u.svc.Config()
	data := patchData{base: u.pageBase(w, r, s, key+" · "+d.Patch.Title, "patches"), D: d, Timeline: timeline,
		pageForms: newPageForms(patchForms, failed, f), EvKinds: formKinds, Envs: envNames(cfg.Environments),
		Severities: service.RollbackSeverities, Downtime: d.Patch.Kind == patchctl.KindInfrastructure && d.Patch.Target.Downtime,
		Halted: d.Patch.Halt != nil, VersionEditable: versionEditable(d.Patch)}
	data.Status = status
	data.Steps = steps(d.Path, d.Patch.State, d.Transitions)
	for _, m := range d.Allowed {
		switch m.Action {
		case lifecycle.ActionCancel, lifecycle.ActionRework:
			if d.Next == nil || m.To != d.Next.To {
				data.Moves = append(data.Moves, m)
			}
		}
	}
	if d.Next != nil {
		for _, g := range d.Next.Gates {
			if g.Gate == "manual_signoff" || g.Gate == "upgrade_validated" {
				data.NeedsSignoff = true
			}
		}
	}

	// The evidence form shows the inputs of one kind: the one just sent,
	// the one asked for (?evidence=, from a gate's help link), or what the
	// next step misses first.
	ev := data.Forms["evidence"]
	kind := patchctl.EvidenceKind(ev.Get("kind"))
	if kind == "" {
		kind = patchctl.EvidenceKind(r.URL.Query().Get("evidence"))
	}
	if !slices.Contains(data.EvKinds, kind) {
		kind = defaultEvidenceKind(d)
	}
	data.EvKind = kind
	ev.Default("kind", string(kind))
	evidenceDefaults(ev, kind, d, cfg.Environments)
	data.EvFields = evidenceInputs(kind, d.Patch, data.Envs, d.Waves)

	so := data.Forms["signoff"]
	so.Default("version", d.Patch.Version)
	so.Default("environment", nextEnv(d, cfg.Environments))
	so.Default("result", patchctl.ResultPassed)
	data.Forms["link"].Default("type", string(patchctl.LinkVulnerability))
	data.Forms["version"].Default("version", d.Patch.Version)
	data.Forms["announce"].Default("channel", "team")
	if d.Rollback != nil {
		data.Forms["rollback"].Default("environment", d.Rollback.Environment)
	}
	if d.Next != nil {
		data.Forms["override"].Default("to", string(d.Next.To))
	}
	u.render(w, r, "patch", status, data)
}

// versionEditable mirrors the states in which the service lets the version
// change (until the patch is deployed), to offer the form only then.
func versionEditable(p *patchctl.Patch) bool {
	switch p.State {
	case patchctl.StateDraft, patchctl.StateInProgress, patchctl.StateInReview, patchctl.StateMerged,
		patchctl.StatePlanned, patchctl.StateRolledBack:
		return true
	}
	return false
}

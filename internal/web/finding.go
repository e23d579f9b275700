package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/service"
)

// findingData is the finding page.
type findingData struct {
	base
	F       *patchctl.Finding
	History []patchctl.AuditEvent
	// Patch is the patch the finding is attached to, if any.
	Patch *patchctl.Patch
	// The state of the page's forms (findingForms).
	pageForms
	// Set says the finding is set aside (risk accepted, false positive)
	// and may be reopened; Decidable says it is open and may be set aside.
	Set, Decidable bool
	MinDate        string
	MaxDate        string
}

// findingForms are the forms of the finding page.
var findingForms = []string{"accept", "falsepositive", "reopen"}

// acceptLayout is how the risk acceptance form's date input reads: the
// acceptance ends at 00:00 UTC of that day, as `patchctl finding accept
// --until DATE` does.
const acceptLayout = "2006-01-02"

// finding shows one finding: what and where it is, its patch, its risk
// acceptance, its history (audit events finding:ID) and, for leads and
// admins, the forms that accept its risk, mark it a false positive or
// reopen it.
func (u *UI) finding(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	u.showFinding(w, r, s, http.StatusOK, "", nil)
}

// showFinding renders the finding page; after a refused form, failed names
// it and f holds what the person typed and what was wrong.
func (u *UI) showFinding(w http.ResponseWriter, r *http.Request, s *service.WebSession, status int, failed string, f *form) {
	id := pathID(r)
	if id == 0 {
		u.noSuch(w, r, "finding")
		return
	}
	d, err := u.svc.Finding(r.Context(), s.Actor, id)
	if err != nil {
		u.failed(w, r, err)
		return
	}
	fi := d.Finding
	data := findingData{base: u.pageBase(w, r, s, fi.VulnID+" in "+fi.Package, "findings"), F: fi, History: d.History,
		pageForms: newPageForms(findingForms, failed, f),
		Set:       fi.State == patchctl.FindingRiskAccepted || fi.State == patchctl.FindingFalsePositive,
		Decidable: fi.State == patchctl.FindingOpen}
	data.Status = status
	now := u.svc.Now()
	data.MinDate = now.Add(24 * time.Hour).UTC().Format(acceptLayout)
	data.MaxDate = now.Add(366 * 24 * time.Hour).UTC().Format(acceptLayout)
	if fi.PatchKey != "" {
		ps, err := u.svc.PatchesByKey(r.Context(), s.Actor, []string{fi.PatchKey})
		if err != nil {
			u.failed(w, r, err)
			return
		}
		if len(ps) == 1 {
			data.Patch = ps[0]
		}
	}
	u.render(w, r, "finding", status, data)
}

func findingURL(r *http.Request) string { return "/findings/" + r.PathValue("id") }

// findingRefused shows the finding page again after a refused form: field
// errors next to their fields, refusals (role, state) as the form's
// message; errors that are not the person's to fix get the error page.
func (u *UI) findingRefused(w http.ResponseWriter, r *http.Request, s *service.WebSession, name string, f *form, err error) {
	if patchctl.ErrorCode(err) == patchctl.CodeNotFound {
		u.failed(w, r, err)
		return
	}
	if u.formError(w, r, f, err, map[string]string{"reason": "reason", "expires_at": "accepted_until"}) {
		u.showFinding(w, r, s, statusOf(err), name, f)
	}
}

// acceptRisk accepts a finding's risk until a date (lead or admin; the
// service checks) with a reason.
func (u *UI) acceptRisk(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	f := postedForm(r)
	f.require(map[string]string{"reason": "say why the risk may be accepted: it stays on the record",
		"accepted_until": "choose the day the acceptance ends"})
	var exp time.Time
	if v := strings.TrimSpace(f.Get("accepted_until")); v != "" {
		t, err := time.ParseInLocation(acceptLayout, v, time.UTC)
		if err != nil {
			f.Errors["accepted_until"] = "a date, YYYY-MM-DD"
		}
		exp = t
	}
	if f.Failed() {
		u.showFinding(w, r, s, http.StatusBadRequest, "accept", f)
		return
	}
	fi, err := u.svc.AcceptRisk(r.Context(), s.Actor, pathID(r), service.AcceptanceInput{Reason: strings.TrimSpace(f.Get("reason")), ExpiresAt: &exp})
	if err != nil {
		u.findingRefused(w, r, s, "accept", f, err)
		return
	}
	u.done(w, r, findingURL(r), "Risk of "+fi.VulnID+" in "+fi.Package+" accepted until "+when(*fi.Acceptance.ExpiresAt)+".")
}

// falsePositive marks a finding as a false positive (lead or admin).
func (u *UI) falsePositive(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	f := postedForm(r)
	if !f.require(map[string]string{"reason": "say why the finding is wrong"}) {
		u.showFinding(w, r, s, http.StatusBadRequest, "falsepositive", f)
		return
	}
	fi, err := u.svc.MarkFalsePositive(r.Context(), s.Actor, pathID(r), service.AcceptanceInput{Reason: strings.TrimSpace(f.Get("reason"))})
	if err != nil {
		u.findingRefused(w, r, s, "falsepositive", f, err)
		return
	}
	u.done(w, r, findingURL(r), fi.VulnID+" in "+fi.Package+" marked as a false positive.")
}

// reopenFinding ends a risk acceptance or a false-positive marking (lead
// or admin).
func (u *UI) reopenFinding(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	f := postedForm(r)
	if !f.require(map[string]string{"reason": "say why the finding is open again"}) {
		u.showFinding(w, r, s, http.StatusBadRequest, "reopen", f)
		return
	}
	fi, err := u.svc.ReopenFinding(r.Context(), s.Actor, pathID(r), strings.TrimSpace(f.Get("reason")))
	if err != nil {
		u.findingRefused(w, r, s, "reopen", f, err)
		return
	}
	u.done(w, r, findingURL(r), fi.VulnID+" in "+fi.Package+" is open again.")
}

package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/httpapi"
	"github.com/patchctl/patchctl/internal/service"
)

// The forms of the patch page. Each calls one service operation, which
// authorises the role and checks the gates; on success the browser goes
// back to the patch page (POST, redirect, GET) with a message, on refusal
// the page is shown again with the person's input and what was wrong.

// statusOf is the HTTP status of a service error.
func statusOf(err error) int { return httpapi.StatusOf(patchctl.ErrorCode(err)) }

// refused shows the patch page again after a refused form; errors that are
// not the person's to fix (internal, unavailable) get the error page.
func (u *UI) refused(w http.ResponseWriter, r *http.Request, s *service.WebSession, name string, f *form, err error, fields map[string]string) {
	if u.formError(w, r, f, err, fields) {
		u.showPatch(w, r, s, statusOf(err), name, f)
	}
}

// invalid shows the patch page again with the form's own field errors.
func (u *UI) invalid(w http.ResponseWriter, r *http.Request, s *service.WebSession, name string, f *form) {
	u.showPatch(w, r, s, http.StatusBadRequest, name, f)
}

func patchURL(r *http.Request) string { return "/patches/" + r.PathValue("id") }

func revision(f *form) int64 {
	n, _ := strconv.ParseInt(f.Get("revision"), 10, 64)
	return n
}

// transition advances a patch to its next state, or moves it to another
// allowed state (cancel, back to work) with a note.
func (u *UI) transition(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	name := "transition"
	if r.PostForm.Get("form") == "move" {
		name = "move"
	}
	f := postedForm(r)
	in := service.TransitionInput{To: patchctl.State(f.Get("to")), Note: strings.TrimSpace(f.Get("note")), Revision: revision(f)}
	res, err := u.svc.Transition(r.Context(), s.Actor, r.PathValue("id"), in)
	if err != nil {
		u.refused(w, r, s, name, f, err, map[string]string{"to": "to", "note": "note"})
		return
	}
	u.done(w, r, patchURL(r), fmt.Sprintf("%s moved from %s to %s.", res.Patch.Key, label(string(res.From)), label(string(res.To))))
}

// override pushes a patch past its refusing gates with a written
// justification (lead or admin; the service checks).
func (u *UI) override(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	f := postedForm(r)
	if !f.require(map[string]string{"justification": "say why the gates may be passed: it stays on the record"}) {
		u.invalid(w, r, s, "override", f)
		return
	}
	in := service.TransitionInput{To: patchctl.State(f.Get("to")), Revision: revision(f),
		Override: &service.OverrideInput{Justification: f.Get("justification")}}
	res, err := u.svc.Transition(r.Context(), s.Actor, r.PathValue("id"), in)
	if err != nil {
		u.refused(w, r, s, "override", f, err, map[string]string{"override.justification": "justification", "to": "to"})
		return
	}
	msg := fmt.Sprintf("%s moved from %s to %s.", res.Patch.Key, label(string(res.From)), label(string(res.To)))
	if len(res.Overridden) > 0 {
		msg += " Override of " + strings.Join(res.Overridden, ", ") + " recorded."
	}
	u.done(w, r, patchURL(r), msg)
}

// addEvidence records evidence of the kind chosen in the form.
func (u *UI) addEvidence(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	f := postedForm(r)
	if ff := f.Get("fields_for"); ff != "" && ff != f.Get("kind") {
		// Without JavaScript the fields do not follow the kind: show the
		// chosen kind's fields, keeping what was typed, before recording.
		u.showPatch(w, r, s, http.StatusOK, "evidence", f)
		return
	}
	e := evidenceFromForm(f)
	need := map[string]string{}
	for _, fd := range evidenceInputs(e.Kind, &patchctl.Patch{Key: r.PathValue("id")}, nil, nil) {
		if fd.Required && fd.Type != "select" {
			need[fd.Name] = "required for " + label(string(e.Kind)) + " evidence"
		}
	}
	if !f.require(need) {
		u.invalid(w, r, s, "evidence", f)
		return
	}
	ev, err := u.svc.AddEvidence(r.Context(), s.Actor, r.PathValue("id"), e)
	if err != nil {
		u.refused(w, r, s, "evidence", f, err, evidenceErrFields)
		return
	}
	u.done(w, r, patchURL(r), "Recorded "+label(string(ev.Kind))+" evidence.")
}

// signOff records a person's manual validation of a version in an
// environment (signoff evidence).
func (u *UI) signOff(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	f := postedForm(r)
	if !f.require(map[string]string{"version": "the version you validated", "environment": "where you validated it"}) {
		u.invalid(w, r, s, "signoff", f)
		return
	}
	e := patchctl.Evidence{Kind: patchctl.EvidenceSignoff, Environment: f.Get("environment"), Version: strings.TrimSpace(f.Get("version")),
		Result: f.Get("result")}
	if note := strings.TrimSpace(f.Get("note")); note != "" {
		e.Details = map[string]string{"note": note}
	}
	ev, err := u.svc.AddEvidence(r.Context(), s.Actor, r.PathValue("id"), e)
	if err != nil {
		u.refused(w, r, s, "signoff", f, err, map[string]string{"environment": "environment", "version": "version", "result": "result"})
		return
	}
	verb := "Signed off"
	if ev.Result == patchctl.ResultFailed {
		verb = "Rejected"
	}
	u.done(w, r, patchURL(r), fmt.Sprintf("%s version %s on %s.", verb, ev.Version, ev.Environment))
}

// addLink links a trigger (vulnerability id, issue URL, finding) to the
// patch, which reclassifies it.
func (u *UI) addLink(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	f := postedForm(r)
	if !f.require(map[string]string{"ref": "the vulnerability id, issue URL or finding"}) {
		u.invalid(w, r, s, "link", f)
		return
	}
	l := patchctl.Link{Type: patchctl.LinkType(f.Get("type")), Ref: f.Get("ref")}
	if c := strings.TrimSpace(f.Get("cvss")); c != "" {
		v, err := strconv.ParseFloat(c, 64)
		if err != nil {
			f.Errors["cvss"] = "a CVSS score is a number from 0 to 10"
			u.invalid(w, r, s, "link", f)
			return
		}
		l.Attributes.CVSS = v
	}
	l.Attributes.KEV = f.Get("kev") != ""
	added, err := u.svc.AddLink(r.Context(), s.Actor, r.PathValue("id"), l)
	if err != nil {
		u.refused(w, r, s, "link", f, err, map[string]string{"ref": "ref", "type": "type", "aliases": "ref",
			"attributes.cvss": "cvss", "attributes": "cvss"})
		return
	}
	u.done(w, r, patchURL(r), "Linked "+added.Ref+".")
}

// setVersion names the version the patch ships.
func (u *UI) setVersion(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	f := postedForm(r)
	if !f.require(map[string]string{"version": "the version the patch ships"}) {
		u.invalid(w, r, s, "version", f)
		return
	}
	v := strings.TrimSpace(f.Get("version"))
	p, err := u.svc.EditPatch(r.Context(), s.Actor, r.PathValue("id"), service.EditPatch{Version: &v, Revision: revision(f)})
	if err != nil {
		u.refused(w, r, s, "version", f, err, map[string]string{"version": "version"})
		return
	}
	u.done(w, r, patchURL(r), "Version set to "+p.Version+".")
}

// rollback records a rollback decision (on-call or lead; the service
// checks) with its severity and reason.
func (u *UI) rollback(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	f := postedForm(r)
	if !f.require(map[string]string{"severity": "how severe is the issue?", "reason": "say what went wrong"}) {
		u.invalid(w, r, s, "rollback", f)
		return
	}
	in := service.RollbackInput{Environment: f.Get("environment"), Severity: f.Get("severity"), Reason: strings.TrimSpace(f.Get("reason")),
		Version: strings.TrimSpace(f.Get("version")), Revision: revision(f)}
	res, err := u.svc.Rollback(r.Context(), s.Actor, r.PathValue("id"), in)
	if err != nil {
		u.refused(w, r, s, "rollback", f, err, map[string]string{"severity": "severity", "reason": "reason",
			"version": "version", "environment": "environment"})
		return
	}
	u.done(w, r, patchURL(r), fmt.Sprintf("Rollback decided: %s returns to %s (from %s).", res.Environment, res.ToVersion, res.FromVersion))
}

// wave starts, completes or fails one wave of a kubernetes rollout.
func (u *UI) wave(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	f := postedForm(r)
	seq, err := strconv.Atoi(r.PathValue("seq"))
	if err != nil || seq <= 0 {
		f.Message = "no such wave"
		u.invalid(w, r, s, "wave", f)
		return
	}
	op := f.Get("op")
	if op == "fail" && !f.require(map[string]string{"reason": "say what failed"}) {
		u.invalid(w, r, s, "wave", f)
		return
	}
	res, err := u.svc.Wave(r.Context(), s.Actor, r.PathValue("id"), seq, service.WaveInput{Op: op, Reason: strings.TrimSpace(f.Get("reason")), Revision: revision(f)})
	if err != nil {
		u.refused(w, r, s, "wave", f, err, map[string]string{"op": "op", "reason": "reason"})
		return
	}
	verb := map[string]string{"start": "started", "complete": "completed", "fail": "failed; the rollout is halted"}[op]
	u.done(w, r, patchURL(r)+"#waves", fmt.Sprintf("Wave %d (%s) %s.", res.Wave.Seq, res.Wave.Subject(), verb))
}

// decide resumes, retries or aborts a halted rollout.
func (u *UI) decide(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	f := postedForm(r)
	if !f.require(map[string]string{"decision": "choose resume, retry or abort", "reason": "say why"}) {
		u.invalid(w, r, s, "decision", f)
		return
	}
	p, err := u.svc.Decide(r.Context(), s.Actor, r.PathValue("id"), service.DecisionInput{Decision: f.Get("decision"),
		Reason: strings.TrimSpace(f.Get("reason")), Revision: revision(f)})
	if err != nil {
		u.refused(w, r, s, "decision", f, err, map[string]string{"decision": "decision", "reason": "reason"})
		return
	}
	u.done(w, r, patchURL(r), fmt.Sprintf("Decision recorded: %s. %s is %s.", f.Get("decision"), p.Key, label(string(p.State))))
}

// windowLayout is how the window form's datetime-local inputs read, in UTC.
const windowLayout = "2006-01-02T15:04"

// bookWindow books the maintenance window of an infrastructure patch with
// downtime. Times are entered in UTC.
func (u *UI) bookWindow(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	f := postedForm(r)
	var in service.BookingInput
	for _, fd := range []struct {
		name string
		dst  *time.Time
	}{{"start", &in.Start}, {"end", &in.End}} {
		v := strings.TrimSpace(f.Get(fd.name))
		if v == "" {
			f.Errors[fd.name] = "required (UTC)"
			continue
		}
		t, err := time.ParseInLocation(windowLayout, v, time.UTC)
		if err != nil {
			f.Errors[fd.name] = "a date and time, YYYY-MM-DDTHH:MM (UTC)"
			continue
		}
		*fd.dst = t
	}
	if f.Failed() {
		u.invalid(w, r, s, "window", f)
		return
	}
	in.Revision = revision(f)
	p, err := u.svc.BookWindow(r.Context(), s.Actor, r.PathValue("id"), in)
	if err != nil {
		u.refused(w, r, s, "window", f, err, map[string]string{"start": "start", "end": "end"})
		return
	}
	u.done(w, r, patchURL(r), "Window booked: "+when(p.Window.Start)+" to "+when(p.Window.End)+".")
}

// announce announces the booked window to the team.
func (u *UI) announce(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	f := postedForm(r)
	ev, err := u.svc.Announce(r.Context(), s.Actor, r.PathValue("id"), strings.TrimSpace(f.Get("channel")), strings.TrimSpace(f.Get("message")))
	if err != nil {
		u.refused(w, r, s, "announce", f, err, map[string]string{"channel": "channel", "message": "message"})
		return
	}
	u.done(w, r, patchURL(r), "Window announced to "+ev.Subject+".")
}

package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/service"
)

// newPatchData is the new patch page.
type newPatchData struct {
	base
	Form         *form
	Kinds        []patchctl.Kind
	Priorities   []patchctl.Priority
	Environments []config.Environment
	Clusters     []config.Cluster
}

// createFields maps the service's field paths to the form's inputs.
var createFields = map[string]string{
	"title": "title", "description": "description", "kind": "kind", "owner": "owner", "labels": "labels",
	"priority": "priority", "target.application": "application", "target.repository": "repository",
	"target.clusters": "clusters", "target.upgrade": "upgrade", "target.version": "gke_version",
	"target.system": "system", "target.environments": "environments", "target": "kind",
	"links.ref": "link_ref", "links.type": "link_type", "links.aliases": "link_ref",
	"links.attributes.cvss": "cvss", "links.attributes": "cvss", "links": "link_ref",
}

// newPatchPage shows the form that creates a patch.
func (u *UI) newPatchPage(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	if !permsOf(s.Actor).Write {
		u.errorPage(w, r, http.StatusForbidden, "Not allowed", "Creating a patch needs the role engineer, oncall, lead or admin; you are "+string(s.Actor.Role)+".")
		return
	}
	u.showNewPatch(w, r, s, http.StatusOK, u.newPatchDefaults(s, newForm(nil)))
}

func (u *UI) newPatchDefaults(s *service.WebSession, f *form) *form {
	f.Default("kind", string(patchctl.KindApplication))
	f.Default("owner", s.Actor.Name)
	f.Default("upgrade", patchctl.UpgradeNode)
	f.Default("link_type", string(patchctl.LinkVulnerability))
	if _, ok := f.Values["environments"]; !ok {
		for _, e := range u.svc.Config().Environments {
			f.Values.Add("environments", e.Name)
		}
	}
	if _, ok := f.Values["clusters"]; !ok {
		for _, c := range u.svc.Config().Clusters {
			f.Values.Add("clusters", c.Name)
		}
	}
	return f
}

func (u *UI) showNewPatch(w http.ResponseWriter, r *http.Request, s *service.WebSession, status int, f *form) {
	cfg := u.svc.Config()
	d := newPatchData{base: u.pageBase(w, r, s, "New patch", "patches"), Form: f, Kinds: patchctl.Kinds,
		Priorities: patchctl.Priorities, Environments: cfg.Environments, Clusters: cfg.Clusters}
	d.Status = status
	u.render(w, r, "newpatch", status, d)
}

// createPatch creates a patch from the form and opens its page. A refused
// form comes back with the person's input and the errors next to the
// fields.
func (u *UI) createPatch(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	f := postedForm(r)
	kind := patchctl.Kind(f.Get("kind"))
	need := map[string]string{"title": "a title is required: what does the patch change?"}
	switch kind {
	case patchctl.KindApplication:
		need["application"] = "name the application the patch changes"
	case patchctl.KindKubernetes:
		need["clusters"] = "choose the clusters to upgrade"
		need["gke_version"] = "name the GKE version to roll out"
	case patchctl.KindInfrastructure:
		need["system"] = "name the system the patch changes"
	default:
		f.Errors["kind"] = "choose what the patch changes"
	}
	f.require(need)
	in := service.CreatePatch{Title: f.Get("title"), Description: f.Get("description"), Kind: kind, Owner: strings.TrimSpace(f.Get("owner")),
		Priority: patchctl.Priority(f.Get("priority"))}
	for _, l := range strings.FieldsFunc(f.Get("labels"), func(r rune) bool { return r == ',' || r == ' ' }) {
		in.Labels = append(in.Labels, l)
	}
	switch kind {
	case patchctl.KindApplication:
		in.Target = patchctl.Target{Application: strings.TrimSpace(f.Get("application")), Repository: strings.TrimSpace(f.Get("repository")),
			Environments: f.All("environments")}
	case patchctl.KindKubernetes:
		in.Target = patchctl.Target{Clusters: f.All("clusters"), Upgrade: f.Get("upgrade"), Version: strings.TrimSpace(f.Get("gke_version"))}
	case patchctl.KindInfrastructure:
		in.Target = patchctl.Target{System: strings.TrimSpace(f.Get("system")), Downtime: f.Get("downtime") != "",
			Environments: f.All("environments")}
	}
	if ref := strings.TrimSpace(f.Get("link_ref")); ref != "" {
		l := patchctl.Link{Type: patchctl.LinkType(f.Get("link_type")), Ref: ref}
		if c := strings.TrimSpace(f.Get("cvss")); c != "" {
			v, err := strconv.ParseFloat(c, 64)
			if err != nil {
				f.Errors["cvss"] = "a CVSS score is a number from 0 to 10"
			}
			l.Attributes.CVSS = v
		}
		l.Attributes.KEV = f.Get("kev") != ""
		in.Links = []patchctl.Link{l}
	}
	if f.Failed() {
		u.showNewPatch(w, r, s, http.StatusBadRequest, f)
		return
	}
	p, err := u.svc.CreatePatch(r.Context(), s.Actor, in)
	if err != nil {
		if u.formError(w, r, f, err, createFields) {
			u.showNewPatch(w, r, s, statusOf(err), f)
		}
		return
	}
	u.done(w, r, "/patches/"+p.Key, "Created "+p.Key+": "+string(p.Priority)+" priority, due "+whenPtr(p.DueAt)+".")
}

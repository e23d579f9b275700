package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

// findingsPageSize is how many findings the list shows per page.
const findingsPageSize = 50

// findingsData is the findings list page.
type findingsData struct {
	base
	Filter     *form
	Page       *store.FindingsPage
	Severities []patchctl.Severity
	States     []patchctl.FindingState
	// Total counts the findings matching the filter, when the stored
	// counters know it (state, severity, KEV and fix filters only).
	Total    *int
	NextURL  string
	FirstURL string
}

// findingFilterFields are the list's filter inputs, in the order of the
// form: what the list keeps when it moves to another page.
var findingFilterFields = []string{"state", "severity", "kev", "epss", "asset", "package", "vuln", "patch", "nofix"}

// findings lists findings with filters (state, severity, KEV, EPSS at
// least, asset name or prefix*, package, vulnerability, patch, no fix),
// most severe first, a page at a time (?after= the last finding shown).
// Without JavaScript the filter form is a plain GET; with htmx the results
// are replaced in place.
func (u *UI) findings(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	q := r.URL.Query()
	f := newForm(q)
	f.Default("state", "open")
	filter, cur := findingFilter(f)
	d := findingsData{Filter: f, Severities: patchctl.Severities, States: store.FindingStates}
	status := http.StatusOK
	if len(f.Errors) == 0 {
		page, err := u.svc.FindingsPage(r.Context(), s.Actor, filter, cur)
		if err != nil {
			if patchctl.ErrorCode(err) != patchctl.CodeInvalid {
				u.failed(w, r, err)
				return
			}
			f.fail(err, map[string]string{"severity": "severity", "state": "state", "epss_min": "epss", "limit": "after"})
			status = http.StatusBadRequest
		} else {
			d.Page = page
			if page.Next != nil {
				d.NextURL = listURL("/findings", q, findingFilterFields, "after", page.Next.String())
			}
			if cur != nil {
				d.FirstURL = listURL("/findings", q, findingFilterFields, "after", "")
			}
			d.Total, err = u.findingsTotal(r, s, filter)
			if err != nil {
				u.failed(w, r, err)
				return
			}
		}
	} else {
		status = http.StatusBadRequest
	}
	u.renderList(w, r, s, "findings", "Findings", status, &d)
}

// findingFilter reads the filter form, recording an error next to each
// field it cannot read.
func findingFilter(f *form) (store.FindingFilter, *store.FindingCursor) {
	filter := store.FindingFilter{Limit: findingsPageSize, Asset: strings.TrimSpace(f.Get("asset")),
		Package: strings.TrimSpace(f.Get("package")), VulnID: strings.TrimSpace(f.Get("vuln")), NoFix: f.Get("nofix") != ""}
	switch st := f.Get("state"); st {
	case "all":
	default:
		state := patchctl.FindingState(st)
		if !slices.Contains(store.FindingStates, state) {
			f.Errors["state"] = "unknown state"
		}
		filter.States = []patchctl.FindingState{state}
	}
	if sev := patchctl.Severity(f.Get("severity")); sev != "" {
		if !sev.Valid() {
			f.Errors["severity"] = "unknown severity"
		}
		filter.Severities = []patchctl.Severity{sev}
	}
	switch f.Get("kev") {
	case "":
	case "true", "false":
		kev := f.Get("kev") == "true"
		filter.KEV = &kev
	default:
		f.Errors["kev"] = "choose on KEV, not on KEV or either"
	}
	if e := strings.TrimSpace(f.Get("epss")); e != "" {
		v, err := strconv.ParseFloat(e, 64)
		if err != nil || v < 0 || v > 1 {
			f.Errors["epss"] = "an EPSS score is a number from 0 to 1, e.g. 0.1"
		}
		filter.EPSSMin = v
	}
	if p := strings.TrimSpace(f.Get("patch")); p != "" {
		id, err := patchctl.ParsePatchKey(p)
		if err != nil {
			f.Errors["patch"] = "a patch id, e.g. PATCH-42"
		}
		filter.PatchID = id
	}
	var cur *store.FindingCursor
	if a := f.Get("after"); a != "" {
		c, err := store.ParseFindingCursor(a)
		if err != nil {
			f.Errors["after"] = "not a page of the list"
		}
		cur = &c
	}
	return filter, cur
}

// findingsTotal counts the findings the filter matches from the stored
// counters, when the filter is one they can answer; nil otherwise.
func (u *UI) findingsTotal(r *http.Request, s *service.WebSession, f store.FindingFilter) (*int, error) {
	if f.Asset != "" || f.Package != "" || f.VulnID != "" || f.PatchID != 0 || f.AssetID != 0 || f.EPSSMin > 0 {
		return nil, nil
	}
	counts, _, err := u.svc.FindingCounts(r.Context(), s.Actor)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, c := range counts {
		if len(f.States) > 0 && c.State != f.States[0] ||
			len(f.Severities) > 0 && c.Severity != f.Severities[0] ||
			f.KEV != nil && c.KEV != *f.KEV ||
			f.NoFix && !c.NoFix {
			continue
		}
		n += c.N
	}
	return &n, nil
}

package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/lifecycle"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

// pageSize is how many patches the list shows per page.
const pageSize = 50

// listData is the patch list page.
type listData struct {
	base
	Filter     *form
	Result     *service.ListResult
	Kinds      []patchctl.Kind
	Priorities []patchctl.Priority
	States     []patchctl.State
	From, To   int
	PrevURL    string
	NextURL    string
}

// filterStates lists every lifecycle state of every kind once, in lifecycle
// order, for the state filter. The lifecycles are fixed: it is built once.
var filterStates = allStates()

func allStates() []patchctl.State {
	var out []patchctl.State
	for _, k := range patchctl.Kinds {
		for _, downtime := range []bool{false, true} {
			for _, s := range lifecycle.States(k, downtime) {
				if !slices.Contains(out, s) {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// patches lists patches with filters (kind, priority, state, owner,
// overdue, words), most urgent due time first, a page at a time.
// Without JavaScript the filter form is a plain GET; with htmx the results
// are replaced in place as the filters change.
func (u *UI) patches(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	q := r.URL.Query()
	f := newForm(q)
	f.Default("state", "open")
	filter := store.PatchFilter{Owner: f.Get("owner"), Text: f.Get("q"), Limit: pageSize}
	if k := patchctl.Kind(f.Get("kind")); k != "" {
		if !k.Valid() {
			f.Errors["kind"] = "unknown kind"
		}
		filter.Kinds = []patchctl.Kind{k}
	}
	if p := patchctl.Priority(f.Get("priority")); p != "" {
		if !p.Valid() {
			f.Errors["priority"] = "unknown priority"
		}
		filter.Priorities = []patchctl.Priority{p}
	}
	yes, no := true, false
	switch st := f.Get("state"); st {
	case "open":
		filter.Open = &yes
	case "closed":
		filter.Open = &no
	case "all":
	default:
		if !slices.Contains(filterStates, patchctl.State(st)) {
			f.Errors["state"] = "unknown state"
		}
		filter.States = []patchctl.State{patchctl.State(st)}
	}
	filter.Overdue = f.Get("overdue") != ""
	// Due time is the one order: the indexes of migration 0004 serve it for
	// every filter (see internal/store/dashboard_plan_test.go).
	filter.Sort = "due"
	if o := f.Get("offset"); o != "" {
		n, err := strconv.Atoi(o)
		if err != nil || n < 0 || n > 1_000_000 {
			f.Errors["offset"] = "not a page"
		}
		filter.Offset = n - n%pageSize
	}
	d := listData{Filter: f, Kinds: patchctl.Kinds, Priorities: patchctl.Priorities, States: filterStates}
	status := http.StatusOK
	if len(f.Errors) == 0 {
		res, err := u.svc.ListPatches(r.Context(), s.Actor, filter)
		if err != nil {
			if patchctl.ErrorCode(err) != patchctl.CodeInvalid {
				u.failed(w, r, err)
				return
			}
			f.fail(err, map[string]string{"limit": "offset", "offset": "offset"})
			status = http.StatusBadRequest
		} else {
			d.Result = res
			d.From, d.To = filter.Offset+1, filter.Offset+len(res.Patches)
			if filter.Offset > 0 {
				d.PrevURL = pageURL(q, max(0, filter.Offset-pageSize))
			}
			if res.More {
				d.NextURL = pageURL(q, filter.Offset+pageSize)
			}
		}
	} else {
		status = http.StatusBadRequest
	}
	u.renderList(w, r, s, "patches", "Patches", status, &d)
}

// pageURL is the list with the same filters at another offset.
func pageURL(q url.Values, offset int) string {
	v := url.Values{}
	for k, vs := range q {
		if k != "offset" {
			v[k] = vs
		}
	}
	if offset > 0 {
		v.Set("offset", strconv.Itoa(offset))
	}
	if len(v) == 0 {
		return "/patches"
	}
	return "/patches?" + v.Encode()
}

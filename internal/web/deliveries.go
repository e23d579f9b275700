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

// deliveriesPageSize is how many deliveries the page lists at a time.
const deliveriesPageSize = 50

// deliverySources are the senders of webhook deliveries.
var deliverySources = []string{"github", "argocd"}

// deliveryFilterFields are the list's filter inputs: what the list keeps
// when it moves to another page.
var deliveryFilterFields = []string{"status", "source", "event", "patch"}

// deliveriesData is the webhook deliveries page.
type deliveriesData struct {
	base
	Filter     *form
	Deliveries []store.Delivery
	Statuses   []string
	Sources    []string
	OlderURL   string
	NewestURL  string
}

// deliveries lists the recorded GitHub and Argo CD webhook deliveries,
// newest first, with filters (status, source, event, patch): what each
// changed, and the ones that matched nothing (unmatched) or failed.
func (u *UI) deliveries(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	q := r.URL.Query()
	f := newForm(q)
	filter := store.DeliveryFilter{Status: f.Get("status"), Source: f.Get("source"), Event: strings.TrimSpace(f.Get("event")),
		PatchKey: strings.TrimSpace(f.Get("patch")), Limit: deliveriesPageSize + 1}
	if filter.Source != "" && !slices.Contains(deliverySources, filter.Source) {
		f.Errors["source"] = "unknown source"
	}
	if filter.PatchKey != "" {
		id, err := patchctl.ParsePatchKey(filter.PatchKey)
		if err != nil {
			f.Errors["patch"] = "a patch id, e.g. PATCH-42"
		} else {
			filter.PatchKey = patchctl.PatchKey(id)
		}
	}
	if b := f.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			f.Errors["before"] = "not a page of the list"
		}
		filter.BeforeID = n
	}
	d := deliveriesData{Filter: f, Statuses: store.DeliveryStatuses, Sources: deliverySources}
	status := http.StatusOK
	if len(f.Errors) == 0 {
		ds, err := u.svc.Deliveries(r.Context(), s.Actor, filter)
		if err != nil {
			if patchctl.ErrorCode(err) != patchctl.CodeInvalid {
				u.failed(w, r, err)
				return
			}
			f.fail(err, map[string]string{"status": "status", "source": "source", "limit": "before"})
			status = http.StatusBadRequest
		}
		if len(ds) > deliveriesPageSize {
			ds = ds[:deliveriesPageSize]
			d.OlderURL = listURL("/deliveries", q, deliveryFilterFields, "before", strconv.FormatInt(ds[len(ds)-1].ID, 10))
		}
		if filter.BeforeID > 0 {
			d.NewestURL = listURL("/deliveries", q, deliveryFilterFields, "", "")
		}
		d.Deliveries = ds
	} else {
		status = http.StatusBadRequest
	}
	u.renderList(w, r, s, "deliveries", "Webhook deliveries", status, &d)
}

package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/app/apptest"
	"github.com/patchctl/patchctl/internal/store"
)

func TestDeliveriesPage(t *testing.T) {
	f := newFixture(t, apptest.Options{})
	p := f.appPatch("Upgrade libwebp", false)
	at := f.srv.Clock.Now()
	var unmatched store.Delivery
	f.must(f.srv.App.DB.InTx(f.ctx, func(tx *store.Tx) error {
		for i := range 60 {
			d := store.Delivery{Source: "github", DeliveryID: fmt.Sprintf("gh-%d", i), Event: "check_run", Action: "completed",
				ReceivedAt: at.Add(time.Duration(i) * time.Second), Status: store.DeliveryIgnored, Repository: "acme/storefront",
				Summary: fmt.Sprintf("check run %d: not a test run patchctl tracks", i)}
			if err := tx.SaveDelivery(f.ctx, &d); err != nil {
				return err
			}
		}
		for _, d := range []store.Delivery{
			{Source: "github", DeliveryID: "gh-pr", Event: "pull_request", Action: "opened", Status: store.DeliveryProcessed,
				PatchKeys: []string{p.Key}, Repository: "acme/storefront", Summary: p.Key + ": pull request #7 recorded"},
			{Source: "argocd", DeliveryID: "argo-1", Event: "argocd", Action: "on-deployed", Status: store.DeliveryUnmatched,
				Summary: "no patch ships revision 3f2a9c1 of storefront-staging"},
			{Source: "github", DeliveryID: "gh-bad", Event: "pull_request_review", Action: "submitted", Status: store.DeliveryFailed,
				Error: "the database is unavailable"},
		} {
			d.ReceivedAt = at.Add(time.Hour)
			if err := tx.SaveDelivery(f.ctx, &d); err != nil {
				return err
			}
			if d.Status == store.DeliveryUnmatched {
				unmatched = d
			}
		}
		return nil
	}))
	c := as(t, f.srv, patchctl.RoleViewer)
	l := c.get("/deliveries")
	if l.Status != http.StatusOK {
		t.Fatalf("deliveries: %d\n%s", l.Status, excerpt(l.Body))
	}
	l.mustContain(t, "Webhook deliveries", `<label for="d-status">Status</label>`, "unmatched", "no patch ships revision 3f2a9c1",
		`<a href="/patches/`+p.Key+`">`+p.Key+`</a>`, "the database is unavailable", "Argo CD", "Older →")
	for _, s := range store.DeliveryStatuses {
		l.mustContain(t, `<option value="`+s+`"`)
	}

	for _, c2 := range []struct {
		query     string
		want, not []string
	}{
		{"?status=unmatched", []string{"no patch ships revision"}, []string{"pull request #7", "check run"}},
		{"?source=argocd", []string{"on-deployed"}, []string{"pull request #7", "check run"}},
		{"?status=failed&source=github", []string{"the database is unavailable"}, []string{"no patch ships"}},
		{"?patch=" + strings.ToLower(p.Key), []string{"pull request #7"}, []string{"check run"}},
		{"?event=check_run", []string{"check run 59"}, []string{"pull request #7"}},
	} {
		r := c.get("/deliveries" + c2.query)
		if r.Status != http.StatusOK {
			t.Errorf("%s: %d", c2.query, r.Status)
		}
		r.mustContain(t, c2.want...)
		r.mustNotContain(t, c2.not...)
	}
	// Older deliveries, a page at a time.
	next := nextLink.FindStringSubmatch(l.Body)
	if next == nil {
		t.Fatal("no link to older deliveries")
	}
	older := c.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	older.mustContain(t, "check run 0:", "↑ Newest")
	older.mustNotContain(t, "no patch ships")

	// Bad filters come back with the error next to the field.
	r := c.get("/deliveries?status=lost&source=gitlab")
	if r.Status != http.StatusBadRequest {
		t.Errorf("bad filters: %d", r.Status)
	}
	r.mustContain(t, `id="d-source-error"`, "unknown source")
	r = c.get("/deliveries?status=lost")
	if r.Status != http.StatusBadRequest {
		t.Errorf("unknown status: %d", r.Status)
	}
	r.mustContain(t, `id="d-status-error"`, "is not a delivery status")
	r = c.get("/deliveries?status=unmatched", "HX-Request", "true", "HX-Target", "results")
	r.mustContain(t, `id="results"`, "no patch ships")
	r.mustNotContain(t, "<html")

	// One delivery.
	d := c.get(fmt.Sprintf("/deliveries/%d", unmatched.ID))
	d.mustContain(t, "Argo CD delivery", "argocd/on-deployed", "unmatched", "no patch ships revision 3f2a9c1", "Nothing patchctl knows matched this delivery", "argo-1")
	if d := c.get("/deliveries/99999"); d.Status != http.StatusNotFound {
		t.Errorf("missing delivery: %d", d.Status)
	}
}

// TestSignedOutNewPages: the findings, imports and deliveries pages and
// their forms lead to sign-in without a session, and change nothing.
func TestSignedOutNewPages(t *testing.T) {
	f := newFixture(t, apptest.Options{})
	c := newClient(t, f.srv.URL)
	for _, path := range []string{"/findings?kev=true", "/findings/1", "/imports", "/imports/1", "/deliveries?status=unmatched", "/deliveries/1"} {
		p := c.get(path)
		if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/signin?") || !strings.Contains(p.Location, "reason=signin") {
			t.Errorf("GET %s signed out: %d to %q", path, p.Status, p.Location)
		}
	}
	for _, path := range []string{"/findings/1/accept", "/findings/1/false-positive", "/findings/1/reopen"} {
		if p := c.post(path, url.Values{"csrf": {"x"}, "reason": {"r"}}); p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/signin?") {
			t.Errorf("POST %s signed out: %d to %q", path, p.Status, p.Location)
		}
	}
	p := c.upload("/imports", part{name: "csrf", value: "x"}, part{name: "report", file: "a.json", value: readCorpus(t, "trivy/alpine-310.json.golden")})
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/signin?") {
		t.Errorf("upload signed out: %d to %q", p.Status, p.Location)
	}
	if ims, _ := f.svc().RecentImports(f.ctx, f.actor(patchctl.RoleViewer), 0, 5); len(ims) != 0 {
		t.Errorf("%d imports after a signed-out upload", len(ims))
	}
}

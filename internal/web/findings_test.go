package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/app/apptest"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/intake"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

var (
	findingLink = regexp.MustCompile(`href="/findings/(\d+)"`)
	nextLink    = regexp.MustCompile(`href="([^"]+)" rel="next"`)
)

// importCorpus imports a corpus report through the intake as the engineer,
// as an upload would.
func (f *fixture) importCorpus(rel string) *intake.Summary {
	f.t.Helper()
	r, err := os.Open(corpus.Path(f.t, rel))
	f.must(err)
	defer r.Close()
	sum, err := f.srv.App.Intake.Import(f.ctx, f.actor(patchctl.RoleEngineer), r, intake.Options{Format: importer.FormatAuto, Source: rel})
	f.must(err)
	return sum
}

// findingsOf lists the findings of a filter through the service.
func (f *fixture) findingsOf(filter store.FindingFilter) []*patchctl.Finding {
	f.t.Helper()
	filter.Limit = 1000
	l, err := f.svc().ListFindings(f.ctx, f.actor(patchctl.RoleViewer), filter)
	f.must(err)
	return l.Findings
}

func TestFindingsList(t *testing.T) {
	f := newFixture(t, apptest.Options{})
	sum := f.importCorpus("trivy/alpine-310.json.golden")
	f.importCorpus("trivy/debian-buster.json.golden")
	kev := `{"catalogVersion":"2026.11.01","vulnerabilities":[{"cveID":"CVE-2019-1549","vendorProject":"OpenSSL","product":"OpenSSL",` +
		`"vulnerabilityName":"fork","dateAdded":"2026-10-01","shortDescription":"","requiredAction":"patch","dueDate":"2026-10-22","knownRansomwareCampaignUse":"Unknown","notes":""}]}`
	_, err := f.srv.App.Intake.ImportKEV(f.ctx, f.actor(patchctl.RoleEngineer), strings.NewReader(kev))
	f.must(err)
	c := as(t, f.srv, patchctl.RoleViewer)

	all := f.findingsOf(store.FindingFilter{States: []patchctl.FindingState{patchctl.FindingOpen}})
	p := c.get("/findings")
	if p.Status != http.StatusOK {
		t.Fatalf("findings: %d\n%s", p.Status, excerpt(p.Body))
	}
	p.mustContain(t, "CVE-2019-1549", "libcrypto1.1", "1.1.1d-r0", sum.Asset, strconv.Itoa(len(all))+" findings match", "KEV",
		`<option value="open" selected>open</option>`)
	p.mustNotContain(t, "Import a report") // a viewer imports nothing

	// Each filter keeps what it names, and the form shows it.
	for _, c2 := range []struct {
		query string
		want  []string
		not   []string
	}{
		{"?kev=true", []string{"CVE-2019-1549"}, []string{"CVE-2019-1551"}},
		{"?kev=false&severity=medium", []string{"CVE-2019-1551"}, []string{"CVE-2019-1549"}},
		{"?package=libssl1.1", []string{"libssl1.1"}, []string{"libcrypto1.1"}},
		{"?vuln=cve-2019-1551", []string{"CVE-2019-1551"}, []string{"CVE-2019-1549"}},
		{"?asset=" + url.QueryEscape(sum.Asset), []string{"CVE-2019-1551"}, nil},
		{"?asset=" + url.QueryEscape(sum.Asset[:8]+"*"), []string{"CVE-2019-1551"}, nil},
		{"?asset=nothing-like-it*", []string{"No finding matches these filters."}, []string{"CVE-2019-1551"}},
		{"?nofix=1&state=all", nil, []string{"CVE-2019-1549"}},
		{"?state=risk_accepted", []string{"No finding matches these filters."}, nil},
		{"?epss=0.5", []string{"No finding matches these filters."}, nil},
	} {
		p := c.get("/findings" + c2.query)
		if p.Status != http.StatusOK {
			t.Errorf("%s: %d\n%s", c2.query, p.Status, excerpt(p.Body))
			continue
		}
		p.mustContain(t, c2.want...)
		p.mustNotContain(t, c2.not...)
	}
	p = c.get("/findings?severity=critical&kev=true")
	p.mustContain(t, `<option value="critical" selected>critical</option>`, `<option value="true" selected>on KEV</option>`, "No finding matches")

	// The patch filter: the findings of one of the import's patches.
	key := sum.Patches[0]
	p = c.get("/findings?patch=" + strings.ToLower(key) + "&state=all")
	p.mustContain(t, `<a href="/patches/`+key+`">`+key+`</a>`)

	// Wrong filters come back with the error next to the field and the
	// input kept.
	p = c.get("/findings?epss=lots&package=libssl1.1&severity=urgent&patch=PR-9&state=gone")
	if p.Status != http.StatusBadRequest {
		t.Errorf("bad filters: %d", p.Status)
	}
	p.mustContain(t, `id="f-epss-error"`, "an EPSS score is a number from 0 to 1", `value="lots"`, `value="libssl1.1"`,
		`id="f-severity-error"`, `id="f-patch-error"`, `value="PR-9"`, `id="f-state-error"`, `aria-invalid="true"`)
	if p := c.get("/findings?after=somewhere"); p.Status != http.StatusBadRequest {
		t.Errorf("bad page: %d", p.Status)
	} else {
		p.mustContain(t, "not a page of the list")
	}

	// htmx replaces the results only.
	r := c.get("/findings?package=libssl1.1", "HX-Request", "true", "HX-Target", "results")
	r.mustContain(t, `id="results"`, "libssl1.1")
	r.mustNotContain(t, "<html", "Filter findings")
}

func TestFindingsPaging(t *testing.T) {
	f := newFixture(t, apptest.Options{})
	// Two builds of one image with 60 findings: two pages of 50.
	dir := t.TempDir()
	files, _, err := intake.GenerateReports(intake.BenchOptions{Assets: 2, Findings: 60, Groups: 1, Dir: dir,
		Templates: []string{corpus.Path(t, "trivy/alpine-310.json.golden")}})
	f.must(err)
	for _, p := range files {
		r, err := os.Open(p)
		f.must(err)
		_, err = f.srv.App.Intake.Import(f.ctx, f.actor(patchctl.RoleEngineer), r, intake.Options{Format: importer.FormatTrivy})
		r.Close()
		f.must(err)
	}
	c := as(t, f.srv, patchctl.RoleViewer)
	p := c.get("/findings?package=libgen1")
	p.mustContain(t, "showing 20")
	p.mustNotContain(t, "Next →")
	p = c.get("/findings")
	p.mustContain(t, "120 findings match", "showing 50", "Next →")
	seen := map[string]bool{}
	for page := 1; ; page++ {
		for _, m := range findingLink.FindAllStringSubmatch(p.Body, -1) {
			if seen[m[1]] {
				t.Fatalf("finding %s shown twice", m[1])
			}
			seen[m[1]] = true
		}
		next := nextLink.FindStringSubmatch(p.Body)
		if next == nil {
			if page != 3 {
				t.Errorf("%d pages, want 3", page)
			}
			break
		}
		p = c.get(strings.ReplaceAll(next[1], "&amp;", "&"))
		if page > 1 {
			p.mustContain(t, "↑ First page")
		}
	}
	if len(seen) != 120 {
		t.Errorf("%d findings over the pages, want 120", len(seen))
	}
}

func TestFindingPageAndRiskAcceptance(t *testing.T) {
	f := newFixture(t, apptest.Options{})
	sum := f.importCorpus("trivy/alpine-310.json.golden")
	fi := f.findingsOf(store.FindingFilter{VulnID: "CVE-2019-1551", Package: "libssl1.1"})[0]
	path := fmt.Sprintf("/findings/%d", fi.ID)

	// Everyone reads it: what, where, its patch; only leads and admins are
	// offered the decisions.
	for _, role := range []patchctl.Role{patchctl.RoleViewer, patchctl.RoleEngineer, patchctl.RoleOncall} {
		p := as(t, f.srv, role).get(path)
		if p.Status != http.StatusOK {
			t.Fatalf("%s: finding page %d", role, p.Status)
		}
		p.mustContain(t, "CVE-2019-1551", "libssl1.1", "1.1.1c-r0", "1.1.1d-r2", sum.Asset, `href="/patches/`+fi.PatchKey+`"`,
			"Upgrade libssl1.1 to 1.1.1d-r2", "Risk acceptance, false positives and reopening are decided by a team lead or an admin")
		p.mustNotContain(t, `action="`+path+`/accept"`, `action="`+path+`/false-positive"`)
	}
	lead := as(t, f.srv, patchctl.RoleLead)
	p := lead.get(path)
	p.mustContain(t, `action="`+path+`/accept"`, `action="`+path+`/false-positive"`, "Accept the risk", `type="date"`)
	p.mustNotContain(t, `action="`+path+`/reopen"`)

	// The server refuses what the page does not offer, with a message.
	eng := as(t, f.srv, patchctl.RoleEngineer)
	eng.get(path)
	exp := f.srv.Clock.Now().Add(30 * 24 * time.Hour).Format("2006-01-02")
	r := eng.post(path+"/accept", url.Values{"reason": {"not reachable"}, "accepted_until": {exp}})
	if r.Status != http.StatusForbidden {
		t.Errorf("engineer accepting a risk: %d, want 403", r.Status)
	}
	r.mustContain(t, "accepting a risk needs the role lead or admin; erin has engineer")
	r = eng.post(path+"/false-positive", url.Values{"reason": {"wrong package"}})
	if r.Status != http.StatusForbidden {
		t.Errorf("engineer marking a false positive: %d, want 403", r.Status)
	}
	// Without the CSRF token nothing happens.
	if r := lead.post(path+"/accept", url.Values{"reason": {"x"}, "accepted_until": {exp}, "csrf": {""}}); r.Status != http.StatusForbidden {
		t.Errorf("accept without CSRF token: %d, want 403", r.Status)
	}

	// Field errors next to the fields, input kept.
	lead.get(path)
	r = lead.post(path+"/accept", url.Values{"reason": {"  "}, "accepted_until": {""}})
	if r.Status != http.StatusBadRequest {
		t.Errorf("empty acceptance: %d, want 400", r.Status)
	}
	r.mustContain(t, "Check the form", `id="a-reason-error"`, "say why the risk may be accepted", `id="a-until-error"`, "choose the day the acceptance ends")
	r = lead.post(path+"/accept", url.Values{"reason": {"the parser is not reachable from the network"}, "accepted_until": {"2026-01-01"}})
	if r.Status != http.StatusBadRequest {
		t.Errorf("acceptance in the past: %d, want 400", r.Status)
	}
	r.mustContain(t, `id="a-until-error"`, "must be in the future", "the parser is not reachable from the network", `value="2026-01-01"`)
	r = lead.post(path+"/accept", url.Values{"reason": {"mitigated"}, "accepted_until": {"31/12/2026"}})
	r.mustContain(t, "a date, YYYY-MM-DD", `value="31/12/2026"`)
	r = lead.post(path+"/accept", url.Values{"reason": {"mitigated"}, "accepted_until": {f.srv.Clock.Now().AddDate(2, 0, 0).Format("2006-01-02")}})
	r.mustContain(t, "a risk acceptance lasts at most a year")

	// Accepted: the page says by whom, until when; the decision is in the
	// history and the form now offers reopening.
	r = lead.post(path+"/accept", url.Values{"reason": {"mitigated by the WAF rule 7"}, "accepted_until": {exp}})
	if r.Status != http.StatusSeeOther || r.Location != path {
		t.Fatalf("accept: %d to %q\n%s", r.Status, r.Location, excerpt(r.Body))
	}
	p = lead.follow(r)
	p.mustContain(t, "Risk of CVE-2019-1551 in libssl1.1 accepted until", "Risk accepted</strong> by lena", "mitigated by the WAF rule 7",
		"accepted the risk until", `action="`+path+`/reopen"`, "risk accepted")
	p.mustNotContain(t, `action="`+path+`/accept"`)
	if got := f.findingsOf(store.FindingFilter{States: []patchctl.FindingState{patchctl.FindingRiskAccepted}}); len(got) != 1 || got[0].ID != fi.ID {
		t.Errorf("accepted findings: %v", got)
	}
	// A second acceptance is refused as a message (the state moved on).
	r = lead.post(path+"/false-positive", url.Values{"reason": {"actually wrong"}})
	if r.Status != http.StatusConflict {
		t.Errorf("false positive of an accepted finding: %d, want 409", r.Status)
	}
	r.mustContain(t, "Not done", "reopen it first")

	// Reopen needs a reason; then the finding is open again.
	r = lead.post(path+"/reopen", url.Values{"reason": {""}})
	r.mustContain(t, `id="o-reason-error"`, "say why the finding is open again")
	r = lead.post(path+"/reopen", url.Values{"reason": {"the WAF rule was removed"}})
	lead.follow(r).mustContain(t, "is open again.", "the WAF rule was removed", `action="`+path+`/accept"`)

	// False positive.
	r = lead.post(path+"/false-positive", url.Values{"reason": {"the scanner matched the wrong package"}})
	p = lead.follow(r)
	p.mustContain(t, "marked as a false positive.", "Marked as a false positive</strong> by lena", "the scanner matched the wrong package")

	// History on the finding page, and the list by state.
	c := as(t, f.srv, patchctl.RoleViewer)
	c.get("/findings?state=false_positive").mustContain(t, "CVE-2019-1551", "false positive")
	if p := c.get("/findings/999999"); p.Status != http.StatusNotFound {
		t.Errorf("missing finding: %d", p.Status)
	}
	if p := c.get("/findings/abc"); p.Status != http.StatusNotFound {
		t.Errorf("bad finding id: %d", p.Status)
	}
}

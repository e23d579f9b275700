package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/app/apptest"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

// clickSearch clicks the element an XPath query finds and waits for the
// page it loads.
func (b *tab) clickSearch(xpath string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](`document.body.setAttribute("data-stale", "1")`),
		chromedp.Click(chromedp.Search(xpath), chromedp.NodeVisible),
		chromedp.WaitReady(chromedp.CSS(`body:not([data-stale])`)),
		chromedp.Poll[chromedp.Void](`document.readyState === "complete"`, chromedp.WithPollingTimeout(10*time.Second)))
}

func (b *tab) location() string {
	b.t.Helper()
	url, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return url
}

// TestBrowserImportWalk is issue 4's walk in a browser: sign in, upload a
// real Trivy report from the corpus, find a patch it created, be refused
// by a gate when advancing it, add the evidence with the forms and advance
// it to production (engineer, lead, on-call), roll it back as on-call, and
// check the timeline shows each step. Then the findings pages: the list,
// a finding, a risk acceptance refused for a missing date and then
// accepted by the lead; the imports page with a running import, and the
// webhook deliveries. Every new page is shot at laptop and phone width.
func TestBrowserImportWalk(t *testing.T) {
	srv := apptest.StartServer(t, apptest.Options{})
	ctx := context.Background()
	svc := srv.App.Service
	report := corpus.Path(t, "trivy/alpine-310.json.golden")
	b := newTab(t, srv.URL)
	step := func() { srv.Clock.Advance(3 * time.Minute) }

	b.signIn(srv.Tokens[patchctl.RoleEngineer])
	b.see("Open findings", "on CISA KEV")

	// Upload the report from the imports page.
	b.click(`.mainnav a[href="/imports"]`)
	b.see("Import a scanner report", "Report file", "detect from the file", "No report was imported yet.")
	b.shoot("imports-upload")
	b.do(chromedp.SetUploadFiles(chromedp.CSS("#i-report"), []string{report}))
	b.click("#import-submit")
	b.see("Imported alpine-310.json.golden: 4 findings, 4 new, 0 closed; 4 patches created, 0 updated.",
		"trivy", "detected from the file", "ghcr.io/aquasecurity/trivy-test-images:alpine-310",
		"Upgrade libssl1.1 to 1.1.1d-r2 in ghcr.io/aquasecurity/trivy-test-images")
	b.shoot("import-summary")

	// Open one of the patches it created.
	b.clickSearch(`//a[contains(@class, "patch-link")][contains(., "Upgrade libssl1.1 to 1.1.1d-r2")]`)
	url := b.location()
	key := url[strings.LastIndex(url, "/")+1:]
	b.see(key, "Upgrade libssl1.1 to 1.1.1d-r2", "draft", "CVE-2019-1551", "Findings this patch fixes")
	d, err := svc.Patch(ctx, patchctl.Actor{Name: "erin", Role: patchctl.RoleEngineer}, key)
	if err != nil {
		t.Fatal(err)
	}
	app := d.Patch.Target.Application
	// A previous stable version of the image's application in production:
	// what a rollback returns to.
	if _, err := svc.RecordStable(ctx, patchctl.Actor{Name: "lena", Role: patchctl.RoleLead},
		store.StableVersion{Subject: app, Environment: "production", Version: "1.1.1c-r0", Source: "baseline"}); err != nil {
		t.Fatal(err)
	}
	step()
	b.open("/patches/" + key)
	b.click("#advance")
	b.see(key+" moved from draft to in progress.", "Next step: in progress → in review")
	step()

	// Advancing past the branch and pull request gates is refused.
	b.click("#advance")
	b.see("Refused by", "dedicated_branch is missing")
	b.shoot("import-patch-refused")

	// The evidence, through the forms.
	b.walkToMerged(step, "https://github.com/acme/alpine-base/pull/31", "1.1.1d-r2")
	b.mergedToProduction(step, srv.Tokens[patchctl.RoleLead], key, "https://github.com/acme/alpine-base/actions/runs/4410", "1.1.1d-r2")
	b.see("A rollback returns production from 1.1.1d-r2 to 1.1.1c-r0")

	// On-call rolls back.
	b.signOut()
	b.signIn(srv.Tokens[patchctl.RoleOncall])
	b.open("/patches/" + key)
	b.fill("#r-severity", "sev2")
	b.fill("#r-reason", "TLS handshakes fail after the upgrade")
	b.click("#rollback-submit")
	b.see("Rollback decided: production returns to 1.1.1c-r0 (from 1.1.1d-r2).", "rolled back")
	b.see("created the patch", "moved it from draft to in progress", "recorded branch evidence", "recorded pull request evidence",
		"moved it from in progress to in review", "recorded review evidence", "recorded merge evidence", "moved it from in review to merged",
		"moved it from merged to staging", "recorded test run evidence", "recorded signoff evidence", "moved it from staging to validated",
		"moved it from validated to production", "recorded rollback evidence", "moved it from production to rolled back (rollback)",
		"sev2: TLS handshakes fail")
	b.shoot("import-patch-rolled-back")

	// More reports, so that the findings pages have something to show.
	for _, rel := range []string{"trivy/debian-buster.json.golden", "trivy/npm.json.golden", "trivy/centos-7.json.golden"} {
		fx := &fixture{t: t, srv: srv, ctx: ctx}
		fx.importCorpus(rel)
	}
	kev := `{"catalogVersion":"2026.11.01","vulnerabilities":[{"cveID":"CVE-2019-1549","vendorProject":"OpenSSL","product":"OpenSSL",` +
		`"vulnerabilityName":"OpenSSL fork-safety","dateAdded":"2026-10-01","shortDescription":"","requiredAction":"patch","dueDate":"2026-10-22","knownRansomwareCampaignUse":"Unknown","notes":""}]}`
	if _, err := srv.App.Intake.ImportKEV(ctx, patchctl.Actor{Name: "erin", Role: patchctl.RoleEngineer}, strings.NewReader(kev)); err != nil {
		t.Fatal(err)
	}

	// The findings: dashboard figures lead to the filtered list.
	b.signOut()
	b.signIn(srv.Tokens[patchctl.RoleLead])
	b.see("Open findings", "on CISA KEV")
	b.shoot("dashboard-findings")
	b.click(`a.tile-kev`)
	b.see("Findings", "CVE-2019-1549", "KEV")
	b.notSee("CVE-2019-1551")
	b.open("/findings")
	b.see("CVE-2019-1551", "libssl1.1", "findings match")
	b.shoot("findings")
	b.choose("#f-severity", "critical")
	b.see("critical")
	b.open("/findings?package=libssl1.1&vuln=CVE-2019-1551")
	b.clickSearch(`//table[contains(@class, "findings-table")]//a[contains(., "CVE-2019-1551")]`)
	b.see("CVE-2019-1551 in libssl1.1", "Patch", key, "Accept the risk", "History")
	b.shoot("finding")

	// Risk acceptance: refused without a date, the reason kept; then
	// accepted, in the history.
	b.fill("#a-reason", "TLS 1.3 only: the affected cipher is disabled")
	b.click("#accept-submit")
	b.see("Check the form", "choose the day the acceptance ends")
	if v, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("#a-reason").value`)); v != "TLS 1.3 only: the affected cipher is disabled" {
		t.Errorf("the reason was not kept: %q", v)
	}
	b.shoot("finding-accept-error")
	b.fill("#a-until", srv.Clock.Now().AddDate(0, 2, 0).Format("2006-01-02"))
	b.click("#accept-submit")
	b.see("accepted until", "Risk accepted by lena", "accepted the risk until", "Reopen")
	b.shoot("finding-accepted")

	// Imports: a running import as well as the finished ones.
	im := &store.Import{Format: "auto", Source: "registry-scan-2026-11-02.json.gz", Actor: "erin", StartedAt: srv.Clock.Now(), BytesTotal: 96 << 20}
	if err := srv.App.DB.StartImport(ctx, im); err != nil {
		t.Fatal(err)
	}
	if err := srv.App.DB.Exec(ctx, `UPDATE imports SET bytes_read = ?, records = ? WHERE id = ?`, 37<<20, 41873, im.ID); err != nil {
		t.Fatal(err)
	}
	srv.Clock.Advance(40 * time.Second)
	b.open("/imports")
	b.see("Recent imports", "alpine-310.json.golden", "running")
	b.shoot("imports")
	b.open(fmt.Sprintf("/imports/%d", im.ID))
	b.see("Importing…", "38%", "37 MiB of 96 MiB read")
	b.shoot("import-progress")

	// Webhook deliveries, with the ones that matched nothing.
	err = srv.App.DB.InTx(ctx, func(tx *store.Tx) error {
		for i, d := range []store.Delivery{
			{Source: "github", Event: "pull_request", Action: "opened", Status: store.DeliveryProcessed, PatchKeys: []string{key},
				Repository: "acme/alpine-base", Summary: key + ": pull request #31 recorded; moved to in review"},
			{Source: "github", Event: "check_run", Action: "completed", Status: store.DeliveryIgnored, Repository: "acme/alpine-base",
				Summary: "check run lint: not a test run patchctl tracks"},
			{Source: "argocd", Event: "argocd", Action: "on-deployed", Status: store.DeliveryUnmatched,
				Summary: "no patch ships revision 3f2a9c1 of payments-staging"},
			{Source: "github", Event: "pull_request", Action: "closed", Status: store.DeliveryUnmatched, Repository: "acme/unknown",
				Summary: "repository acme/unknown is not configured"},
			{Source: "github", Event: "pull_request_review", Action: "submitted", Status: store.DeliveryFailed, Repository: "acme/alpine-base",
				Error: "the database is unavailable; a redelivery is processed again"},
		} {
			d.DeliveryID = fmt.Sprintf("delivery-%d", i)
			d.ReceivedAt = srv.Clock.Now().Add(time.Duration(i-10) * time.Minute)
			if err := tx.SaveDelivery(ctx, &d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b.open("/deliveries")
	b.see("Webhook deliveries", "unmatched", "no patch ships revision 3f2a9c1", key)
	b.shoot("deliveries")
	b.choose("#d-status", "unmatched")
	b.see("repository acme/unknown is not configured")
	b.notSee("pull request #31 recorded")

	// Dark mode.
	b.dark(true)
	b.open("/findings")
	b.shoot("findings-dark")
	b.open(fmt.Sprintf("/imports/%d", im.ID-1))
	b.shoot("import-summary-dark")
	b.dark(false)
	b.checkProblems()
}

package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/app/apptest"
	"github.com/patchctl/patchctl/internal/demo"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/browser"
)

// tab drives one browser tab against the test server.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu       sync.Mutex
	problems []string // script errors and CSP violations seen by the browser
}

func newTab(t *testing.T, base string) *tab {
	b := &tab{t: t, ctx: browser.New(t), base: base}
	err := chromedp.Listen(b.ctx, func(ev any) {
		var msg string
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "script error: " + e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
		case *cdplog.EventEntryAdded:
			if strings.Contains(e.Entry.Text, "Content Security Policy") || e.Entry.Source == cdplog.EntrySourceJavascript {
				msg = string(e.Entry.Source) + ": " + e.Entry.Text
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.problems = append(b.problems, msg)
			b.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// do runs actions with a deadline, so that a missing element fails the test.
func (b *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v\npage:\n%s", err, b.bodyText())
	}
}

func (b *tab) bodyText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return s
}

func (b *tab) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base+path), chromedp.WaitReady(chromedp.CSS("body")),
		chromedp.Poll[chromedp.Void](`document.readyState === "complete"`, chromedp.WithPollingTimeout(10*time.Second)))
}

// click clicks an element that loads a new page, and waits for that page.
func (b *tab) click(sel string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](`document.body.setAttribute("data-stale", "1")`),
		chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible),
		chromedp.WaitReady(chromedp.CSS(`body:not([data-stale])`)),
		// The new body exists before the page finished loading.
		chromedp.Poll[chromedp.Void](`document.readyState === "complete"`, chromedp.WithPollingTimeout(10*time.Second)))
}

// fill sets the value of an input, looked up when it runs: htmx may have
// replaced the element since the page loaded.
func (b *tab) fill(sel, value string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%s).value = %s`, jsString(sel), jsString(value))))
}

// choose picks an option of a select and tells the page it changed, as a
// person's choice would (htmx listens to the change event), then waits for
// htmx to finish.
func (b *tab) choose(sel, value string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(function (el) { el.value = %s; el.dispatchEvent(new Event("change", {bubbles: true})) })(document.querySelector(%s))`,
		jsString(value), jsString(sel))),
		chromedp.Poll[chromedp.Void](`!document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling")`, chromedp.WithPollingTimeout(10*time.Second)))
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// see fails unless the page shows every text (ignoring case: CSS
// uppercases some headings).
func (b *tab) see(texts ...string) {
	b.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		body := b.bodyText()
		missing := ""
		for _, s := range texts {
			if !strings.Contains(strings.ToLower(body), strings.ToLower(s)) {
				missing = s
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("the page does not show %q:\n%s", missing, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *tab) notSee(texts ...string) {
	b.t.Helper()
	body := strings.ToLower(b.bodyText())
	for _, s := range texts {
		if strings.Contains(body, strings.ToLower(s)) {
			b.t.Fatalf("the page shows %q:\n%s", s, body)
		}
	}
}

// shoot saves full-page screenshots at laptop and phone width.
func (b *tab) shoot(name string) {
	b.t.Helper()
	b.do(chromedp.EmulateViewport(1280, 800))
	browser.Screenshot(b.t, b.ctx, name)
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	browser.Screenshot(b.t, b.ctx, name+"-phone")
	b.do(chromedp.EmulateViewport(1280, 800))
}

// dark switches the page's prefers-color-scheme.
func (b *tab) dark(on bool) {
	b.t.Helper()
	scheme := "light"
	if on {
		scheme = "dark"
	}
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	}))
}

func (b *tab) signIn(token string) {
	b.t.Helper()
	b.open("/signin")
	b.fill("#token", token)
	b.click(`form[action="/signin"] button[type=submit]`)
	b.see("Signed in as")
}

func (b *tab) signOut() {
	b.t.Helper()
	b.click(`form.signout button`)
	b.see("You are signed out.")
}

func (b *tab) checkProblems() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("browser reported: %s", p)
	}
	b.problems = nil
}

// TestBrowserPatchWalk signs in with a token, creates a patch, is refused
// by a gate, records evidence with the forms, walks the patch to production
// switching between engineer, lead and on-call, rolls it back as on-call,
// checks the timeline, signs out, and screenshots every page at laptop and
// phone width.
// walkToMerged records a patch's branch, pull request, review and merge
// through the evidence forms and advances it from in progress to merged.
func (b *tab) walkToMerged(step func(), pr, version string) {
	b.t.Helper()
	// Branch: the form offers the kind the next gate misses, prefilled.
	b.click("#evidence-submit")
	b.see("Recorded branch evidence.")
	step()
	// Pull request: the kind's fields come with htmx.
	b.choose("#ev-kind", "pull_request")
	b.do(chromedp.WaitVisible(chromedp.CSS("#ev-subject")))
	b.fill("#ev-ref", pr)
	b.fill("#ev-subject", "erin")
	b.click("#evidence-submit")
	b.see("Recorded pull request evidence.")
	step()
	b.click("#advance")
	b.see("moved from in progress to in review")

	// Review and merge, from the gates' links.
	b.click(`a.gate-help[href*="evidence=review"]`)
	b.fill("#ev-subject", "lena")
	b.click("#evidence-submit")
	b.see("Recorded review evidence.")
	step()
	b.click(`a.gate-help[href*="evidence=merge"]`)
	b.fill("#ev-version", version)
	b.fill("#ev-ref", pr)
	b.click("#evidence-submit")
	b.see("Recorded merge evidence.")
	step()
	b.click("#advance")
	b.see("moved from in review to merged")
}

// mergedToProduction deploys a merged patch to staging with its tests,
// is refused without a sign-off, signs in as the lead to sign off, and
// takes the patch to production.
func (b *tab) mergedToProduction(step func(), leadToken, key, testRun, version string) {
	b.t.Helper()
	// Staging: deployment (environment and version prefilled), then tests.
	b.click("#evidence-submit")
	b.see("Recorded deployment evidence.")
	step()
	b.click("#advance")
	b.see("moved from merged to staging")
	b.fill("#ev-ref", testRun)
	b.click("#evidence-submit")
	b.see("Recorded test run evidence.")
	step()
	b.click("#advance")
	b.see("Refused by 1 gate", "manual_signoff is missing")

	// The lead signs off the validation.
	b.signOut()
	b.signIn(leadToken)
	b.open("/patches/" + key)
	b.see("Validation sign-off")
	b.click("#signoff-submit")
	b.see("Signed off version " + version + " on staging.")
	step()
	b.click("#advance")
	b.see("moved from staging to validated")

	// Production.
	b.click("#evidence-submit")
	b.see("Recorded deployment evidence.")
	step()
	b.click("#advance")
	b.see("moved from validated to production")
}

func TestBrowserPatchWalk(t *testing.T) {
	srv := apptest.StartServer(t, apptest.Options{})
	ctx := context.Background()
	if err := demo.Seed(ctx, srv.App.DB, srv.App.Policy, srv.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	lena := patchctl.Actor{Name: "lena", Role: patchctl.RoleLead}
	if _, err := srv.App.Service.RecordStable(ctx, lena, store.StableVersion{Subject: "storefront", Environment: "production", Version: "v2.3.0", Source: "baseline"}); err != nil {
		t.Fatal(err)
	}
	srv.Clock.Advance(time.Minute)
	b := newTab(t, srv.URL)
	step := func() { srv.Clock.Advance(3 * time.Minute) } // evidence and steps at distinct times

	// Signed out, every page leads to sign-in.
	b.open("/")
	b.see("Sign in to patchctl", "Sign in to continue.")
	b.shoot("signin")
	b.fill("#token", "pct_wrong")
	b.click(`form[action="/signin"] button[type=submit]`)
	b.see("the token is unknown, revoked or expired")

	b.signIn(srv.Tokens[patchctl.RoleEngineer])
	b.see("Dashboard", "Open patches by priority", "SLA compliance", "Halted rollouts", "Recent activity", "erin", "engineer")
	b.shoot("dashboard")

	// Create a patch without a trigger.
	b.click(`a[href="/patches/new"]`)
	b.see("New patch")
	b.shoot("new-patch")
	// An empty form comes back with the errors next to the fields.
	b.fill("#n-description", "libwebp heap overflow in image decoding")
	b.click(`form.form-new button[type=submit]`)
	b.see("Check the form", "a title is required", "name the application the patch changes")
	if v, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("#n-description").value`)); v != "libwebp heap overflow in image decoding" {
		t.Errorf("the description was not kept: %q", v)
	}
	b.shoot("new-patch-errors")
	b.fill("#n-title", "Upgrade libwebp to 1.3.2 in storefront")
	b.fill("#n-application", "storefront")
	b.fill("#n-repository", "acme/storefront")
	b.click(`form.form-new button[type=submit]`)
	b.see("Created PATCH-", "Upgrade libwebp to 1.3.2 in storefront", "Next step: draft → in progress", "has_trigger")
	url, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	key := url[strings.LastIndex(url, "/")+1:]

	// Advancing past the has_trigger gate is refused, with what is missing.
	b.click("#advance")
	b.see("Refused by 1 gate", "has_trigger is missing: link the vulnerability", "Link a trigger")
	b.shoot("patch-refused")

	b.fill("#l-ref", "CVE-2023-4863")
	b.fill("#l-cvss", "8.8")
	b.click("#link-submit")
	b.see("Linked CVE-2023-4863.")
	step()
	b.click("#advance")
	b.see(key+" moved from draft to in progress.", "Next step: in progress → in review")

	b.walkToMerged(step, "https://github.com/acme/storefront/pull/812", "v2.4.0")
	b.see("v2.4.0")
	b.mergedToProduction(step, srv.Tokens[patchctl.RoleLead], key, "https://github.com/acme/storefront/actions/runs/9912", "v2.4.0")
	b.see("A rollback returns production from v2.4.0 to v2.3.0")
	b.shoot("patch-production")

	// An engineer is not offered the rollback.
	b.signOut()
	b.signIn(srv.Tokens[patchctl.RoleEngineer])
	b.open("/patches/" + key)
	b.see("Rollbacks are decided by the on-call engineer or a team lead")
	b.notSee("Decide rollback")

	// On-call rolls back and sees the version it returns to.
	b.signOut()
	b.signIn(srv.Tokens[patchctl.RoleOncall])
	b.open("/patches/" + key)
	b.see("A rollback returns production from v2.4.0 to v2.3.0, the previous stable version.", "Decide rollback to v2.3.0")
	b.fill("#r-severity", "sev2")
	b.fill("#r-reason", "image decoding crashes on product pages")
	b.click("#rollback-submit")
	b.see("Rollback decided: production returns to v2.3.0 (from v2.4.0).", "rolled back")

	// The timeline shows every step.
	b.see("created the patch", "linked vulnerability CVE-2023-4863",
		"moved it from draft to in progress", "recorded branch evidence", "recorded pull request evidence",
		"moved it from in progress to in review", "recorded review evidence", "recorded merge evidence",
		"moved it from in review to merged", "moved it from merged to staging", "recorded test run evidence",
		"recorded signoff evidence", "moved it from staging to validated", "moved it from validated to production",
		"recorded rollback evidence", "moved it from production to rolled back (rollback)", "sev2: image decoding crashes")
	b.shoot("patch-rolled-back")

	// The other pages.
	b.open("/patches")
	b.see("Patches", key, "Upgrade libwebp")
	b.shoot("patches")
	b.open("/patches?kind=application&state=all")
	b.see(key)
	b.open("/patches/board?kind=application")
	b.see("Board", "in review", "rolled back")
	b.shoot("board")
	b.open("/patches/board?kind=kubernetes")
	b.see("soaking")
	b.shoot("board-kubernetes")
	// The halted demo rollout, with its decision form.
	b.open("/patches?q=containerd&state=all")
	b.click(`a.patch-link`)
	b.see("Rollout halted", "Rollout waves", "Decide on the halted rollout")
	b.shoot("patch-halted")
	b.open("/audit")
	b.see("Audit log", "Chain intact", "session.sign_in")
	b.shoot("audit")

	// Dark mode follows the system's preference.
	b.dark(true)
	b.open("/patches/" + key)
	b.shoot("patch-dark")
	b.open("/")
	b.shoot("dashboard-dark")
	b.dark(false)

	// With a few thousand patches the pages keep their shape.
	if err := demo.Bulk(ctx, srv.App.DB, srv.App.Policy, 3000, srv.Clock.Now(), 7); err != nil {
		t.Fatal(err)
	}
	b.open("/")
	b.see("SLA compliance")
	b.shoot("dashboard-busy")
	b.open("/patches/board?kind=kubernetes")
	b.shoot("board-busy")
	b.open("/patches?overdue=1")
	b.see("Next →")
	b.shoot("patches-busy")

	b.signOut()
	b.open("/")
	b.see("Sign in to continue.")
	b.checkProblems()
}

package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/app/apptest"
	"github.com/patchctl/patchctl/internal/lifecycle"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/web"
)

func TestSignedOutRequestsGoToSignIn(t *testing.T) {
	f := newFixture(t, apptest.Options{})
	c := newClient(t, f.srv.URL)
	for path, next := range map[string]string{
		"/":                          "/",
		"/patches?kind=application":  "/patches?kind=application",
		"/patches/PATCH-1":           "/patches/PATCH-1",
		"/audit":                     "/audit",
		"/patches/board?kind=kubern": "/patches/board?kind=kubern",
	} {
		p := c.get(path)
		u, _ := url.Parse(p.Location)
		if p.Status != http.StatusSeeOther || u.Path != "/signin" || u.Query().Get("next") != next || u.Query().Get("reason") != "signin" {
			t.Errorf("GET %s signed out: %d to %q, want the sign-in page coming back to %s", path, p.Status, p.Location, next)
		}
	}
	// A form sent without a session goes to sign-in too, and does nothing.
	p := c.post("/patches/PATCH-1/transition", url.Values{"csrf": {"x"}})
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/signin?") {
		t.Errorf("POST signed out: %d to %q", p.Status, p.Location)
	}
	// htmx asks for a full-page redirect rather than a fragment.
	p = c.get("/?fragment=sla", "HX-Request", "true")
	if p.Status != http.StatusUnauthorized || !strings.HasPrefix(p.Header.Get("HX-Redirect"), "/signin?") {
		t.Errorf("htmx poll signed out: %d, HX-Redirect %q", p.Status, p.Header.Get("HX-Redirect"))
	}
	// The sign-in page comes back to where the person was going.
	c.get("/signin?next=%2Fpatches%3Fkind%3Dapplication")
	p = c.post("/signin", url.Values{"token": {f.srv.Tokens[patchctl.RoleViewer]}, "next": {"/patches?kind=application"}})
	if p.Status != http.StatusSeeOther || p.Location != "/patches?kind=application" {
		t.Errorf("sign in with next: %d to %q", p.Status, p.Location)
	}
	// Only local paths are accepted as next.
	c2 := newClient(t, f.srv.URL)
	c2.get("/signin")
	p = c2.post("/signin", url.Values{"token": {f.srv.Tokens[patchctl.RoleViewer]}, "next": {"//evil.example/x"}})
	if p.Location != "/" {
		t.Errorf("next //evil.example/x: redirected to %q, want /", p.Location)
	}
}

func TestSignInAndOut(t *testing.T) {
	f := newFixture(t, apptest.Options{})
	c := newClient(t, f.srv.URL)
	p := c.get("/signin?reason=signin")
	if p.Status != http.StatusOK {
		t.Fatalf("sign-in page: %d", p.Status)
	}
	p.mustContain(t, "Sign in to continue.", `<label for="token">API token</label>`)

	// A wrong token: the page says so next to the field and does not echo
	// the token back.
	p = c.post("/signin", url.Values{"token": {"pct_notatokenatall"}})
	if p.Status != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", p.Status)
	}
	p.mustContain(t, "the token is unknown, revoked or expired", `id="token-error"`, `aria-invalid="true"`)
	p.mustNotContain(t, "pct_notatokenatall")

	// The sign-in form has its own CSRF token (a cookie and a field).
	p = c.post("/signin", url.Values{"token": {f.srv.Tokens[patchctl.RoleEngineer]}, "csrf": {""}})
	if p.Status != http.StatusForbidden {
		t.Errorf("sign-in without its CSRF token: %d, want 403", p.Status)
	}
	p.mustContain(t, "Form refused")
	p = c.post("/signin", url.Values{"token": {f.srv.Tokens[patchctl.RoleEngineer]}, "csrf": {"forged"}})
	if p.Status != http.StatusForbidden {
		t.Errorf("sign-in with a forged CSRF token: %d, want 403", p.Status)
	}
	// Another site cannot post the sign-in form, even with the right token.
	c.get("/signin")
	p = c.post("/signin", url.Values{"token": {f.srv.Tokens[patchctl.RoleEngineer]}}, "Sec-Fetch-Site", "cross-site")
	if p.Status != http.StatusForbidden {
		t.Errorf("cross-site sign-in: %d, want 403", p.Status)
	}
	p.mustContain(t, "sent from another site")

	c.get("/signin")
	p = c.post("/signin", url.Values{"token": {f.srv.Tokens[patchctl.RoleEngineer]}, "next": {"/"}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("sign in: %d\n%s", p.Status, excerpt(p.Body))
	}
	var session *http.Cookie
	for _, ck := range (&http.Response{Header: p.Header}).Cookies() {
		if ck.Name == "patchctl_session" && ck.Value != "" {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" || session.Secure {
		t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Lax, Path=/ (not Secure over plain HTTP)", session)
	}
	if strings.HasPrefix(session.Value, "pct_") || session.Value == f.srv.Tokens[patchctl.RoleEngineer] {
		t.Error("the session cookie holds the API token")
	}
	p = c.follow(p)
	p.mustContain(t, "Signed in as erin (engineer).", `<span class="who-name">erin</span>`, `role-engineer`)

	// Sign-in and sign-out are in the audit log with the token's holder.
	ev, _ := f.svc().AuditEvents(f.ctx, f.actor(patchctl.RoleViewer), store.AuditFilter{Action: "session.sign_in", Actor: "erin"})
	if len(ev) != 1 {
		t.Errorf("sign-in events of erin: %d, want 1", len(ev))
	}
	p = c.post("/signout", nil)
	if p.Status != http.StatusSeeOther || p.Location != "/signin?reason=signedout" {
		t.Fatalf("sign out: %d to %q", p.Status, p.Location)
	}
	c.follow(p).mustContain(t, "You are signed out.")
	ev, _ = f.svc().AuditEvents(f.ctx, f.actor(patchctl.RoleViewer), store.AuditFilter{Action: "session.sign_out", Actor: "erin"})
	if len(ev) != 1 {
		t.Errorf("sign-out events of erin: %d, want 1", len(ev))
	}
	if n, _ := f.srv.App.DB.Read().CountSessions(f.ctx, 0); n != 0 {
		t.Errorf("%d sessions stored after signing out, want 0", n)
	}
	// The old cookie no longer works, even if a browser kept it.
	old := newClient(t, f.srv.URL)
	u, _ := url.Parse(f.srv.URL)
	old.http.Jar.SetCookies(u, []*http.Cookie{{Name: "patchctl_session", Value: session.Value}})
	if p := old.get("/"); p.Status != http.StatusSeeOther || !strings.Contains(p.Location, "reason=ended") {
		t.Errorf("old session cookie after sign-out: %d to %q", p.Status, p.Location)
	}
}

func TestSessionEnds(t *testing.T) {
	f := newFixture(t, apptest.Options{})
	idle := as(t, f.srv, patchctl.RoleEngineer)
	f.srv.Clock.Advance(service.SessionIdle + time.Minute)
	p := idle.get("/patches")
	if p.Status != http.StatusSeeOther || !strings.Contains(p.Location, "reason=idle") {
		t.Fatalf("idle session: %d to %q", p.Status, p.Location)
	}
	idle.follow(p).mustContain(t, "Your session ended after 8 hours without use. Sign in again.")

	// Revoking the token ends its sessions at once.
	c := as(t, f.srv, patchctl.RoleOncall)
	toks, err := f.svc().Tokens(f.ctx, f.actor(patchctl.RoleAdmin), false)
	f.must(err)
	for _, tok := range toks {
		if tok.Name == "otto" {
			_, err := f.svc().RevokeToken(f.ctx, f.actor(patchctl.RoleAdmin), tok.ID)
			f.must(err)
		}
	}
	p = c.get("/")
	if p.Status != http.StatusSeeOther || !strings.Contains(p.Location, "reason=revoked") {
		t.Fatalf("session of a revoked token: %d to %q", p.Status, p.Location)
	}
	c.follow(p).mustContain(t, "Your session ended because its API token was revoked or expired.")
	// Crafted reasons show nothing but the fixed messages.
	newClient(t, f.srv.URL).get("/signin?reason=%3Cb%3Ecall+us%3C%2Fb%3E").mustNotContain(t, "call us")
}

func TestSecureCookiesOverTLS(t *testing.T) {
	f := newFixture(t, apptest.Options{})
	ui, err := web.New(f.svc(), web.Options{TLS: true})
	f.must(err)
	ts := httptest.NewTLSServer(ui.Handler())
	defer ts.Close()
	c := newClient(t, ts.URL)
	c.http.Transport = ts.Client().Transport
	p := c.get("/signin")
	p = c.post("/signin", url.Values{"token": {f.srv.Tokens[patchctl.RoleViewer]}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("sign in over TLS: %d\n%s", p.Status, excerpt(p.Body))
	}
	var found bool
	for _, ck := range (&http.Response{Header: p.Header}).Cookies() {
		if ck.Name == "patchctl_session" {
			t.Error("over TLS the session cookie must carry the __Host- prefix")
		}
		if ck.Name == "__Host-patchctl_session" && ck.Value != "" {
			found = true
			if !ck.Secure || !ck.HttpOnly || ck.Path != "/" || ck.Domain != "" {
				t.Errorf("__Host- cookie = %+v, want Secure, HttpOnly, Path=/ and no Domain", ck)
			}
		}
	}
	if !found {
		t.Fatal("no __Host-patchctl_session cookie over TLS")
	}
	if p := c.follow(p); p.Status != http.StatusOK || p.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("dashboard over TLS: %d, HSTS %q", p.Status, p.Header.Get("Strict-Transport-Security"))
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t, apptest.Options{})
	c := as(t, f.srv, patchctl.RoleViewer)
	for _, path := range []string{"/", "/signin", "/patches", "/static/app.css"} {
		p := c.get(path)
		csp := p.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows inline or eval: %q", path, csp)
		}
		for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"} {
			if got := p.Header.Get(h); got != want {
				t.Errorf("%s: %s = %q, want %q", path, h, got, want)
			}
		}
	}
	if cc := c.get("/").Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("dashboard Cache-Control = %q, want no-store", cc)
	}
	// Pages use no inline script or style the CSP would block.
	for _, path := range []string{"/", "/patches", "/patches/board", "/audit", "/patches/new"} {
		p := c.get(path)
		p.mustNotContain(t, "<script>", " style=\"", "onclick=", "<style")
	}
	if p := c.get("/static/VENDORED.md"); p.Status != http.StatusNotFound {
		t.Errorf("static/VENDORED.md served: %d", p.Status)
	}
}

func TestCSRF(t *testing.T) {
	f := newFixture(t, apptest.Options{})
	p := f.appPatch("Patch for CSRF", false)
	c := as(t, f.srv, patchctl.RoleLead)
	c.get("/patches/" + p.Key)
	for name, form := range map[string]url.Values{
		"missing": {"csrf": {""}},
		"wrong":   {"csrf": {"not-the-token"}},
	} {
		resp := c.post("/patches/"+p.Key+"/transition", form)
		if resp.Status != http.StatusForbidden {
			t.Errorf("%s CSRF token: %d, want 403", name, resp.Status)
		}
		resp.mustContain(t, "Form refused", "security token")
	}
	// Another session's token does not do either.
	other := as(t, f.srv, patchctl.RoleEngineer)
	other.get("/patches/" + p.Key)
	if resp := c.post("/patches/"+p.Key+"/transition", url.Values{"csrf": {other.csrf}}); resp.Status != http.StatusForbidden {
		t.Errorf("another session's CSRF token: %d, want 403", resp.Status)
	}
	// A browser that says the form came from another site is refused.
	c.get("/patches/" + p.Key)
	resp := c.post("/patches/"+p.Key+"/transition", nil, "Sec-Fetch-Site", "cross-site")
	if resp.Status != http.StatusForbidden {
		t.Errorf("cross-site form: %d, want 403", resp.Status)
	}
	if d, _ := f.svc().Patch(f.ctx, f.actor(patchctl.RoleViewer), p.Key); d.Patch.State != patchctl.StateDraft {
		t.Fatalf("a refused form moved the patch to %s", d.Patch.State)
	}
	// With the token, the same form works.
	c.get("/patches/" + p.Key)
	resp = c.post("/patches/"+p.Key+"/transition", nil)
	if resp.Status != http.StatusSeeOther {
		t.Fatalf("transition with the CSRF token: %d\n%s", resp.Status, excerpt(resp.Body))
	}
	c.follow(resp).mustContain(t, p.Key+" moved from draft to in progress.")
	// Sign-out is a form too.
	if resp := c.post("/signout", url.Values{"csrf": {""}}); resp.Status != http.StatusForbidden {
		t.Errorf("sign-out without the CSRF token: %d, want 403", resp.Status)
	}
}

func TestGateRefusalIsShown(t *testing.T) {
	f := newFixture(t, apptest.Options{})
	p := f.appPatch("Bare patch", true)
	c := as(t, f.srv, patchctl.RoleEngineer)
	page := c.get("/patches/" + p.Key)
	page.mustContain(t, "Next step: draft → in progress", "has_trigger", "link the vulnerability", "Link a trigger")
	resp := c.post("/patches/"+p.Key+"/transition", url.Values{"to": {"in_progress"}, "note": {"starting"}})
	if resp.Status != http.StatusConflict {
		t.Fatalf("advance past has_trigger: %d, want 409", resp.Status)
	}
	resp.mustContain(t, "Cannot move to in progress: refused by 1 gate", "cannot go from draft to in_progress: refused by gate has_trigger",
		"has_trigger</strong> is missing: link the vulnerability (CVE, GHSA, GO, OSV id), finding or issue URL that triggered the patch",
		"All patches are linked to the relevant issue or vulnerability", `value="starting"`)

	// Evidence at another gate: the refusal names exactly what is missing.
	f.must(nil)
	_, err := f.svc().AddLink(f.ctx, f.actor(patchctl.RoleEngineer), p.Key, patchctl.Link{Type: patchctl.LinkVulnerability, Ref: "CVE-2024-1234"})
	f.must(err)
	f.advance(p.Key)
	c.get("/patches/" + p.Key)
	resp = c.post("/patches/"+p.Key+"/transition", nil)
	resp.mustContain(t, "Refused by 2 gates", "dedicated_branch", "pull_request_open", "Record the branch")
	resp = c.post("/patches/"+p.Key+"/evidence", url.Values{"kind": {"branch"}, "fields_for": {"branch"}, "ref": {patchctl.BranchName(p.Key, p.Title)}})
	if resp.Status != http.StatusSeeOther {
		t.Fatalf("branch evidence: %d\n%s", resp.Status, excerpt(resp.Body))
	}
	c.follow(resp).mustContain(t, "Recorded branch evidence.", "✓")
	resp = c.post("/patches/"+p.Key+"/transition", nil)
	resp.mustContain(t, "Refused by 1 gate", "pull_request_open")
	resp.mustNotContain(t, "dedicated_branch</strong> is missing")
}

func TestRolesDecideActions(t *testing.T) {
	f := newFixture(t, apptest.Options{})
	p := f.appPatch("Role test", false)
	f.toProduction(p.Key, "v2.4.0")
	stuck := f.appPatch("Stuck patch", true) // draft without trigger: not ready
	page := func(role patchctl.Role, key string) *page {
		return as(t, f.srv, role).get("/patches/" + key)
	}

	v := page(patchctl.RoleViewer, p.Key)
	v.mustContain(t, "Roll back", "returns <strong>production</strong> from <strong>v2.4.0</strong> to")
	v.mustNotContain(t, `action="/patches/`+p.Key+`/transition"`, `action="/patches/`+p.Key+`/rollback"`, `action="/patches/`+p.Key+`/evidence"`, "New patch")

	e := page(patchctl.RoleEngineer, p.Key)
	e.mustContain(t, `action="/patches/`+p.Key+`/transition"`, `action="/patches/`+p.Key+`/evidence"`,
		"Rollbacks are decided by the on-call engineer or a team lead")
	e.mustNotContain(t, `action="/patches/`+p.Key+`/rollback"`)
	page(patchctl.RoleEngineer, stuck.Key).mustNotContain(t, `action="/patches/`+stuck.Key+`/override"`)

	o := page(patchctl.RoleOncall, p.Key)
	o.mustContain(t, `action="/patches/`+p.Key+`/rollback"`, "Decide rollback to v2.3.0", `<strong class="to-version">v2.3.0</strong>`)
	page(patchctl.RoleOncall, stuck.Key).mustNotContain(t, `action="/patches/`+stuck.Key+`/override"`)

	page(patchctl.RoleLead, stuck.Key).mustContain(t, `action="/patches/`+stuck.Key+`/override"`, "Override the refusing gates")
	page(patchctl.RoleLead, p.Key).mustContain(t, `action="/patches/`+p.Key+`/rollback"`)

	// The server refuses what the page does not offer.
	eng := as(t, f.srv, patchctl.RoleEngineer)
	eng.get("/patches/" + p.Key)
	resp := eng.post("/patches/"+p.Key+"/rollback", url.Values{"severity": {"sev2"}, "reason": {"checkout broken"}})
	if resp.Status != http.StatusForbidden {
		t.Errorf("engineer rollback: %d, want 403", resp.Status)
	}
	resp.mustContain(t, "deciding a rollback needs the role oncall or lead; erin has engineer")
	resp = eng.post("/patches/"+stuck.Key+"/override", url.Values{"justification": {"because I say so, really"}, "to": {"in_progress"}})
	if resp.Status != http.StatusForbidden {
		t.Errorf("engineer override: %d, want 403", resp.Status)
	}
	resp.mustContain(t, "overriding a gate needs the role lead or admin; erin has engineer")
	viewer := as(t, f.srv, patchctl.RoleViewer)
	viewer.get("/patches/" + stuck.Key)
	resp = viewer.post("/patches/"+stuck.Key+"/links", url.Values{"type": {"vulnerability"}, "ref": {"CVE-2024-1111"}})
	if resp.Status != http.StatusForbidden {
		t.Errorf("viewer linking: %d, want 403", resp.Status)
	}
	resp.mustContain(t, "linking triggers needs the role")
	if resp := viewer.get("/patches/new"); resp.Status != http.StatusForbidden {
		t.Errorf("viewer new patch page: %d, want 403", resp.Status)
	}
	if d, _ := f.svc().Patch(f.ctx, f.actor(patchctl.RoleViewer), p.Key); d.Patch.State != patchctl.StateProduction {
		t.Errorf("after refused rollbacks the patch is %s", d.Patch.State)
	}

	// On-call decides the rollback; the page says where it returned.
	oc := as(t, f.srv, patchctl.RoleOncall)
	oc.get("/patches/" + p.Key)
	resp = oc.post("/patches/"+p.Key+"/rollback", url.Values{"severity": {"sev2"}, "reason": {"checkout errors"}, "environment": {"production"}})
	if resp.Status != http.StatusSeeOther {
		t.Fatalf("on-call rollback: %d\n%s", resp.Status, excerpt(resp.Body))
	}
	oc.follow(resp).mustContain(t, "Rollback decided: production returns to v2.3.0 (from v2.4.0).", "rolled back", "sev2: checkout errors")

	// A lead overrides with a justification; it stays marked.
	lead := as(t, f.srv, patchctl.RoleLead)
	lead.get("/patches/" + stuck.Key)
	resp = lead.post("/patches/"+stuck.Key+"/override", url.Values{"justification": {"tracked in INC-42 before the CVE was assigned"}, "to": {"in_progress"}})
	if resp.Status != http.StatusSeeOther {
		t.Fatalf("lead override: %d\n%s", resp.Status, excerpt(resp.Body))
	}
	lead.follow(resp).mustContain(t, "Override of has_trigger recorded.", "Overrides", "tracked in INC-42 before the CVE was assigned")
}

func TestFormsKeepInputAndShowFieldErrors(t *testing.T) {
	f := newFixture(t, apptest.Options{})
	c := as(t, f.srv, patchctl.RoleEngineer)
	c.get("/patches/new")
	resp := c.post("/patches", url.Values{"title": {""}, "kind": {"application"}, "application": {""}, "description": {"keep this text"},
		"repository": {"acme/storefront"}, "link_ref": {"CVE-2024-3094"}, "cvss": {"ten"}})
	if resp.Status != http.StatusBadRequest {
		t.Fatalf("empty new patch: %d", resp.Status)
	}
	resp.mustContain(t, `id="n-title-error"`, "a title is required", `id="n-application-error"`, "name the application",
		`id="n-cvss-error"`, "a CVSS score is a number", "keep this text", `value="acme/storefront"`, `value="CVE-2024-3094"`)
	// An error only the service knows is put next to its field too.
	resp = c.post("/patches", url.Values{"title": {"Bad trigger"}, "kind": {"application"}, "application": {"storefront"},
		"link_type": {"vulnerability"}, "link_ref": {"CVE-24"}, "environments": {"staging", "production"}})
	if resp.Status != http.StatusBadRequest {
		t.Fatalf("bad vulnerability id: %d\n%s", resp.Status, excerpt(resp.Body))
	}
	resp.mustContain(t, `id="n-link_ref-error"`, `"CVE-24" is not a vulnerability id`, `value="Bad trigger"`)
	// A good form creates the patch and opens its page.
	resp = c.post("/patches", url.Values{"title": {"Good patch"}, "kind": {"application"}, "application": {"storefront"},
		"link_type": {"vulnerability"}, "link_ref": {"CVE-2024-3094"}, "cvss": {"10"}, "environments": {"staging", "production"}})
	if resp.Status != http.StatusSeeOther || !strings.HasPrefix(resp.Location, "/patches/PATCH-") {
		t.Fatalf("create: %d to %q\n%s", resp.Status, resp.Location, excerpt(resp.Body))
	}
	key := strings.TrimPrefix(resp.Location, "/patches/")
	c.follow(resp).mustContain(t, "Created "+key+": emergency priority", "Good patch", "CVE-2024-3094")

	// Evidence without its required fields.
	f.advance(key)
	c.get("/patches/" + key)
	resp = c.post("/patches/"+key+"/evidence", url.Values{"kind": {"pull_request"}, "fields_for": {"pull_request"},
		"ref": {"https://github.com/acme/storefront/pull/9"}, "subject": {""}})
	if resp.Status != http.StatusBadRequest {
		t.Fatalf("pull request without author: %d", resp.Status)
	}
	resp.mustContain(t, `id="ev-subject-error"`, "required for pull request evidence", `value="https://github.com/acme/storefront/pull/9"`)
	// Without JavaScript, choosing another kind shows its fields first.
	resp = c.post("/patches/"+key+"/evidence", url.Values{"kind": {"review"}, "fields_for": {"branch"}, "ref": {"x"}})
	if resp.Status != http.StatusOK {
		t.Fatalf("kind change without JavaScript: %d", resp.Status)
	}
	resp.mustContain(t, `id="ev-subject"`, `<label for="ev-subject">Reviewer</label>`)
	// The htmx fragment for the same.
	frag := c.get("/patches/"+key+"/evidence-fields?kind=deployment", "HX-Request", "true")
	frag.mustContain(t, `id="evidence-fields"`, `<label for="ev-environment">Environment</label>`, `name="fields_for" value="deployment"`)
	frag.mustNotContain(t, "<html")

	// Rollback without a reason keeps the severity.
	p := f.appPatch("For rollback", false)
	f.toProduction(p.Key, "v9.9.9")
	oc := as(t, f.srv, patchctl.RoleOncall)
	oc.get("/patches/" + p.Key)
	resp = oc.post("/patches/"+p.Key+"/rollback", url.Values{"severity": {"sev1"}, "reason": {"  "}})
	if resp.Status != http.StatusBadRequest {
		t.Fatalf("rollback without reason: %d", resp.Status)
	}
	resp.mustContain(t, `id="r-reason-error"`, "say what went wrong", `<option value="sev1" selected>`)
	// Override justification too short: the service's error next to the field.
	lead := as(t, f.srv, patchctl.RoleLead)
	bare := f.appPatch("Bare", true)
	lead.get("/patches/" + bare.Key)
	resp = lead.post("/patches/"+bare.Key+"/override", url.Values{"justification": {"short"}, "to": {"in_progress"}})
	if resp.Status != http.StatusBadRequest {
		t.Fatalf("short justification: %d", resp.Status)
	}
	resp.mustContain(t, `id="o-justification-error"`, "at least 10 characters", ">short</textarea>")
}

func TestPages(t *testing.T) {
	f := newFixture(t, apptest.Options{})
	for i := range 3 {
		f.appPatch("Listed patch "+string(rune('A'+i)), false)
	}
	f.appPatch("Another one", true)
	c := as(t, f.srv, patchctl.RoleViewer)

	d := c.get("/")
	if d.Status != http.StatusOK {
		t.Fatalf("dashboard: %d", d.Status)
	}
	d.mustContain(t, "Open patches by priority", "Overdue", "Due within 24 hours", "SLA compliance", "last 30 days", "last 90 days",
		"How compliance is counted", "Cancelled and aborted patches are not counted", "Halted rollouts", "Recent activity",
		`<svg viewBox=`, "Listed patch A")
	d.mustContain(t, "Open findings", "on CISA KEV", `href="/findings?severity=critical"`, `href="/findings?kev=true"`)
	frag := c.get("/?fragment=sla", "HX-Request", "true")
	frag.mustContain(t, `id="sla-section"`, `hx-trigger="every 60s"`)
	frag.mustNotContain(t, "<html", "SLA compliance")

	l := c.get("/patches")
	l.mustContain(t, "Listed patch A", "Another one", "Showing 1–4")
	l = c.get("/patches?q=another")
	l.mustContain(t, "Another one")
	l.mustNotContain(t, "Listed patch A")
	l = c.get("/patches?kind=firmware")
	if l.Status != http.StatusBadRequest {
		t.Errorf("unknown kind filter: %d", l.Status)
	}
	l.mustContain(t, `id="f-kind-error"`, "unknown kind")
	l = c.get("/patches?kind=kubernetes")
	l.mustContain(t, "No patch matches these filters.")
	r := c.get("/patches?q=listed", "HX-Request", "true", "HX-Target", "results")
	r.mustContain(t, `id="results"`, "Listed patch B")
	r.mustNotContain(t, "<html")

	b := c.get("/patches/board?kind=application")
	for _, s := range lifecycle.States(patchctl.KindApplication, false) {
		b.mustContain(t, `id="col-`+string(s)+`"`)
	}
	b = c.get("/patches/board?kind=infrastructure&downtime=true")
	for _, s := range lifecycle.States(patchctl.KindInfrastructure, true) {
		b.mustContain(t, `id="col-`+string(s)+`"`)
	}
	if b := c.get("/patches/board?kind=firmware"); b.Status != http.StatusBadRequest {
		t.Errorf("board of an unknown kind: %d", b.Status)
	}

	a := c.get("/audit")
	a.mustContain(t, "Chain intact", "patch.create", "session.sign_in")
	a = c.get("/audit?action=session.sign_in")
	a.mustContain(t, "signed in to the web UI")
	a.mustNotContain(t, "<code class=\"action\">patch.create</code>")
	a = c.get("/audit?subject=PATCH-1")
	a.mustContain(t, `<a href="/patches/PATCH-1">PATCH-1</a>`)
	a.mustNotContain(t, "PATCH-2<")

	if p := c.get("/patches/PATCH-999"); p.Status != http.StatusNotFound {
		t.Errorf("missing patch: %d", p.Status)
	} else {
		p.mustContain(t, "patch PATCH-999 not found")
	}
	if p := c.get("/patches/nonsense"); p.Status != http.StatusBadRequest {
		t.Errorf("bad patch id: %d", p.Status)
	}
}

func TestAuditPagingAndTamper(t *testing.T) {
	f := newFixture(t, apptest.Options{})
	for i := range 60 {
		f.appPatch("Patch "+strings.Repeat("x", i%3+1), true)
	}
	c := as(t, f.srv, patchctl.RoleViewer)
	p := c.get("/audit?action=patch.create")
	p.mustContain(t, "Older →")
	older := regexpFind(p.Body, `href="(/audit\?[^"]*before=[0-9]+[^"]*)"`)
	if older == "" {
		t.Fatal("no link to older events")
	}
	p = c.get(strings.ReplaceAll(older, "&amp;", "&"))
	p.mustContain(t, "← Newer")
	if strings.Count(p.Body, `<code class="action">patch.create</code>`) != 10 {
		t.Errorf("second page has %d events, want the 10 older ones", strings.Count(p.Body, `<code class="action">patch.create</code>`))
	}
	// A modified row is reported on the page.
	f.must(f.srv.App.DB.Exec(f.ctx, `UPDATE audit_events SET actor = 'mallory' WHERE seq = 7`))
	p = c.get("/audit?verify=1")
	p.mustContain(t, "Tampering detected", "Event #7 was <strong>modified</strong>")
}

func regexpFind(s, expr string) string {
	m := regexp.MustCompile(expr).FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	return m[1]
}

func TestRolloutAndWindowForms(t *testing.T) {
	f := newFixture(t, apptest.Options{})
	eng := f.actor(patchctl.RoleEngineer)
	k, err := f.svc().CreatePatch(f.ctx, eng, service.CreatePatch{Title: "Node pools to 1.30.5", Kind: patchctl.KindKubernetes,
		Target: patchctl.Target{Clusters: []string{"mgmt", "main"}, Upgrade: patchctl.UpgradeNode, Version: "1.30.5-gke.1"},
		Links:  []patchctl.Link{{Type: patchctl.LinkIssue, Ref: "https://github.com/acme/infra/issues/1"}}})
	f.must(err)
	f.advance(k.Key) // planned: the waves exist
	f.advance(k.Key) // upgrading management
	c := as(t, f.srv, patchctl.RoleEngineer)
	p := c.get("/patches/" + k.Key)
	p.mustContain(t, "Rollout waves", "mgmt/system", "main/pool-a", `action="/patches/`+k.Key+`/waves/1"`)

	resp := c.post("/patches/"+k.Key+"/waves/1", url.Values{"op": {"start"}})
	if resp.Status != http.StatusSeeOther {
		t.Fatalf("start wave 1: %d\n%s", resp.Status, excerpt(resp.Body))
	}
	c.follow(resp).mustContain(t, "Wave 1 (mgmt/system) started.")
	// Main waves wait for the management phase: the gate says so.
	resp = c.post("/patches/"+k.Key+"/waves/2", url.Values{"op": {"start"}})
	if resp.Status != http.StatusConflict {
		t.Fatalf("start a main wave during the management phase: %d", resp.Status)
	}
	resp.mustContain(t, "wave_in_phase", "main waves run while the patch is upgrading_main")
	// Failing a wave needs a reason, and halts the rollout.
	resp = c.post("/patches/"+k.Key+"/waves/1", url.Values{"op": {"fail"}, "reason": {""}})
	if resp.Status != http.StatusBadRequest {
		t.Fatalf("fail without reason: %d", resp.Status)
	}
	resp.mustContain(t, "say what failed")
	resp = c.post("/patches/"+k.Key+"/waves/1", url.Values{"op": {"fail"}, "reason": {"nodes NotReady"}})
	if resp.Status != http.StatusSeeOther {
		t.Fatalf("fail wave 1: %d\n%s", resp.Status, excerpt(resp.Body))
	}
	p = c.follow(resp)
	p.mustContain(t, "the rollout is halted", "Rollout halted:", "nodes NotReady", "Decide on the halted rollout", "not_halted")
	resp = c.post("/patches/"+k.Key+"/decision", url.Values{"decision": {"retry"}})
	if resp.Status != http.StatusBadRequest {
		t.Fatalf("decision without reason: %d", resp.Status)
	}
	resp.mustContain(t, `id="d-reason-error"`, `value="retry" checked`)
	resp = c.post("/patches/"+k.Key+"/decision", url.Values{"decision": {"retry"}, "reason": {"PDB fixed"}})
	if resp.Status != http.StatusSeeOther {
		t.Fatalf("retry: %d\n%s", resp.Status, excerpt(resp.Body))
	}
	c.follow(resp).mustContain(t, "Decision recorded: retry.")
	if d, _ := f.svc().Patch(f.ctx, eng, k.Key); d.Patch.Halt != nil || d.Waves[0].State != patchctl.WavePending {
		t.Errorf("after retry: halt %v, wave 1 %s", d.Patch.Halt, d.Waves[0].State)
	}

	// An infrastructure patch with downtime books and announces its window.
	in, err := f.svc().CreatePatch(f.ctx, eng, service.CreatePatch{Title: "PostgreSQL 15.8", Kind: patchctl.KindInfrastructure,
		Target: patchctl.Target{System: "postgres-primary", Downtime: true},
		Links:  []patchctl.Link{{Type: patchctl.LinkVulnerability, Ref: "CVE-2024-7348", Attributes: patchctl.Attributes{CVSS: 7.5}}}})
	f.must(err)
	p = c.get("/patches/" + in.Key)
	p.mustContain(t, "Maintenance window", "No window booked yet.", `action="/patches/`+in.Key+`/window"`)
	resp = c.post("/patches/"+in.Key+"/window", url.Values{"start": {"2026-11-10T22:00"}, "end": {"2026-11-10T21:00"}})
	if resp.Status != http.StatusBadRequest {
		t.Fatalf("window ending before it starts: %d", resp.Status)
	}
	resp.mustContain(t, `id="w-end-error"`, "must be after start", `value="2026-11-10T22:00"`, `value="2026-11-10T21:00"`)
	resp = c.post("/patches/"+in.Key+"/window", url.Values{"start": {"Tuesday"}, "end": {""}})
	resp.mustContain(t, `id="w-start-error"`, "YYYY-MM-DDTHH:MM", `id="w-end-error"`)
	resp = c.post("/patches/"+in.Key+"/window", url.Values{"start": {"2026-11-10T22:00"}, "end": {"2026-11-11T00:00"}})
	if resp.Status != http.StatusSeeOther {
		t.Fatalf("book window: %d\n%s", resp.Status, excerpt(resp.Body))
	}
	p = c.follow(resp)
	p.mustContain(t, "Window booked: Tue 10 Nov 2026 22:00 UTC to Wed 11 Nov 2026 00:00 UTC.", "Announce it")
	resp = c.post("/patches/"+in.Key+"/announce", url.Values{"channel": {"#sre"}})
	if resp.Status != http.StatusSeeOther {
		t.Fatalf("announce: %d\n%s", resp.Status, excerpt(resp.Body))
	}
	c.follow(resp).mustContain(t, "Window announced to #sre.", "announcement")
	// The version form of infrastructure patches.
	p = c.get("/patches/" + in.Key)
	p.mustContain(t, `action="/patches/`+in.Key+`/version"`)
	resp = c.post("/patches/"+in.Key+"/version", url.Values{"version": {"15.8"}})
	if resp.Status != http.StatusSeeOther {
		t.Fatalf("set version: %d\n%s", resp.Status, excerpt(resp.Body))
	}
	c.follow(resp).mustContain(t, "Version set to 15.8.")
	b := c.get("/patches/board?kind=infrastructure&downtime=true")
	b.mustContain(t, in.Key, `id="col-scheduled"`)
	c.get("/patches/board?kind=infrastructure").mustNotContain(t, in.Key)
}

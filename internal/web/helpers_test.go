package web_test

import (
	"bytes"
	"context"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/app/apptest"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

// client is a browser without JavaScript: a cookie jar, redirects shown to
// the test instead of followed.
type client struct {
	t    testing.TB
	base string
	http *http.Client
	// csrf is the CSRF token of the last page that had one.
	csrf string
}

func newClient(t testing.TB, base string) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, base: base, http: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is a response with its body read.
type page struct {
	Status   int
	Body     string
	Header   http.Header
	Location string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

func (c *client) do(req *http.Request) *page {
	c.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	p := &page{Status: resp.StatusCode, Body: string(b), Header: resp.Header, Location: resp.Header.Get("Location")}
	if m := csrfField.FindStringSubmatch(p.Body); m != nil {
		c.csrf = html.UnescapeString(m[1])
	}
	return p
}

// get fetches a page without following redirects.
func (c *client) get(path string, header ...string) *page {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return c.do(req)
}

// post sends a form, with the CSRF token of the last page unless the form
// sets its own (an empty "csrf" value sends none).
func (c *client) post(path string, form url.Values, header ...string) *page {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", c.csrf)
	} else if form.Get("csrf") == "" {
		form.Del("csrf")
	}
	req, err := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return c.do(req)
}

// part is one part of a multipart form: a field, or a file when file is
// set.
type part struct {
	name, value string
	file        string // the file name, for a file part
}

// upload sends a multipart form with its parts in the order given (the
// CSRF token is not added: the order of the parts is what is tested).
func (c *client) upload(path string, parts ...part) *page {
	c.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range parts {
		var w io.Writer
		var err error
		if p.file != "" {
			w, err = mw.CreateFormFile(p.name, p.file)
		} else {
			w, err = mw.CreateFormField(p.name)
		}
		if err != nil {
			c.t.Fatal(err)
		}
		if _, err := io.WriteString(w, p.value); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		c.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, c.base+path, &body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.do(req)
}

// follow fetches where a redirect points.
func (c *client) follow(p *page) *page {
	c.t.Helper()
	if p.Status != http.StatusSeeOther && p.Status != http.StatusFound {
		c.t.Fatalf("want a redirect, got %d:\n%s", p.Status, excerpt(p.Body))
	}
	u, err := url.Parse(p.Location)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.get(u.RequestURI())
}

// signIn signs the client in with a token through the sign-in form.
func (c *client) signIn(token string) *page {
	c.t.Helper()
	c.get("/signin")
	p := c.post("/signin", url.Values{"token": {token}, "next": {"/"}})
	if p.Status != http.StatusSeeOther || p.Location != "/" {
		c.t.Fatalf("sign in: %d to %q:\n%s", p.Status, p.Location, excerpt(p.Body))
	}
	return c.follow(p)
}

// as returns a client signed in with the token of a role.
func as(t testing.TB, srv *apptest.Server, role patchctl.Role) *client {
	t.Helper()
	c := newClient(t, srv.URL)
	c.signIn(srv.Tokens[role])
	return c
}

// excerpt keeps failure messages readable: the page's main element.
func excerpt(body string) string {
	if i := strings.Index(body, `<main`); i >= 0 {
		body = body[i:]
	}
	if len(body) > 4000 {
		body = body[:4000] + "…"
	}
	return body
}

// mustContain fails unless the page contains every string (HTML-escaped
// as the page would show it).
func (p *page) mustContain(t testing.TB, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if !strings.Contains(p.Body, html.EscapeString(s)) && !strings.Contains(p.Body, s) {
			t.Errorf("page (%d) lacks %q:\n%s", p.Status, s, excerpt(p.Body))
		}
	}
}

func (p *page) mustNotContain(t testing.TB, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(p.Body, s) || strings.Contains(p.Body, html.EscapeString(s)) {
			t.Errorf("page (%d) shows %q, which it must not:\n%s", p.Status, s, excerpt(p.Body))
		}
	}
}

// fixture helpers drive the service directly to set up a patch.
type fixture struct {
	t   testing.TB
	srv *apptest.Server
	ctx context.Context
}

func newFixture(t testing.TB, opts apptest.Options) *fixture {
	return &fixture{t: t, srv: apptest.StartServer(t, opts), ctx: context.Background()}
}

func (f *fixture) actor(role patchctl.Role) patchctl.Actor {
	return patchctl.Actor{Name: apptest.People[role], Role: role}
}

func (f *fixture) svc() *service.Service { return f.srv.App.Service }

func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

// appPatch creates an application patch of storefront, with a trigger
// unless bare.
func (f *fixture) appPatch(title string, bare bool) *patchctl.Patch {
	f.t.Helper()
	in := service.CreatePatch{Title: title, Kind: patchctl.KindApplication, Target: patchctl.Target{Application: "storefront"}, Owner: "erin"}
	if !bare {
		in.Links = []patchctl.Link{{Type: patchctl.LinkVulnerability, Ref: "CVE-2023-4863", Attributes: patchctl.Attributes{CVSS: 8.8}}}
	}
	p, err := f.svc().CreatePatch(f.ctx, f.actor(patchctl.RoleEngineer), in)
	f.must(err)
	return p
}

func (f *fixture) evidence(key string, e patchctl.Evidence) {
	f.t.Helper()
	_, err := f.svc().AddEvidence(f.ctx, f.actor(patchctl.RoleEngineer), key, e)
	f.must(err)
}

func (f *fixture) advance(key string) {
	f.t.Helper()
	_, err := f.svc().Transition(f.ctx, f.actor(patchctl.RoleEngineer), key, service.TransitionInput{})
	f.must(err)
}

// toProduction walks an application patch to production through every
// gate, with v2.3.0 recorded as the stable version before it.
func (f *fixture) toProduction(key, version string) {
	f.t.Helper()
	_, err := f.svc().RecordStable(f.ctx, f.actor(patchctl.RoleLead), store.StableVersion{Subject: "storefront", Environment: "production", Version: "v2.3.0"})
	f.must(err)
	// The clock stands still in tests; the previous stable version must be
	// older than the patch's deployments.
	f.srv.Clock.Advance(time.Minute)
	f.advance(key)
	branch := patchctl.BranchPrefix + key
	f.evidence(key, patchctl.Evidence{Kind: patchctl.EvidenceBranch, Ref: branch})
	f.evidence(key, patchctl.Evidence{Kind: patchctl.EvidencePullRequest, Ref: "https://github.com/acme/storefront/pull/7", Subject: "erin",
		Details: map[string]string{"branch": branch}})
	f.advance(key)
	f.evidence(key, patchctl.Evidence{Kind: patchctl.EvidenceReview, Subject: "lena", Result: patchctl.ResultApproved})
	f.evidence(key, patchctl.Evidence{Kind: patchctl.EvidenceMerge, Version: version})
	f.advance(key)
	f.evidence(key, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "staging", Version: version})
	f.advance(key)
	f.evidence(key, patchctl.Evidence{Kind: patchctl.EvidenceTestRun, Environment: "staging", Version: version, Result: patchctl.ResultPassed, Ref: "run/1"})
	f.evidence(key, patchctl.Evidence{Kind: patchctl.EvidenceSignoff, Environment: "staging", Version: version})
	f.advance(key)
	f.evidence(key, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "production", Version: version})
	f.advance(key)
}

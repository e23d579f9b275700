package web_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/app/apptest"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
	"github.com/patchctl/patchctl/internal/web"
)

var importLocation = regexp.MustCompile(`^/imports/(\d+)$`)

func readCorpus(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(corpus.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUploadReport(t *testing.T) {
	f := newFixture(t, apptest.Options{})
	report := readCorpus(t, "trivy/alpine-310.json.golden")
	c := as(t, f.srv, patchctl.RoleEngineer)
	p := c.get("/imports")
	p.mustContain(t, `enctype="multipart/form-data"`, `<label for="i-report">Report file</label>`, `<label for="i-format">Format</label>`,
		"detect from the file", "No report was imported yet.")
	// The CSRF token is the form's first field.
	if i, j := strings.Index(p.Body, `name="csrf"`), strings.Index(p.Body, `name="report"`); i < 0 || j < i {
		t.Errorf("the CSRF field does not come before the file")
	}

	r := c.upload("/imports", part{name: "csrf", value: c.csrf}, part{name: "format", value: "auto"}, part{name: "asset"},
		part{name: "report", file: "alpine-310.json", value: report})
	m := importLocation.FindStringSubmatch(r.Location)
	if r.Status != http.StatusSeeOther || m == nil {
		t.Fatalf("upload: %d to %q\n%s", r.Status, r.Location, excerpt(r.Body))
	}
	p = c.follow(r)
	p.mustContain(t, "Imported alpine-310.json: 4 findings, 4 new, 0 closed; 4 patches created, 0 updated.",
		"Summary", "trivy", "(detected from the file)", "in the report", "new", "unchanged", "closed", "reopened",
		"medium", "Upgrade libssl1.1 to 1.1.1d-r2 in", "Upgrade libcrypto1.1 to 1.1.1d-r0 in", `class="patch-link" href="/patches/PATCH-`)
	ims, err := f.svc().RecentImports(f.ctx, f.actor(patchctl.RoleViewer), 0, 5)
	f.must(err)
	if len(ims) != 1 || ims[0].Source != "alpine-310.json" || ims[0].ContentHash == "" {
		t.Fatalf("imports after the upload: %+v", ims)
	}

	// The same report again: recognised by its hash, nothing changes.
	r = c.upload("/imports", part{name: "csrf", value: c.csrf}, part{name: "report", file: "alpine-310.json", value: report})
	p = c.follow(r)
	p.mustContain(t, "0 new", "byte-identical to import #"+m[1])

	// The list of recent imports links each one.
	p = c.get("/imports")
	p.mustContain(t, `href="/imports/`+m[1]+`"`, "alpine-310.json", "done", "erin")

	// An asset override and a format named.
	r = c.upload("/imports", part{name: "csrf", value: c.csrf}, part{name: "format", value: "trivy"},
		part{name: "asset", value: "image:ghcr.io/acme/edge:7"}, part{name: "report", file: "alpine.json", value: report})
	c.follow(r).mustContain(t, "ghcr.io/acme/edge:7", "asset set to image:ghcr.io/acme/edge:7")
}

func TestUploadRefusals(t *testing.T) {
	f := newFixture(t, apptest.Options{})
	report := readCorpus(t, "trivy/alpine-310.json.golden")
	c := as(t, f.srv, patchctl.RoleEngineer)
	c.get("/imports")

	// Without the token, with a wrong one, or with the file before it.
	for name, parts := range map[string][]part{
		"no token":           {{name: "report", file: "a.json", value: report}},
		"wrong token":        {{name: "csrf", value: "forged"}, {name: "report", file: "a.json", value: report}},
		"token after file":   {{name: "report", file: "a.json", value: report}, {name: "csrf", value: c.csrf}},
		"field before token": {{name: "format", value: "auto"}, {name: "csrf", value: c.csrf}, {name: "report", file: "a.json", value: report}},
	} {
		r := c.upload("/imports", parts...)
		if r.Status != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, r.Status)
		}
		r.mustContain(t, "Form refused")
	}

	// No file: the form comes back with the error next to the file input
	// and the other fields kept.
	r := c.upload("/imports", part{name: "csrf", value: c.csrf}, part{name: "format", value: "grype"},
		part{name: "asset", value: "image:ghcr.io/acme/pay:3"}, part{name: "report", file: "", value: ""})
	if r.Status != http.StatusBadRequest {
		t.Errorf("no file: %d, want 400", r.Status)
	}
	r.mustContain(t, "Check the form", `id="i-report-error"`, "choose the report file to import", `value="image:ghcr.io/acme/pay:3"`,
		`<option value="grype" selected>grype</option>`)
	r = c.upload("/imports", part{name: "csrf", value: c.csrf}, part{name: "format", value: "kev"},
		part{name: "report", file: "a.json", value: report})
	r.mustContain(t, `id="i-format-error"`, "only scanner reports are imported here")
	r = c.upload("/imports", part{name: "csrf", value: c.csrf}, part{name: "format", value: "word"},
		part{name: "report", file: "a.json", value: report})
	r.mustContain(t, `id="i-format-error"`, "choose one of the formats offered")

	// A report that does not parse: the message, and nothing imported.
	r = c.upload("/imports", part{name: "csrf", value: c.csrf}, part{name: "format", value: "trivy"}, part{name: "asset", value: "web:1"},
		part{name: "report", file: "broken.json", value: `{"SchemaVersion": 2, "Results": [{"Target": "x", "Vulnerabilities": [ {"VulnerabilityID": ]}]}`})
	if r.Status != http.StatusBadRequest {
		t.Errorf("broken report: %d, want 400", r.Status)
	}
	r.mustContain(t, "The report was not imported", "Nothing was changed", `value="web:1"`, "The attempt is recorded as")
	if fs := f.findingsOf(store.FindingFilter{}); len(fs) != 0 {
		t.Errorf("%d findings after a broken report", len(fs))
	}

	// A viewer is not offered the form and is refused before the file is
	// read.
	v := as(t, f.srv, patchctl.RoleViewer)
	p := v.get("/imports")
	p.mustContain(t, "Reports are imported by engineers")
	p.mustNotContain(t, `action="/imports"`)
	r = v.upload("/imports", part{name: "csrf", value: v.csrf}, part{name: "report", file: "a.json", value: report})
	if r.Status != http.StatusForbidden {
		t.Errorf("viewer upload: %d, want 403", r.Status)
	}
	r.mustContain(t, "Importing reports needs the role engineer, oncall, lead or admin; you are viewer.")
	if ims, _ := f.svc().RecentImports(f.ctx, f.actor(patchctl.RoleViewer), 0, 50); len(ims) != 1 {
		t.Errorf("%d imports recorded, want the broken one only", len(ims))
	}
	if p := v.get("/imports/999"); p.Status != http.StatusNotFound {
		t.Errorf("missing import: %d", p.Status)
	}
	if p := v.get("/imports?before=x"); p.Status != http.StatusBadRequest {
		t.Errorf("bad imports page: %d", p.Status)
	}
}

// uiServer serves the UI over the test server's service with other
// upload settings.
func uiServer(t *testing.T, f *fixture, opts web.Options) string {
	t.Helper()
	opts.Intake = f.srv.App.Intake
	ui, err := web.New(f.svc(), opts)
	f.must(err)
	ts := httptest.NewServer(ui.Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}

func TestUploadTooLarge(t *testing.T) {
	f := newFixture(t, apptest.Options{})
	report := readCorpus(t, "trivy/alpine-310.json.golden")
	c := newClient(t, uiServer(t, f, web.Options{MaxUploadBytes: 4 << 10}))
	c.signIn(f.srv.Tokens[patchctl.RoleEngineer])
	c.get("/imports").mustContain(t, "up to 4 KiB")
	r := c.upload("/imports", part{name: "csrf", value: c.csrf}, part{name: "report", file: "alpine.json", value: report})
	if r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("upload over the limit: %d, want 413\n%s", r.Status, excerpt(r.Body))
	}
	r.mustContain(t, "Report too large", "larger than the upload limit of 4 KiB (server.max_upload_bytes)", "patchctl import auto FILE")
	if ims, _ := f.svc().RecentImports(f.ctx, f.actor(patchctl.RoleViewer), 0, 5); len(ims) != 0 {
		t.Errorf("%d imports after a refused upload", len(ims))
	}
}

// TestLargeUploadRunsAsJob uploads a report over the async threshold: the
// browser goes to the import's page at once, which shows the progress and
// then the summary.
func TestLargeUploadRunsAsJob(t *testing.T) {
	f := newFixture(t, apptest.Options{})
	report := readCorpus(t, "trivy/alpine-310.json.golden")
	c := newClient(t, uiServer(t, f, web.Options{AsyncImportBytes: 1 << 10}))
	c.signIn(f.srv.Tokens[patchctl.RoleEngineer])
	c.get("/imports").mustContain(t, "Reports over 1 KiB are imported in the background")
	r := c.upload("/imports", part{name: "csrf", value: c.csrf}, part{name: "report", file: "alpine.json", value: report})
	if r.Status != http.StatusSeeOther || !importLocation.MatchString(r.Location) {
		t.Fatalf("large upload: %d to %q\n%s", r.Status, r.Location, excerpt(r.Body))
	}
	p := c.follow(r)
	p.mustContain(t, "Importing alpine.json in the background: this page follows it.")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Body, "Summary") {
		if time.Now().After(deadline) {
			t.Fatalf("the import did not finish:\n%s", excerpt(p.Body))
		}
		time.Sleep(20 * time.Millisecond)
		p = c.get(r.Location)
	}
	p.mustContain(t, "4 created · 0 updated", "Upgrade libssl1.1")
}

// TestImportProgress shows a running import (as another replica would run
// it: its record alone) with htmx polling and the no-JavaScript refresh,
// then its end.
func TestImportProgress(t *testing.T) {
	f := newFixture(t, apptest.Options{})
	im := &store.Import{Format: "auto", Source: "huge.json", Actor: "erin", StartedAt: f.srv.Clock.Now(), BytesTotal: 40 << 20}
	f.must(f.srv.App.DB.StartImport(f.ctx, im))
	f.must(f.srv.App.DB.Exec(f.ctx, `UPDATE imports SET bytes_read = ?, records = ? WHERE id = ?`, 10<<20, 12345, im.ID))
	f.srv.Clock.Advance(90 * time.Second)
	c := as(t, f.srv, patchctl.RoleViewer)
	path := "/imports/" + itoa(im.ID)
	p := c.get(path)
	p.mustContain(t, "Importing…", `<progress class="progress" max="100" value="25"`, "25% · 10 MiB of 40 MiB read · 12345 records · 1m",
		`hx-get="`+path+`?fragment=progress"`, `hx-trigger="every 1s"`, `<noscript><meta http-equiv="refresh" content="2"></noscript>`,
		`<a href="`+path+`">Reload</a>`)
	frag := c.get(path+"?fragment=progress", "HX-Request", "true")
	frag.mustContain(t, `id="progress"`, "25%")
	frag.mustNotContain(t, "<html")
	if frag.Header.Get("HX-Refresh") != "" {
		t.Errorf("a running import asks for a refresh")
	}
	c.get("/imports").mustContain(t, "running", "huge.json")

	f.must(f.srv.App.DB.FailImport(f.ctx, im.ID, "trivy: line 3: unexpected end of input", 10<<20, 12345, f.srv.Clock.Now()))
	frag = c.get(path+"?fragment=progress", "HX-Request", "true")
	if frag.Header.Get("HX-Refresh") != "true" {
		t.Errorf("an ended import does not ask htmx to reload the page")
	}
	p = c.get(path)
	p.mustContain(t, "The import failed", "trivy: line 3: unexpected end of input", "Nothing was changed")
	p.mustNotContain(t, "http-equiv")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

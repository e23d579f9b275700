package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/httpapi"
	"github.com/patchctl/patchctl/internal/service"
)

//go:embed templates
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageTemplate is one page: the layout, the shared partials and the page's
// own file, parsed together.
type pageTemplate struct {
	t *template.Template
}

// parseTemplates parses every page of templates/ with the layout and the
// partials of templates/partials/.
func (u *UI) parseTemplates() (map[string]*pageTemplate, error) {
	entries, err := fs.ReadDir(templateFS, "templates")
	if err != nil {
		return nil, err
	}
	var pages []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".html") {
			pages = append(pages, e.Name())
		}
	}
	base, err := template.New("").Funcs(u.funcs()).ParseFS(templateFS, "templates/partials/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*pageTemplate{}
	for _, name := range pages {
		t, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := t.ParseFS(templateFS, "templates/"+name); err != nil {
			return nil, err
		}
		out[strings.TrimSuffix(name, ".html")] = &pageTemplate{t: t}
	}
	return out, nil
}

// assetURLs names each static file with a hash of its content, so that
// browsers may cache it for long and still fetch a new version at once.
func assetURLs(sub fs.FS) (map[string]string, error) {
	out := map[string]string{}
	err := fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[p] = "/static/" + p + "?v=" + hex.EncodeToString(sum[:6])
		return nil
	})
	return out, err
}

func staticHandler(sub fs.FS) http.Handler {
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") || path.Ext(r.URL.Path) == ".md" || strings.HasSuffix(r.URL.Path, "LICENSE") {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("v") != "" {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=300")
		}
		files.ServeHTTP(w, r)
	})
}

// base is what every page's layout shows.
type base struct {
	Title string
	// Nav names the current section of the header: dashboard, patches,
	// board, findings, imports, deliveries, audit.
	Nav   string
	User  *patchctl.Actor
	CSRF  string
	Flash string
	Now   time.Time
	Can   perms
	// Status is the HTTP status the page is sent with.
	Status int
}

// perms says which actions the signed-in role is offered. The service
// enforces them whatever the page shows.
type perms struct {
	Write, Rollback, Override, Import, AcceptRisk bool
}

func permsOf(a patchctl.Actor) perms {
	return perms{
		Write:      a.Role.Allowed(patchctl.PermWrite),
		Rollback:   a.Role.Allowed(patchctl.PermRollback),
		Override:   a.Role.Allowed(patchctl.PermOverride),
		Import:     a.Role.Allowed(patchctl.PermImport),
		AcceptRisk: a.Role.Allowed(patchctl.PermAcceptRisk),
	}
}

// signedIn fills in who is signed in: the header shows them, forms carry
// their session's CSRF token, and actions follow their role.
func (b *base) signedIn(s *service.WebSession) {
	actor := s.Actor
	b.User, b.CSRF, b.Can = &actor, s.CSRF, permsOf(s.Actor)
}

// pageBase returns the layout data of a signed-in request.
func (u *UI) pageBase(w http.ResponseWriter, r *http.Request, s *service.WebSession, title, nav string) base {
	b := base{Title: title, Nav: nav, Now: u.svc.Now(), Status: http.StatusOK}
	b.signedIn(s)
	if r.Method == http.MethodGet {
		b.Flash = u.takeFlash(w, r)
	}
	return b
}

// render executes a page and writes it with its status. The page is
// rendered to a buffer first, so that a template failure becomes a clean
// error page instead of half a page.
func (u *UI) render(w http.ResponseWriter, r *http.Request, page string, status int, data any) {
	u.renderTemplate(w, r, page, "layout", status, data)
}

// renderTemplate executes one named template of a page (the layout, or a
// fragment for htmx).
func (u *UI) renderTemplate(w http.ResponseWriter, r *http.Request, page, name string, status int, data any) {
	t, ok := u.pages[page]
	if !ok {
		u.log.Error("render failed", "page", page, "err", "no such page")
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.t.ExecuteTemplate(&buf, name, data); err != nil {
		u.log.Error("render failed", "page", page, "template", name, "err", err)
		if page != "error" {
			u.errorPage(w, r, http.StatusInternalServerError, "Something went wrong", "The page could not be shown. The error was logged.")
			return
		}
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// setBase sets the layout data of a page's data, which embeds base.
func (b *base) setBase(v base) { *b = v }

// renderList renders a filtered list page (patches, findings, deliveries;
// its Nav is the page's name): the whole page, or only its results when
// htmx replaces them as the filters change.
func (u *UI) renderList(w http.ResponseWriter, r *http.Request, s *service.WebSession, page, title string, status int, d interface{ setBase(base) }) {
	if isHTMX(r) && r.Header.Get("HX-Target") == "results" {
		d.setBase(base{Now: u.svc.Now()})
		u.renderTemplate(w, r, page, "results", status, d)
		return
	}
	d.setBase(u.pageBase(w, r, s, title, page))
	u.render(w, r, page, status, d)
}

// listURL is a list page (path) with the filters of q named in keep, those
// given, and one more parameter, such as the page to show (left out when
// value is empty).
func listURL(path string, q url.Values, keep []string, key, value string) string {
	v := url.Values{}
	for _, k := range keep {
		if q.Get(k) != "" {
			v.Set(k, q.Get(k))
		}
	}
	if value != "" {
		v.Set(key, value)
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// errorData is the error page.
type errorData struct {
	base
	Heading string
	Message string
}

// errorPage shows a full page for a failure: not found, forbidden, internal.
func (u *UI) errorPage(w http.ResponseWriter, r *http.Request, status int, heading, message string) {
	d := errorData{base: base{Title: heading, Now: u.svc.Now(), Status: status}, Heading: heading, Message: message}
	if s := sessionFrom(r); s != nil {
		d.signedIn(s)
	}
	u.render(w, r, "error", status, d)
}

// pathID is the number in a page's URL (/findings/{id}): 0 when it is not
// a positive number.
func pathID(r *http.Request) int64 {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0
	}
	return id
}

// noSuch is the answer to a page's URL whose {id} is not a number: there is
// no such thing (what: finding, import, delivery).
func (u *UI) noSuch(w http.ResponseWriter, r *http.Request, what string) {
	u.errorPage(w, r, http.StatusNotFound, "Not found", "There is no "+what+" "+strconv.Quote(r.PathValue("id"))+".")
}

// forbidden is the answer to a form without a valid CSRF token or from
// another site.
func (u *UI) forbidden(w http.ResponseWriter, r *http.Request, why string) {
	u.errorPage(w, r, http.StatusForbidden, "Form refused",
		why+" Go back, reload the page and send the form again.")
}

// failed shows the error page for an error from the service, with its
// client-safe message; internal detail is logged, never shown.
func (u *UI) failed(w http.ResponseWriter, r *http.Request, err error) {
	code := patchctl.ErrorCode(err)
	status := httpapi.StatusOf(code)
	if status >= 500 {
		u.log.Error("request failed", "path", r.URL.Path, "code", code, "err", err)
	}
	heading := http.StatusText(status)
	switch code {
	case patchctl.CodeNotFound:
		heading = "Not found"
	case patchctl.CodeForbidden:
		heading = "Not allowed"
	}
	u.errorPage(w, r, status, heading, patchctl.ErrorMessage(err))
}

// isHTMX reports whether htmx sent the request (it then wants a fragment).
func isHTMX(r *http.Request) bool { return r.Header.Get("HX-Request") == "true" }

// Package web is patchctl's HTML user interface, served by `patchctl serve`
// at /: sign-in, the dashboard, the patch list and board, the patch page
// with its gate checklist and actions, findings with risk acceptance,
// scanner report uploads with their progress and summary, webhook
// deliveries, and the audit log.
//
// It is a transport like internal/httpapi: every page reads through
// internal/service and every form calls the same service operation the API
// and the CLI call, so the service authorises each action by role and no
// path skips a gate. Pages are rendered on the server with html/template
// from embedded files and work without JavaScript; htmx (vendored in
// static/) only enhances them (live SLA countdowns, filtering without a
// reload, evidence fields that follow the chosen kind, the progress of a
// running import).
//
// People sign in with an API token, exchanged for a server-side session
// (service.SignIn) whose id travels in an HttpOnly, SameSite=Lax cookie,
// Secure with the __Host- prefix when served over TLS. Every form carries
// the session's CSRF token, compared in constant time; a missing or wrong
// token is refused with 403; a report upload carries the token as the
// multipart field before the file, checked before the file is read.
// Responses carry a Content-Security-Policy that allows only the server's
// own scripts, styles and images.
package web

import (
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"github.com/patchctl/patchctl/internal/intake"
	"github.com/patchctl/patchctl/internal/service"
)

// Options configure the UI.
type Options struct {
	Logger *slog.Logger
	// TLS says the server serves HTTPS: session cookies are then Secure and
	// named with the __Host- prefix. A request that arrived over TLS is
	// treated the same way whatever this says.
	TLS bool
	// Intake runs the imports uploaded from the browser. The server passes
	// the one the API uses, so that the progress of a running import shows
	// whichever way it was started; nil builds one over the service.
	Intake *intake.Intake
	// MaxUploadBytes bounds a report upload (server.max_upload_bytes); 0
	// takes the configuration's.
	MaxUploadBytes int64
	// AsyncImportBytes is the size from which an uploaded report is imported
	// in the background while the browser watches its progress; 0 means 8
	// MiB, as over the API.
	AsyncImportBytes int64
}

// UI is the mounted web interface.
type UI struct {
	svc      *service.Service
	log      *slog.Logger
	tls      bool
	pages    map[string]*pageTemplate
	static   http.Handler
	assets   map[string]string // file name -> URL with a content hash
	crossOri *http.CrossOriginProtection
	verified *verifyCache

	intake     *intake.Intake
	maxUpload  int64
	asyncBytes int64
}

// New builds the UI over svc. It fails only if the embedded templates do not
// parse, which the package's tests catch.
func New(svc *service.Service, opts Options) (*UI, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u := &UI{svc: svc, log: log.With("component", "web"), tls: opts.TLS, verified: &verifyCache{},
		intake: opts.Intake, maxUpload: opts.MaxUploadBytes, asyncBytes: opts.AsyncImportBytes}
	if u.intake == nil {
		u.intake = intake.New(svc, log)
	}
	if u.maxUpload <= 0 {
		u.maxUpload = svc.Config().Server.MaxUploadBytes
	}
	if u.asyncBytes <= 0 {
		u.asyncBytes = 8 << 20
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	if u.assets, err = assetURLs(sub); err != nil {
		return nil, err
	}
	u.static = staticHandler(sub)
	if u.pages, err = u.parseTemplates(); err != nil {
		return nil, err
	}
	// Browsers say where a request comes from (Sec-Fetch-Site, Origin):
	// cross-site form posts are refused before the CSRF token is even
	// looked at (readForm, authedUpload). The token stays the defence for
	// browsers that do not say.
	u.crossOri = http.NewCrossOriginProtection()
	return u, nil
}

// Mount registers the UI's routes on mux: / and the pages below it, and
// /static/ for its stylesheet and scripts.
func (u *UI) Mount(mux *http.ServeMux) {
	for pattern, h := range u.routes() {
		mux.Handle(pattern, u.secure(h))
	}
}

// Handler returns the UI alone, for tests and benchmarks.
func (u *UI) Handler() http.Handler {
	mux := http.NewServeMux()
	u.Mount(mux)
	return mux
}

func (u *UI) routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /static/": http.StripPrefix("/static/", u.static),

		"GET /signin":   http.HandlerFunc(u.signInPage),
		"POST /signin":  http.HandlerFunc(u.signIn),
		"POST /signout": u.authed(u.signOut),

		"GET /{$}":                          u.authed(u.dashboard),
		"GET /patches":                      u.authed(u.patches),
		"GET /patches/board":                u.authed(u.board),
		"GET /patches/new":                  u.authed(u.newPatchPage),
		"POST /patches":                     u.authed(u.createPatch),
		"GET /patches/{id}":                 u.authed(u.patch),
		"GET /patches/{id}/evidence-fields": u.authed(u.evidenceFields),
		"POST /patches/{id}/transition":     u.authed(u.transition),
		"POST /patches/{id}/override":       u.authed(u.override),
		"POST /patches/{id}/evidence":       u.authed(u.addEvidence),
		"POST /patches/{id}/signoff":        u.authed(u.signOff),
		"POST /patches/{id}/links":          u.authed(u.addLink),
		"POST /patches/{id}/version":        u.authed(u.setVersion),
		"POST /patches/{id}/rollback":       u.authed(u.rollback),
		"POST /patches/{id}/waves/{seq}":    u.authed(u.wave),
		"POST /patches/{id}/decision":       u.authed(u.decide),
		"POST /patches/{id}/window":         u.authed(u.bookWindow),
		"POST /patches/{id}/announce":       u.authed(u.announce),
		"GET /audit":                        u.authed(u.audit),

		"GET /findings":                      u.authed(u.findings),
		"GET /findings/{id}":                 u.authed(u.finding),
		"POST /findings/{id}/accept":         u.authed(u.acceptRisk),
		"POST /findings/{id}/false-positive": u.authed(u.falsePositive),
		"POST /findings/{id}/reopen":         u.authed(u.reopenFinding),
		"GET /imports":                       u.authed(u.imports),
		"POST /imports":                      u.authedUpload(u.upload),
		"GET /imports/{id}":                  u.authed(u.importPage),
		"GET /deliveries":                    u.authed(u.deliveries),
		"GET /deliveries/{id}":               u.authed(u.delivery),
	}
}

// secure adds the security headers every UI response carries.
func (u *UI) secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if u.isTLS(r) {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			// Pages show who is signed in and what they may do: never cache.
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}

func (u *UI) isTLS(r *http.Request) bool { return u.tls || r.TLS != nil }

package web

import (
	"net/http"
	"strconv"

	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/intake"
	"github.com/patchctl/patchctl/internal/service"
)

// importsPageSize is how many imports the imports page lists at a time.
const importsPageSize = 25

// importsData is the imports page: the upload form and recent imports.
type importsData struct {
	base
	Form    *form
	Formats []importer.Format
	Imports []*intake.Result
	// FailedID is the import record of an upload that just failed.
	FailedID  int64
	OlderURL  string
	NewerURL  string
	MaxUpload int64
	AsyncAt   int64
}

// imports shows the upload form (engineers and up) and the recent imports,
// newest first, an older page at a time (?before=ID).
func (u *UI) imports(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	u.showImports(w, r, s, http.StatusOK, nil, 0)
}

// showImports renders the imports page; after a refused upload f holds the
// fields as sent (the file must be chosen again: browsers do not let a
// page fill in a file input) and what was wrong.
func (u *UI) showImports(w http.ResponseWriter, r *http.Request, s *service.WebSession, status int, f *form, failedID int64) {
	if f == nil {
		f = newForm(nil)
	}
	f.Default("format", string(importer.FormatAuto))
	var before int64
	if b := r.URL.Query().Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			u.errorPage(w, r, http.StatusBadRequest, "Bad page", "?before= takes an import number.")
			return
		}
		before = n
	}
	ims, err := u.svc.RecentImports(r.Context(), s.Actor, before, importsPageSize+1)
	if err != nil {
		u.failed(w, r, err)
		return
	}
	d := importsData{Form: f, Formats: append([]importer.Format{importer.FormatAuto}, importer.ScannerFormats...),
		FailedID: failedID, MaxUpload: u.maxUpload, AsyncAt: u.asyncBytes}
	if len(ims) > importsPageSize {
		ims = ims[:importsPageSize]
		d.OlderURL = "/imports?before=" + strconv.FormatInt(ims[len(ims)-1].ID, 10)
	}
	if before > 0 {
		d.NewerURL = "/imports"
	}
	for _, im := range ims {
		d.Imports = append(d.Imports, u.intake.Result(im))
	}
	d.base = u.pageBase(w, r, s, "Imports", "imports")
	d.Status = status
	u.render(w, r, "imports", status, d)
}

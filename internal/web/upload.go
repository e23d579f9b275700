package web

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/importer/formats"
	"github.com/patchctl/patchctl/internal/intake"
	"github.com/patchctl/patchctl/internal/service"
)

// uploadFieldsBytes is what the upload form may send besides the report:
// the CSRF token, the format and the asset, with their multipart headers.
const uploadFieldsBytes = 64 << 10

// uploadFieldMax bounds one text field of the upload form.
const uploadFieldMax = 1000

// upload imports a scanner report sent from the browser (multipart: the
// CSRF token first, then format, asset and the file). The file is streamed
// to a temporary file, never held in memory, within server.max_upload_bytes
// (413 beyond). The intake reads the temporary file: it hashes it first and
// recognises a byte-identical re-import. Reports up to the async threshold
// (8 MiB) are imported before the answer, which goes to the import's
// summary; larger ones are imported in the background and the browser goes
// to the import's page, which shows the progress until the summary.
func (u *UI) upload(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	if !s.Actor.Role.Allowed(patchctl.PermImport) {
		// Refused before a byte of the report is read.
		u.errorPage(w, r, http.StatusForbidden, "Not allowed",
			fmt.Sprintf("Importing reports needs the role engineer, oncall, lead or admin; you are %s.", s.Actor.Role))
		return
	}
	limit := u.maxUpload + uploadFieldsBytes
	if r.ContentLength > limit {
		u.tooLarge(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	mr, err := r.MultipartReader()
	if err != nil {
		u.errorPage(w, r, http.StatusBadRequest, "Bad form", "The upload could not be read. Send the form from the imports page.")
		return
	}
	f := newForm(nil)
	var (
		csrfOK bool
		spool  *os.File
		name   string
		size   int64
	)
	defer func() {
		if spool != nil {
			spool.Close()
			os.Remove(spool.Name())
		}
	}()
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			u.uploadFailed(w, r, err)
			return
		}
		field := part.FormName()
		if field != "csrf" && !csrfOK {
			// The token comes first in the form: nothing else is read
			// before it is checked.
			u.forbidden(w, r, csrfRefused)
			return
		}
		switch field {
		case "csrf":
			v, err := readField(part)
			if err != nil {
				u.uploadFailed(w, r, err)
				return
			}
			if !sameToken(v, s.CSRF) {
				u.forbidden(w, r, csrfRefused)
				return
			}
			csrfOK = true
		case "format", "asset":
			v, err := readField(part)
			if err != nil {
				u.uploadFailed(w, r, err)
				return
			}
			f.Values.Set(field, strings.TrimSpace(v))
		case "report":
			if spool != nil {
				f.Errors["report"] = "send one report at a time"
				continue
			}
			name = part.FileName()
			if spool, err = os.CreateTemp(os.TempDir(), "patchctl-upload-*"); err != nil {
				u.failed(w, r, &patchctl.Error{Code: patchctl.CodeUnavailable, Message: "the upload could not be stored", Err: err})
				return
			}
			if size, err = io.Copy(spool, io.LimitReader(part, u.maxUpload+1)); err != nil {
				u.uploadFailed(w, r, err)
				return
			}
			if size > u.maxUpload {
				u.tooLarge(w, r)
				return
			}
		}
		part.Close()
	}
	if !csrfOK {
		u.forbidden(w, r, csrfRefused)
		return
	}

	format, err := formats.ParseFormat(f.Get("format"))
	switch {
	case f.Get("format") == "":
		format = importer.FormatAuto
	case err != nil:
		f.Errors["format"] = "choose one of the formats offered"
	case format != importer.FormatAuto && !slices.Contains(importer.ScannerFormats, format):
		f.Errors["format"] = "only scanner reports are imported here; feeds are imported with the CLI or the API"
	}
	if len(f.Get("asset")) > 500 {
		f.Errors["asset"] = "at most 500 characters"
	}
	switch {
	case spool == nil || (name == "" && size == 0):
		f.Errors["report"] = "choose the report file to import"
	case size == 0:
		f.Errors["report"] = "the file " + strconv.Quote(filepath.Base(name)) + " is empty"
	}
	if f.Failed() {
		u.showImports(w, r, s, http.StatusBadRequest, f, 0)
		return
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		u.failed(w, r, &patchctl.Error{Code: patchctl.CodeUnavailable, Message: "the upload could not be read back", Err: err})
		return
	}
	source := short(200, filepath.Base(name))
	opts := intake.Options{Format: format, Asset: f.Get("asset"), Source: source, Size: size}

	if size > u.asyncBytes {
		u.importJob(w, r, s, f, spool, opts)
		spool = nil // the job removes it
		return
	}
	var id int64
	opts.OnStart = func(i int64) { id = i }
	sum, err := u.intake.Import(r.Context(), s.Actor, spool, opts)
	if err != nil {
		u.importRefused(w, r, s, f, err, id)
		return
	}
	u.done(w, r, "/imports/"+strconv.FormatInt(sum.ImportID, 10), fmt.Sprintf("Imported %s: %d finding%s, %d new, %d closed; %d patch%s created, %d updated.",
		source, sum.FindingsInReport, plural(sum.FindingsInReport), sum.FindingsNew, sum.FindingsClosed,
		sum.PatchesCreated, pluralES(sum.PatchesCreated), sum.PatchesUpdated))
}

// importJob imports a large report in the background, from the spooled
// file the intake then owns (and removes), and sends the browser to the
// import's page once the import is recorded. The intake tracks the job:
// serve waits for it on shutdown within its grace period.
func (u *UI) importJob(w http.ResponseWriter, r *http.Request, s *service.WebSession, f *form, spool *os.File, opts intake.Options) {
	id, err := u.intake.StartJob(r.Context(), s.Actor, spool, opts)
	if err != nil {
		// It ended before it was recorded: refused at once.
		u.importRefused(w, r, s, f, err, 0)
		return
	}
	u.done(w, r, "/imports/"+strconv.FormatInt(id, 10), "Importing "+opts.Source+" in the background: this page follows it.")
}

// importRefused shows the imports page again with why an import failed:
// the report does not parse, a field is wrong, the role may not import.
func (u *UI) importRefused(w http.ResponseWriter, r *http.Request, s *service.WebSession, f *form, err error, id int64) {
	if u.formError(w, r, f, err, map[string]string{"format": "format", "asset": "asset"}) {
		u.showImports(w, r, s, statusOf(err), f, id)
	}
}

// uploadFailed answers an upload that could not be read: too large (413),
// or broken off.
func (u *UI) uploadFailed(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		u.tooLarge(w, r)
		return
	}
	u.errorPage(w, r, http.StatusBadRequest, "Upload broken off", "The upload could not be read to the end. Send the form again.")
}

// tooLarge is the answer to a report over the upload limit.
func (u *UI) tooLarge(w http.ResponseWriter, r *http.Request) {
	u.errorPage(w, r, http.StatusRequestEntityTooLarge, "Report too large",
		"The report is larger than the upload limit of "+bytesText(u.maxUpload)+" (server.max_upload_bytes). "+
			"Import it with the CLI from the file (patchctl import auto FILE), or ask an admin to raise the limit.")
}

// readField reads a small text field of a multipart form.
func readField(p *multipart.Part) (string, error) {
	b, err := io.ReadAll(io.LimitReader(p, uploadFieldMax+1))
	if err != nil {
		return "", err
	}
	if len(b) > uploadFieldMax {
		return "", errors.New("field too long")
	}
	return string(b), nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func pluralES(n int) string {
	if n == 1 {
		return ""
	}
	return "es"
}

package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"

	"github.com/danielgtaylor/huma/v2"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/importer/formats"
	"github.com/patchctl/patchctl/internal/intake"
	"github.com/patchctl/patchctl/internal/store"
)

type importIn struct {
	Format string `query:"format" default:"auto" doc:"trivy, grype, osv, sarif, cyclonedx, auto (detect), or a feed: kev, epss, osv-record"`
	Asset  string `query:"asset" doc:"Override the report's asset: kind:name or name"`
	Source string `query:"source" doc:"File name, for the record"`
	Async  bool   `query:"async" doc:"Run as a job and answer 202 at once (large uploads always do)"`
}

type importOut struct {
	Status   int
	Location string `header:"Location"`
	Body     *intake.Result
}

type importIDIn struct {
	ID int64 `path:"id"`
}

type importViewOut struct{ Body *intake.Result }

type importsIn struct {
	Limit int `query:"limit" minimum:"1" maximum:"500" default:"50"`
}

type importsOut struct{ Body []*store.Import }

func (a *API) registerImports() {
	tag := []string{"imports"}
	handle(a, huma.Operation{OperationID: "create-import", Method: http.MethodPost, Path: "/imports", Tags: tag,
		Summary: "Import a scanner report or an enrichment feed",
		Description: "The request body is the report itself (JSON, CSV, optionally gzip-compressed), streamed: it is never held " +
			"in memory whole. Small reports are imported at once (200 with the summary); uploads larger than the async " +
			"threshold, or with async=true, run as a job: 202 with the import to poll at /imports/{id}. An import lands " +
			"whole or not at all.",
		Errors: []int{400, 401, 403, 413},
	}, a.createImport)
	// The body is documented here rather than declared on the operation:
	// huma reads a declared body into memory before the handler runs, and a
	// report may be a gigabyte. The handler streams it instead.
	if op := a.huma.OpenAPI().Paths["/imports"].Post; op != nil {
		binary := func() *huma.MediaType { return &huma.MediaType{Schema: &huma.Schema{Type: "string", Format: "binary"}} }
		op.RequestBody = &huma.RequestBody{Required: true, Description: "The report, optionally gzip-compressed",
			Content: map[string]*huma.MediaType{"application/json": binary(), "application/octet-stream": binary(), "text/csv": binary()}}
		op.Responses["202"] = &huma.Response{Description: "The import runs as a job: poll /imports/{id}"}
	}

	handle(a, huma.Operation{OperationID: "get-import", Method: http.MethodGet, Path: "/imports/{id}", Tags: tag,
		Summary: "An import's status, progress and summary"},
		func(ctx context.Context, actor patchctl.Actor, in *importIDIn) (*importViewOut, error) {
			im, err := a.svc.Import(ctx, actor, in.ID)
			if err != nil {
				return nil, err
			}
			return &importViewOut{Body: a.intake.Result(im)}, nil
		})

	handle(a, huma.Operation{OperationID: "list-imports", Method: http.MethodGet, Path: "/imports", Tags: tag,
		Summary: "Recent imports, newest first"},
		func(ctx context.Context, actor patchctl.Actor, in *importsIn) (*importsOut, error) {
			ims, err := a.svc.RecentImports(ctx, actor, 0, in.Limit)
			if err != nil {
				return nil, err
			}
			return &importsOut{Body: ims}, nil
		})
}

// tooLarge turns a body-limit error into a 413 problem.
func (a *API) tooLarge(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &patchctl.Error{Code: patchctl.CodeTooLarge, Message: "the upload is larger than the limit of " +
			strconv.FormatInt(a.opts.MaxUploadBytes, 10) + " bytes (server.max_upload_bytes)"}
	}
	return err
}

func (a *API) createImport(ctx context.Context, actor patchctl.Actor, in *importIn) (*importOut, error) {
	if !actor.Role.Allowed(patchctl.PermImport) {
		return nil, patchctl.Errorf(patchctl.CodeForbidden, "importing needs the role engineer, oncall, lead or admin; %s has %s", actor.Name, actor.Role)
	}
	format, err := formats.ParseFormat(in.Format)
	if err != nil {
		return nil, patchctl.FieldError("format", "%v", err)
	}
	r := requestFrom(ctx)
	if r == nil || r.Body == nil {
		return nil, patchctl.FieldError("body", "the report is missing")
	}
	if r.ContentLength > a.opts.MaxUploadBytes {
		return nil, a.tooLarge(&http.MaxBytesError{Limit: a.opts.MaxUploadBytes})
	}
	body := http.MaxBytesReader(nil, r.Body, a.opts.MaxUploadBytes)

	switch format {
	case importer.FormatKEV, importer.FormatEPSS, importer.FormatOSVRecord:
		var sum *intake.FeedSummary
		switch format {
		case importer.FormatKEV:
			sum, err = a.intake.ImportKEV(ctx, actor, body)
		case importer.FormatEPSS:
			sum, err = a.intake.ImportEPSS(ctx, actor, body)
		default:
			sum, err = a.intake.ImportOSVRecord(ctx, actor, body)
		}
		if err != nil {
			return nil, a.tooLarge(err)
		}
		return &importOut{Status: http.StatusOK, Body: &intake.Result{Import: &store.Import{Format: string(format), Status: store.ImportDone}, Feed: sum}}, nil
	}

	opts := intake.Options{Format: format, Asset: in.Asset, Source: in.Source, Size: max(r.ContentLength, 0)}
	if !in.Async && r.ContentLength >= 0 && r.ContentLength <= a.opts.AsyncImportBytes {
		sum, err := a.intake.Import(ctx, actor, body, opts)
		if err != nil {
			return nil, a.tooLarge(err)
		}
		im, err := a.svc.Import(ctx, actor, sum.ImportID)
		if err != nil {
			return nil, err
		}
		return &importOut{Status: http.StatusOK, Location: Prefix + "/imports/" + strconv.FormatInt(im.ID, 10),
			Body: &intake.Result{Import: im, Summary: sum}}, nil
	}

	// A job: spool the upload first (the client is sending it now), then
	// import from the file in the background.
	f, err := os.CreateTemp(a.opts.SpoolDir, "patchctl-import-*")
	if err != nil {
		return nil, &patchctl.Error{Code: patchctl.CodeUnavailable, Message: "cannot spool the upload", Err: err}
	}
	n, err := io.Copy(f, body)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, a.tooLarge(err)
	}
	opts.Size = n
	id, err := a.intake.StartJob(ctx, actor, f, opts)
	if err != nil {
		return nil, err
	}
	im, err := a.svc.Import(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	return &importOut{Status: http.StatusAccepted, Location: Prefix + "/imports/" + strconv.FormatInt(id, 10),
		Body: a.intake.Result(im)}, nil
}

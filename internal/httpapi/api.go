// Package httpapi is patchctl's REST API under /api/v1, described by an
// OpenAPI 3.1 document served at /api/v1/openapi.json. It is a thin
// transport: it authenticates the bearer token, decodes and validates input,
// calls internal/service, and maps errors to RFC 9457 problem documents
// (application/problem+json) naming the field or the gate at fault.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/intake"
	"github.com/patchctl/patchctl/internal/service"
)

// Prefix is where the API is mounted.
const Prefix = "/api/v1"

// Route is one registered operation.
type Route struct {
	Method string
	Path   string // relative to Prefix, with {params}
	ID     string
}

// API is the mounted REST API.
type API struct {
	svc    *service.Service
	intake *intake.Intake
	opts   Options
	log    *slog.Logger
	huma   huma.API
	mu     sync.Mutex
	routes []Route
}

// Options configure the API.
type Options struct {
	// Intake serves imports and findings.
	Intake *intake.Intake
	// MaxUploadBytes bounds report uploads (413 beyond).
	MaxUploadBytes int64
	// AsyncImportBytes: uploads larger than this run as a job (202).
	AsyncImportBytes int64
	// SpoolDir holds uploads of running import jobs (default os.TempDir).
	SpoolDir string
}

type actorKey struct{}

// ActorFrom returns the authenticated actor of a request context.
func ActorFrom(ctx context.Context) patchctl.Actor {
	a, _ := ctx.Value(actorKey{}).(patchctl.Actor)
	return a
}

// WithActor returns ctx carrying the actor (for transports that authenticate
// otherwise, like the web UI's session cookie).
func WithActor(ctx context.Context, a patchctl.Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// Mount registers the API on mux under Prefix.
func Mount(mux *http.ServeMux, svc *service.Service, log *slog.Logger, opts Options) *API {
	installErrors()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := huma.DefaultConfig("patchctl", patchctl.Version)
	// No CDN documentation page and no $schema links: patchctl runs in
	// air-gapped networks and the document is meant for tools.
	cfg.DocsPath = ""
	cfg.SchemasPath = ""
	cfg.CreateHooks = nil
	cfg.Info.Description = "Patch management control plane: patches, their triggers and evidence, SOP-005 gates, rollouts, audit."
	cfg.Servers = []*huma.Server{{URL: Prefix}}
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "An API token: pct_..."},
	}
	cfg.Security = []map[string][]string{{"bearer": {}}}
	if opts.MaxUploadBytes <= 0 {
		opts.MaxUploadBytes = 1 << 30
	}
	if opts.AsyncImportBytes <= 0 {
		opts.AsyncImportBytes = 8 << 20
	}
	a := &API{svc: svc, intake: opts.Intake, opts: opts, log: log.With("component", "httpapi")}
	a.huma = humago.NewWithPrefix(mux, Prefix, cfg)
	a.huma.UseMiddleware(a.withRequest, a.authenticate)
	a.registerPatches()
	a.registerAdmin()
	if a.intake != nil {
		a.registerFindings()
		a.registerImports()
	}
	return a
}

// OpenAPI returns the document.
func (a *API) OpenAPI() *huma.OpenAPI { return a.huma.OpenAPI() }

// Routes lists the registered operations, sorted.
func (a *API) Routes() []Route {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := append([]Route(nil), a.routes...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

type requestKey struct{}

// withRequest keeps the *http.Request in the context, for the few handlers
// that stream the request body themselves (report uploads).
func (a *API) withRequest(ctx huma.Context, next func(huma.Context)) {
	r, _ := humago.Unwrap(ctx)
	next(huma.WithValue(ctx, requestKey{}, r))
}

func requestFrom(ctx context.Context) *http.Request {
	r, _ := ctx.Value(requestKey{}).(*http.Request)
	return r
}

// authenticate resolves the bearer token of every operation.
func (a *API) authenticate(ctx huma.Context, next func(huma.Context)) {
	if a, ok := ctx.Context().Value(actorKey{}).(patchctl.Actor); ok && a.Name != "" {
		next(ctx)
		return
	}
	h := ctx.Header("Authorization")
	scheme, token, _ := strings.Cut(h, " ")
	if h == "" || !strings.EqualFold(scheme, "Bearer") {
		ctx.SetHeader("WWW-Authenticate", `Bearer realm="patchctl"`)
		_ = huma.WriteErr(a.huma, ctx, http.StatusUnauthorized, "a token is required: Authorization: Bearer pct_...")
		return
	}
	actor, err := a.svc.Authenticate(ctx.Context(), token)
	if err != nil {
		p := ProblemFor(ctx.Context(), a.log, err)
		if p.Status == http.StatusUnauthorized {
			ctx.SetHeader("WWW-Authenticate", `Bearer realm="patchctl", error="invalid_token"`)
		}
		_ = huma.WriteErr(a.huma, ctx, p.Status, p.Detail)
		return
	}
	next(huma.WithValue(ctx, actorKey{}, actor))
}

// handle registers an operation whose handler gets the actor and whose
// errors become problems.
func handle[I, O any](a *API, op huma.Operation, fn func(ctx context.Context, actor patchctl.Actor, in *I) (*O, error)) {
	a.mu.Lock()
	a.routes = append(a.routes, Route{Method: op.Method, Path: op.Path, ID: op.OperationID})
	a.mu.Unlock()
	if op.Errors == nil {
		op.Errors = []int{400, 401, 403, 404, 409}
	}
	huma.Register(a.huma, op, func(ctx context.Context, in *I) (*O, error) {
		out, err := fn(ctx, ActorFrom(ctx), in)
		if err != nil {
			return nil, ProblemFor(ctx, a.log, err)
		}
		return out, nil
	})
}

// Package argocdtest provides a fake Argo CD API server and helpers to
// build Application documents and render patchctl's notification
// templates, for the tests of any package that talks to Argo CD.
//
// The server answers, over real HTTP, the calls internal/integration/argocd
// makes: GET and PATCH (JSON merge patch) /api/v1/applications/{name} and
// POST /api/v1/applications/{name}/rollback. It checks the bearer token,
// refuses a rollback while automated sync is enabled or an operation is
// pending with the error body Argo CD's API sends, records every call, and
// can complete a requested operation the way Argo CD's controller would
// (CompleteOperation).
//
// Applications are documents in the shape the API returns them
// (map[string]any decoded from JSON). Build them from a real manifest with
// LoadApplication or ApplicationFromYAML, then set the status you need.
package argocdtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// App is an Application document as the Argo CD API returns it.
type App = map[string]any

// Call is one request the server received.
type Call struct {
	Method        string
	Path          string
	RawQuery      string
	Authorization string
	Body          []byte
}

// RollbackCall is the decoded body of an accepted or refused rollback.
type RollbackCall struct {
	Name         string
	ID           int64
	Prune        bool
	DryRun       bool
	AppNamespace string
	// Refused is the error message when the server refused the rollback.
	Refused string
}

// Server is a fake Argo CD API server.
type Server struct {
	// URL is the base URL to configure the client with.
	URL string
	// Token is the bearer token the server accepts.
	Token string
	srv   *httptest.Server

	mu        sync.Mutex
	apps      map[string]App
	calls     []Call
	rollbacks []RollbackCall
}

// NewServer starts a server accepting token and stops it when the test
// ends.
func NewServer(t testing.TB, token string) *Server {
	t.Helper()
	s := &Server{Token: token, apps: map[string]App{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/applications/{name}", s.get)
	mux.HandleFunc("PATCH /api/v1/applications/{name}", s.patch)
	mux.HandleFunc("POST /api/v1/applications/{name}/rollback", s.rollback)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, codeNotFound, "Not Found")
	})
	s.srv = httptest.NewServer(s.record(mux))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// HTTPClient returns a client for the server.
func (s *Server) HTTPClient() *http.Client { return s.srv.Client() }

// Put stores an application, replacing one of the same name.
func (s *Server) Put(app App) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[Name(app)] = Clone(app)
}

// App returns a copy of the stored application, nil if there is none.
func (s *Server) App(name string) App {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.apps[name]; ok {
		return Clone(a)
	}
	return nil
}

// Update changes a stored application in place.
func (s *Server) Update(name string, f func(App)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.apps[name]; ok {
		f(a)
	}
}

// Calls returns the requests received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Rollbacks returns the rollback requests received so far, refused ones
// included.
func (s *Server) Rollbacks() []RollbackCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RollbackCall(nil), s.rollbacks...)
}

// CompleteOperation finishes the pending operation of an application as
// Argo CD's controller does: the operation moves to
// status.operationState with the given phase and, if it succeeded and was
// not a dry run, the revision becomes the synced one and a history entry
// is appended.
func (s *Server) CompleteOperation(name, phase string, at time.Time) {
	s.Update(name, func(a App) {
		op, _ := a["operation"].(map[string]any)
		if op == nil {
			return
		}
		delete(a, "operation")
		syncOp, _ := op["sync"].(map[string]any)
		rev, _ := syncOp["revision"].(string)
		src, _ := syncOp["source"].(map[string]any)
		dryRun, _ := syncOp["dryRun"].(bool)
		st := ensure(a, "status")
		state := map[string]any{
			"phase":      phase,
			"message":    "successfully synced (all tasks run)",
			"operation":  op,
			"startedAt":  at.UTC().Format(time.RFC3339),
			"finishedAt": at.UTC().Format(time.RFC3339),
			"syncResult": map[string]any{"revision": rev, "source": src},
		}
		if phase != "Succeeded" {
			state["message"] = "one or more objects failed to apply"
		}
		st["operationState"] = state
		if phase != "Succeeded" || dryRun {
			return
		}
		ensure(st, "sync")["revision"] = rev
		hist, _ := st["history"].([]any)
		next := int64(0)
		for _, h := range hist {
			if id, ok := asInt(h.(map[string]any)["id"]); ok && id >= next {
				next = id + 1
			}
		}
		st["history"] = append(hist, map[string]any{
			"id": next, "revision": rev, "source": src,
			"deployStartedAt": at.UTC().Format(time.RFC3339),
			"deployedAt":      at.UTC().Format(time.RFC3339),
		})
	})
}

// gRPC status codes in Argo CD's error bodies.
const (
	codeInvalidArgument    = 3
	codeNotFound           = 5
	codeFailedPrecondition = 9
	codeUnauthenticated    = 16
)

// writeError writes an error the way Argo CD's API gateway does: the gRPC
// status message in error and message, and its code.
func writeError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": msg, "code": code, "message": msg})
}

func writeApp(w http.ResponseWriter, a App) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(a)
}

// record stores each call and checks the token before any handler runs.
func (s *Server) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.mu.Lock()
		s.calls = append(s.calls, Call{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
			Authorization: r.Header.Get("Authorization"), Body: body})
		s.mu.Unlock()
		switch auth := r.Header.Get("Authorization"); {
		case auth == "":
			writeError(w, http.StatusUnauthorized, codeUnauthenticated, "no session information")
			return
		case auth != "Bearer "+s.Token:
			writeError(w, http.StatusUnauthorized, codeUnauthenticated, "invalid session: token signature is invalid")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func notFound(w http.ResponseWriter, name string) {
	writeError(w, http.StatusNotFound, codeNotFound, fmt.Sprintf("applications.argoproj.io %q not found", name))
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	a := s.App(r.PathValue("name"))
	if a == nil {
		notFound(w, r.PathValue("name"))
		return
	}
	writeApp(w, a)
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req struct {
		Name         string `json:"name"`
		ID           *int64 `json:"id"`
		Prune        bool   `json:"prune"`
		DryRun       bool   `json:"dryRun"`
		AppNamespace string `json:"appNamespace"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, codeInvalidArgument, err.Error())
		return
	}
	call := RollbackCall{Name: name, Prune: req.Prune, DryRun: req.DryRun, AppNamespace: req.AppNamespace}
	if req.ID != nil {
		call.ID = *req.ID
	}
	s.mu.Lock()
	app, status, code, msg := s.rollbackLocked(name, call)
	call.Refused = msg
	s.rollbacks = append(s.rollbacks, call)
	s.mu.Unlock()
	if msg != "" {
		writeError(w, status, code, msg)
		return
	}
	writeApp(w, app)
}

// rollbackLocked applies a rollback request; it returns the application,
// or the HTTP status, gRPC code and message of a refusal. The checks, their
// order and their messages follow Argo CD's Rollback.
func (s *Server) rollbackLocked(name string, call RollbackCall) (App, int, int, string) {
	a, ok := s.apps[name]
	if !ok {
		return nil, http.StatusNotFound, codeNotFound, fmt.Sprintf("applications.argoproj.io %q not found", name)
	}
	if dig(a, "metadata", "deletionTimestamp") != nil {
		return nil, http.StatusBadRequest, codeFailedPrecondition, "application is deleting"
	}
	if AutoSyncEnabled(a) {
		return nil, http.StatusBadRequest, codeFailedPrecondition, "rollback cannot be initiated when auto-sync is enabled"
	}
	var entry map[string]any
	hist, _ := dig(a, "status", "history").([]any)
	for _, h := range hist {
		m, _ := h.(map[string]any)
		if id, ok := asInt(m["id"]); ok && id == call.ID {
			entry = m
		}
	}
	if entry == nil {
		return nil, http.StatusBadRequest, codeInvalidArgument,
			fmt.Sprintf("application %s does not have deployment with id %d", name, call.ID)
	}
	if a["operation"] != nil {
		return nil, http.StatusBadRequest, codeFailedPrecondition, "another operation is already in progress"
	}
	a["operation"] = map[string]any{
		"sync": map[string]any{
			"revision": entry["revision"], "source": entry["source"],
			"prune": call.Prune, "dryRun": call.DryRun,
		},
		"initiatedBy": map[string]any{"username": "admin"},
		"info":        []any{map[string]any{"name": "Reason", "value": fmt.Sprintf("Rollback to %d", call.ID)}},
	}
	return Clone(a), 0, 0, ""
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req struct {
		Name         string `json:"name"`
		Patch        string `json:"patch"`
		PatchType    string `json:"patchType"`
		AppNamespace string `json:"appNamespace"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, codeInvalidArgument, err.Error())
		return
	}
	if req.PatchType != "merge" {
		// Argo CD also takes JSON patches (patchType json or empty); this
		// fake implements the merge patches patchctl sends.
		writeError(w, http.StatusBadRequest, codeInvalidArgument,
			fmt.Sprintf("argocdtest: patch type %q is not implemented, only merge", req.PatchType))
		return
	}
	var p any
	if err := json.Unmarshal([]byte(req.Patch), &p); err != nil {
		writeError(w, http.StatusBadRequest, codeInvalidArgument, "error calculating merge patch: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[name]
	if !ok {
		notFound(w, name)
		return
	}
	merged, _ := MergePatch(a, p).(map[string]any)
	s.apps[name] = merged
	writeApp(w, Clone(merged))
}

// MergePatch applies an RFC 7386 JSON merge patch to doc and returns the
// result; doc is not modified.
func MergePatch(doc, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return Clone(patch)
	}
	dm, ok := doc.(map[string]any)
	if !ok {
		dm = map[string]any{}
	}
	out := make(map[string]any, len(dm))
	for k, v := range dm {
		out[k] = v
	}
	for k, v := range pm {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = MergePatch(out[k], v)
	}
	return Clone(out)
}

// Clone deep-copies a JSON document.
func Clone[T any](v T) T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("argocdtest: document is not JSON: %v", err))
	}
	var out T
	if err := unmarshalInts(b, &out); err != nil {
		panic(fmt.Sprintf("argocdtest: %v", err))
	}
	return out
}

// unmarshalInts decodes JSON with integers as int64 and other numbers as
// float64, as Kubernetes does for unstructured objects such as the
// Application Argo CD hands to notification templates.
func unmarshalInts(b []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	v = numbers(v)
	nb, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if p, ok := out.(*any); ok {
		*p = v
		return nil
	}
	if p, ok := out.(*map[string]any); ok {
		m, _ := v.(map[string]any)
		*p = m
		return nil
	}
	return json.Unmarshal(nb, out)
}

func numbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// ApplicationFromYAML turns an Application manifest (YAML or JSON) into
// the document the API returns.
func ApplicationFromYAML(data []byte) (App, error) {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	b, err := json.Marshal(jsonable(v))
	if err != nil {
		return nil, err
	}
	var a App
	if err := unmarshalInts(b, &a); err != nil {
		return nil, err
	}
	if a == nil {
		return nil, fmt.Errorf("not an object")
	}
	return a, nil
}

// LoadApplication reads an Application manifest file.
func LoadApplication(path string) (App, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	a, err := ApplicationFromYAML(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// jsonable converts what yaml.v3 decodes into JSON-compatible values: maps
// with non-string keys get string keys, timestamps RFC 3339 text.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return fmt.Sprint(x)
		}
	}
	return v
}

// Name returns metadata.name.
func Name(a App) string {
	n, _ := dig(a, "metadata", "name").(string)
	return n
}

func dig(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// ensure returns m[key] as an object, creating it if absent.
func ensure(m map[string]any, key string) map[string]any {
	if c, ok := m[key].(map[string]any); ok {
		return c
	}
	c := map[string]any{}
	m[key] = c
	return c
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case float64:
		return int64(x), x == math.Trunc(x)
	case json.Number:
		i, err := x.Int64()
		return i, err == nil
	}
	return 0, false
}

// Package webhook serves patchctl's signed webhook endpoints:
//
//	POST /hooks/github   GitHub deliveries, signed with X-Hub-Signature-256
//	POST /hooks/argocd   argocd-notifications bodies from the shipped
//	                     templates, carrying the shared secret in X-Patchctl-Token
//
// A handler bounds the body (server.max_webhook_bytes), checks the sender in
// constant time before anything else happens, parses the payload and hands
// it to the GitOps loop, which records the delivery and its effects in one
// transaction. Answers:
//
//	200  processed, ignored or unmatched (what was done is in the body), or
//	     "duplicate" for a delivery recorded before (nothing changes)
//	400  malformed payload or delivery headers: nothing is recorded
//	401  missing or wrong signature or token: nothing is recorded
//	413  body over the limit
//	500  applying the delivery failed: it is recorded as failed, and a
//	     redelivery is processed again
//	503  no secret configured: the body says which variable to set
//
// Errors are RFC 9457 problem documents, as from the REST API.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/gitops"
	"github.com/patchctl/patchctl/internal/httpapi"
	"github.com/patchctl/patchctl/internal/integration/argocd"
	"github.com/patchctl/patchctl/internal/integration/github"
	"github.com/patchctl/patchctl/internal/service"
)

// Paths of the endpoints.
const (
	PathGitHub = "/hooks/github"
	PathArgoCD = "/hooks/argocd"
)

// StatusDuplicate is the status answered for a delivery recorded before.
const StatusDuplicate = "duplicate"

// Answer is the body of a 200 answer.
type Answer struct {
	Source   string   `json:"source"`
	Delivery string   `json:"delivery"`
	Event    string   `json:"event"`
	Action   string   `json:"action,omitempty"`
	Status   string   `json:"status"`
	Patches  []string `json:"patches,omitempty"`
	Summary  string   `json:"summary,omitempty"`
	// Recorded is the id of the delivery record (GET /api/v1/deliveries/{id}).
	Recorded int64 `json:"recorded,omitempty"`
}

// Handlers serve the webhook endpoints for one GitOps loop.
type Handlers struct {
	loop *gitops.Loop
	log  *slog.Logger
}

// New returns the handlers.
func New(loop *gitops.Loop, log *slog.Logger) *Handlers {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handlers{loop: loop, log: log.With("component", "webhook")}
}

// Mount registers both endpoints on mux.
func (h *Handlers) Mount(mux *http.ServeMux) {
	mux.HandleFunc("POST "+PathGitHub, h.GitHub)
	mux.HandleFunc("POST "+PathArgoCD, h.ArgoCD)
}

// GitHub serves POST /hooks/github.
func (h *Handlers) GitHub(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	secret, env := h.loop.GitHubWebhookSecret()
	if len(secret) == 0 {
		h.fail(ctx, w, patchctl.Errorf(patchctl.CodeUnavailable,
			"GitHub webhooks are not accepted: no webhook secret is configured; set the environment variable %s (integrations.github.webhook_secret_env)", env))
		return
	}
	body, err := readBody(w, r, h.loop.MaxWebhookBytes())
	if err != nil {
		h.fail(ctx, w, err)
		return
	}
	ev, err := github.VerifyAndParse(secret, r.Header, body)
	if err != nil {
		if patchctl.ErrorCode(err) == patchctl.CodeUnauthorized {
			h.log.WarnContext(ctx, "github delivery refused", "delivery", r.Header.Get(github.HeaderDelivery), "remote", r.RemoteAddr, "err", err)
		} else {
			h.log.WarnContext(ctx, "github delivery malformed", "delivery", r.Header.Get(github.HeaderDelivery),
				"event", r.Header.Get(github.HeaderEvent), "err", err)
		}
		h.fail(ctx, w, err)
		return
	}
	if ev.Type == github.TypeIgnored {
		h.log.InfoContext(ctx, "github event ignored", "delivery", ev.Delivery, "event", ev.Name, "action", ev.Action, "repo", ev.Repo)
	}
	res, err := h.loop.HandleGitHub(ctx, ev)
	h.answer(ctx, w, gitops.SourceGitHub, res, err)
}

// ArgoCD serves POST /hooks/argocd.
func (h *Handlers) ArgoCD(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token, env := h.loop.ArgoCDWebhookToken()
	if token == "" {
		h.fail(ctx, w, patchctl.Errorf(patchctl.CodeUnavailable,
			"Argo CD notifications are not accepted: no webhook token is configured; set the environment variable %s (integrations.argocd.webhook_token_env)", env))
		return
	}
	// The token is a header: check it before reading a byte of the body.
	if err := argocd.VerifyToken(r.Header.Get(argocd.TokenHeader), token); err != nil {
		h.log.WarnContext(ctx, "argocd notification refused", "remote", r.RemoteAddr, "err", err)
		h.fail(ctx, w, err)
		return
	}
	body, err := readBody(w, r, min(h.loop.MaxWebhookBytes(), argocd.MaxNotificationBytes))
	if err != nil {
		h.fail(ctx, w, err)
		return
	}
	n, err := argocd.ParseNotification(body)
	if err != nil {
		h.log.WarnContext(ctx, "argocd notification malformed", "err", err)
		h.fail(ctx, w, err)
		return
	}
	res, err := h.loop.HandleArgoCD(ctx, n, body)
	h.answer(ctx, w, gitops.SourceArgoCD, res, err)
}

// readBody reads at most limit bytes; more is CodeTooLarge.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, patchctl.Errorf(patchctl.CodeTooLarge, "the body of %d bytes is over the %d-byte limit", r.ContentLength, limit)
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + bytes.MinRead) // one read, no regrowth
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, patchctl.Errorf(patchctl.CodeTooLarge, "the body is over the %d-byte limit", limit)
	case err != nil:
		return nil, &patchctl.Error{Code: patchctl.CodeInvalid, Message: "reading the body failed", Err: err}
	}
	return buf.Bytes(), nil
}

func (h *Handlers) answer(ctx context.Context, w http.ResponseWriter, source string, res *service.DeliveryResult, err error) {
	if err != nil {
		h.fail(ctx, w, err)
		return
	}
	d := res.Delivery
	a := Answer{Source: source, Delivery: d.DeliveryID, Event: d.Event, Action: d.Action, Status: d.Status, Patches: d.PatchKeys,
		Summary: d.Summary, Recorded: d.ID}
	if res.Duplicate {
		a.Status = StatusDuplicate
		a.Summary = "delivery recorded before (" + d.Status + "); nothing changed"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(a)
}

// fail answers a problem document; 5xx detail is logged, never sent.
func (h *Handlers) fail(ctx context.Context, w http.ResponseWriter, err error) {
	p := httpapi.ProblemFor(ctx, h.log, err)
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

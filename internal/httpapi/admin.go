package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

type statusOut struct{ Body *service.Status }

type overridesIn struct {
	Limit  int `query:"limit" minimum:"1" maximum:"1000" default:"100"`
	Offset int `query:"offset" minimum:"0"`
}

type overridesOut struct{ Body []patchctl.Override }

type releasesIn struct {
	Subject string `query:"subject" required:"true" doc:"Application or system"`
}

type releasesOut struct{ Body []store.StableVersion }

type recordReleaseIn struct {
	Body struct {
		Subject     string     `json:"subject" minLength:"1"`
		Environment string     `json:"environment" minLength:"1"`
		Version     string     `json:"version" minLength:"1"`
		Source      string     `json:"source,omitempty"`
		At          *time.Time `json:"at,omitempty" doc:"When the version was known stable (default now)"`
	}
}

type releaseOut struct{ Body *store.StableVersion }

type auditIn struct {
	Subject   string    `query:"subject"`
	Actor     string    `query:"actor"`
	Action    string    `query:"action"`
	Since     time.Time `query:"since"`
	Until     time.Time `query:"until"`
	AfterSeq  int64     `query:"after" doc:"Page forward: events after this sequence number"`
	BeforeSeq int64     `query:"before" doc:"Page backward: events before this sequence number"`
	Order     string    `query:"order" enum:"asc,desc" default:"asc"`
	Limit     int       `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

type auditOut struct{ Body []patchctl.AuditEvent }

type verifyOut struct{ Body *store.Verification }

type exportIn struct {
	AfterSeq int64 `query:"after"`
}

type tokensIn struct {
	All bool `query:"all" doc:"Include revoked tokens"`
}

type tokensOut struct{ Body []*store.Token }

type createTokenIn struct {
	Body struct {
		Name string        `json:"name" minLength:"1" maxLength:"100"`
		Role patchctl.Role `json:"role" enum:"viewer,engineer,oncall,lead,admin"`
		TTL  string        `json:"ttl,omitempty" doc:"Lifetime, e.g. 720h or 30d; omit for no expiry"`
	}
}

type newTokenOut struct{ Body *service.NewToken }

type tokenIDIn struct {
	ID int64 `path:"id"`
}

type tokenOut struct{ Body *store.Token }

type outboxIn struct {
	Topic       string `query:"topic" doc:"A topic, or a prefix ending in *"`
	Subject     string `query:"subject"`
	Undelivered bool   `query:"undelivered"`
	Limit       int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

type outboxOut struct{ Body []store.OutboxMessage }

type timersIn struct {
	Kind    string `query:"kind" doc:"Kind prefix, e.g. sla."`
	Subject string `query:"subject"`
}

type timersOut struct{ Body []store.Timer }

func (a *API) registerAdmin() {
	handle(a, huma.Operation{OperationID: "get-status", Method: http.MethodGet, Path: "/status", Tags: []string{"status"},
		Summary: "Versions, warnings and headline counts"},
		func(ctx context.Context, actor patchctl.Actor, _ *struct{}) (*statusOut, error) {
			st, err := a.svc.Status(ctx, actor)
			if err != nil {
				return nil, err
			}
			return &statusOut{Body: st}, nil
		})

	handle(a, huma.Operation{OperationID: "list-overrides", Method: http.MethodGet, Path: "/overrides", Tags: []string{"audit"},
		Summary: "List every override, newest first"},
		func(ctx context.Context, actor patchctl.Actor, in *overridesIn) (*overridesOut, error) {
			o, err := a.svc.Overrides(ctx, actor, in.Limit, in.Offset)
			if err != nil {
				return nil, err
			}
			return &overridesOut{Body: o}, nil
		})

	handle(a, huma.Operation{OperationID: "list-releases", Method: http.MethodGet, Path: "/releases", Tags: []string{"releases"},
		Summary: "Known stable versions of an application or system"},
		func(ctx context.Context, actor patchctl.Actor, in *releasesIn) (*releasesOut, error) {
			r, err := a.svc.StableVersions(ctx, actor, in.Subject)
			if err != nil {
				return nil, err
			}
			if r == nil {
				r = []store.StableVersion{}
			}
			return &releasesOut{Body: r}, nil
		})

	handle(a, huma.Operation{OperationID: "record-release", Method: http.MethodPost, Path: "/releases", Tags: []string{"releases"},
		Summary: "Record a known stable version", DefaultStatus: http.StatusCreated,
		Description: "A baseline that rollbacks can return to, e.g. the version running before patchctl was adopted."},
		func(ctx context.Context, actor patchctl.Actor, in *recordReleaseIn) (*releaseOut, error) {
			sv := store.StableVersion{Subject: in.Body.Subject, Environment: in.Body.Environment, Version: in.Body.Version, Source: in.Body.Source}
			if in.Body.At != nil {
				sv.RecordedAt = *in.Body.At
			}
			r, err := a.svc.RecordStable(ctx, actor, sv)
			if err != nil {
				return nil, err
			}
			return &releaseOut{Body: r}, nil
		})

	handle(a, huma.Operation{OperationID: "list-audit", Method: http.MethodGet, Path: "/audit", Tags: []string{"audit"},
		Summary: "Read the audit log"},
		func(ctx context.Context, actor patchctl.Actor, in *auditIn) (*auditOut, error) {
			f := store.AuditFilter{Subject: in.Subject, Actor: in.Actor, Action: in.Action, AfterSeq: in.AfterSeq,
				BeforeSeq: in.BeforeSeq, Desc: in.Order == "desc", Limit: in.Limit}
			if !in.Since.IsZero() {
				f.Since = &in.Since
			}
			if !in.Until.IsZero() {
				f.Until = &in.Until
			}
			ev, err := a.svc.AuditEvents(ctx, actor, f)
			if err != nil {
				return nil, err
			}
			return &auditOut{Body: ev}, nil
		})

	handle(a, huma.Operation{OperationID: "verify-audit", Method: http.MethodGet, Path: "/audit/verify", Tags: []string{"audit"},
		Summary: "Verify the audit hash chain", Description: "Reports the first modified, deleted or reordered event."},
		func(ctx context.Context, actor patchctl.Actor, _ *struct{}) (*verifyOut, error) {
			v, err := a.svc.VerifyAudit(ctx, actor)
			if err != nil {
				return nil, err
			}
			return &verifyOut{Body: v}, nil
		})

	handle(a, huma.Operation{OperationID: "export-audit", Method: http.MethodGet, Path: "/audit/export", Tags: []string{"audit"},
		Summary: "Export the audit log as JSON lines",
		Responses: map[string]*huma.Response{"200": {Description: "One audit event per line",
			Content: map[string]*huma.MediaType{"application/x-ndjson": {Schema: &huma.Schema{Type: "string"}}}}}},
		func(ctx context.Context, actor patchctl.Actor, in *exportIn) (*huma.StreamResponse, error) {
			// Authorise before streaming so a refusal is still a problem document.
			if _, err := a.svc.AuditEvents(ctx, actor, store.AuditFilter{Limit: 1}); err != nil {
				return nil, err
			}
			return &huma.StreamResponse{Body: func(hctx huma.Context) {
				hctx.SetHeader("Content-Type", "application/x-ndjson")
				enc := json.NewEncoder(hctx.BodyWriter())
				err := a.svc.ExportAudit(ctx, actor, in.AfterSeq, func(e patchctl.AuditEvent) error { return enc.Encode(e) })
				if err != nil {
					a.log.Error("audit export failed", "err", err)
				}
			}}, nil
		})

	handle(a, huma.Operation{OperationID: "list-tokens", Method: http.MethodGet, Path: "/tokens", Tags: []string{"tokens"},
		Summary: "List API tokens (admin)"},
		func(ctx context.Context, actor patchctl.Actor, in *tokensIn) (*tokensOut, error) {
			ts, err := a.svc.Tokens(ctx, actor, in.All)
			if err != nil {
				return nil, err
			}
			return &tokensOut{Body: ts}, nil
		})

	handle(a, huma.Operation{OperationID: "create-token", Method: http.MethodPost, Path: "/tokens", Tags: []string{"tokens"},
		Summary: "Create an API token (admin)", DefaultStatus: http.StatusCreated,
		Description: "The secret is returned once; only its hash is stored."},
		func(ctx context.Context, actor patchctl.Actor, in *createTokenIn) (*newTokenOut, error) {
			ti := service.TokenInput{Name: in.Body.Name, Role: in.Body.Role}
			if in.Body.TTL != "" {
				d, err := config.ParseDuration(in.Body.TTL)
				if err != nil {
					return nil, patchctl.FieldError("ttl", "%v", err)
				}
				ti.TTL = d
			}
			t, err := a.svc.CreateToken(ctx, actor, ti)
			if err != nil {
				return nil, err
			}
			return &newTokenOut{Body: t}, nil
		})

	handle(a, huma.Operation{OperationID: "revoke-token", Method: http.MethodDelete, Path: "/tokens/{id}", Tags: []string{"tokens"},
		Summary: "Revoke an API token (admin)"},
		func(ctx context.Context, actor patchctl.Actor, in *tokenIDIn) (*tokenOut, error) {
			t, err := a.svc.RevokeToken(ctx, actor, in.ID)
			if err != nil {
				return nil, err
			}
			return &tokenOut{Body: t}, nil
		})

	handle(a, huma.Operation{OperationID: "list-notifications", Method: http.MethodGet, Path: "/notifications", Tags: []string{"notifications"},
		Summary: "Notification messages in the outbox"},
		func(ctx context.Context, actor patchctl.Actor, in *outboxIn) (*outboxOut, error) {
			m, err := a.svc.Outbox(ctx, actor, store.OutboxFilter{Topic: in.Topic, Subject: in.Subject, Undelivered: in.Undelivered, Limit: in.Limit})
			if err != nil {
				return nil, err
			}
			return &outboxOut{Body: m}, nil
		})

	handle(a, huma.Operation{OperationID: "list-timers", Method: http.MethodGet, Path: "/timers", Tags: []string{"notifications"},
		Summary: "Pending durable timers (SLA reminders, expiries, feeds)"},
		func(ctx context.Context, actor patchctl.Actor, in *timersIn) (*timersOut, error) {
			t, err := a.svc.Timers(ctx, actor, in.Kind, in.Subject)
			if err != nil {
				return nil, err
			}
			return &timersOut{Body: t}, nil
		})
}

package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

type listFindingsIn struct {
	Severity []string `query:"severity" enum:"critical,high,medium,low,none,unknown" doc:"Filter by normalised severity (comma-separated)"`
	State    []string `query:"state" enum:"open,closed,risk_accepted,false_positive,not_affected,fixed" doc:"Filter by state (default: all)"`
	KEV      string   `query:"kev" enum:"true,false" doc:"Only findings on (true) or off (false) the CISA KEV catalog"`
	EPSSMin  float64  `query:"epss_min" minimum:"0" maximum:"1" doc:"Only findings with an EPSS score at least this"`
	Asset    string   `query:"asset" doc:"Asset name, or a prefix ending in *"`
	Package  string   `query:"package"`
	Vuln     string   `query:"vuln" doc:"Vulnerability id or alias"`
	Patch    string   `query:"patch" doc:"Findings fixed by this patch"`
	NoFix    bool     `query:"no_fix" doc:"Only findings without a fixed version"`
	Limit    int      `query:"limit" minimum:"1" maximum:"1000" default:"50"`
	Offset   int      `query:"offset" minimum:"0"`
}

type findingListOut struct{ Body *service.FindingList }
type findingIDIn struct {
	ID int64 `path:"id"`
}
type findingDetailOut struct{ Body *service.FindingDetail }
type findingOut struct{ Body *patchctl.Finding }
type findingStatsOut struct{ Body *store.FindingStats }

type acceptIn struct {
	ID   int64 `path:"id"`
	Body struct {
		Reason    string    `json:"reason" minLength:"1" maxLength:"5000"`
		ExpiresAt time.Time `json:"expires_at" doc:"When the acceptance ends and the finding reopens"`
	}
}

type reasonIn struct {
	ID   int64 `path:"id"`
	Body struct {
		Reason string `json:"reason" minLength:"1" maxLength:"5000"`
	}
}

func (a *API) registerFindings() {
	tag := []string{"findings"}
	handle(a, huma.Operation{OperationID: "list-findings", Method: http.MethodGet, Path: "/findings", Tags: tag,
		Summary: "List findings, most severe first"},
		func(ctx context.Context, actor patchctl.Actor, in *listFindingsIn) (*findingListOut, error) {
			f := store.FindingFilter{EPSSMin: in.EPSSMin, Asset: in.Asset, Package: in.Package, VulnID: in.Vuln, NoFix: in.NoFix,
				Limit: in.Limit, Offset: in.Offset}
			for _, s := range in.Severity {
				f.Severities = append(f.Severities, patchctl.Severity(s))
			}
			for _, s := range in.State {
				f.States = append(f.States, patchctl.FindingState(s))
			}
			if in.KEV != "" {
				kev := in.KEV == "true"
				f.KEV = &kev
			}
			if in.Patch != "" {
				id, err := patchctl.ParsePatchKey(in.Patch)
				if err != nil {
					return nil, patchctl.FieldError("patch", "%q is not a patch id", in.Patch)
				}
				f.PatchID = id
			}
			res, err := a.svc.ListFindings(ctx, actor, f)
			if err != nil {
				return nil, err
			}
			return &findingListOut{Body: res}, nil
		})

	handle(a, huma.Operation{OperationID: "finding-stats", Method: http.MethodGet, Path: "/findings/stats", Tags: tag,
		Summary: "Open findings by severity, on KEV, accepted"},
		func(ctx context.Context, actor patchctl.Actor, _ *struct{}) (*findingStatsOut, error) {
			st, err := a.svc.FindingStats(ctx, actor)
			if err != nil {
				return nil, err
			}
			return &findingStatsOut{Body: st}, nil
		})

	handle(a, huma.Operation{OperationID: "get-finding", Method: http.MethodGet, Path: "/findings/{id}", Tags: tag,
		Summary: "Show a finding with its history"},
		func(ctx context.Context, actor patchctl.Actor, in *findingIDIn) (*findingDetailOut, error) {
			d, err := a.svc.Finding(ctx, actor, in.ID)
			if err != nil {
				return nil, err
			}
			return &findingDetailOut{Body: d}, nil
		})

	handle(a, huma.Operation{OperationID: "accept-finding-risk", Method: http.MethodPost, Path: "/findings/{id}/risk-acceptance", Tags: tag,
		Summary:     "Accept a finding's risk until an expiry (lead or admin)",
		Description: "On expiry the finding reopens; the SLA clock of its patch still counts from the original detection."},
		func(ctx context.Context, actor patchctl.Actor, in *acceptIn) (*findingOut, error) {
			exp := in.Body.ExpiresAt
			f, err := a.svc.AcceptRisk(ctx, actor, in.ID, service.AcceptanceInput{Reason: in.Body.Reason, ExpiresAt: &exp})
			if err != nil {
				return nil, err
			}
			return &findingOut{Body: f}, nil
		})

	handle(a, huma.Operation{OperationID: "mark-finding-false-positive", Method: http.MethodPost, Path: "/findings/{id}/false-positive", Tags: tag,
		Summary: "Mark a finding as a false positive (lead or admin)"},
		func(ctx context.Context, actor patchctl.Actor, in *reasonIn) (*findingOut, error) {
			f, err := a.svc.MarkFalsePositive(ctx, actor, in.ID, service.AcceptanceInput{Reason: in.Body.Reason})
			if err != nil {
				return nil, err
			}
			return &findingOut{Body: f}, nil
		})

	handle(a, huma.Operation{OperationID: "reopen-finding", Method: http.MethodPost, Path: "/findings/{id}/reopen", Tags: tag,
		Summary: "End a risk acceptance or false-positive marking (lead or admin)"},
		func(ctx context.Context, actor patchctl.Actor, in *reasonIn) (*findingOut, error) {
			f, err := a.svc.ReopenFinding(ctx, actor, in.ID, in.Body.Reason)
			if err != nil {
				return nil, err
			}
			return &findingOut{Body: f}, nil
		})
}

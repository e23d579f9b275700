package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

type idPath struct {
	ID string `path:"id" doc:"Patch id, e.g. PATCH-42" example:"PATCH-42"`
}

type listPatchesIn struct {
	Kind      []string  `query:"kind" enum:"application,kubernetes,infrastructure" doc:"Filter by kind (comma-separated)"`
	Priority  []string  `query:"priority" enum:"emergency,high,routine" doc:"Filter by priority (comma-separated)"`
	State     []string  `query:"state" doc:"Filter by lifecycle state (comma-separated)"`
	Owner     string    `query:"owner"`
	Open      string    `query:"open" enum:"true,false" doc:"Only open (true) or closed (false) patches"`
	Overdue   bool      `query:"overdue" doc:"Only open patches past their due time"`
	DueBefore time.Time `query:"due_before" doc:"Only open patches due before this time (RFC 3339)"`
	Q         string    `query:"q" doc:"Words to find in id, title, description, target, owner and labels"`
	Sort      string    `query:"sort" enum:"due,priority,created,-created,-updated" default:"due"`
	Limit     int       `query:"limit" minimum:"1" maximum:"500" default:"50"`
	Offset    int       `query:"offset" minimum:"0"`
}

type listPatchesOut struct {
	Link string `header:"Link" doc:"RFC 8288 link to the next page"`
	Body *service.ListResult
}

type linkBody struct {
	Type       patchctl.LinkType   `json:"type" enum:"vulnerability,finding,issue"`
	Ref        string              `json:"ref" minLength:"1" maxLength:"2000" doc:"CVE/GHSA/GO/OSV id, finding id, or issue URL"`
	Aliases    []string            `json:"aliases,omitempty"`
	Attributes patchctl.Attributes `json:"attributes,omitempty"`
	DetectedAt *time.Time          `json:"detected_at,omitempty" doc:"First detection; starts the SLA clock (default now)"`
}

func (l linkBody) link() patchctl.Link {
	out := patchctl.Link{Type: l.Type, Ref: l.Ref, Aliases: l.Aliases, Attributes: l.Attributes}
	if l.DetectedAt != nil {
		out.DetectedAt = *l.DetectedAt
	}
	return out
}

type createPatchIn struct {
	Body struct {
		Title       string          `json:"title" minLength:"1" maxLength:"300"`
		Description string          `json:"description,omitempty" maxLength:"20000"`
		Kind        patchctl.Kind   `json:"kind" enum:"application,kubernetes,infrastructure"`
		Target      patchctl.Target `json:"target"`
		Owner       string          `json:"owner,omitempty"`
		Labels      []string        `json:"labels,omitempty"`
		Priority    string          `json:"priority,omitempty" enum:"emergency,high,routine" doc:"Pin a priority by hand; omit to let the policy classify"`
		Links       []linkBody      `json:"links,omitempty" doc:"What triggered the patch"`
	}
}

type patchOut struct {
	Location string `header:"Location"`
	Body     *patchctl.Patch
}

type detailOut struct{ Body *service.Detail }

type editPatchIn struct {
	ID   string `path:"id" doc:"Patch id, e.g. PATCH-42" example:"PATCH-42"`
	Body service.EditPatch
}

type linkIn struct {
	ID   string `path:"id" doc:"Patch id, e.g. PATCH-42" example:"PATCH-42"`
	Body linkBody
}

type linkOut struct{ Body *patchctl.Link }

type linksOut struct{ Body []patchctl.Link }

type unlinkIn struct {
	ID   string `path:"id" doc:"Patch id, e.g. PATCH-42" example:"PATCH-42"`
	Link int64  `path:"link"`
}

type evidenceBody struct {
	Kind        patchctl.EvidenceKind `json:"kind" enum:"branch,pull_request,review,merge,test_run,deployment,signoff,health_check,wave_upgrade,backup,announcement,terraform_plan,terraform_apply,note"`
	Ref         string                `json:"ref,omitempty" maxLength:"2000" doc:"URL or id of the thing itself"`
	Environment string                `json:"environment,omitempty"`
	Version     string                `json:"version,omitempty" maxLength:"200"`
	Result      string                `json:"result,omitempty" doc:"passed/failed for checks; approved/changes_requested/commented/dismissed for reviews; open/closed/merged for pull requests"`
	Subject     string                `json:"subject,omitempty" doc:"PR author, reviewer, cluster/node-pool of a wave"`
	Source      string                `json:"source,omitempty" doc:"Where it comes from (default manual)"`
	Details     map[string]string     `json:"details,omitempty"`
	At          *time.Time            `json:"at,omitempty" doc:"When it happened (default now)"`
}

type evidenceIn struct {
	ID   string `path:"id" doc:"Patch id, e.g. PATCH-42" example:"PATCH-42"`
	Body evidenceBody
}

type evidenceOut struct{ Body *patchctl.Evidence }
type evidenceListOut struct{ Body []patchctl.Evidence }

type overrideBody struct {
	Justification string `json:"justification" minLength:"10" maxLength:"5000"`
}

type transitionIn struct {
	ID   string `path:"id" doc:"Patch id, e.g. PATCH-42" example:"PATCH-42"`
	Body struct {
		To       patchctl.State `json:"to,omitempty" doc:"Target state; omit for the next step on the SOP path"`
		Revision int64          `json:"revision,omitempty" doc:"The revision you read; a stale one is a 409 conflict"`
		Note     string         `json:"note,omitempty" maxLength:"5000"`
		Override *overrideBody  `json:"override,omitempty" doc:"Push past refusing gates (lead or admin)"`
	}
}

type overrideIn struct {
	ID   string `path:"id" doc:"Patch id, e.g. PATCH-42" example:"PATCH-42"`
	Body struct {
		To            patchctl.State `json:"to,omitempty"`
		Revision      int64          `json:"revision,omitempty"`
		Justification string         `json:"justification" minLength:"10" maxLength:"5000"`
	}
}

type transitionOut struct{ Body *service.TransitionResult }
type transitionsOut struct{ Body []patchctl.Transition }

type rollbackIn struct {
	ID   string `path:"id" doc:"Patch id, e.g. PATCH-42" example:"PATCH-42"`
	Body struct {
		Environment string `json:"environment,omitempty"`
		Severity    string `json:"severity" enum:"sev1,sev2,sev3,sev4"`
		Reason      string `json:"reason" minLength:"1" maxLength:"5000"`
		Version     string `json:"version,omitempty" doc:"Version to return to when none is known"`
		Revision    int64  `json:"revision,omitempty"`
	}
}

type rollbackOut struct{ Body *service.RollbackResult }

type waveIn struct {
	ID   string `path:"id" doc:"Patch id, e.g. PATCH-42" example:"PATCH-42"`
	Seq  int    `path:"seq" minimum:"1"`
	Body struct {
		Op       string        `json:"op" enum:"start,complete,fail"`
		Reason   string        `json:"reason,omitempty"`
		Revision int64         `json:"revision,omitempty"`
		Override *overrideBody `json:"override,omitempty"`
	}
}

type waveOut struct{ Body *service.WaveResult }

type decisionIn struct {
	ID   string `path:"id" doc:"Patch id, e.g. PATCH-42" example:"PATCH-42"`
	Body struct {
		Decision string `json:"decision" enum:"resume,retry,abort"`
		Reason   string `json:"reason" minLength:"1" maxLength:"5000"`
		Revision int64  `json:"revision,omitempty"`
	}
}

type windowIn struct {
	ID   string `path:"id" doc:"Patch id, e.g. PATCH-42" example:"PATCH-42"`
	Body struct {
		Start    time.Time `json:"start"`
		End      time.Time `json:"end"`
		Revision int64     `json:"revision,omitempty"`
	}
}

type announceIn struct {
	ID   string `path:"id" doc:"Patch id, e.g. PATCH-42" example:"PATCH-42"`
	Body struct {
		Channel string `json:"channel,omitempty"`
		Message string `json:"message,omitempty" maxLength:"5000"`
	}
}

type plainPatchOut struct{ Body *patchctl.Patch }

func toStates(ss []string) []patchctl.State {
	out := make([]patchctl.State, len(ss))
	for i, s := range ss {
		out[i] = patchctl.State(s)
	}
	return out
}

func (a *API) registerPatches() {
	tag := []string{"patches"}
	handle(a, huma.Operation{OperationID: "list-patches", Method: http.MethodGet, Path: "/patches", Tags: tag,
		Summary: "List patches", Description: "Filtered, most urgent first by default."},
		func(ctx context.Context, actor patchctl.Actor, in *listPatchesIn) (*listPatchesOut, error) {
			f := store.PatchFilter{Owner: in.Owner, Overdue: in.Overdue, Text: in.Q, Sort: in.Sort, Limit: in.Limit, Offset: in.Offset}
			for _, k := range in.Kind {
				f.Kinds = append(f.Kinds, patchctl.Kind(k))
			}
			for _, p := range in.Priority {
				f.Priorities = append(f.Priorities, patchctl.Priority(p))
			}
			f.States = toStates(in.State)
			if in.Open != "" {
				open := in.Open == "true"
				f.Open = &open
			}
			if !in.DueBefore.IsZero() {
				f.DueBefore = &in.DueBefore
			}
			res, err := a.svc.ListPatches(ctx, actor, f)
			if err != nil {
				return nil, err
			}
			out := &listPatchesOut{Body: res}
			if res.More {
				q := url.Values{}
				q.Set("offset", strconv.Itoa(in.Offset+in.Limit))
				q.Set("limit", strconv.Itoa(in.Limit))
				out.Link = fmt.Sprintf(`<%s/patches?%s>; rel="next"`, Prefix, q.Encode())
			}
			return out, nil
		})

	handle(a, huma.Operation{OperationID: "create-patch", Method: http.MethodPost, Path: "/patches", Tags: tag,
		Summary: "Create a patch", DefaultStatus: http.StatusCreated, Description: "Creates a draft, classifies it and sets its SLA due time."},
		func(ctx context.Context, actor patchctl.Actor, in *createPatchIn) (*patchOut, error) {
			b := in.Body
			c := service.CreatePatch{Title: b.Title, Description: b.Description, Kind: b.Kind, Target: b.Target,
				Owner: b.Owner, Labels: b.Labels, Priority: patchctl.Priority(b.Priority)}
			for _, l := range b.Links {
				c.Links = append(c.Links, l.link())
			}
			p, err := a.svc.CreatePatch(ctx, actor, c)
			if err != nil {
				return nil, err
			}
			return &patchOut{Location: Prefix + "/patches/" + p.Key, Body: p}, nil
		})

	handle(a, huma.Operation{OperationID: "get-patch", Method: http.MethodGet, Path: "/patches/{id}", Tags: tag,
		Summary: "Show a patch", Description: "The patch with its triggers, evidence, history, and the gate checklist of its next step."},
		func(ctx context.Context, actor patchctl.Actor, in *idPath) (*detailOut, error) {
			d, err := a.svc.Patch(ctx, actor, in.ID)
			if err != nil {
				return nil, err
			}
			return &detailOut{Body: d}, nil
		})

	handle(a, huma.Operation{OperationID: "edit-patch", Method: http.MethodPatch, Path: "/patches/{id}", Tags: tag,
		Summary: "Edit a patch"},
		func(ctx context.Context, actor patchctl.Actor, in *editPatchIn) (*plainPatchOut, error) {
			p, err := a.svc.EditPatch(ctx, actor, in.ID, in.Body)
			if err != nil {
				return nil, err
			}
			return &plainPatchOut{Body: p}, nil
		})

	handle(a, huma.Operation{OperationID: "list-links", Method: http.MethodGet, Path: "/patches/{id}/links", Tags: tag,
		Summary: "List a patch's trigger links"},
		func(ctx context.Context, actor patchctl.Actor, in *idPath) (*linksOut, error) {
			d, err := a.svc.Patch(ctx, actor, in.ID)
			if err != nil {
				return nil, err
			}
			if d.Links == nil {
				d.Links = []patchctl.Link{}
			}
			return &linksOut{Body: d.Links}, nil
		})

	handle(a, huma.Operation{OperationID: "add-link", Method: http.MethodPost, Path: "/patches/{id}/links", Tags: tag,
		Summary: "Link a trigger", DefaultStatus: http.StatusCreated, Description: "Links a vulnerability, finding or issue and reclassifies the patch."},
		func(ctx context.Context, actor patchctl.Actor, in *linkIn) (*linkOut, error) {
			l, err := a.svc.AddLink(ctx, actor, in.ID, in.Body.link())
			if err != nil {
				return nil, err
			}
			return &linkOut{Body: l}, nil
		})

	handle(a, huma.Operation{OperationID: "remove-link", Method: http.MethodDelete, Path: "/patches/{id}/links/{link}", Tags: tag,
		Summary: "Unlink a trigger", DefaultStatus: http.StatusNoContent},
		func(ctx context.Context, actor patchctl.Actor, in *unlinkIn) (*struct{}, error) {
			return nil, a.svc.RemoveLink(ctx, actor, in.ID, in.Link)
		})

	handle(a, huma.Operation{OperationID: "list-evidence", Method: http.MethodGet, Path: "/patches/{id}/evidence", Tags: tag,
		Summary: "List a patch's evidence"},
		func(ctx context.Context, actor patchctl.Actor, in *idPath) (*evidenceListOut, error) {
			d, err := a.svc.Patch(ctx, actor, in.ID)
			if err != nil {
				return nil, err
			}
			if d.Evidence == nil {
				d.Evidence = []patchctl.Evidence{}
			}
			return &evidenceListOut{Body: d.Evidence}, nil
		})

	handle(a, huma.Operation{OperationID: "add-evidence", Method: http.MethodPost, Path: "/patches/{id}/evidence", Tags: tag,
		Summary: "Record evidence", DefaultStatus: http.StatusCreated},
		func(ctx context.Context, actor patchctl.Actor, in *evidenceIn) (*evidenceOut, error) {
			b := in.Body
			e := patchctl.Evidence{Kind: b.Kind, Ref: b.Ref, Environment: b.Environment, Version: b.Version, Result: b.Result,
				Subject: b.Subject, Source: b.Source, Details: b.Details}
			if b.At != nil {
				e.At = *b.At
			}
			ev, err := a.svc.AddEvidence(ctx, actor, in.ID, e)
			if err != nil {
				return nil, err
			}
			return &evidenceOut{Body: ev}, nil
		})

	handle(a, huma.Operation{OperationID: "list-transitions", Method: http.MethodGet, Path: "/patches/{id}/transitions", Tags: tag,
		Summary: "List a patch's changes of state"},
		func(ctx context.Context, actor patchctl.Actor, in *idPath) (*transitionsOut, error) {
			d, err := a.svc.Patch(ctx, actor, in.ID)
			if err != nil {
				return nil, err
			}
			return &transitionsOut{Body: d.Transitions}, nil
		})

	handle(a, huma.Operation{OperationID: "transition-patch", Method: http.MethodPost, Path: "/patches/{id}/transitions", Tags: tag,
		Summary: "Move a patch to another state",
		Description: "Every gate of the transition must pass, or the request is refused with 409 naming the gate and what is missing. " +
			"An override (lead or admin, with a justification) pushes past refusing gates and is recorded for ever."},
		func(ctx context.Context, actor patchctl.Actor, in *transitionIn) (*transitionOut, error) {
			t := service.TransitionInput{To: in.Body.To, Revision: in.Body.Revision, Note: in.Body.Note}
			if in.Body.Override != nil {
				t.Override = &service.OverrideInput{Justification: in.Body.Override.Justification}
			}
			res, err := a.svc.Transition(ctx, actor, in.ID, t)
			if err != nil {
				return nil, err
			}
			return &transitionOut{Body: res}, nil
		})

	handle(a, huma.Operation{OperationID: "override-patch", Method: http.MethodPost, Path: "/patches/{id}/overrides", Tags: tag,
		Summary: "Override refusing gates", Description: "A transition past refusing gates, by a lead or admin with a written justification."},
		func(ctx context.Context, actor patchctl.Actor, in *overrideIn) (*transitionOut, error) {
			res, err := a.svc.Transition(ctx, actor, in.ID, service.TransitionInput{To: in.Body.To, Revision: in.Body.Revision,
				Override: &service.OverrideInput{Justification: in.Body.Justification}})
			if err != nil {
				return nil, err
			}
			return &transitionOut{Body: res}, nil
		})

	handle(a, huma.Operation{OperationID: "rollback-patch", Method: http.MethodPost, Path: "/patches/{id}/rollback", Tags: tag,
		Summary: "Decide a rollback", Description: "On-call or lead only. Returns the environment to the previous stable version."},
		func(ctx context.Context, actor patchctl.Actor, in *rollbackIn) (*rollbackOut, error) {
			b := in.Body
			res, err := a.svc.Rollback(ctx, actor, in.ID, service.RollbackInput{Environment: b.Environment, Severity: b.Severity,
				Reason: b.Reason, Version: b.Version, Revision: b.Revision})
			if err != nil {
				return nil, err
			}
			return &rollbackOut{Body: res}, nil
		})

	handle(a, huma.Operation{OperationID: "wave-patch", Method: http.MethodPost, Path: "/patches/{id}/waves/{seq}", Tags: tag,
		Summary: "Start, complete or fail a rollout wave"},
		func(ctx context.Context, actor patchctl.Actor, in *waveIn) (*waveOut, error) {
			w := service.WaveInput{Op: in.Body.Op, Reason: in.Body.Reason, Revision: in.Body.Revision}
			if in.Body.Override != nil {
				w.Override = &service.OverrideInput{Justification: in.Body.Override.Justification}
			}
			res, err := a.svc.Wave(ctx, actor, in.ID, in.Seq, w)
			if err != nil {
				return nil, err
			}
			return &waveOut{Body: res}, nil
		})

	handle(a, huma.Operation{OperationID: "decide-patch", Method: http.MethodPost, Path: "/patches/{id}/decisions", Tags: tag,
		Summary: "Resume, retry or abort a halted rollout"},
		func(ctx context.Context, actor patchctl.Actor, in *decisionIn) (*plainPatchOut, error) {
			p, err := a.svc.Decide(ctx, actor, in.ID, service.DecisionInput{Decision: in.Body.Decision, Reason: in.Body.Reason, Revision: in.Body.Revision})
			if err != nil {
				return nil, err
			}
			return &plainPatchOut{Body: p}, nil
		})

	handle(a, huma.Operation{OperationID: "book-window", Method: http.MethodPut, Path: "/patches/{id}/window", Tags: tag,
		Summary: "Book a maintenance window"},
		func(ctx context.Context, actor patchctl.Actor, in *windowIn) (*plainPatchOut, error) {
			p, err := a.svc.BookWindow(ctx, actor, in.ID, service.BookingInput{Start: in.Body.Start, End: in.Body.End, Revision: in.Body.Revision})
			if err != nil {
				return nil, err
			}
			return &plainPatchOut{Body: p}, nil
		})

	handle(a, huma.Operation{OperationID: "announce-window", Method: http.MethodPost, Path: "/patches/{id}/announcements", Tags: tag,
		Summary: "Announce the booked window", DefaultStatus: http.StatusCreated},
		func(ctx context.Context, actor patchctl.Actor, in *announceIn) (*evidenceOut, error) {
			ev, err := a.svc.Announce(ctx, actor, in.ID, in.Body.Channel, in.Body.Message)
			if err != nil {
				return nil, err
			}
			return &evidenceOut{Body: ev}, nil
		})
}

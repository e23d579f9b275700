package service

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/lifecycle"
	"github.com/patchctl/patchctl/internal/store"
)

// CreatePatch is the input of CreatePatch.
type CreatePatch struct {
	Title       string          `json:"title"`
	Description string          `json:"description,omitempty"`
	Kind        patchctl.Kind   `json:"kind"`
	Target      patchctl.Target `json:"target"`
	Owner       string          `json:"owner,omitempty"`
	Labels      []string        `json:"labels,omitempty"`
	// Priority pins a priority by hand; empty lets the policy classify.
	Priority patchctl.Priority `json:"priority,omitempty"`
	Links    []patchctl.Link   `json:"links,omitempty"`
}

// CreatePatch creates a draft patch, classifies it and schedules its SLA
// timers.
func (s *Service) CreatePatch(ctx context.Context, a patchctl.Actor, in CreatePatch) (*patchctl.Patch, error) {
	var p *patchctl.Patch
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		p, err = s.CreatePatchTx(ctx, tx, a, in)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("patch created", "patch_id", p.Key, "kind", p.Kind, "priority", p.Priority, "actor", a.Name)
	return p, nil
}

// CreatePatchTx creates a patch inside the caller's transaction, for
// automation that creates patches as part of a larger change (the intake
// groups findings into patches in the import's transaction).
func (s *Service) CreatePatchTx(ctx context.Context, tx *store.Tx, a patchctl.Actor, in CreatePatch) (*patchctl.Patch, error) {
	if err := authorize(a, patchctl.PermWrite, "creating a patch"); err != nil {
		return nil, err
	}
	now := s.Now()
	p := &patchctl.Patch{
		Title: strings.TrimSpace(in.Title), Description: in.Description, Kind: in.Kind, Target: in.Target,
		Owner: in.Owner, Labels: in.Labels, State: patchctl.StateDraft, Priority: in.Priority,
		CreatedBy: a.Name, CreatedAt: now, UpdatedAt: now, DetectedAt: now,
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := s.normalizeTarget(p); err != nil {
		return nil, err
	}
	links := make([]patchctl.Link, len(in.Links))
	for i, l := range in.Links {
		if err := prepareLink(&l, a, now); err != nil {
			return nil, prefixField(err, "links["+itoa(i)+"]")
		}
		links[i] = l
	}
	change, err := s.classify(a, p, links, in.Priority, "created", true)
	if err != nil {
		return nil, err
	}
	if err := tx.CreatePatch(ctx, p); err != nil {
		return nil, err
	}
	for i := range links {
		if err := tx.AddLink(ctx, p.ID, &links[i]); err != nil {
			return nil, err
		}
	}
	if err := tx.AddTransition(ctx, p.ID, &patchctl.Transition{To: patchctl.StateDraft, Action: "create", Actor: a.Name, At: now}); err != nil {
		return nil, err
	}
	if err := s.recordClassification(ctx, tx, a, p, change, true); err != nil {
		return nil, err
	}
	if err := s.audit(ctx, tx, a, "patch.create", p.Key, now, map[string]any{
		"title": p.Title, "kind": p.Kind, "target": p.Target, "owner": p.Owner, "labels": p.Labels,
		"priority": p.Priority, "rule": p.PriorityRule, "due_at": p.DueAt, "links": linkRefs(links),
	}); err != nil {
		return nil, err
	}
	return p, nil
}

func linkRefs(ls []patchctl.Link) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = string(l.Type) + ":" + l.Ref
	}
	return out
}

// normalizeTarget checks the target against the policy and fills defaults.
func (s *Service) normalizeTarget(p *patchctl.Patch) error {
	cfg := s.Config()
	t := &p.Target
	switch p.Kind {
	case patchctl.KindApplication, patchctl.KindInfrastructure:
		if len(t.Environments) == 0 {
			for _, e := range cfg.Environments {
				t.Environments = append(t.Environments, e.Name)
			}
		}
		hasPre, hasProd := false, false
		for i, name := range t.Environments {
			e, found := cfg.Environment(name)
			if !found {
				return patchctl.FieldError("target.environments["+itoa(i)+"]", "%q is not a configured environment", name)
			}
			hasPre = hasPre || !e.Production
			hasProd = hasProd || e.Production
		}
		if hasProd && !hasPre {
			return patchctl.FieldError("target.environments", "a patch reaching production must go through a non-production environment first (SOP-005)")
		}
		// Keep promotion order whatever order was given.
		var ordered []string
		for _, e := range cfg.Environments {
			if slices.Contains(t.Environments, e.Name) {
				ordered = append(ordered, e.Name)
			}
		}
		t.Environments = ordered
	case patchctl.KindKubernetes:
		for i, c := range t.Clusters {
			if _, found := cfg.Cluster(c); !found {
				return patchctl.FieldError("target.clusters["+itoa(i)+"]", "%q is not a configured cluster", c)
			}
		}
	}
	return nil
}

// EditPatch is the input of EditPatch; nil fields are left unchanged.
type EditPatch struct {
	Title       *string            `json:"title,omitempty"`
	Description *string            `json:"description,omitempty"`
	Owner       *string            `json:"owner,omitempty"`
	Labels      *[]string          `json:"labels,omitempty"`
	Target      *patchctl.Target   `json:"target,omitempty"`
	Priority    *patchctl.Priority `json:"priority,omitempty"`
	// Unpin returns the priority to the policy's classification.
	Unpin   bool    `json:"unpin,omitempty"`
	Version *string `json:"version,omitempty"`
	// Revision, when set, must be the patch's current revision.
	Revision int64 `json:"revision,omitempty"`
}

// EditPatch changes a patch's descriptive fields, target (while in draft),
// version (until it is deployed) or pinned priority.
func (s *Service) EditPatch(ctx context.Context, a patchctl.Actor, key string, in EditPatch) (*patchctl.Patch, error) {
	if err := authorize(a, patchctl.PermWrite, "editing a patch"); err != nil {
		return nil, err
	}
	id, err := resolve(key)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	var p *patchctl.Patch
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if p, err = tx.Patch(ctx, id); err != nil {
			return err
		}
		if in.Revision != 0 && in.Revision != p.Revision {
			return staleRevision(p, in.Revision)
		}
		rev := p.Revision
		changes := map[string]any{}
		if in.Title != nil {
			p.Title = strings.TrimSpace(*in.Title)
			changes["title"] = p.Title
		}
		if in.Description != nil {
			p.Description = *in.Description
			changes["description"] = p.Description
		}
		if in.Owner != nil {
			p.Owner = *in.Owner
			changes["owner"] = p.Owner
		}
		reclass := false
		if in.Labels != nil {
			p.Labels = *in.Labels
			changes["labels"] = p.Labels
			reclass = true
		}
		if in.Target != nil {
			if p.State != patchctl.StateDraft {
				return patchctl.FieldError("target", "can change only while the patch is a draft (it is %s)", p.State)
			}
			p.Target = *in.Target
			if err := s.normalizeTarget(p); err != nil {
				return err
			}
			changes["target"] = p.Target
			reclass = true
		}
		if in.Version != nil {
			if !versionEditable(p) {
				return patchctl.FieldError("version", "is fixed once the patch is deployed (it is %s); roll back and rework to ship another version", p.State)
			}
			p.Version = strings.TrimSpace(*in.Version)
			changes["version"] = p.Version
		}
		if err := p.Validate(); err != nil {
			return err
		}
		if p.State.Terminal() {
			return patchctl.Errorf(patchctl.CodeConflict, "%s is %s and can no longer be edited", p.Key, p.State)
		}
		pin := patchctl.Priority("")
		if in.Priority != nil {
			if !in.Priority.Valid() {
				return patchctl.FieldError("priority", "%q is not a priority", *in.Priority)
			}
			pin = *in.Priority
			reclass = true
			changes["priority"] = pin
		}
		if in.Unpin {
			p.PriorityPinned = false
			reclass = true
			changes["unpin"] = true
		}
		if reclass {
			links, err := tx.Links(ctx, p.ID)
			if err != nil {
				return err
			}
			if err := s.reclassify(ctx, tx, a, p, links, pin, "edited", false); err != nil {
				return err
			}
		}
		if len(changes) == 0 {
			return patchctl.Errorf(patchctl.CodeInvalid, "nothing to change")
		}
		p.UpdatedAt = now
		if err := tx.UpdatePatch(ctx, p, rev); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "patch.edit", p.Key, now, changes)
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func versionEditable(p *patchctl.Patch) bool {
	switch p.State {
	case patchctl.StateDraft, patchctl.StateInProgress, patchctl.StateInReview, patchctl.StateMerged,
		patchctl.StatePlanned, patchctl.StateRolledBack:
		return true
	}
	return false
}

func staleRevision(p *patchctl.Patch, had int64) error {
	return patchctl.Errorf(patchctl.CodeConflict, "%s was changed by someone else (revision %d, you had %d); reload and retry", p.Key, p.Revision, had)
}

// Detail is everything known about one patch.
type Detail struct {
	Patch       *patchctl.Patch           `json:"patch"`
	Links       []patchctl.Link           `json:"links"`
	Evidence    []patchctl.Evidence       `json:"evidence"`
	Transitions []patchctl.Transition     `json:"transitions"`
	Overrides   []patchctl.Override       `json:"overrides"`
	Priority    []patchctl.PriorityChange `json:"priority_history"`
	Waves       []patchctl.Wave           `json:"waves,omitempty"`
	// Next is the forward step and its gate checklist; nil at the end.
	Next *Step `json:"next,omitempty"`
	// Allowed lists every transition leaving the current state.
	Allowed []AllowedTransition `json:"allowed"`
	// Rollback previews what a rollback would return to, when allowed.
	Rollback *RollbackPreview `json:"rollback,omitempty"`
	Overdue  bool             `json:"overdue"`
	Path     []patchctl.State `json:"path"`
	// Now is the server's time of this answer: SLA clocks are shown
	// relative to it, not to the reader's clock.
	Now time.Time `json:"now"`
}

// Step is a transition with its gate verdicts.
type Step struct {
	To     patchctl.State        `json:"to"`
	Action string                `json:"action"`
	Ready  bool                  `json:"ready"`
	Gates  []patchctl.GateResult `json:"gates"`
}

// AllowedTransition names a transition leaving the current state.
type AllowedTransition struct {
	To     patchctl.State `json:"to"`
	Action string         `json:"action"`
}

// RollbackPreview is the version a rollback would redeploy per environment.
type RollbackPreview struct {
	Environment string `json:"environment"`
	FromVersion string `json:"from_version"`
	ToVersion   string `json:"to_version,omitempty"`
	Known       bool   `json:"known"`
	Patch       string `json:"previous_patch,omitempty"`
}

// Patch returns the detail of one patch, with the gate checklist of its next
// step evaluated now.
func (s *Service) Patch(ctx context.Context, a patchctl.Actor, key string) (*Detail, error) {
	if err := authorize(a, patchctl.PermRead, "reading patches"); err != nil {
		return nil, err
	}
	id, err := resolve(key)
	if err != nil {
		return nil, err
	}
	r := s.db.Read()
	p, err := r.Patch(ctx, id)
	if err != nil {
		return nil, err
	}
	f, ts, err := s.factsAndHistory(ctx, r, p)
	if err != nil {
		return nil, err
	}
	d := &Detail{Patch: p, Links: f.Links, Evidence: f.Evidence, Waves: f.Waves, Transitions: ts, Overdue: p.Overdue(f.Now),
		Path: lifecycle.Path(p.Kind, p.Target.Downtime), Now: f.Now}
	if d.Overrides, err = r.Overrides(ctx, id); err != nil {
		return nil, err
	}
	if d.Priority, err = r.PriorityChanges(ctx, id); err != nil {
		return nil, err
	}
	if e, ok := lifecycle.Next(p); ok {
		res := lifecycle.Evaluate(e, f)
		d.Next = &Step{To: e.To, Action: e.Action, Gates: res, Ready: len(patchctl.Refusing(res)) == 0}
	}
	for _, e := range lifecycle.Edges(p) {
		d.Allowed = append(d.Allowed, AllowedTransition{To: e.To, Action: e.Action})
	}
	if lifecycle.Rollbackable(p) {
		// A previous stable version that cannot be read shows as unknown.
		d.Rollback, _ = s.rollbackPreview(ctx, r, p, f.Evidence, rollbackEnv(f.Config, p, f.Evidence))
	}
	return d, nil
}

// querier is the read side shared by a store.Reader and a store.Tx.
type querier interface {
	Links(ctx context.Context, patchID int64) ([]patchctl.Link, error)
	Evidence(ctx context.Context, patchID int64) ([]patchctl.Evidence, error)
	Waves(ctx context.Context, patchID int64) ([]patchctl.Wave, error)
	Transitions(ctx context.Context, patchID int64) ([]patchctl.Transition, error)
	PreviousStable(ctx context.Context, subject, env string, before time.Time, excludePatch int64, excludeVersion string) (*store.StableVersion, error)
}

// facts loads what the gates of a patch look at.
func (s *Service) facts(ctx context.Context, r querier, p *patchctl.Patch) (*lifecycle.Facts, error) {
	f, _, err := s.factsAndHistory(ctx, r, p)
	return f, err
}

// factsAndHistory is facts, also returning the patch's transitions, which
// it reads for EnteredAt: the patch detail shows them without reading them
// again.
func (s *Service) factsAndHistory(ctx context.Context, r querier, p *patchctl.Patch) (*lifecycle.Facts, []patchctl.Transition, error) {
	f := &lifecycle.Facts{Patch: p, Config: s.Config(), Now: s.Now(), EnteredAt: map[patchctl.State]time.Time{}}
	var err error
	if f.Links, err = r.Links(ctx, p.ID); err != nil {
		return nil, nil, err
	}
	if f.Evidence, err = r.Evidence(ctx, p.ID); err != nil {
		return nil, nil, err
	}
	if p.Kind == patchctl.KindKubernetes {
		if f.Waves, err = r.Waves(ctx, p.ID); err != nil {
			return nil, nil, err
		}
	}
	ts, err := r.Transitions(ctx, p.ID)
	if err != nil {
		return nil, nil, err
	}
	for _, t := range ts {
		f.EnteredAt[t.To] = t.At
	}
	return f, ts, nil
}

// ListResult is one page of patches.
type ListResult struct {
	Patches []*patchctl.Patch `json:"patches"`
	More    bool              `json:"more"`
	Offset  int               `json:"offset"`
	Limit   int               `json:"limit"`
	// Now is the server's time of this answer.
	Now time.Time `json:"now"`
}

// ListPatches lists patches matching f (Now is filled in).
func (s *Service) ListPatches(ctx context.Context, a patchctl.Actor, f store.PatchFilter) (*ListResult, error) {
	if err := authorize(a, patchctl.PermRead, "reading patches"); err != nil {
		return nil, err
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	if f.Limit > 500 {
		return nil, patchctl.FieldError("limit", "%d is over the maximum of 500", f.Limit)
	}
	if f.Offset < 0 {
		return nil, patchctl.FieldError("offset", "must not be negative")
	}
	f.Now = s.Now()
	ps, more, err := s.db.Read().ListPatches(ctx, f)
	if err != nil {
		return nil, err
	}
	if ps == nil {
		ps = []*patchctl.Patch{}
	}
	return &ListResult{Patches: ps, More: more, Offset: f.Offset, Limit: f.Limit, Now: f.Now}, nil
}

func itoa(i int) string { return strconv.Itoa(i) }

// prefixField prepends a field path to a field error.
func prefixField(err error, prefix string) error {
	if e, ok := err.(*patchctl.Error); ok && e.Code == patchctl.CodeInvalid {
		c := *e
		if c.Field != "" {
			c.Field = prefix + "." + c.Field
		} else {
			c.Field = prefix
		}
		return &c
	}
	return err
}

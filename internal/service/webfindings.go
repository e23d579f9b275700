package service

import (
	"context"
	"slices"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/store"
)

// The reads behind the web UI's findings and imports pages. They authorise
// like every read; what they add over ListFindings and the import queries
// is the web list's order and paging (store.FindingsPage), and counts that
// do not count rows.

// FindingsPage lists one page of findings in the web list's order (most
// severe first, newest first within a severity), starting after cur (nil:
// from the start). The filter's Offset is ignored; its Limit is at most 200.
func (s *Service) FindingsPage(ctx context.Context, a patchctl.Actor, f store.FindingFilter, cur *store.FindingCursor) (*store.FindingsPage, error) {
	if err := authorize(a, patchctl.PermRead, "reading findings"); err != nil {
		return nil, err
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	if f.Limit > 200 {
		return nil, patchctl.FieldError("limit", "%d is over the maximum of 200", f.Limit)
	}
	for _, sev := range f.Severities {
		if !sev.Valid() {
			return nil, patchctl.FieldError("severity", "%q is not a severity", sev)
		}
	}
	for _, st := range f.States {
		if !slices.Contains(store.FindingStates, st) {
			return nil, patchctl.FieldError("state", "%q is not a finding state", st)
		}
	}
	if f.EPSSMin < 0 || f.EPSSMin > 1 {
		return nil, patchctl.FieldError("epss_min", "an EPSS score is between 0 and 1")
	}
	return s.db.Read().FindingsPage(ctx, f, cur)
}

// FindingCounts returns the number of findings of every state, severity,
// KEV listing and fix availability, and the dashboard's figures from them.
func (s *Service) FindingCounts(ctx context.Context, a patchctl.Actor) ([]store.FindingCount, *FindingFigures, error) {
	if err := authorize(a, patchctl.PermRead, "reading findings"); err != nil {
		return nil, nil, err
	}
	counts, err := s.db.FindingCounts(ctx)
	if err != nil {
		return nil, nil, err
	}
	return counts, findingFigures(counts), nil
}

// RecentImports lists imports, newest first, before the import before (0:
// from the newest).
func (s *Service) RecentImports(ctx context.Context, a patchctl.Actor, before int64, limit int) ([]*store.Import, error) {
	if err := authorize(a, patchctl.PermRead, "reading imports"); err != nil {
		return nil, err
	}
	return s.db.Read().RecentImports(ctx, before, limit)
}

// Import reads one import record.
func (s *Service) Import(ctx context.Context, a patchctl.Actor, id int64) (*store.Import, error) {
	if err := authorize(a, patchctl.PermRead, "reading imports"); err != nil {
		return nil, err
	}
	return s.db.Read().ImportByID(ctx, id)
}

// PatchesByKey reads the patches named by keys that exist, in that order,
// without their details: the patches an import summary names, or the patch
// of a finding.
func (s *Service) PatchesByKey(ctx context.Context, a patchctl.Actor, keys []string) ([]*patchctl.Patch, error) {
	if err := authorize(a, patchctl.PermRead, "reading patches"); err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(keys))
	for _, k := range keys {
		if id, err := patchctl.ParsePatchKey(k); err == nil {
			ids = append(ids, id)
		}
	}
	return s.db.Read().PatchesByID(ctx, ids)
}

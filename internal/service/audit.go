package service

import (
	"context"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/store"
)

// AuditEvents lists audit events (any role may read the log).
func (s *Service) AuditEvents(ctx context.Context, a patchctl.Actor, f store.AuditFilter) ([]patchctl.AuditEvent, error) {
	if err := authorize(a, patchctl.PermRead, "reading the audit log"); err != nil {
		return nil, err
	}
	ev, err := s.db.Read().AuditEvents(ctx, f)
	if ev == nil && err == nil {
		ev = []patchctl.AuditEvent{}
	}
	return ev, err
}

// VerifyAudit checks the audit chain.
func (s *Service) VerifyAudit(ctx context.Context, a patchctl.Actor) (*store.Verification, error) {
	if err := authorize(a, patchctl.PermRead, "verifying the audit log"); err != nil {
		return nil, err
	}
	return s.db.VerifyAudit(ctx)
}

// ExportAudit streams every event after afterSeq to fn, in chain order.
func (s *Service) ExportAudit(ctx context.Context, a patchctl.Actor, afterSeq int64, fn func(patchctl.AuditEvent) error) error {
	if err := authorize(a, patchctl.PermRead, "exporting the audit log"); err != nil {
		return err
	}
	return s.db.ScanAudit(ctx, afterSeq, fn)
}

// Outbox lists notification messages.
func (s *Service) Outbox(ctx context.Context, a patchctl.Actor, f store.OutboxFilter) ([]store.OutboxMessage, error) {
	if err := authorize(a, patchctl.PermRead, "reading notifications"); err != nil {
		return nil, err
	}
	m, err := s.db.Read().Outbox(ctx, f)
	if m == nil && err == nil {
		m = []store.OutboxMessage{}
	}
	return m, err
}

// Timers lists scheduled timers.
func (s *Service) Timers(ctx context.Context, a patchctl.Actor, kindPrefix, subject string) ([]store.Timer, error) {
	if err := authorize(a, patchctl.PermRead, "reading timers"); err != nil {
		return nil, err
	}
	t, err := s.db.Read().Timers(ctx, kindPrefix, subject, true, 200)
	if t == nil && err == nil {
		t = []store.Timer{}
	}
	return t, err
}

// Overrides lists overrides across all patches, newest first.
func (s *Service) Overrides(ctx context.Context, a patchctl.Actor, limit, offset int) ([]patchctl.Override, error) {
	if err := authorize(a, patchctl.PermRead, "reading overrides"); err != nil {
		return nil, err
	}
	return s.db.Read().AllOverrides(ctx, limit, offset)
}

// Status summarises the installation for /api/v1/status and the CLI.
type Status struct {
	Version       string   `json:"version"`
	Engine        string   `json:"engine"`
	PolicyVersion string   `json:"policy_version"`
	SOP           string   `json:"sop"`
	Warnings      []string `json:"warnings"`
	OpenPatches   int      `json:"open_patches"`
	Overdue       int      `json:"overdue"`
	AuditHead     int64    `json:"audit_head"`
}

// Status reports versions, warnings and headline counts.
func (s *Service) Status(ctx context.Context, a patchctl.Actor) (*Status, error) {
	if err := authorize(a, patchctl.PermRead, "reading status"); err != nil {
		return nil, err
	}
	cfg := s.Config()
	r := s.db.Read()
	open := true
	st := &Status{Version: patchctl.Version, Engine: string(s.db.Engine()), PolicyVersion: s.Policy().Version(),
		SOP: cfg.SOP.DocumentID, Warnings: cfg.Warnings(s.Now())}
	if st.Warnings == nil {
		st.Warnings = []string{}
	}
	var err error
	if st.OpenPatches, err = r.CountPatches(ctx, store.PatchFilter{Open: &open}); err != nil {
		return nil, err
	}
	if st.Overdue, err = r.CountPatches(ctx, store.PatchFilter{Overdue: true, Now: s.Now()}); err != nil {
		return nil, err
	}
	if st.AuditHead, _, err = r.AuditHead(ctx); err != nil {
		return nil, err
	}
	return st, nil
}

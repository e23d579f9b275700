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

package cli

import (
	"context"
	"io"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/client"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/importer/formats"
	"github.com/patchctl/patchctl/internal/intake"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

// Backend is what the CLI needs: a server through the API client, or the
// local database through the service. Both behave alike, errors included.
type Backend interface {
	CreatePatch(ctx context.Context, in service.CreatePatch) (*patchctl.Patch, error)
	ListPatches(ctx context.Context, f store.PatchFilter) (*service.ListResult, error)
	Patch(ctx context.Context, key string) (*service.Detail, error)
	EditPatch(ctx context.Context, key string, in service.EditPatch) (*patchctl.Patch, error)
	AddLink(ctx context.Context, key string, l patchctl.Link) (*patchctl.Link, error)
	RemoveLink(ctx context.Context, key string, id int64) error
	AddEvidence(ctx context.Context, key string, e patchctl.Evidence) (*patchctl.Evidence, error)
	Transition(ctx context.Context, key string, in service.TransitionInput) (*service.TransitionResult, error)
	Rollback(ctx context.Context, key string, in service.RollbackInput) (*service.RollbackResult, error)
	Wave(ctx context.Context, key string, seq int, in service.WaveInput) (*service.WaveResult, error)
	Decide(ctx context.Context, key string, in service.DecisionInput) (*patchctl.Patch, error)
	BookWindow(ctx context.Context, key string, in service.BookingInput) (*patchctl.Patch, error)
	Announce(ctx context.Context, key, channel, message string) (*patchctl.Evidence, error)
	RecordStable(ctx context.Context, sv store.StableVersion) (*store.StableVersion, error)
	StableVersions(ctx context.Context, subject string) ([]store.StableVersion, error)
	AuditEvents(ctx context.Context, f store.AuditFilter) ([]patchctl.AuditEvent, error)
	VerifyAudit(ctx context.Context) (*store.Verification, error)
	ExportAudit(ctx context.Context, afterSeq int64, fn func(patchctl.AuditEvent) error) error
	CreateToken(ctx context.Context, in service.TokenInput) (*service.NewToken, error)
	Tokens(ctx context.Context, all bool) ([]*store.Token, error)
	RevokeToken(ctx context.Context, id int64) (*store.Token, error)
	Status(ctx context.Context) (*service.Status, error)
	Overrides(ctx context.Context, limit, offset int) ([]patchctl.Override, error)
	Outbox(ctx context.Context, f store.OutboxFilter) ([]store.OutboxMessage, error)

	Import(ctx context.Context, format, asset, source string, r io.Reader, size int64, progress func(read, total, records int64)) (*intake.Result, error)
	ImportByID(ctx context.Context, id int64) (*intake.Result, error)
	Imports(ctx context.Context, limit int) ([]*store.Import, error)
	ListFindings(ctx context.Context, f store.FindingFilter) (*service.FindingList, error)
	Finding(ctx context.Context, id int64) (*service.FindingDetail, error)
	AcceptRisk(ctx context.Context, id int64, in service.AcceptanceInput) (*patchctl.Finding, error)
	MarkFalsePositive(ctx context.Context, id int64, in service.AcceptanceInput) (*patchctl.Finding, error)
	ReopenFinding(ctx context.Context, id int64, reason string) (*patchctl.Finding, error)
}

var _ Backend = (*client.Client)(nil)
var _ Backend = (*local)(nil)

// local runs operations on the local database as one actor.
type local struct {
	svc    *service.Service
	intake *intake.Intake
	actor  patchctl.Actor
}

func (l *local) CreatePatch(ctx context.Context, in service.CreatePatch) (*patchctl.Patch, error) {
	return l.svc.CreatePatch(ctx, l.actor, in)
}
func (l *local) ListPatches(ctx context.Context, f store.PatchFilter) (*service.ListResult, error) {
	return l.svc.ListPatches(ctx, l.actor, f)
}
func (l *local) Patch(ctx context.Context, key string) (*service.Detail, error) {
	return l.svc.Patch(ctx, l.actor, key)
}
func (l *local) EditPatch(ctx context.Context, key string, in service.EditPatch) (*patchctl.Patch, error) {
	return l.svc.EditPatch(ctx, l.actor, key, in)
}
func (l *local) AddLink(ctx context.Context, key string, k patchctl.Link) (*patchctl.Link, error) {
	return l.svc.AddLink(ctx, l.actor, key, k)
}
func (l *local) RemoveLink(ctx context.Context, key string, id int64) error {
	return l.svc.RemoveLink(ctx, l.actor, key, id)
}
func (l *local) AddEvidence(ctx context.Context, key string, e patchctl.Evidence) (*patchctl.Evidence, error) {
	return l.svc.AddEvidence(ctx, l.actor, key, e)
}
func (l *local) Transition(ctx context.Context, key string, in service.TransitionInput) (*service.TransitionResult, error) {
	return l.svc.Transition(ctx, l.actor, key, in)
}
func (l *local) Rollback(ctx context.Context, key string, in service.RollbackInput) (*service.RollbackResult, error) {
	return l.svc.Rollback(ctx, l.actor, key, in)
}
func (l *local) Wave(ctx context.Context, key string, seq int, in service.WaveInput) (*service.WaveResult, error) {
	return l.svc.Wave(ctx, l.actor, key, seq, in)
}
func (l *local) Decide(ctx context.Context, key string, in service.DecisionInput) (*patchctl.Patch, error) {
	return l.svc.Decide(ctx, l.actor, key, in)
}
func (l *local) BookWindow(ctx context.Context, key string, in service.BookingInput) (*patchctl.Patch, error) {
	return l.svc.BookWindow(ctx, l.actor, key, in)
}
func (l *local) Announce(ctx context.Context, key, channel, message string) (*patchctl.Evidence, error) {
	return l.svc.Announce(ctx, l.actor, key, channel, message)
}
func (l *local) RecordStable(ctx context.Context, sv store.StableVersion) (*store.StableVersion, error) {
	return l.svc.RecordStable(ctx, l.actor, sv)
}
func (l *local) StableVersions(ctx context.Context, subject string) ([]store.StableVersion, error) {
	return l.svc.StableVersions(ctx, l.actor, subject)
}
func (l *local) AuditEvents(ctx context.Context, f store.AuditFilter) ([]patchctl.AuditEvent, error) {
	return l.svc.AuditEvents(ctx, l.actor, f)
}
func (l *local) VerifyAudit(ctx context.Context) (*store.Verification, error) {
	return l.svc.VerifyAudit(ctx, l.actor)
}
func (l *local) ExportAudit(ctx context.Context, afterSeq int64, fn func(patchctl.AuditEvent) error) error {
	return l.svc.ExportAudit(ctx, l.actor, afterSeq, fn)
}

// CreateToken locally is the bootstrap path: whoever can write the database
// file can already do anything, so the local user acts as admin here and the
// audit log says so.
func (l *local) CreateToken(ctx context.Context, in service.TokenInput) (*service.NewToken, error) {
	return l.svc.CreateToken(ctx, patchctl.Actor{Name: "local:" + l.actor.Name, Role: patchctl.RoleAdmin}, in)
}
func (l *local) Tokens(ctx context.Context, all bool) ([]*store.Token, error) {
	return l.svc.Tokens(ctx, patchctl.Actor{Name: "local:" + l.actor.Name, Role: patchctl.RoleAdmin}, all)
}
func (l *local) RevokeToken(ctx context.Context, id int64) (*store.Token, error) {
	return l.svc.RevokeToken(ctx, patchctl.Actor{Name: "local:" + l.actor.Name, Role: patchctl.RoleAdmin}, id)
}
func (l *local) Status(ctx context.Context) (*service.Status, error) {
	return l.svc.Status(ctx, l.actor)
}
func (l *local) Overrides(ctx context.Context, limit, offset int) ([]patchctl.Override, error) {
	return l.svc.Overrides(ctx, l.actor, limit, offset)
}
func (l *local) Outbox(ctx context.Context, f store.OutboxFilter) ([]store.OutboxMessage, error) {
	return l.svc.Outbox(ctx, l.actor, f)
}

func (l *local) Import(ctx context.Context, format, asset, source string, r io.Reader, size int64, progress func(read, total, records int64)) (*intake.Result, error) {
	f, err := formats.ParseFormat(format)
	if err != nil {
		return nil, patchctl.FieldError("format", "%v", err)
	}
	var feed *intake.FeedSummary
	switch f {
	case importer.FormatKEV:
		feed, err = l.intake.ImportKEV(ctx, l.actor, r)
	case importer.FormatEPSS:
		feed, err = l.intake.ImportEPSS(ctx, l.actor, r)
	case importer.FormatOSVRecord:
		feed, err = l.intake.ImportOSVRecord(ctx, l.actor, r)
	default:
		opts := intake.Options{Format: f, Asset: asset, Source: source, Size: size}
		if progress != nil {
			opts.OnProgress = func(read, records int64) { progress(read, size, records) }
		}
		sum, err := l.intake.Import(ctx, l.actor, r, opts)
		if err != nil {
			return nil, err
		}
		return l.ImportByID(ctx, sum.ImportID)
	}
	if err != nil {
		return nil, err
	}
	return &intake.Result{Import: &store.Import{Format: string(f), Status: store.ImportDone, Source: source}, Feed: feed}, nil
}
func (l *local) ImportByID(ctx context.Context, id int64) (*intake.Result, error) {
	im, err := l.svc.Import(ctx, l.actor, id)
	if err != nil {
		return nil, err
	}
	return l.intake.Result(im), nil
}
func (l *local) Imports(ctx context.Context, limit int) ([]*store.Import, error) {
	return l.svc.RecentImports(ctx, l.actor, 0, limit)
}
func (l *local) ListFindings(ctx context.Context, f store.FindingFilter) (*service.FindingList, error) {
	return l.svc.ListFindings(ctx, l.actor, f)
}
func (l *local) Finding(ctx context.Context, id int64) (*service.FindingDetail, error) {
	return l.svc.Finding(ctx, l.actor, id)
}
func (l *local) AcceptRisk(ctx context.Context, id int64, in service.AcceptanceInput) (*patchctl.Finding, error) {
	return l.svc.AcceptRisk(ctx, l.actor, id, in)
}
func (l *local) MarkFalsePositive(ctx context.Context, id int64, in service.AcceptanceInput) (*patchctl.Finding, error) {
	return l.svc.MarkFalsePositive(ctx, l.actor, id, in)
}
func (l *local) ReopenFinding(ctx context.Context, id int64, reason string) (*patchctl.Finding, error) {
	return l.svc.ReopenFinding(ctx, l.actor, id, reason)
}

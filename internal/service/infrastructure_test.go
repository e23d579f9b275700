package service_test

import (
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/service"
)

func infraPatch(downtime bool) service.CreatePatch {
	return service.CreatePatch{Title: "PostgreSQL 15.8", Kind: patchctl.KindInfrastructure,
		Target: patchctl.Target{System: "postgres-primary", Downtime: downtime},
		Links:  []patchctl.Link{cve("CVE-2024-7348", 7.5)}}
}

func (f *fixture) throughValidation(key string) {
	f.t.Helper()
	f.advance(alice, key, patchctl.StateInProgress)
	f.refused(alice, key, "change_tracked", "version_set", "deployed_to_staging")
	f.evidence(alice, key, patchctl.Evidence{Kind: patchctl.EvidenceTerraformPlan, Ref: "https://github.com/acme/infra/pull/88"})
	ver := "15.8"
	_, err := f.svc.EditPatch(f.ctx, alice, key, service.EditPatch{Version: &ver})
	f.must(err)
	f.refused(alice, key, "deployed_to_staging")
	f.evidence(alice, key, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "staging", Version: "15.8", Ref: "staging-db"})
	f.advance(alice, key, patchctl.StateStaging)
	f.refused(alice, key, "automated_tests_passed", "manual_signoff")
	f.evidence(alice, key, patchctl.Evidence{Kind: patchctl.EvidenceTestRun, Environment: "staging", Version: "15.8", Result: "passed", Ref: "pgbench"})
	f.evidence(bob, key, patchctl.Evidence{Kind: patchctl.EvidenceSignoff, Environment: "staging", Version: "15.8"})
	f.advance(alice, key, patchctl.StateValidated)
}

// TestInfrastructureDowntimePath: window booked, announced with lead time,
// backup after booking, upgrade only inside the window, validated before
// normal operations resume.
func TestInfrastructureDowntimePath(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.create(alice, infraPatch(true))
		key := p.Key
		f.throughValidation(key)

		f.refused(alice, key, "window_booked")
		// A backup taken before the booking does not count.
		f.evidence(alice, key, patchctl.Evidence{Kind: patchctl.EvidenceBackup, Ref: "snap-early"})
		f.clock.Advance(time.Minute)
		winStart := start.Add(72 * time.Hour)
		_, err := f.svc.BookWindow(f.ctx, alice, key, service.BookingInput{Start: winStart, End: winStart.Add(2 * time.Hour)})
		f.must(err)
		f.advance(alice, key, patchctl.StateScheduled)
		f.refused(alice, key, "announced_in_time")
		_, err = f.svc.Announce(f.ctx, alice, key, "#sre", "")
		f.must(err)
		f.advance(alice, key, patchctl.StateAnnounced)
		f.refused(alice, key, "backup_taken")
		f.clock.Advance(time.Hour)
		f.evidence(alice, key, patchctl.Evidence{Kind: patchctl.EvidenceBackup, Ref: "snap-0042"})
		f.advance(alice, key, patchctl.StateBackedUp)
		// The upgrade starts only inside the window.
		f.refused(alice, key, "inside_window")
		f.clock.Set(winStart.Add(10 * time.Minute))
		f.advance(alice, key, patchctl.StateUpgrading)
		f.refused(alice, key, "upgrade_validated")
		f.evidence(alice, key, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "production", Version: "15.8", Ref: "primary"})
		f.refused(alice, key, "upgrade_validated")
		f.evidence(bob, key, patchctl.Evidence{Kind: patchctl.EvidenceSignoff, Environment: "production", Version: "15.8"})
		f.advance(alice, key, patchctl.StateVerified)
		f.advance(alice, key, patchctl.StateResumed)
		f.advance(alice, key, patchctl.StateDone)
		f.verifyAudit()
	})
}

func TestInfrastructureWindowRules(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.create(alice, infraPatch(true))
		key := p.Key
		f.throughValidation(key)

		// A window too close to announce with the 24h lead time.
		soon := start.Add(12 * time.Hour)
		_, err := f.svc.BookWindow(f.ctx, alice, key, service.BookingInput{Start: soon, End: soon.Add(time.Hour)})
		f.must(err)
		f.advance(alice, key, patchctl.StateScheduled)
		_, err = f.svc.Announce(f.ctx, alice, key, "#sre", "")
		f.must(err)
		f.refused(alice, key, "announced_in_time")

		// Rebooking after the announcement sends the patch back to scheduled
		// and the old announcement no longer counts.
		later := start.Add(5 * 24 * time.Hour)
		_, err = f.svc.BookWindow(f.ctx, alice, key, service.BookingInput{Start: later, End: later.Add(time.Hour)})
		f.must(err)
		f.refused(alice, key, "announced_in_time")
		f.clock.Advance(time.Minute)
		_, err = f.svc.Announce(f.ctx, alice, key, "#sre", "")
		f.must(err)
		f.advance(alice, key, patchctl.StateAnnounced)
		f.clock.Advance(time.Minute)
		f.evidence(alice, key, patchctl.Evidence{Kind: patchctl.EvidenceBackup, Ref: "snap-1"})
		f.advance(alice, key, patchctl.StateBackedUp)
		even := later.Add(-48 * time.Hour)
		_, err = f.svc.BookWindow(f.ctx, alice, key, service.BookingInput{Start: even, End: even.Add(time.Hour)})
		f.must(err)
		if st := f.state(key).State; st != patchctl.StateScheduled {
			t.Fatalf("after rebooking from backed_up: %s, want scheduled", st)
		}
		// Past the window's end the upgrade cannot start.
		if _, err := f.svc.BookWindow(f.ctx, alice, key, service.BookingInput{Start: start.Add(-2 * time.Hour), End: start.Add(-time.Hour)}); code(err) != patchctl.CodeInvalid {
			t.Errorf("booking a past window: %v", err)
		}
		// Patches without downtime do not book windows.
		q := f.create(alice, infraPatch(false))
		if _, err := f.svc.BookWindow(f.ctx, alice, q.Key, service.BookingInput{Start: later, End: later.Add(time.Hour)}); code(err) != patchctl.CodeConflict {
			t.Errorf("booking for a no-downtime patch: %v", err)
		}
	})
}

func TestInfrastructureWithoutDowntime(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.create(alice, infraPatch(false))
		f.throughValidation(p.Key)
		f.refused(alice, p.Key, "deployed_to_production")
		f.evidence(alice, p.Key, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "production", Version: "15.8", Ref: "primary"})
		f.advance(alice, p.Key, patchctl.StateProduction)
		f.advance(alice, p.Key, patchctl.StateDone)
	})
}

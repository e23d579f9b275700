package service_test

import (
	"slices"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/lifecycle"
	"github.com/patchctl/patchctl/internal/store"
)

// closedPatch writes a patch closed in state at closed with the given due
// time straight to the store: walking it through its lifecycle is the job
// of the lifecycle tests, not of these.
func (f *fixture) closedPatch(title string, state patchctl.State, due, closed time.Time) {
	f.t.Helper()
	p := &patchctl.Patch{Title: title, Kind: patchctl.KindApplication, Target: patchctl.Target{Application: "payments"},
		State: state, Priority: patchctl.PriorityHigh, PriorityRule: "test", DetectedAt: due.Add(-7 * 24 * time.Hour),
		DueAt: &due, CreatedBy: "alice", CreatedAt: due.Add(-7 * 24 * time.Hour), UpdatedAt: closed, ClosedAt: &closed}
	f.must(f.db.InTx(f.ctx, func(tx *store.Tx) error { return tx.CreatePatch(f.ctx, p) }))
}

func TestDashboard(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		const day = 24 * time.Hour
		now := f.clock.Now()
		f.closedPatch("on time, 10 days ago", patchctl.StateDone, now.Add(-9*day), now.Add(-10*day))
		f.closedPatch("late, 40 days ago", patchctl.StateDone, now.Add(-41*day), now.Add(-40*day))
		f.closedPatch("late, 100 days ago", patchctl.StateDone, now.Add(-101*day), now.Add(-100*day))
		f.closedPatch("cancelled after its due time", patchctl.StateCancelled, now.Add(-3*day), now.Add(-2*day))

		in := appPatch()
		in.Title = "Emergency: CVSS 9.8"
		in.Links = []patchctl.Link{cve("CVE-2024-9143", 9.8)}
		em := f.create(alice, in) // due in 24h
		in = appPatch()
		in.Title = "Routine"
		routine := f.create(alice, in)
		// Tuesday 21:00: the emergency (due Tuesday 09:00) is 12 hours
		// overdue; the routine patch is due at the end of the weekly window,
		// Wednesday 02:00.
		f.clock.Advance(36 * time.Hour)

		if _, err := f.svc.Dashboard(f.ctx, patchctl.Actor{Name: "nobody"}); code(err) != patchctl.CodeForbidden {
			t.Errorf("dashboard without a role: %v, want forbidden", err)
		}
		d, err := f.svc.Dashboard(f.ctx, viola)
		f.must(err)
		if !d.Now.Equal(f.clock.Now()) {
			t.Errorf("Now = %v", d.Now)
		}
		if got := d.Priorities; len(got) != 3 || got[0].Priority != patchctl.PriorityEmergency || got[0].Open != 1 || got[0].Overdue != 1 ||
			len(got[0].Top) != 1 || got[0].Top[0].Key != em.Key || got[2].Open != 1 || got[2].Top[0].Key != routine.Key {
			t.Errorf("priorities = %+v", got)
		}
		if d.OverdueCount != 1 || len(d.Overdue) != 1 || d.Overdue[0].Key != em.Key {
			t.Errorf("overdue = %d %v", d.OverdueCount, d.Overdue)
		}
		if d.DueSoonCount != 1 || d.DueSoon[0].Key != routine.Key {
			t.Errorf("due soon = %d %v", d.DueSoonCount, d.DueSoon)
		}
		if len(d.Activity) == 0 || d.Activity[0].Subject != routine.Key {
			t.Errorf("latest activity = %+v, want the routine patch's creation first", d.Activity)
		}

		c := d.Compliance
		if len(c.Periods) != 2 || c.Periods[0].Days != 30 || c.Periods[1].Days != 90 {
			t.Fatalf("periods = %+v", c.Periods)
		}
		p30, p90 := c.Periods[0], c.Periods[1]
		if p30.Met != 1 || p30.Late != 0 || p30.Overdue != 1 {
			t.Errorf("last 30 days = %+v, want 1 met, 1 overdue", p30)
		}
		if p90.Met != 1 || p90.Late != 1 || p90.Overdue != 1 {
			t.Errorf("last 90 days = %+v, want 1 met, 1 late, 1 overdue", p90)
		}
		if pct, ok := p90.Percent(); !ok || int(pct) != 33 {
			t.Errorf("90-day compliance = %v%% (%v), want 33%%", pct, ok)
		}
		if len(c.Weeks) != 13 || c.Weeks[0].Days != 6 || !c.Weeks[12].End.Equal(d.Now) {
			t.Errorf("weeks: %d, first of %d days, last ends %v", len(c.Weeks), c.Weeks[0].Days, c.Weeks[12].End)
		}
		var met, late, overdue int
		for _, w := range c.Weeks {
			met, late, overdue = met+w.Met, late+w.Late, overdue+w.Overdue
		}
		if met != 1 || late != 1 || overdue != 1 {
			t.Errorf("weeks add up to %d met, %d late, %d overdue; want 1, 1, 1", met, late, overdue)
		}
		if last := c.Weeks[12]; last.Overdue != 1 {
			t.Errorf("the emergency fell due this week; last week = %+v", last)
		}

		b, err := f.svc.Board(f.ctx, viola, patchctl.KindApplication, true, 10)
		f.must(err)
		var states []patchctl.State
		for _, col := range b.Columns {
			states = append(states, col.State)
		}
		if !slices.Equal(states, lifecycle.States(patchctl.KindApplication, false)) || b.Downtime {
			t.Errorf("application board columns = %v", states)
		}
		if col := b.Columns[0]; col.State != patchctl.StateDraft || col.Count != 2 || len(col.Patches) != 2 || col.Patches[0].Key != em.Key {
			t.Errorf("draft column = %+v", col)
		}
		if _, err := f.svc.Board(f.ctx, viola, "firmware", false, 10); code(err) != patchctl.CodeInvalid {
			t.Errorf("board of an unknown kind: %v", err)
		}
		b, err = f.svc.Board(f.ctx, viola, patchctl.KindInfrastructure, true, 10)
		f.must(err)
		if len(b.Columns) != len(lifecycle.States(patchctl.KindInfrastructure, true)) || !b.Downtime {
			t.Errorf("infrastructure board with downtime has %d columns", len(b.Columns))
		}
	})
}

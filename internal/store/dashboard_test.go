package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/testdb"
)

// dashNow is the "now" of the dashboard tests.
var dashNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

type seedPatch struct {
	title    string
	kind     patchctl.Kind
	prio     patchctl.Priority
	state    patchctl.State
	due      time.Duration // relative to dashNow
	closed   time.Duration // relative to dashNow, for closed patches
	downtime bool
	halt     string
}

func seedDashboard(t *testing.T, db *store.DB, seeds []seedPatch) map[string]*patchctl.Patch {
	t.Helper()
	ctx := context.Background()
	out := map[string]*patchctl.Patch{}
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for _, s := range seeds {
			due := dashNow.Add(s.due)
			p := &patchctl.Patch{Title: s.title, Kind: s.kind, State: s.state, Priority: s.prio, PriorityRule: "test",
				DetectedAt: dashNow.Add(-60 * 24 * time.Hour), DueAt: &due, CreatedBy: "erin",
				CreatedAt: dashNow.Add(-60 * 24 * time.Hour), UpdatedAt: dashNow.Add(s.due)}
			switch s.kind {
			case patchctl.KindInfrastructure:
				p.Target = patchctl.Target{System: "db", Downtime: s.downtime}
			case patchctl.KindKubernetes:
				p.Target = patchctl.Target{Clusters: []string{"mgmt"}, Upgrade: patchctl.UpgradeNode}
			default:
				p.Target = patchctl.Target{Application: "payments"}
			}
			if s.state.Terminal() {
				c := dashNow.Add(s.closed)
				p.ClosedAt = &c
			}
			if s.halt != "" {
				p.Halt = &patchctl.Halt{Reason: s.halt, By: "system:prometheus", At: dashNow}
			}
			if err := tx.CreatePatch(ctx, p); err != nil {
				return err
			}
			out[s.title] = p
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func titles(ps []*patchctl.Patch) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Title
	}
	return out
}

const day = 24 * time.Hour

func TestDashboardQueries(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		app, k8s, infra := patchctl.KindApplication, patchctl.KindKubernetes, patchctl.KindInfrastructure
		em, hi, ro := patchctl.PriorityEmergency, patchctl.PriorityHigh, patchctl.PriorityRoutine
		seedDashboard(t, db, []seedPatch{
			{title: "em overdue 2d", kind: app, prio: em, state: patchctl.StateInProgress, due: -2 * day},
			{title: "em overdue 1h", kind: app, prio: em, state: patchctl.StateStaging, due: -time.Hour},
			{title: "em due 3h", kind: app, prio: em, state: patchctl.StateDraft, due: 3 * time.Hour},
			{title: "hi due 20h", kind: k8s, prio: hi, state: patchctl.StateSoaking, due: 20 * time.Hour, halt: "health check failed"},
			{title: "hi due 2d", kind: infra, prio: hi, state: patchctl.StateScheduled, due: 2 * day, downtime: true},
			{title: "ro overdue 100d", kind: infra, prio: ro, state: patchctl.StateStaging, due: -100 * day},
			{title: "ro overdue 40d", kind: app, prio: ro, state: patchctl.StateRolledBack, due: -40 * day},
			{title: "ro due 10d", kind: infra, prio: ro, state: patchctl.StateDraft, due: 10 * day},
			// Closed as done: on time 1 and 20 days ago, late 5 and 60 days ago,
			// on time 200 days ago (outside every period).
			{title: "done on time 1d", kind: app, prio: hi, state: patchctl.StateDone, due: 0, closed: -day},
			{title: "done on time 20d", kind: infra, prio: ro, state: patchctl.StateDone, due: -19 * day, closed: -20 * day},
			{title: "done late 5d", kind: app, prio: em, state: patchctl.StateDone, due: -6 * day, closed: -5 * day},
			{title: "done late 60d", kind: k8s, prio: hi, state: patchctl.StateDone, due: -61 * day, closed: -60 * day},
			{title: "done 200d", kind: app, prio: hi, state: patchctl.StateDone, due: -199 * day, closed: -200 * day},
			// Cancelled after its due time: no SLA decided.
			{title: "cancelled late", kind: app, prio: hi, state: patchctl.StateCancelled, due: -3 * day, closed: -2 * day},
		})
		r := db.Read()

		counts, err := r.OpenByPriority(ctx, dashNow)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]store.PriorityCount{{em, 3, 2}, {hi, 2, 0}, {ro, 3, 2}}, counts); diff != "" {
			t.Errorf("OpenByPriority (-want +got):\n%s", diff)
		}

		urgent, err := r.MostUrgent(ctx, ro, 2)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := titles(urgent), []string{"ro overdue 100d", "ro overdue 40d"}; !slices.Equal(got, want) {
			t.Errorf("MostUrgent(routine, 2) = %v, want %v", got, want)
		}

		over, err := r.Overdue(ctx, dashNow, 3)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := titles(over), []string{"ro overdue 100d", "ro overdue 40d", "em overdue 2d"}; !slices.Equal(got, want) {
			t.Errorf("Overdue = %v, want %v", got, want)
		}

		soon, n, err := r.DueBetween(ctx, dashNow, dashNow.Add(day), 10)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := titles(soon), []string{"em due 3h", "hi due 20h"}; n != 2 || !slices.Equal(got, want) {
			t.Errorf("DueBetween(now, +24h) = %v of %d, want %v", got, n, want)
		}

		halted, err := r.Halted(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(halted) != 1 || halted[0].Title != "hi due 20h" || halted[0].Halt.Reason != "health check failed" {
			t.Errorf("Halted = %v", titles(halted))
		}

		// Intervals: 90 to 30 days ago, 30 to 5.5 days ago, then up to now.
		start := dashNow.Add(-90 * day)
		bounds := []time.Time{start, dashNow.Add(-30 * day), dashNow.Add(-132 * time.Hour), dashNow}
		period, err := r.ComplianceCounts(ctx, bounds)
		if err != nil {
			t.Fatal(err)
		}
		// "ro overdue 100d" fell due before the period; "done late 60d"
		// closed and "ro overdue 40d" fell due in the first interval; "done on time 20d" closed in the second; "done late 5d"
		// and "done on time 1d" closed, and "em overdue 2d" and "em overdue
		// 1h" fell due, in the last.
		want := []store.ComplianceCount{{Late: 1, Overdue: 1}, {Met: 1}, {Met: 1, Late: 1, Overdue: 2}}
		if diff := cmp.Diff(want, period); diff != "" {
			t.Errorf("ComplianceCounts (-want +got):\n%s", diff)
		}
		if _, err := r.ComplianceCounts(ctx, []time.Time{dashNow, start}); patchctl.ErrorCode(err) != patchctl.CodeInvalid {
			t.Errorf("intervals out of order: %v", err)
		}

		yes, no := true, false
		for _, tc := range []struct {
			f     store.BoardFilter
			state patchctl.State
			want  []string
		}{
			{store.BoardFilter{Kind: app}, patchctl.StateDone, []string{"done on time 1d", "done late 5d", "done 200d"}},
			{store.BoardFilter{Kind: infra}, patchctl.StateStaging, []string{"ro overdue 100d"}},
			{store.BoardFilter{Kind: infra, Downtime: &yes}, patchctl.StateScheduled, []string{"hi due 2d"}},
			{store.BoardFilter{Kind: infra, Downtime: &no}, patchctl.StateScheduled, []string{}},
			{store.BoardFilter{Kind: infra, Downtime: &no}, patchctl.StateDraft, []string{"ro due 10d"}},
		} {
			ps, err := r.BoardColumn(ctx, tc.f, tc.state, 10)
			if err != nil {
				t.Fatal(err)
			}
			n, err := r.BoardCount(ctx, tc.f, tc.state)
			if err != nil {
				t.Fatal(err)
			}
			if got := titles(ps); !slices.Equal(got, tc.want) || n != len(tc.want) {
				t.Errorf("board %s downtime %v column %s = %v (count %d), want %v", tc.f.Kind, tc.f.Downtime != nil && *tc.f.Downtime, tc.state, got, n, tc.want)
			}
		}
	})
}

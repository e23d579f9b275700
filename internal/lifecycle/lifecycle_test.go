package lifecycle

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func cfg() *config.Config {
	c := config.Default()
	c.Clusters = []config.Cluster{
		{Name: "mgmt", Role: config.ClusterManagement, NodePools: []string{"system"}},
		{Name: "main", Role: config.ClusterMain, NodePools: []string{"a", "b"}},
	}
	return c
}

func ev(kind patchctl.EvidenceKind, env, version, result, subject, ref string, at time.Time, id int64) patchctl.Evidence {
	return patchctl.Evidence{ID: id, Kind: kind, Environment: env, Version: version, Result: result, Subject: subject, Ref: ref,
		Source: "test", Actor: "alice", At: at}
}

// complete returns facts that satisfy every gate of the edge from state to
// `to` for a patch of the kind; each case then removes one thing.
func complete(kind patchctl.Kind, downtime bool, state patchctl.State) *Facts {
	p := &patchctl.Patch{ID: 1, Key: "PATCH-1", Title: "x", Kind: kind, State: state, Version: "v2",
		Target: patchctl.Target{Application: "app", Environments: []string{"staging", "production"}}}
	f := &Facts{Patch: p, Config: cfg(), Now: t0.Add(72 * time.Hour), EnteredAt: map[patchctl.State]time.Time{}}
	f.Links = []patchctl.Link{{Type: patchctl.LinkVulnerability, Ref: "CVE-2024-0001"}}
	switch kind {
	case patchctl.KindApplication:
		f.Evidence = []patchctl.Evidence{
			ev(patchctl.EvidenceBranch, "", "", "", "", "patch/PATCH-1-x", t0, 1),
			{ID: 2, Kind: patchctl.EvidencePullRequest, Ref: "pr/1", Subject: "alice", Result: "open", Details: map[string]string{"branch": "patch/PATCH-1-x"}, At: t0},
			ev(patchctl.EvidenceReview, "", "", patchctl.ResultApproved, "bob", "", t0.Add(time.Minute), 3),
			ev(patchctl.EvidenceMerge, "", "v2", "", "", "pr/1", t0.Add(2*time.Minute), 4),
			ev(patchctl.EvidenceDeployment, "staging", "v2", "passed", "", "", t0.Add(time.Hour), 5),
			ev(patchctl.EvidenceTestRun, "staging", "v2", "passed", "", "run/1", t0.Add(2*time.Hour), 6),
			ev(patchctl.EvidenceSignoff, "staging", "v2", "passed", "", "", t0.Add(3*time.Hour), 7),
		}
		f.EnteredAt[patchctl.StateValidated] = t0.Add(4 * time.Hour)
		f.Evidence = append(f.Evidence, ev(patchctl.EvidenceDeployment, "production", "v2", "passed", "", "", t0.Add(5*time.Hour), 8))
	case patchctl.KindInfrastructure:
		p.Target = patchctl.Target{System: "db", Downtime: downtime, Environments: []string{"staging", "production"}}
		booked := t0.Add(time.Hour)
		p.Window = &patchctl.Booking{Start: t0.Add(72 * time.Hour), End: t0.Add(74 * time.Hour), BookedAt: booked}
		f.Now = t0.Add(72*time.Hour + 10*time.Minute)
		f.Evidence = []patchctl.Evidence{
			ev(patchctl.EvidenceTerraformPlan, "", "", "", "", "pr/9", t0, 1),
			ev(patchctl.EvidenceDeployment, "staging", "v2", "passed", "", "", t0, 2),
			ev(patchctl.EvidenceTestRun, "staging", "v2", "passed", "", "", t0, 3),
			ev(patchctl.EvidenceSignoff, "staging", "v2", "passed", "", "", t0, 4),
			ev(patchctl.EvidenceWindowBooking, "", "", "", "", "w", booked, 5),
			ev(patchctl.EvidenceAnnouncement, "", "", "", "", "#sre", booked.Add(time.Minute), 6),
			ev(patchctl.EvidenceBackup, "", "", "passed", "", "snap-1", booked.Add(2*time.Minute), 7),
			ev(patchctl.EvidenceDeployment, "production", "v2", "passed", "", "", f.Now.Add(-time.Minute), 8),
			ev(patchctl.EvidenceSignoff, "production", "v2", "passed", "", "", f.Now.Add(-time.Minute), 9),
		}
		f.EnteredAt[patchctl.StateUpgrading] = f.Now.Add(-5 * time.Minute)
	case patchctl.KindKubernetes:
		p.Target = patchctl.Target{Clusters: []string{"mgmt", "main"}, Upgrade: patchctl.UpgradeVersion, Version: "1.30"}
		soak := t0
		p.SoakStartedAt = &soak
		waves, _ := PlanWaves(f.Config, p.Target)
		for i := range waves {
			waves[i].State = patchctl.WaveCompleted
		}
		f.Waves = waves
		f.Evidence = []patchctl.Evidence{ev(patchctl.EvidenceHealthCheck, "", "", "passed", "", "up", t0.Add(time.Hour), 1)}
	}
	return f
}

type gateCase struct {
	gate     string
	kind     patchctl.Kind
	downtime bool
	from, to patchctl.State
	breakIt  func(f *Facts)
}

// cascades are gates that refuse with another by nature: a pull request
// from another branch is not the patch's pull request; without a version no
// deployment can be of it.
var cascades = map[string][]string{
	"dedicated_branch": {"pull_request_open"},
	"version_set":      {"deployed_to_staging"},
}

func without(kind patchctl.EvidenceKind) func(f *Facts) {
	return func(f *Facts) {
		f.Evidence = slices.DeleteFunc(f.Evidence, func(e patchctl.Evidence) bool { return e.Kind == kind })
	}
}

var cases = []gateCase{
	{"has_trigger", patchctl.KindApplication, false, patchctl.StateDraft, patchctl.StateInProgress, func(f *Facts) { f.Links = nil }},
	{"dedicated_branch", patchctl.KindApplication, false, patchctl.StateInProgress, patchctl.StateInReview, func(f *Facts) {
		without(patchctl.EvidenceBranch)(f)
		f.Evidence[0].Details["branch"] = "feature/x"
	}},
	{"review_by_other", patchctl.KindApplication, false, patchctl.StateInReview, patchctl.StateMerged, func(f *Facts) { f.Evidence[2].Subject = "alice" }},
	{"merged_via_pr", patchctl.KindApplication, false, patchctl.StateInReview, patchctl.StateMerged, without(patchctl.EvidenceMerge)},
	{"merged_via_pr", patchctl.KindApplication, false, patchctl.StateInReview, patchctl.StateMerged, func(f *Facts) {
		// A deployment repository's merge is not the patch's own.
		for i := range f.Evidence {
			if f.Evidence[i].Kind == patchctl.EvidenceMerge {
				f.Evidence[i].Details = map[string]string{"role": "deployment"}
			}
		}
	}},
	{"deployed_to_staging", patchctl.KindApplication, false, patchctl.StateMerged, patchctl.StateStaging, func(f *Facts) { f.Evidence[4].Version = "v1" }},
	{"automated_tests_passed", patchctl.KindApplication, false, patchctl.StateStaging, patchctl.StateValidated, func(f *Facts) { f.Evidence[5].Result = "failed" }},
	{"manual_signoff", patchctl.KindApplication, false, patchctl.StateStaging, patchctl.StateValidated, func(f *Facts) { f.Evidence[6].Actor = "system:ci" }},
	{"same_version_validated", patchctl.KindApplication, false, patchctl.StateValidated, patchctl.StateProduction, func(f *Facts) {
		without(patchctl.EvidenceSignoff)(f)
	}},
	{"deployed_to_production", patchctl.KindApplication, false, patchctl.StateValidated, patchctl.StateProduction, func(f *Facts) {
		f.EnteredAt[patchctl.StateValidated] = t0.Add(6 * time.Hour) // the production deployment came before validation
	}},
	{"not_halted", patchctl.KindApplication, false, patchctl.StateProduction, patchctl.StateDone, func(f *Facts) {
		f.Patch.Halt = &patchctl.Halt{Reason: "x"}
	}},
	{"pull_request_open", patchctl.KindApplication, false, patchctl.StateInProgress, patchctl.StateInReview, func(f *Facts) { f.Evidence[1].Result = "closed" }},
	{"change_tracked", patchctl.KindInfrastructure, false, patchctl.StateInProgress, patchctl.StateStaging, without(patchctl.EvidenceTerraformPlan)},
	{"version_set", patchctl.KindInfrastructure, false, patchctl.StateInProgress, patchctl.StateStaging, func(f *Facts) {
		f.Patch.Version = ""
	}},
	{"window_booked", patchctl.KindInfrastructure, true, patchctl.StateValidated, patchctl.StateScheduled, func(f *Facts) { f.Patch.Window = nil }},
	{"announced_in_time", patchctl.KindInfrastructure, true, patchctl.StateScheduled, patchctl.StateAnnounced, func(f *Facts) {
		f.Evidence[5].At = f.Patch.Window.Start.Add(-time.Hour) // less than the 24h lead time
	}},
	{"backup_taken", patchctl.KindInfrastructure, true, patchctl.StateAnnounced, patchctl.StateBackedUp, func(f *Facts) {
		f.Evidence[6].ID = 4 // recorded before the booking
	}},
	{"inside_window", patchctl.KindInfrastructure, true, patchctl.StateBackedUp, patchctl.StateUpgrading, func(f *Facts) {
		f.Now = f.Patch.Window.Start.Add(-time.Minute)
	}},
	{"upgrade_validated", patchctl.KindInfrastructure, true, patchctl.StateUpgrading, patchctl.StateVerified, func(f *Facts) {
		f.EnteredAt[patchctl.StateUpgrading] = f.Now // sign-off came before the upgrade started
	}},
	{"target_version", patchctl.KindKubernetes, false, patchctl.StateDraft, patchctl.StatePlanned, func(f *Facts) { f.Patch.Target.Version = "" }},
	{"management_cluster_first", patchctl.KindKubernetes, false, patchctl.StateDraft, patchctl.StatePlanned, func(f *Facts) {
		f.Patch.Target.Clusters = []string{"main"}
	}},
	{"management_waves_completed", patchctl.KindKubernetes, false, patchctl.StateUpgradingManagement, patchctl.StateSoaking, func(f *Facts) {
		f.Waves[1].State = patchctl.WaveInProgress
	}},
	{"soak_elapsed", patchctl.KindKubernetes, false, patchctl.StateSoaking, patchctl.StateUpgradingMain, func(f *Facts) {
		f.Now = t0.Add(47 * time.Hour)
	}},
	{"soak_health_checks_passed", patchctl.KindKubernetes, false, patchctl.StateSoaking, patchctl.StateUpgradingMain, func(f *Facts) {
		f.Evidence[0].Result = "failed"
	}},
	{"main_waves_completed", patchctl.KindKubernetes, false, patchctl.StateUpgradingMain, patchctl.StateDone, func(f *Facts) {
		f.Waves[len(f.Waves)-1].State = patchctl.WavePending
	}},
	{"previous_stable_known", patchctl.KindApplication, false, patchctl.StateProduction, patchctl.StateRolledBack, func(f *Facts) {
		f.PreviousStable = nil
	}},
}

// TestEveryGateRefusesAlone satisfies every gate of an edge, checks the
// edge passes, then breaks one thing and checks that exactly that gate
// refuses, saying what is missing.
func TestEveryGateRefusesAlone(t *testing.T) {
	for _, c := range cases {
		t.Run(c.gate, func(t *testing.T) {
			f := complete(c.kind, c.downtime, c.from)
			if c.to == patchctl.StateRolledBack {
				f.PreviousStable = map[string]string{"production": "v1"}
			}
			e, err := Find(f.Patch, c.to)
			if err != nil {
				t.Fatal(err)
			}
			if r := patchctl.Refusing(Evaluate(e, f)); len(r) != 0 {
				t.Fatalf("complete facts refused: %+v", r)
			}
			c.breakIt(f)
			r := patchctl.Refusing(Evaluate(e, f))
			want := append([]string{c.gate}, cascades[c.gate]...)
			var got []string
			for _, g := range r {
				got = append(got, g.Gate)
				if g.Missing == "" || g.Rule == "" {
					t.Errorf("gate %s refused without saying what is missing", g.Gate)
				}
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("after breaking %s: refused by %v, want %v", c.gate, got, want)
			}
		})
	}
}

var waveCases = []struct {
	gate  string
	seq   int
	op    string
	state patchctl.State
	setup func(f *Facts)
}{
	{"wave_pending", 2, WaveStart, patchctl.StateUpgradingManagement, func(f *Facts) { f.Waves[0].State = patchctl.WaveCompleted; f.Waves[1].State = patchctl.WaveCompleted }},
	{"wave_in_phase", 4, WaveStart, patchctl.StateUpgradingManagement, func(f *Facts) { f.Waves[2].State = patchctl.WaveCompleted }},
	{"control_plane_first", 2, WaveStart, patchctl.StateUpgradingManagement, func(f *Facts) {}},
	{"one_main_pool_at_a_time", 5, WaveStart, patchctl.StateUpgradingMain, func(f *Facts) {
		f.Waves[2].State, f.Waves[3].State = patchctl.WaveCompleted, patchctl.WaveInProgress
	}},
	{"wave_in_progress", 1, WaveComplete, patchctl.StateUpgradingManagement, func(f *Facts) {
		f.Evidence = append(f.Evidence, ev(patchctl.EvidenceWaveUpgrade, "", "1.30", "passed", "mgmt/control-plane", "op", t0, 9))
	}},
	{"wave_upgrade_observed", 1, WaveComplete, patchctl.StateUpgradingManagement, func(f *Facts) { f.Waves[0].State = patchctl.WaveInProgress }},
}

func TestWaveGatesRefuse(t *testing.T) {
	for _, c := range waveCases {
		t.Run(c.gate, func(t *testing.T) {
			f := complete(patchctl.KindKubernetes, false, c.state)
			for i := range f.Waves {
				f.Waves[i].State = patchctl.WavePending
			}
			c.setup(f)
			_, res, err := EvaluateWave(f, c.seq, c.op)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range patchctl.Refusing(res) {
				got = append(got, r.Gate)
			}
			if !slices.Contains(got, c.gate) {
				t.Fatalf("refused by %v, want %s among them", got, c.gate)
			}
		})
	}
}

// TestEveryGateHasACase keeps the tables complete: a new gate without a
// bypass test fails here.
func TestEveryGateHasACase(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.gate] = true
	}
	for _, c := range waveCases {
		covered[c.gate] = true
	}
	for _, g := range AllGates() {
		if !covered[g.Name] {
			t.Errorf("gate %s has no bypass test", g.Name)
		}
		if g.Rule == "" || !strings.HasSuffix(g.Rule, ".") {
			t.Errorf("gate %s does not quote its SOP rule", g.Name)
		}
	}
}

func TestPaths(t *testing.T) {
	for _, c := range []struct {
		kind     patchctl.Kind
		downtime bool
		want     string
	}{
		{patchctl.KindApplication, false, "draft in_progress in_review merged staging validated production done"},
		{patchctl.KindKubernetes, false, "draft planned upgrading_management soaking upgrading_main done"},
		{patchctl.KindInfrastructure, false, "draft in_progress staging validated production done"},
		{patchctl.KindInfrastructure, true, "draft in_progress staging validated scheduled announced backed_up upgrading verified resumed done"},
	} {
		var got []string
		for _, s := range Path(c.kind, c.downtime) {
			got = append(got, string(s))
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%s downtime=%v: %v", c.kind, c.downtime, got)
		}
	}
	p := &patchctl.Patch{Kind: patchctl.KindApplication, State: patchctl.StateDone, Key: "PATCH-1"}
	if _, err := Find(p, patchctl.StateDraft); patchctl.ErrorCode(err) != patchctl.CodeConflict {
		t.Errorf("leaving done: %v", err)
	}
}

func TestRefusalMessages(t *testing.T) {
	p := &patchctl.Patch{Key: "PATCH-7", State: patchctl.StateUpgradingMain}
	refusing := []patchctl.GateResult{{Gate: "wave_pending", Missing: "wave 3 is completed, not pending"},
		{Gate: "one_main_pool_at_a_time", Missing: "finish wave 2 main/a first"}}
	for _, c := range []struct {
		err  error
		want string
	}{
		{GateRefusal(p, patchctl.StateDone, refusing[:1]),
			"PATCH-7 cannot go from upgrading_main to done: refused by gate wave_pending (wave 3 is completed, not pending)"},
		{WaveRefusal(p, 3, WaveStart, refusing),
			"wave 3 of PATCH-7 cannot start: refused by gate wave_pending (wave 3 is completed, not pending); one_main_pool_at_a_time (finish wave 2 main/a first)"},
	} {
		e, ok := c.err.(*patchctl.Error)
		if !ok || e.Code != patchctl.CodeGate || e.Message != c.want || len(e.Gates) == 0 {
			t.Errorf("got %#v, want a gate error %q", c.err, c.want)
		}
	}
}

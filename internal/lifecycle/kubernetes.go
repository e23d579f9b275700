package lifecycle

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
)

// PlanWaves builds the rollout plan of a kubernetes patch from the policy's
// clusters: management clusters first, then main clusters; within a cluster
// the control plane (for version upgrades) before its node pools.
func PlanWaves(cfg *config.Config, t patchctl.Target) ([]patchctl.Wave, error) {
	var mgmt, main []config.Cluster
	for _, name := range t.Clusters {
		c, found := cfg.Cluster(name)
		if !found {
			return nil, patchctl.FieldError("target.clusters", "%q is not a configured cluster", name)
		}
		if c.Role == config.ClusterManagement {
			mgmt = append(mgmt, c)
		} else {
			main = append(main, c)
		}
	}
	var waves []patchctl.Wave
	add := func(phase string, cs []config.Cluster) {
		for _, c := range cs {
			if t.Upgrade == patchctl.UpgradeVersion {
				waves = append(waves, patchctl.Wave{Phase: phase, Cluster: c.Name, NodePool: patchctl.ControlPlane})
			}
			for _, p := range c.NodePools {
				waves = append(waves, patchctl.Wave{Phase: phase, Cluster: c.Name, NodePool: p})
			}
		}
	}
	add(patchctl.PhaseManagement, mgmt)
	add(patchctl.PhaseMain, main)
	for i := range waves {
		waves[i].Seq = i + 1
		waves[i].Version = t.Version
		waves[i].State = patchctl.WavePending
	}
	return waves, nil
}

var gateTargetVersion = Gate{Name: "target_version", Rule: ruleControlPlane, check: func(f *Facts) (bool, string, string) {
	if f.Patch.Target.Version == "" {
		return fail("name the GKE version to roll out (target.version)")
	}
	return ok("version " + f.Patch.Target.Version)
}}

var gateManagementInPlan = Gate{Name: "management_cluster_first", Rule: ruleMgmtFirst, check: func(f *Facts) (bool, string, string) {
	var mgmt []string
	for _, name := range f.Patch.Target.Clusters {
		c, found := f.Config.Cluster(name)
		if !found {
			return fail(fmt.Sprintf("cluster %q is not in the policy", name))
		}
		if c.Role == config.ClusterManagement {
			mgmt = append(mgmt, name)
		}
	}
	if len(mgmt) == 0 {
		return fail("the rollout must include a management cluster, upgraded and soaked before any main cluster")
	}
	return ok("management cluster " + strings.Join(mgmt, ", ") + " goes first")
}}

func wavesOf(f *Facts, phase string) []patchctl.Wave {
	var out []patchctl.Wave
	for _, w := range f.Waves {
		if w.Phase == phase {
			out = append(out, w)
		}
	}
	return out
}

func wavesDone(phase string) func(f *Facts) (bool, string, string) {
	return func(f *Facts) (bool, string, string) {
		ws := wavesOf(f, phase)
		if len(ws) == 0 {
			return fail("the rollout plan has no " + phase + " wave")
		}
		var pending []string
		for _, w := range ws {
			if w.State != patchctl.WaveCompleted {
				pending = append(pending, fmt.Sprintf("wave %d %s (%s)", w.Seq, w.Subject(), w.State))
			}
		}
		if len(pending) > 0 {
			return fail("complete " + strings.Join(pending, ", "))
		}
		return ok(fmt.Sprintf("%d %s waves completed", len(ws), phase))
	}
}

var gateManagementDone = Gate{Name: "management_waves_completed", Rule: ruleMgmtFirst, check: wavesDone(patchctl.PhaseManagement)}
var gateMainDone = Gate{Name: "main_waves_completed", Rule: ruleGroupByGroup, check: wavesDone(patchctl.PhaseMain)}

var gateSoakElapsed = Gate{Name: "soak_elapsed", Rule: ruleSoak, check: func(f *Facts) (bool, string, string) {
	start := f.Patch.SoakStartedAt
	if start == nil {
		return fail("the soak has not started (management waves not completed)")
	}
	soak := f.Config.Soak.D()
	end := start.Add(soak)
	if f.Now.Before(end) {
		return fail(fmt.Sprintf("the management cluster soaks for %s until %s (%s left)",
			config.FormatDuration(soak), end.Format(time.RFC3339), config.FormatDuration(end.Sub(f.Now).Round(time.Minute))))
	}
	return ok("soaked " + config.FormatDuration(soak) + " since " + start.Format(time.RFC3339))
}}

var gateSoakHealthy = Gate{Name: "soak_health_checks_passed", Rule: ruleSoak, check: func(f *Facts) (bool, string, string) {
	start := f.Patch.SoakStartedAt
	if start == nil {
		return fail("the soak has not started")
	}
	passed := 0
	var failed []string
	for _, e := range f.Evidence {
		if e.Kind != patchctl.EvidenceHealthCheck || e.At.Before(*start) || e.At.After(f.Now) {
			continue
		}
		if e.Result == patchctl.ResultPassed {
			passed++
		} else {
			failed = append(failed, e.Ref+" at "+e.At.Format(time.RFC3339))
		}
	}
	if len(failed) > 0 {
		return fail("health checks failed during the soak: " + strings.Join(failed, ", "))
	}
	if passed == 0 {
		return fail("health check results of the management cluster recorded during the soak")
	}
	return ok(fmt.Sprintf("%d health checks passed during the soak", passed))
}}

// Wave operations.
const (
	WaveStart    = "start"
	WaveComplete = "complete"
	WaveFail     = "fail"
)

var gateWavePhase = Gate{Name: "wave_in_phase", Rule: ruleMgmtFirst, check: func(f *Facts) (bool, string, string) {
	w := f.wave()
	want := patchctl.StateUpgradingManagement
	if w.Phase == patchctl.PhaseMain {
		want = patchctl.StateUpgradingMain
	}
	if f.Patch.State != want {
		return fail(fmt.Sprintf("%s waves run while the patch is %s; it is %s", w.Phase, want, f.Patch.State))
	}
	return ok(w.Phase + " phase")
}}

var gateControlPlaneFirst = Gate{Name: "control_plane_first", Rule: ruleControlPlane, check: func(f *Facts) (bool, string, string) {
	w := f.wave()
	if w.NodePool == patchctl.ControlPlane {
		return ok("control plane wave")
	}
	for _, o := range f.Waves {
		if o.Cluster == w.Cluster && o.NodePool == patchctl.ControlPlane && o.State != patchctl.WaveCompleted {
			return fail(fmt.Sprintf("upgrade the control plane of %s (wave %d) before its node pools", w.Cluster, o.Seq))
		}
	}
	return ok("control plane of " + w.Cluster + " done or not part of the plan")
}}

var gateOneAtATime = Gate{Name: "one_main_pool_at_a_time", Rule: ruleGroupByGroup, check: func(f *Facts) (bool, string, string) {
	w := f.wave()
	if w.Phase != patchctl.PhaseMain {
		return ok("management waves may overlap")
	}
	var busy []string
	for _, o := range f.Waves {
		if o.Seq != w.Seq && o.Phase == patchctl.PhaseMain && o.State == patchctl.WaveInProgress {
			busy = append(busy, fmt.Sprintf("wave %d %s", o.Seq, o.Subject()))
		}
	}
	if len(busy) > 0 {
		return fail("finish " + strings.Join(busy, ", ") + " first: main cluster node pools are upgraded one at a time")
	}
	return ok("no other main wave in progress")
}}

var gateWavePending = Gate{Name: "wave_pending", Rule: ruleGroupByGroup, check: func(f *Facts) (bool, string, string) {
	if w := f.wave(); w.State != patchctl.WavePending {
		return fail(fmt.Sprintf("wave %d is %s, not pending", w.Seq, w.State))
	}
	return ok("pending")
}}

var gateWaveRunning = Gate{Name: "wave_in_progress", Rule: ruleGroupByGroup, check: func(f *Facts) (bool, string, string) {
	if w := f.wave(); w.State != patchctl.WaveInProgress {
		return fail(fmt.Sprintf("wave %d is %s, not in progress", w.Seq, w.State))
	}
	return ok("in progress")
}}

var gateWaveObserved = Gate{Name: "wave_upgrade_observed", Rule: ruleControlPlane, check: func(f *Facts) (bool, string, string) {
	w := f.wave()
	var since time.Time
	if w.StartedAt != nil {
		since = *w.StartedAt
	}
	for i := len(f.Evidence) - 1; i >= 0; i-- {
		e := f.Evidence[i]
		if e.Kind == patchctl.EvidenceWaveUpgrade && e.Subject == w.Subject() && e.Version == w.Version &&
			e.Result != patchctl.ResultFailed && !e.At.Before(since) {
			return ok(fmt.Sprintf("%s at %s observed (%s)", w.Subject(), w.Version, e.Source))
		}
	}
	return fail(fmt.Sprintf("wave_upgrade evidence that %s runs %s (an operation id, a Terraform apply or the GKE API)", w.Subject(), w.Version))
}}

var waveStartGates = []Gate{gateWavePending, gateWavePhase, gateNotHalted, gateControlPlaneFirst, gateOneAtATime}
var waveCompleteGates = []Gate{gateWaveRunning, gateWaveObserved}

// wave returns the wave an operation is about (set by EvaluateWave).
func (f *Facts) wave() patchctl.Wave { return f.currentWave }

// EvaluateWave runs the gates of a wave operation (start or complete); fail
// has no gate: reporting a failure is always allowed and halts the rollout.
func EvaluateWave(f *Facts, seq int, op string) (patchctl.Wave, []patchctl.GateResult, error) {
	idx := sort.Search(len(f.Waves), func(i int) bool { return f.Waves[i].Seq >= seq })
	if idx == len(f.Waves) || f.Waves[idx].Seq != seq {
		return patchctl.Wave{}, nil, patchctl.NotFound("wave", fmt.Sprintf("%d of %s", seq, f.Patch.Key))
	}
	f.currentWave = f.Waves[idx]
	var gates []Gate
	switch op {
	case WaveStart:
		gates = waveStartGates
	case WaveComplete:
		gates = waveCompleteGates
	case WaveFail:
		if f.currentWave.State != patchctl.WaveInProgress {
			return f.currentWave, nil, patchctl.Errorf(patchctl.CodeConflict, "wave %d is %s, not in progress", seq, f.currentWave.State)
		}
		return f.currentWave, nil, nil
	default:
		return patchctl.Wave{}, nil, patchctl.FieldError("op", "%q is not a wave operation (want start, complete or fail)", op)
	}
	return f.currentWave, Evaluate(Edge{Gates: gates}, f), nil
}

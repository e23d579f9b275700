package service_test

import (
	"strings"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/service"
)

func (f *fixture) wave(a patchctl.Actor, key string, seq int, op string) (*service.WaveResult, error) {
	return f.svc.Wave(f.ctx, a, key, seq, service.WaveInput{Op: op})
}

func (f *fixture) waveOK(a patchctl.Actor, key string, seq int, op string) {
	f.t.Helper()
	if _, err := f.wave(a, key, seq, op); err != nil {
		f.t.Fatalf("wave %d %s: %v", seq, op, err)
	}
}

func (f *fixture) waveRefused(key string, seq int, op string, gates ...string) {
	f.t.Helper()
	_, err := f.wave(alice, key, seq, op)
	f.gateErr(err, gates...)
}

func (f *fixture) observed(key, subject, version string) {
	f.t.Helper()
	f.evidence(alice, key, patchctl.Evidence{Kind: patchctl.EvidenceWaveUpgrade, Subject: subject, Version: version, Ref: "operation-" + subject, Source: "gke"})
}

// TestKubernetesPath walks a GKE version upgrade: management cluster first,
// a two-day soak with health checks, then main node pools one at a time,
// control planes before their node pools; a failed health check halts it.
func TestKubernetesPath(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		const v = "1.30.5-gke.1014001"
		p := f.create(alice, service.CreatePatch{Title: "GKE 1.30.5", Kind: patchctl.KindKubernetes,
			Target: patchctl.Target{Clusters: []string{"main", "mgmt"}, Upgrade: patchctl.UpgradeVersion, Version: v}})
		key := p.Key
		f.refused(alice, key, "has_trigger")
		_, err := f.svc.AddLink(f.ctx, alice, key, patchctl.Link{Type: patchctl.LinkIssue, Ref: "https://issuetracker.google.com/issues/1"})
		f.must(err)
		f.advance(alice, key, patchctl.StatePlanned)
		d, _ := f.svc.Patch(f.ctx, viola, key)
		var plan []string
		for _, w := range d.Waves {
			plan = append(plan, w.Phase+":"+w.Subject())
		}
		want := "management:mgmt/control-plane management:mgmt/system main:main/control-plane main:main/pool-a main:main/pool-b"
		if strings.Join(plan, " ") != want {
			t.Fatalf("plan = %v\nwant %s", plan, want)
		}
		// Waves wait for their phase.
		f.waveRefused(key, 1, "start", "wave_in_phase")
		f.advance(alice, key, patchctl.StateUpgradingManagement)
		f.waveRefused(key, 4, "start", "wave_in_phase", "control_plane_first")
		// Control plane before its node pools.
		f.waveRefused(key, 2, "start", "control_plane_first")
		f.waveOK(alice, key, 1, "start")
		f.waveRefused(key, 1, "complete", "wave_upgrade_observed")
		f.observed(key, "mgmt/control-plane", "1.29.9") // the wrong version does not count
		f.waveRefused(key, 1, "complete", "wave_upgrade_observed")
		f.observed(key, "mgmt/control-plane", v)
		f.waveOK(alice, key, 1, "complete")
		f.refused(alice, key, "management_waves_completed")
		f.waveOK(alice, key, 2, "start")
		f.observed(key, "mgmt/system", v)
		f.clock.Advance(time.Hour)
		f.waveOK(alice, key, 2, "complete")
		soakStart := f.clock.Now()
		f.advance(alice, key, patchctl.StateSoaking)
		if got := f.state(key).SoakStartedAt; got == nil || !got.Equal(soakStart) {
			t.Fatalf("soak started at %v, want %v", got, soakStart)
		}

		// The soak: two days, and every health check in it must pass.
		f.refused(alice, key, "soak_elapsed", "soak_health_checks_passed")
		f.clock.Advance(47 * time.Hour)
		f.evidence(github, key, patchctl.Evidence{Kind: patchctl.EvidenceHealthCheck, Ref: "prometheus:up", Result: "passed", Source: "prometheus"})
		f.refused(alice, key, "soak_elapsed")
		f.evidence(github, key, patchctl.Evidence{Kind: patchctl.EvidenceHealthCheck, Ref: "alertmanager:KubeNodeNotReady", Result: "failed", Source: "alertmanager"})
		halted := f.state(key)
		if halted.Halt == nil || !strings.Contains(halted.Halt.Reason, "KubeNodeNotReady") {
			t.Fatalf("a failed health check did not halt the rollout: %+v", halted.Halt)
		}
		f.clock.Advance(2 * time.Hour)
		f.refused(alice, key, "not_halted", "soak_health_checks_passed")
		// Only a person decides.
		if _, err := f.svc.Decide(f.ctx, github, key, service.DecisionInput{Decision: "resume", Reason: "flap"}); code(err) != patchctl.CodeForbidden {
			t.Fatalf("automation deciding: %v", err)
		}
		_, err = f.svc.Decide(f.ctx, alice, key, service.DecisionInput{Decision: "retry", Reason: "node replaced, watching again"})
		f.must(err)
		f.refused(alice, key, "soak_elapsed", "soak_health_checks_passed")
		f.clock.Advance(48 * time.Hour)
		f.evidence(github, key, patchctl.Evidence{Kind: patchctl.EvidenceHealthCheck, Ref: "prometheus:up", Result: "passed", Source: "prometheus"})
		f.advance(alice, key, patchctl.StateUpgradingMain)

		// Main cluster: control plane, then one node pool at a time.
		f.waveRefused(key, 4, "start", "control_plane_first")
		f.waveOK(alice, key, 3, "start")
		f.observed(key, "main/control-plane", v)
		f.waveOK(alice, key, 3, "complete")
		f.waveOK(alice, key, 4, "start")
		f.waveRefused(key, 5, "start", "one_main_pool_at_a_time")
		f.observed(key, "main/pool-a", v)
		f.waveOK(alice, key, 4, "complete")
		f.waveOK(alice, key, 5, "start")
		// A failed wave halts; retry puts it back to pending.
		_, err = f.svc.Wave(f.ctx, alice, key, 5, service.WaveInput{Op: "fail", Reason: "surge quota exceeded"})
		f.must(err)
		f.waveRefused(key, 5, "start", "wave_pending", "not_halted")
		_, err = f.svc.Decide(f.ctx, olga, key, service.DecisionInput{Decision: "retry", Reason: "quota raised"})
		f.must(err)
		f.waveOK(alice, key, 5, "start")
		f.refused(alice, key, "main_waves_completed")
		f.observed(key, "main/pool-b", v)
		f.waveOK(alice, key, 5, "complete")
		f.advance(alice, key, patchctl.StateDone)
		f.verifyAudit()
	})
}

func TestKubernetesNeedsManagementCluster(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.create(alice, service.CreatePatch{Title: "main only", Kind: patchctl.KindKubernetes,
			Target: patchctl.Target{Clusters: []string{"main"}, Upgrade: patchctl.UpgradeNode, Version: "1.30.5-gke.1"},
			Links:  []patchctl.Link{cve("CVE-2024-10220", 8.1)}})
		f.refused(alice, p.Key, "management_cluster_first")
		p2 := f.create(alice, service.CreatePatch{Title: "no version", Kind: patchctl.KindKubernetes,
			Target: patchctl.Target{Clusters: []string{"mgmt", "main"}, Upgrade: patchctl.UpgradeNode},
			Links:  []patchctl.Link{cve("CVE-2024-10220", 8.1)}})
		f.refused(alice, p2.Key, "target_version")
		if _, err := f.svc.CreatePatch(f.ctx, alice, service.CreatePatch{Title: "x", Kind: patchctl.KindKubernetes,
			Target: patchctl.Target{Clusters: []string{"nope"}, Upgrade: "node"}}); code(err) != patchctl.CodeInvalid {
			t.Errorf("unknown cluster: %v", err)
		}
		// Aborting is a person's decision and ends the rollout.
		p3 := f.create(alice, service.CreatePatch{Title: "abort me", Kind: patchctl.KindKubernetes,
			Target: patchctl.Target{Clusters: []string{"mgmt"}, Upgrade: patchctl.UpgradeNode, Version: "1.30.5-gke.1"},
			Links:  []patchctl.Link{cve("CVE-2024-10220", 8.1)}})
		f.advance(alice, p3.Key, patchctl.StatePlanned)
		_, err := f.svc.Decide(f.ctx, lena, p3.Key, service.DecisionInput{Decision: "abort", Reason: "superseded by 1.30.6"})
		f.must(err)
		if st := f.state(p3.Key).State; st != patchctl.StateAborted {
			t.Errorf("after abort: %s", st)
		}
	})
}

package gitops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/integration/tfplan"
	"github.com/patchctl/patchctl/internal/service"
)

// maxListed bounds the resources named in evidence details.
const maxListed = 50

// PlanImport says what ImportPlan recorded.
type PlanImport struct {
	Evidence   *patchctl.Evidence `json:"evidence"`
	Recorded   bool               `json:"recorded"`
	HasChanges bool               `json:"has_changes"`
	// Counts counts resource changes by action.
	Counts map[string]int `json:"counts"`
	// Resources are the addresses of the resources the plan changes.
	Resources []string `json:"resources"`
	// GKE are the GKE version changes the plan makes.
	GKE []tfplan.GKEChange `json:"gke,omitempty"`
}

// hashed reads r through a SHA-256, so that an upload without a name is
// named by its content (and the same plan uploaded twice is recorded once).
type hashed struct {
	r io.Reader
	h hash.Hash
}

func newHashed(r io.Reader) *hashed { return &hashed{r: r, h: sha256.New()} }

func (h *hashed) Read(b []byte) (int, error) {
	n, err := h.r.Read(b)
	h.h.Write(b[:n])
	return n, err
}

func (h *hashed) sum() string { return hex.EncodeToString(h.h.Sum(nil))[:16] }

// ImportPlan links a Terraform plan (`terraform show -json PLANFILE`) to a
// patch as terraform_plan evidence, recorded as a: the resources it changes
// and the GKE version changes it makes are in the evidence details. name
// is the evidence ref (a plan file name or CI run URL); empty means
// plan:<content hash>.
func (l *Loop) ImportPlan(ctx context.Context, a patchctl.Actor, key string, r io.Reader, name string) (*PlanImport, error) {
	hr := newHashed(r)
	plan, err := tfplan.Parse(hr)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, hr) // the hash covers the whole upload
	if name == "" {
		name = "plan:" + hr.sum()
	}
	res := &PlanImport{HasChanges: plan.HasChanges(), Counts: map[string]int{}, GKE: tfplan.GKEChanges(plan)}
	for act, n := range plan.Counts {
		res.Counts[string(act)] = n
	}
	var listed []string
	for _, rc := range plan.ResourceChanges {
		if rc.Action.Changes() && rc.Mode != "data" {
			res.Resources = append(res.Resources, rc.Address)
			listed = append(listed, rc.Address+" ("+string(rc.Action)+")")
		}
	}
	details := map[string]string{"terraform_version": plan.TerraformVersion, "format_version": plan.FormatVersion,
		"changes": countsText(res.Counts), "resources": listText(listed), "has_changes": strconv.FormatBool(res.HasChanges)}
	if plan.Timestamp != "" {
		details["planned_at"] = plan.Timestamp
	}
	if len(res.GKE) > 0 {
		var parts []string
		for _, c := range res.GKE {
			to := c.To
			if c.ToUnknown {
				to = "(known after apply)"
			}
			parts = append(parts, fmt.Sprintf("%s %s %s → %s", c.Address, c.Attribute, orDash(c.From), orDash(to)))
		}
		details["gke_changes"] = listText(parts)
	}
	e := patchctl.Evidence{Kind: patchctl.EvidenceTerraformPlan, Ref: name, Source: SourceTerraform, Details: details}
	err = l.svc.Automate(ctx, a, func(au *service.Automation) error {
		p, err := au.Patch(ctx, key)
		if err != nil {
			return err
		}
		res.Evidence, res.Recorded, err = au.Record(ctx, p, e)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// StateImport says what ImportState recorded.
type StateImport struct {
	Evidence *patchctl.Evidence `json:"evidence"`
	Recorded bool               `json:"recorded"`
	// GKE are the GKE versions the state records.
	GKE []tfplan.GKEVersion `json:"gke,omitempty"`
	// Waves is the wave_upgrade evidence recorded for the waves whose
	// cluster and node pool now run the wave's version.
	Waves []patchctl.Evidence `json:"waves,omitempty"`
}

// ImportState records a Terraform state (`terraform show -json`) taken
// after an apply as terraform_apply evidence on a patch, as a. For a
// kubernetes patch, every wave whose control plane or node pool the state
// shows at the wave's version gets wave_upgrade evidence: the apply landed.
// A state version matches a wave version when equal, or when it extends it
// with GKE's build suffix (1.30.2 matches 1.30.2-gke.1587003).
func (l *Loop) ImportState(ctx context.Context, a patchctl.Actor, key string, r io.Reader, name string) (*StateImport, error) {
	hr := newHashed(r)
	st, err := tfplan.ParseState(hr)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, hr)
	if name == "" {
		name = "state:" + hr.sum()
	}
	res := &StateImport{GKE: tfplan.GKEVersions(st)}
	var versions []string
	for _, v := range res.GKE {
		where := v.Cluster
		if v.NodePool != "" {
			where += "/" + v.NodePool
		}
		versions = append(versions, where+" "+v.Version)
	}
	details := map[string]string{"terraform_version": st.TerraformVersion, "resources": strconv.Itoa(len(st.Resources))}
	if len(versions) > 0 {
		details["gke_versions"] = listText(versions)
	}
	e := patchctl.Evidence{Kind: patchctl.EvidenceTerraformApply, Ref: name, Source: SourceTerraform, Result: patchctl.ResultPassed, Details: details}
	cfg := l.cfg()
	err = l.svc.Automate(ctx, a, func(au *service.Automation) error {
		p, err := au.Patch(ctx, key)
		if err != nil {
			return err
		}
		if res.Evidence, res.Recorded, err = au.Record(ctx, p, e); err != nil {
			return err
		}
		if p.Kind != patchctl.KindKubernetes {
			return nil
		}
		waves, err := au.Tx().Waves(ctx, p.ID)
		if err != nil {
			return err
		}
		for _, w := range waves {
			v, ok := stateVersionOf(cfg, res.GKE, w)
			if !ok {
				continue
			}
			we := patchctl.Evidence{Kind: patchctl.EvidenceWaveUpgrade, Ref: name + "#" + v.Address, Subject: w.Subject(), Version: w.Version,
				Result: patchctl.ResultPassed, Source: SourceTerraform,
				Details: map[string]string{"state": name, "address": v.Address, "observed_version": v.Version, "wave": strconv.Itoa(w.Seq)}}
			got, added, err := au.Record(ctx, p, we)
			if err != nil {
				return err
			}
			if added {
				res.Waves = append(res.Waves, *got)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// stateVersionOf finds the control plane or node pool of wave w in the
// state's GKE versions, running w's version. Clusters match by name, and
// by project and location when both the policy and the state name them.
func stateVersionOf(cfg *config.Config, vs []tfplan.GKEVersion, w patchctl.Wave) (tfplan.GKEVersion, bool) {
	c, _ := cfg.Cluster(w.Cluster)
	for _, v := range vs {
		switch {
		case v.Cluster != w.Cluster:
		case c.Project != "" && v.Project != "" && c.Project != v.Project:
		case c.Location != "" && v.Location != "" && c.Location != v.Location:
		case w.NodePool == patchctl.ControlPlane && v.Kind != tfplan.GKEControlPlane:
		case w.NodePool != patchctl.ControlPlane && (v.Kind != tfplan.GKENodePool || v.NodePool != w.NodePool):
		case versionMatches(w.Version, v.Version):
			return v, true
		}
	}
	return tfplan.GKEVersion{}, false
}

// versionMatches reports whether a running GKE version is the wanted one.
func versionMatches(want, got string) bool {
	if want == "" || got == "" {
		return false
	}
	if want == got {
		return true
	}
	rest, ok := strings.CutPrefix(got, want)
	return ok && (rest[0] == '-' || rest[0] == '.')
}

func countsText(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, counts[k]))
	}
	return strings.Join(parts, " ")
}

// listText joins a list for evidence details, naming how many were left
// out beyond maxListed.
func listText(items []string) string {
	if len(items) > maxListed {
		return strings.Join(items[:maxListed], "; ") + fmt.Sprintf("; and %d more", len(items)-maxListed)
	}
	return strings.Join(items, "; ")
}

package tfplan

import (
	"encoding/json"
	"io"
	"strconv"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"
)

// State is a parsed `terraform show -json` state.
type State struct {
	FormatVersion    string
	TerraformVersion string
	// Resources lists every resource instance of the root module and of all
	// child modules, depth first, in the order the state lists them.
	Resources []StateResource
	// Raw is the decoded document.
	Raw *tfjson.State
}

// StateResource is one resource instance recorded in state.
type StateResource struct {
	Address string
	// Module is "" for the root module, else e.g. "module.gke".
	Module   string
	Mode     string // managed or data
	Type     string
	Name     string
	Index    any
	Provider string
	// Values are the attribute values (decoded JSON). State omits unknown
	// values; there are none after an apply.
	Values  map[string]any
	Tainted bool
	// Deposed is set for a deposed object awaiting destruction.
	Deposed string
}

// ParseState reads `terraform show -json` output for a state (not a plan).
// An empty state (no values) parses to a State without resources.
func ParseState(r io.Reader) (*State, error) {
	data, err := readAll(r, MaxInputBytes)
	if err != nil {
		return nil, err
	}
	if err := sniff(data, kindState); err != nil {
		return nil, err
	}
	raw := &tfjson.State{}
	if err := json.Unmarshal(data, raw); err != nil {
		return nil, decodeError(data, "state", err)
	}
	return stateFrom(raw), nil
}

func stateFrom(raw *tfjson.State) *State {
	s := &State{FormatVersion: raw.FormatVersion, TerraformVersion: raw.TerraformVersion, Raw: raw}
	if raw.Values != nil {
		s.Resources = flatten(raw.Values.RootModule, s.Resources, 0)
	}
	return s
}

// maxModuleDepth stops a hostile document from recursing without end;
// real configurations nest a handful of modules deep.
const maxModuleDepth = 64

func flatten(m *tfjson.StateModule, out []StateResource, depth int) []StateResource {
	if m == nil || depth > maxModuleDepth {
		return out
	}
	for _, r := range m.Resources {
		if r == nil {
			continue
		}
		out = append(out, StateResource{
			Address:  absoluteAddress(m.Address, r.Address, r.Index),
			Module:   m.Address,
			Mode:     string(r.Mode),
			Type:     r.Type,
			Name:     r.Name,
			Index:    r.Index,
			Provider: r.ProviderName,
			Values:   r.AttributeValues,
			Tainted:  r.Tainted,
			Deposed:  r.DeposedKey,
		})
	}
	for _, c := range m.ChildModules {
		out = flatten(c, out, depth+1)
	}
	return out
}

// absoluteAddress completes a resource address that lacks its module path
// or instance key. Terraform 0.12 wrote state addresses relative to their
// module and without the count/for_each key (the corpus plans made by
// 0.12.11 show it); later versions write them absolute.
func absoluteAddress(module, addr string, index any) string {
	if module != "" && !strings.HasPrefix(addr, module+".") {
		addr = module + "." + addr
	}
	if index != nil && !strings.HasSuffix(addr, "]") {
		switch k := index.(type) {
		case string:
			addr += "[" + strconv.Quote(k) + "]"
		case float64:
			addr += "[" + strconv.FormatFloat(k, 'f', -1, 64) + "]"
		case json.Number:
			addr += "[" + k.String() + "]"
		}
	}
	return addr
}

// PriorState returns the state the plan was made against, or nil when the
// plan carries none (a plan for an empty workspace).
func (p *Plan) PriorState() *State {
	if p == nil || p.Raw == nil || p.Raw.PriorState == nil {
		return nil
	}
	return stateFrom(p.Raw.PriorState)
}

// GKEVersion is the version of a GKE control plane or node pool as a state
// records it.
type GKEVersion struct {
	Address string
	Kind    GKEKind
	Cluster string
	// NodePool is "" for a control plane, DefaultNodePool for the default
	// pool of a cluster, else the pool's name.
	NodePool string
	Location string
	Project  string
	// Version is what runs: master_version for a control plane (the
	// version GKE reports, which may be newer than MinMasterVersion after an
	// automatic upgrade), node_version for a default pool, version for a
	// node pool.
	Version          string
	MinMasterVersion string // control plane only
	ReleaseChannel   string // control plane only
	ImageType        string // node pools only
}

// GKEVersions lists the control planes and node pools a state records with
// their versions: one control plane entry per google_container_cluster,
// a default-pool entry when the cluster keeps its default node pool, one
// entry per inline node_pool block and one per google_container_node_pool.
// Data sources and deposed objects are skipped.
func GKEVersions(s *State) []GKEVersion {
	if s == nil {
		return nil
	}
	var out []GKEVersion
	for _, r := range s.Resources {
		if r.Mode == "data" || r.Deposed != "" {
			continue
		}
		v := any(r.Values)
		switch r.Type {
		case TypeCluster:
			base := GKEVersion{
				Address:  r.Address,
				Cluster:  attr(v, "name"),
				Location: firstAttr(v, "location", "zone", "region"),
				Project:  attr(v, "project"),
			}
			cp := base
			cp.Kind = GKEControlPlane
			cp.Version = attr(v, "master_version")
			cp.MinMasterVersion = attr(v, "min_master_version")
			cp.ReleaseChannel = attr(v, "release_channel", 0, "channel")
			out = append(out, cp)
			if hasDefaultPool(v) && attr(v, "node_version") != "" {
				dp := base
				dp.Kind, dp.NodePool = GKENodePool, DefaultNodePool
				dp.Version = attr(v, "node_version")
				dp.ImageType = attr(v, "node_config", 0, "image_type")
				out = append(out, dp)
			}
			for _, p := range list(v, "node_pool") {
				np := base
				np.Kind, np.NodePool = GKENodePool, attr(p, "name")
				np.Version = attr(p, "version")
				np.ImageType = attr(p, "node_config", 0, "image_type")
				out = append(out, np)
			}
		case TypeNodePool:
			cluster, project, location := parseClusterRef(attr(v, "cluster"))
			if p := attr(v, "project"); p != "" {
				project = p
			}
			if l := firstAttr(v, "location", "zone", "region"); l != "" {
				location = l
			}
			out = append(out, GKEVersion{
				Address:   r.Address,
				Kind:      GKENodePool,
				Cluster:   cluster,
				NodePool:  attr(v, "name"),
				Location:  location,
				Project:   project,
				Version:   attr(v, "version"),
				ImageType: attr(v, "node_config", 0, "image_type"),
			})
		}
	}
	return out
}

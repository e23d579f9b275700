package tfplan

import (
	"sort"
	"strings"
)

// Resource types of the Google provider (google and google-beta) that carry
// GKE versions.
const (
	TypeCluster  = "google_container_cluster"
	TypeNodePool = "google_container_node_pool"
)

// GKEKind says what a GKE version applies to.
type GKEKind string

// GKE kinds. Control plane versions are upgraded before node pool versions.
const (
	GKEControlPlane GKEKind = "control_plane"
	GKENodePool     GKEKind = "node_pool"
)

// DefaultNodePool is the name GKE gives the node pool a cluster creates
// itself; google_container_cluster's node_version sets its version.
const DefaultNodePool = "default-pool"

// GKEChange is one version-bearing attribute of a GKE resource that the plan
// changes.
type GKEChange struct {
	Address string
	Kind    GKEKind
	Action  Action
	// Attribute names what changes: min_master_version, master_version,
	// release_channel or node_version (google_container_cluster);
	// version or node_config.image_type (google_container_node_pool);
	// node_pool.version or node_pool.node_config.image_type for node pools
	// declared inline in a cluster.
	Attribute string
	Cluster   string
	// NodePool is "" for control plane changes and DefaultNodePool for a
	// cluster's node_version.
	NodePool string
	Location string
	Project  string
	// From and To are the values before and after; "" stands for absent
	// (To is "" for a deletion, From is "" for a creation).
	From string
	To   string
	// ToUnknown is set when the new value is known only after apply (a
	// version computed by the provider or taken from another resource).
	ToUnknown bool
}

// attrSpec is one tracked attribute.
type attrSpec struct {
	name string
	path []step
	kind GKEKind
	// computedOnly attributes (master_version) cannot be set in
	// configuration: they are reported only when both values are known and
	// differ, never for being unknown on creation.
	computedOnly bool
}

var (
	clusterAttrs = []attrSpec{
		{name: "min_master_version", path: []step{"min_master_version"}, kind: GKEControlPlane},
		{name: "master_version", path: []step{"master_version"}, kind: GKEControlPlane, computedOnly: true},
		{name: "release_channel", path: []step{"release_channel", 0, "channel"}, kind: GKEControlPlane},
		{name: "node_version", path: []step{"node_version"}, kind: GKENodePool},
	}
	nodePoolAttrs = []attrSpec{
		{name: "version", path: []step{"version"}, kind: GKENodePool},
		{name: "node_config.image_type", path: []step{"node_config", 0, "image_type"}, kind: GKENodePool},
	}
)

// GKEChanges lists the version changes the plan makes to GKE clusters and
// node pools, in plan order. Creations appear with From "", deletions with
// To "", replacements with both. No-op changes, data sources and deposed
// objects are skipped.
func GKEChanges(p *Plan) []GKEChange {
	if p == nil {
		return nil
	}
	var out []GKEChange
	for _, rc := range p.ResourceChanges {
		if rc.Mode == "data" || rc.Deposed != "" || !rc.Action.Changes() {
			continue
		}
		switch rc.Type {
		case TypeCluster:
			out = append(out, clusterChanges(rc)...)
		case TypeNodePool:
			out = append(out, nodePoolChanges(rc)...)
		}
	}
	return out
}

// current returns the object that identifies the resource: after, or
// before for deletions.
func current(rc ResourceChange) any {
	if m, ok := rc.After.(map[string]any); ok {
		return m
	}
	return rc.Before
}

func clusterChanges(rc ResourceChange) []GKEChange {
	obj := current(rc)
	base := GKEChange{
		Address:  rc.Address,
		Action:   rc.Action,
		Cluster:  attr(obj, "name"),
		Location: firstAttr(obj, "location", "zone", "region"),
		Project:  attr(obj, "project"),
	}
	noDefaultPool := !hasDefaultPool(obj)
	var out []GKEChange
	for _, a := range clusterAttrs {
		if a.name == "node_version" && noDefaultPool {
			continue
		}
		c, ok := diff(rc, rc.Before, rc.After, rc.AfterUnknown, a)
		if !ok {
			continue
		}
		c.Address, c.Action, c.Cluster, c.Location, c.Project = base.Address, base.Action, base.Cluster, base.Location, base.Project
		if a.kind == GKENodePool {
			c.NodePool = DefaultNodePool
		}
		out = append(out, c)
	}
	return append(out, inlinePoolChanges(rc, base)...)
}

// inlinePoolChanges compares node_pool blocks declared inside a cluster,
// matched by name.
func inlinePoolChanges(rc ResourceChange, base GKEChange) []GKEChange {
	before := poolsByName(list(rc.Before, "node_pool"), nil)
	after := poolsByName(list(rc.After, "node_pool"), list(rc.AfterUnknown, "node_pool"))
	names := map[string]bool{}
	for n := range before {
		names[n] = true
	}
	for n := range after {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	var out []GKEChange
	for _, n := range sorted {
		b, a := before[n], after[n]
		for _, spec := range nodePoolAttrs {
			c, ok := diff(rc, b.obj, a.obj, a.unknown, spec)
			if !ok {
				continue
			}
			c.Address, c.Action, c.Cluster, c.Location, c.Project = base.Address, base.Action, base.Cluster, base.Location, base.Project
			c.Attribute = "node_pool." + spec.name
			c.NodePool = n
			out = append(out, c)
		}
	}
	return out
}

// hasDefaultPool reports whether a cluster keeps the node pool GKE creates
// with it. With remove_default_node_pool that pool is deleted right after
// creation, and inline node_pool blocks replace it: either way node_version
// concerns no default pool.
func hasDefaultPool(cluster any) bool {
	return attr(cluster, "remove_default_node_pool") != "true" && len(list(cluster, "node_pool")) == 0
}

type inlinePool struct {
	obj     any
	unknown any
}

func poolsByName(pools []any, unknown []any) map[string]inlinePool {
	m := map[string]inlinePool{}
	for i, p := range pools {
		n := attr(p, "name")
		if n == "" {
			continue // a name known only after apply cannot be matched
		}
		var u any
		if i < len(unknown) {
			u = unknown[i]
		}
		m[n] = inlinePool{obj: p, unknown: u}
	}
	return m
}

func nodePoolChanges(rc ResourceChange) []GKEChange {
	obj := current(rc)
	cluster, project, location := parseClusterRef(attr(obj, "cluster"))
	if p := attr(obj, "project"); p != "" {
		project = p
	}
	if l := firstAttr(obj, "location", "zone", "region"); l != "" {
		location = l
	}
	var out []GKEChange
	for _, a := range nodePoolAttrs {
		c, ok := diff(rc, rc.Before, rc.After, rc.AfterUnknown, a)
		if !ok {
			continue
		}
		c.Address, c.Action = rc.Address, rc.Action
		c.Cluster, c.NodePool, c.Location, c.Project = cluster, attr(obj, "name"), location, project
		out = append(out, c)
	}
	return out
}

// diff compares one attribute between before and after.
func diff(rc ResourceChange, before, after, afterUnknown any, a attrSpec) (GKEChange, bool) {
	from := attr(before, a.path...)
	unknown := rc.Action != ActionDelete && unknownAt(afterUnknown, a.path...)
	to := ""
	if !unknown {
		to = attr(after, a.path...)
	}
	switch {
	case unknown && a.computedOnly:
		return GKEChange{}, false
	case !unknown && from == to:
		return GKEChange{}, false
	}
	return GKEChange{Kind: a.kind, Attribute: a.name, From: from, To: to, ToUnknown: unknown}, true
}

// parseClusterRef reads a node pool's cluster attribute: a bare name or a
// resource path projects/P/locations/L/clusters/C (also .../zones/Z/...).
func parseClusterRef(ref string) (cluster, project, location string) {
	parts := strings.Split(ref, "/")
	if len(parts) < 2 {
		return ref, "", ""
	}
	for i := 0; i+1 < len(parts); i += 2 {
		switch parts[i] {
		case "projects":
			project = parts[i+1]
		case "locations", "zones", "regions":
			location = parts[i+1]
		case "clusters":
			cluster = parts[i+1]
		}
	}
	if cluster == "" {
		cluster = parts[len(parts)-1]
	}
	return cluster, project, location
}

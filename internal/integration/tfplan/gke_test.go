package tfplan

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The GKE plans of the corpus only create resources (see SOURCES.md).
func TestGKEChangesCorpusCreates(t *testing.T) {
	tests := map[string][]GKEChange{
		// The example leaves every version to GKE: known after apply. Its
		// cluster sets remove_default_node_pool, so node_version is skipped.
		"terraform-validator__example_container_cluster.tfplan.json": {
			{Address: "google_container_cluster.primary", Kind: GKEControlPlane, Action: ActionCreate, Attribute: "release_channel",
				Cluster: "my-gke-cluster", Location: "us-central1", ToUnknown: true},
			{Address: "google_container_node_pool.primary_preemptible_nodes", Kind: GKENodePool, Action: ActionCreate, Attribute: "version",
				Cluster: "my-gke-cluster", NodePool: "my-node-pool", Location: "us-central1", ToUnknown: true},
			{Address: "google_container_node_pool.primary_preemptible_nodes", Kind: GKENodePool, Action: ActionCreate, Attribute: "node_config.image_type",
				Cluster: "my-gke-cluster", NodePool: "my-node-pool", Location: "us-central1", ToUnknown: true},
		},
		"terraform-validator__full_container_cluster.tfplan.json": {
			{Address: "google_container_cluster.full_list_default_1", Kind: GKEControlPlane, Action: ActionCreate, Attribute: "min_master_version",
				Cluster: "test-cluster", Location: "us-central1", To: "test-min_master_version"},
			{Address: "google_container_cluster.full_list_default_1", Kind: GKEControlPlane, Action: ActionCreate, Attribute: "release_channel",
				Cluster: "test-cluster", Location: "us-central1", ToUnknown: true},
			{Address: "google_container_cluster.full_list_default_1", Kind: GKENodePool, Action: ActionCreate, Attribute: "node_version",
				Cluster: "test-cluster", NodePool: DefaultNodePool, Location: "us-central1", To: "test-node_version"},
		},
		"terraform-validator__full_container_node_pool.tfplan.json": {
			{Address: "google_container_node_pool.full_list_default_1", Kind: GKENodePool, Action: ActionCreate, Attribute: "version",
				Cluster: "test-cluster", NodePool: "test-node-pool", Location: "us-central1", To: "test-version"},
			{Address: "google_container_node_pool.full_list_default_1", Kind: GKENodePool, Action: ActionCreate, Attribute: "node_config.image_type",
				Cluster: "test-cluster", NodePool: "test-node-pool", Location: "us-central1", To: "test-image_type"},
		},
		// Plans without GKE resources yield nothing.
		"terraform-json__basic__plan.json":         nil,
		"terraform-json__action_reason__plan.json": nil,
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			got := GKEChanges(mustParse(t, "terraform/"+name))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if GKEChanges(nil) != nil {
		t.Error("GKEChanges(nil) != nil")
	}
}

// clone deep-copies decoded JSON.
func clone(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func obj(t *testing.T, v any) map[string]any {
	t.Helper()
	m, ok := clone(t, v).(map[string]any)
	if !ok {
		t.Fatalf("%T is not an object", v)
	}
	return m
}

// No public plan updates a GKE resource, so these cases turn the corpus
// creations into updates, replacements and deletions in memory.
func TestGKEChangesUpdates(t *testing.T) {
	poolPlan := mustParse(t, "terraform/terraform-validator__full_container_node_pool.tfplan.json")
	clusterPlan := mustParse(t, "terraform/terraform-validator__full_container_cluster.tfplan.json")
	pool := poolPlan.ResourceChanges[0]
	cluster := clusterPlan.ResourceChanges[0]

	// withPool returns the node pool change turned into action with
	// before/after edited by the callbacks.
	withPool := func(action Action, before, after func(m map[string]any)) ResourceChange {
		rc := pool
		rc.Action = action
		b, a := obj(t, pool.After), obj(t, pool.After)
		b["version"] = "1.27.3-gke.1286000"
		a["version"] = "1.27.3-gke.1286000"
		if before != nil {
			before(b)
		}
		if after != nil {
			after(a)
		}
		rc.Before, rc.After = b, a
		rc.AfterUnknown = obj(t, pool.AfterUnknown)
		return rc
	}
	setImage := func(m map[string]any, image string) {
		m["node_config"].([]any)[0].(map[string]any)["image_type"] = image
	}
	poolBase := GKEChange{Address: "google_container_node_pool.full_list_default_1", Kind: GKENodePool,
		Cluster: "test-cluster", NodePool: "test-node-pool", Location: "us-central1"}
	entry := func(base GKEChange, action Action, attribute, from, to string, unknown bool) GKEChange {
		base.Action, base.Attribute, base.From, base.To, base.ToUnknown = action, attribute, from, to, unknown
		return base
	}

	clusterBase := GKEChange{Address: "google_container_cluster.full_list_default_1", Kind: GKEControlPlane,
		Cluster: "test-cluster", Location: "us-central1"}
	clusterUpdate := cluster
	clusterUpdate.Action = ActionUpdate
	{
		b, a := obj(t, cluster.After), obj(t, cluster.After)
		b["min_master_version"], a["min_master_version"] = "1.28", "1.29"
		b["master_version"], a["master_version"] = "1.28.9-gke.1000000", "1.28.9-gke.1000000"
		b["node_version"], a["node_version"] = "1.28.9-gke.1000000", "1.29.4-gke.1043002"
		b["release_channel"] = []any{map[string]any{"channel": "STABLE"}}
		a["release_channel"] = []any{map[string]any{"channel": "REGULAR"}}
		b["project"], a["project"] = "acme-prod", "acme-prod"
		au := obj(t, cluster.AfterUnknown)
		// Terraform recomputes master_version when min_master_version
		// moves: unknown, and not reported (output-only attribute).
		au["master_version"] = true
		delete(au, "release_channel")
		clusterUpdate.Before, clusterUpdate.After, clusterUpdate.AfterUnknown = b, a, au
	}
	clusterBase.Project = "acme-prod"
	nodeVersion := clusterBase
	nodeVersion.Kind, nodeVersion.NodePool = GKENodePool, DefaultNodePool

	masterDrift := clusterUpdate
	{
		b, a := obj(t, clusterUpdate.Before), obj(t, clusterUpdate.Before)
		a["master_version"] = "1.28.10-gke.1075001" // both known: reported
		au := obj(t, clusterUpdate.AfterUnknown)
		delete(au, "master_version")
		masterDrift.Before, masterDrift.After, masterDrift.AfterUnknown = b, a, au
	}

	clusterDelete := cluster
	clusterDelete.Action = ActionDelete
	clusterDelete.Before, clusterDelete.After, clusterDelete.AfterUnknown = obj(t, clusterUpdate.Before), nil, map[string]any{}

	inline := cluster
	inline.Action = ActionUpdate
	{
		b, a := obj(t, clusterUpdate.Before), obj(t, clusterUpdate.Before)
		pool := func(name, version string) map[string]any {
			return map[string]any{"name": name, "version": version, "node_config": []any{map[string]any{"image_type": "COS_CONTAINERD"}}}
		}
		b["node_pool"] = []any{pool("blue", "1.28.9-gke.1000000"), pool("green", "1.28.9-gke.1000000")}
		a["node_pool"] = []any{pool("blue", "1.29.4-gke.1043002"), pool("red", "")}
		// red's version is computed; green is removed.
		a["node_pool"].([]any)[1].(map[string]any)["version"] = nil
		au := obj(t, clusterUpdate.AfterUnknown)
		delete(au, "master_version")
		au["node_pool"] = []any{map[string]any{}, map[string]any{"version": true}}
		inline.Before, inline.After, inline.AfterUnknown = b, a, au
	}
	inlineBase := clusterBase
	inlineBase.Kind = GKENodePool
	inlinePool := func(name, attribute, from, to string, unknown bool) GKEChange {
		c := entry(inlineBase, ActionUpdate, attribute, from, to, unknown)
		c.NodePool = name
		return c
	}

	pathRef := withPool(ActionUpdate, nil, func(m map[string]any) { m["version"] = "1.28.3-gke.1203000" })
	for _, m := range []map[string]any{pathRef.Before.(map[string]any), pathRef.After.(map[string]any)} {
		m["cluster"] = "projects/acme-main/locations/europe-west1/clusters/main"
		delete(m, "location")
		delete(m, "zone")
		delete(m, "region")
	}

	dataSource := withPool(ActionUpdate, nil, func(m map[string]any) { m["version"] = "1.28.3-gke.1203000" })
	dataSource.Mode = "data"
	deposed := withPool(ActionDelete, nil, nil)
	deposed.After, deposed.Deposed = nil, "1f2e3d4c"

	tests := []struct {
		name string
		rc   ResourceChange
		want []GKEChange
	}{
		{
			name: "node pool upgrade with new image type",
			rc: withPool(ActionUpdate, nil, func(m map[string]any) {
				m["version"] = "1.28.3-gke.1203000"
				setImage(m, "COS_CONTAINERD")
			}),
			want: []GKEChange{
				entry(poolBase, ActionUpdate, "version", "1.27.3-gke.1286000", "1.28.3-gke.1203000", false),
				entry(poolBase, ActionUpdate, "node_config.image_type", "test-image_type", "COS_CONTAINERD", false),
			},
		},
		{
			name: "node pool version only",
			rc:   withPool(ActionUpdate, nil, func(m map[string]any) { m["version"] = "1.28.3-gke.1203000" }),
			want: []GKEChange{entry(poolBase, ActionUpdate, "version", "1.27.3-gke.1286000", "1.28.3-gke.1203000", false)},
		},
		{
			name: "node pool version taken from a data source read at apply",
			rc: func() ResourceChange {
				rc := withPool(ActionUpdate, nil, func(m map[string]any) { delete(m, "version") })
				rc.AfterUnknown.(map[string]any)["version"] = true
				return rc
			}(),
			want: []GKEChange{entry(poolBase, ActionUpdate, "version", "1.27.3-gke.1286000", "", true)},
		},
		{
			name: "node pool change that touches no version",
			rc:   withPool(ActionUpdate, nil, func(m map[string]any) { m["node_count"] = float64(3) }),
			want: nil,
		},
		{
			name: "node pool replaced",
			rc: withPool(ActionReplace, nil, func(m map[string]any) {
				m["version"] = "1.28.3-gke.1203000"
				setImage(m, "UBUNTU_CONTAINERD")
			}),
			want: []GKEChange{
				entry(poolBase, ActionReplace, "version", "1.27.3-gke.1286000", "1.28.3-gke.1203000", false),
				entry(poolBase, ActionReplace, "node_config.image_type", "test-image_type", "UBUNTU_CONTAINERD", false),
			},
		},
		{
			name: "node pool referring to its cluster by path",
			rc:   pathRef,
			want: []GKEChange{{Address: poolBase.Address, Kind: GKENodePool, Action: ActionUpdate, Attribute: "version",
				Cluster: "main", NodePool: "test-node-pool", Location: "europe-west1", Project: "acme-main",
				From: "1.27.3-gke.1286000", To: "1.28.3-gke.1203000"}},
		},
		{
			name: "node pool no-op",
			rc:   func() ResourceChange { rc := withPool(ActionNoOp, nil, nil); return rc }(),
			want: nil,
		},
		{name: "data source", rc: dataSource, want: nil},
		{name: "deposed object", rc: deposed, want: nil},
		{
			name: "control plane upgrade with channel change",
			rc:   clusterUpdate,
			want: []GKEChange{
				entry(clusterBase, ActionUpdate, "min_master_version", "1.28", "1.29", false),
				entry(clusterBase, ActionUpdate, "release_channel", "STABLE", "REGULAR", false),
				entry(nodeVersion, ActionUpdate, "node_version", "1.28.9-gke.1000000", "1.29.4-gke.1043002", false),
			},
		},
		{
			name: "master version moved by GKE",
			rc:   masterDrift,
			want: []GKEChange{entry(clusterBase, ActionUpdate, "master_version", "1.28.9-gke.1000000", "1.28.10-gke.1075001", false)},
		},
		{
			name: "cluster deleted",
			rc:   clusterDelete,
			want: []GKEChange{
				entry(clusterBase, ActionDelete, "min_master_version", "1.28", "", false),
				entry(clusterBase, ActionDelete, "master_version", "1.28.9-gke.1000000", "", false),
				entry(clusterBase, ActionDelete, "release_channel", "STABLE", "", false),
				entry(nodeVersion, ActionDelete, "node_version", "1.28.9-gke.1000000", "", false),
			},
		},
		{
			name: "inline node pools",
			rc:   inline,
			want: []GKEChange{
				inlinePool("blue", "node_pool.version", "1.28.9-gke.1000000", "1.29.4-gke.1043002", false),
				inlinePool("green", "node_pool.version", "1.28.9-gke.1000000", "", false),
				inlinePool("green", "node_pool.node_config.image_type", "COS_CONTAINERD", "", false),
				inlinePool("red", "node_pool.version", "", "", true),
				inlinePool("red", "node_pool.node_config.image_type", "", "COS_CONTAINERD", false),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Plan{ResourceChanges: []ResourceChange{tt.rc}}
			if diff := cmp.Diff(tt.want, GKEChanges(p)); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseClusterRef(t *testing.T) {
	tests := []struct{ in, cluster, project, location string }{
		{"main", "main", "", ""},
		{"projects/p1/locations/europe-west1/clusters/c1", "c1", "p1", "europe-west1"},
		{"projects/p1/zones/europe-west1-b/clusters/c1", "c1", "p1", "europe-west1-b"},
		{"", "", "", ""},
		{"a/b/c", "c", "", ""},
	}
	for _, tt := range tests {
		c, p, l := parseClusterRef(tt.in)
		if c != tt.cluster || p != tt.project || l != tt.location {
			t.Errorf("parseClusterRef(%q) = %q, %q, %q; want %q, %q, %q", tt.in, c, p, l, tt.cluster, tt.project, tt.location)
		}
	}
}

package tfplan

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

func parseStateFile(t *testing.T, path string) *State {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := ParseState(f)
	if err != nil {
		t.Fatalf("ParseState(%s): %v", path, err)
	}
	return s
}

func TestParseStateGKE(t *testing.T) {
	s := parseStateFile(t, "testdata/state-gke.json")
	if s.FormatVersion != "1.0" || s.TerraformVersion != "1.9.8" {
		t.Errorf("versions = %q, %q", s.FormatVersion, s.TerraformVersion)
	}
	var addrs []string
	for _, r := range s.Resources {
		addrs = append(addrs, r.Module+" "+r.Address)
	}
	wantAddrs := []string{
		" data.google_container_engine_versions.europe_west1",
		`module.mgmt module.mgmt.google_container_cluster.this`,
		`module.mgmt module.mgmt.google_container_node_pool.pools["system"]`,
		`module.main module.main.google_container_cluster.this`,
		`module.main.module.pools module.main.module.pools.google_container_node_pool.this[0]`,
	}
	if diff := cmp.Diff(wantAddrs, addrs); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}

	want := []GKEVersion{
		{Address: "module.mgmt.google_container_cluster.this", Kind: GKEControlPlane, Cluster: "mgmt", Location: "europe-west1",
			Project: "acme-mgmt", Version: "1.29.8-gke.1031000", MinMasterVersion: "1.29", ReleaseChannel: "REGULAR"},
		{Address: `module.mgmt.google_container_node_pool.pools["system"]`, Kind: GKENodePool, Cluster: "mgmt", NodePool: "system",
			Location: "europe-west1", Project: "acme-mgmt", Version: "1.29.8-gke.1031000", ImageType: "COS_CONTAINERD"},
		{Address: "module.main.google_container_cluster.this", Kind: GKEControlPlane, Cluster: "main", Location: "europe-west1-b",
			Project: "acme-prod", Version: "1.29.8-gke.1031000", MinMasterVersion: "1.29.8-gke.1031000", ReleaseChannel: "UNSPECIFIED"},
		{Address: "module.main.google_container_cluster.this", Kind: GKENodePool, Cluster: "main", NodePool: DefaultNodePool,
			Location: "europe-west1-b", Project: "acme-prod", Version: "1.28.13-gke.1006000", ImageType: "COS_CONTAINERD"},
		{Address: "module.main.module.pools.google_container_node_pool.this[0]", Kind: GKENodePool, Cluster: "main", NodePool: "web",
			Location: "europe-west1-b", Project: "acme-prod", Version: "1.28.13-gke.1006000", ImageType: "UBUNTU_CONTAINERD"},
	}
	if diff := cmp.Diff(want, GKEVersions(s)); diff != "" {
		t.Errorf("GKEVersions (-want +got):\n%s", diff)
	}
	if GKEVersions(nil) != nil {
		t.Error("GKEVersions(nil) != nil")
	}
}

// The corpus has no standalone state file, but plans embed the prior state
// in the same representation: feed that to ParseState as Terraform would
// print it, and compare with the plan's own PriorState.
func TestParseStateFromCorpusPriorState(t *testing.T) {
	rel := "terraform/terraform-json__has_changes__plan.json"
	data, err := os.ReadFile(corpus.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		PriorState json.RawMessage `json:"prior_state"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	s, err := ParseState(strings.NewReader(string(doc.PriorState)))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range s.Resources {
		got = append(got, r.Mode+" "+r.Address+" in "+r.Module)
	}
	// Terraform 0.12.11 wrote these addresses without module path and
	// instance key; ParseState completes them. Order is the state's.
	want := []string{
		"data data.null_data_source.baz in ",
		"managed null_resource.bar in ",
		"managed null_resource.baz[1] in ",
		"managed null_resource.baz[2] in ",
		"managed null_resource.baz[0] in ",
		"managed null_resource.foo in ",
		"managed module.foo.null_resource.foo in module.foo",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	if id := s.Resources[1].Values["id"]; id == nil || id == "" {
		t.Errorf("null_resource.bar has no id value: %v", s.Resources[1].Values)
	}
	prior := mustParse(t, rel).PriorState()
	if diff := cmp.Diff(s.Resources, prior.Resources); diff != "" {
		t.Errorf("Plan.PriorState differs from ParseState (-ParseState +PriorState):\n%s", diff)
	}
	if p := mustParse(t, "terraform/terraform-json__deep_module__plan.json").PriorState(); p != nil {
		t.Errorf("plan without prior_state: PriorState = %+v, want nil", p)
	}
}

func TestAbsoluteAddress(t *testing.T) {
	tests := []struct {
		module, addr string
		index        any
		want         string
	}{
		{"", "a.b", nil, "a.b"},
		{"module.m", "a.b", nil, "module.m.a.b"},
		{"module.m", "module.m.a.b", nil, "module.m.a.b"},
		{"", "a.b", float64(2), "a.b[2]"},
		{"", "a.b[2]", float64(2), "a.b[2]"},
		{"module.m", "a.b", "blue", `module.m.a.b["blue"]`},
		{"", "a.b", json.Number("7"), "a.b[7]"},
	}
	for _, tt := range tests {
		if got := absoluteAddress(tt.module, tt.addr, tt.index); got != tt.want {
			t.Errorf("absoluteAddress(%q, %q, %v) = %q, want %q", tt.module, tt.addr, tt.index, got, tt.want)
		}
	}
}

func TestParseStateErrors(t *testing.T) {
	tests := []struct {
		name, in, field, contains string
	}{
		{"plan given to ParseState", `{"format_version": "1.2", "planned_values": {}}`, "", "read it with Parse"},
		{"unsupported major", `{"format_version": "3.1", "values": {}}`, "format_version", `unsupported state format version "3.1"`},
		{"malformed", "{\"format_version\": \"1.0\",\n\"values\": {]}", "", "line 2, column 12"},
		{"wrong type", `{"format_version": "1.0", "values": {"root_module": {"resources": {}}}}`, "values.root_module.resources", "JSON object where a JSON array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseState(strings.NewReader(tt.in))
			if patchctl.ErrorCode(err) != patchctl.CodeInvalid {
				t.Fatalf("err = %v, want CodeInvalid", err)
			}
			pe := err.(*patchctl.Error)
			if pe.Field != tt.field || !strings.Contains(pe.Message, tt.contains) {
				t.Errorf("field %q message %q; want field %q containing %q", pe.Field, pe.Message, tt.field, tt.contains)
			}
		})
	}
	// terraform show -json on an empty workspace prints only the version.
	s, err := ParseState(strings.NewReader(`{"format_version":"1.0"}`))
	if err != nil || len(s.Resources) != 0 {
		t.Errorf("empty state: %+v, %v", s, err)
	}
}

package tfplan

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/patchctl/patchctl"
)

// corpusSeeds adds the shared corpus plans when present. Fuzzing must not
// depend on the corpus, so absence is not an error here.
func corpusSeeds(f *testing.F, pattern string) {
	dir := os.Getenv("PATCHCTL_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "..", "shared", "corpus")
	}
	files, _ := filepath.Glob(filepath.Join(dir, pattern))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
}

func checkErr(t *testing.T, err error) {
	t.Helper()
	var pe *patchctl.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *patchctl.Error", err, err)
	}
	if pe.Code != patchctl.CodeInvalid {
		t.Fatalf("code %s, want invalid: %v", pe.Code, err)
	}
}

func FuzzParse(f *testing.F) {
	corpusSeeds(f, "terraform/*.json")
	f.Add([]byte(`{"format_version":"1.2","resource_changes":[{"address":"google_container_node_pool.p","type":"google_container_node_pool","mode":"managed","change":{"actions":["update"],"before":{"version":"1.27","cluster":"projects/p/locations/l/clusters/c"},"after":{"version":"1.28","node_config":[{"image_type":"COS"}]},"after_unknown":{"node_config":[true]}}}]}`))
	f.Add([]byte(`{"format_version":"1.2","resource_changes":[{"address":"google_container_cluster.c","type":"google_container_cluster","change":{"actions":["delete","create"],"before":{"node_pool":[{"name":"a","version":"1"}]},"after":{"node_pool":[{"name":"a"},7]},"after_unknown":{"node_pool":[{"version":true}]}}}]}`))
	f.Add([]byte(`{"format_version":"2.0"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(bytes.NewReader(data))
		if err != nil {
			checkErr(t, err)
			return
		}
		n := 0
		for a, c := range p.Counts {
			if a == "" {
				t.Fatal("empty action counted")
			}
			n += c
		}
		if n != len(p.ResourceChanges) {
			t.Fatalf("counts add up to %d for %d changes", n, len(p.ResourceChanges))
		}
		for _, c := range GKEChanges(p) {
			if c.Kind != GKEControlPlane && c.Kind != GKENodePool {
				t.Fatalf("kind %q", c.Kind)
			}
			if c.ToUnknown && c.To != "" {
				t.Fatalf("unknown value with text %q", c.To)
			}
			if !c.ToUnknown && c.From == c.To {
				t.Fatalf("reported a change from %q to itself", c.From)
			}
		}
		GKEVersions(p.PriorState())
	})
}

func FuzzParseState(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "state-gke.json")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"format_version":"1.0"}`))
	f.Add([]byte(`{"format_version":"1.0","values":{"root_module":{"resources":[{"address":"a","index":1,"values":{"node_pool":[null,{"name":"x"}]}}],"child_modules":[{"address":"module.m","child_modules":[null]}]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseState(bytes.NewReader(data))
		if err != nil {
			checkErr(t, err)
			return
		}
		for _, v := range GKEVersions(s) {
			if v.Kind == GKEControlPlane && v.NodePool != "" {
				t.Fatalf("control plane with node pool %q", v.NodePool)
			}
		}
	})
}

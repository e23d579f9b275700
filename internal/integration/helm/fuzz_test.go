package helm

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/patchctl/patchctl"
)

// seeds adds the shared corpus files matching pattern when the corpus is
// present; fuzzing does not depend on it.
func seeds(f *testing.F, pattern string) {
	dir := os.Getenv("PATCHCTL_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "..", "shared", "corpus")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "helm", pattern))
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
	if pe.Code != patchctl.CodeInvalid && pe.Code != patchctl.CodeTooLarge {
		t.Fatalf("code %s: %v", pe.Code, err)
	}
}

func FuzzParseHistory(f *testing.F) {
	seeds(f, "helm__history*")
	f.Add([]byte(`[{"revision":2,"status":"deployed","chart":"a-b-1.0.0-rc.1+x","description":"Rollback to 1","updated":"2024-01-01 00:00:00 +0000 UTC m=+1"}]`))
	f.Add([]byte("- revision: 1\n  status: failed\n  app_version: 1.10\n  chart: &c x-1.0.0\n- revision: 2\n  status: deployed\n  chart: *c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHistory(data)
		if err != nil {
			checkErr(t, err)
			return
		}
		if !sort.SliceIsSorted(h, func(i, j int) bool { return h[i].Revision < h[j].Revision }) {
			t.Fatal("history not sorted")
		}
		for i, r := range h {
			if r.Revision < 1 || (i > 0 && h[i-1].Revision == r.Revision) || r.Status == "" || r.RollbackOf < 0 {
				t.Fatalf("invalid revision accepted: %+v", r)
			}
			if r.ChartVersion != "" && r.ChartName+"-"+r.ChartVersion != r.Chart {
				t.Fatalf("SplitChart(%q) = %q, %q does not rejoin", r.Chart, r.ChartName, r.ChartVersion)
			}
			if !r.Updated.IsZero() && r.Updated.Location().String() != "UTC" {
				t.Fatalf("time not in UTC: %v", r.Updated)
			}
			if p, err := PreviousStable(h, r.Revision); err == nil && (p.Revision >= r.Revision || !p.Status.Stable()) {
				t.Fatalf("PreviousStable(%d) = %+v", r.Revision, p)
			}
		}
	})
}

func FuzzParseMetadata(f *testing.F) {
	seeds(f, "helm__get-metadata*")
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMetadata(data)
		if err != nil {
			checkErr(t, err)
			return
		}
		if m.Name == "" || m.Revision < 1 {
			t.Fatalf("invalid metadata accepted: %+v", m)
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	seeds(f, "helm__status*")
	f.Add([]byte("name: x\nversion: 3\ninfo:\n  last_deployed: 2024-01-01T00:00:00Z\nchart:\n  metadata:\n    name: x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseStatus(data)
		if err != nil {
			checkErr(t, err)
			return
		}
		if s.Name == "" || s.Revision < 0 {
			t.Fatalf("invalid status accepted: %+v", s)
		}
	})
}

func FuzzParseList(f *testing.F) {
	seeds(f, "helm__list*")
	f.Add([]byte(`[{"name":"a","namespace":"n","revision":"3","updated":"2024-05-01 10:00:00.1 +0200 CEST","status":"deployed","chart":"a-1.0.0","app_version":"1"}]`))
	f.Add([]byte("- a\n- name: b\n  revision: 2\n  updated: \"-\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := ParseList(data)
		if err != nil {
			checkErr(t, err)
			return
		}
		for _, r := range rs {
			if r.Name == "" || r.Revision < 0 {
				t.Fatalf("invalid release accepted: %+v", r)
			}
		}
	})
}

func FuzzParseChart(f *testing.F) {
	seeds(f, "*Chart.yaml")
	f.Add([]byte(`{"apiVersion":"v2","name":"x","version":"1.0.0","appVersion":1.10,"dependencies":[{"name":"d","version":"~1.2"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseChart(data)
		if err != nil {
			checkErr(t, err)
			return
		}
		if c.Name == "" || !IsSemver(c.Version) || (c.APIVersion != "v1" && c.APIVersion != "v2") {
			t.Fatalf("invalid chart accepted: %+v", c)
		}
	})
}

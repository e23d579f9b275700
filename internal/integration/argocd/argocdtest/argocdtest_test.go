package argocdtest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMergePatch(t *testing.T) {
	doc := map[string]any{"a": "b", "c": map[string]any{"d": "e", "f": "g"}, "h": []any{"i"}}
	patch := map[string]any{"a": "z", "c": map[string]any{"f": nil, "x": "y"}, "h": nil, "n": map[string]any{"m": int64(1)}}
	want := map[string]any{"a": "z", "c": map[string]any{"d": "e", "x": "y"}, "n": map[string]any{"m": int64(1)}}
	if diff := cmp.Diff(want, MergePatch(doc, patch)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, ok := doc["h"]; !ok {
		t.Error("MergePatch modified its input")
	}
}

func TestApplicationFromYAML(t *testing.T) {
	a, err := ApplicationFromYAML([]byte("metadata:\n  name: web\nstatus:\n  history:\n  - id: 3\n    deployedAt: 2024-03-05T07:33:04Z\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := a["status"].(map[string]any)["history"].([]any)[0].(map[string]any)
	if h["id"] != int64(3) || h["deployedAt"] != "2024-03-05T07:33:04Z" || Name(a) != "web" {
		t.Errorf("got %v", a)
	}
	if _, err := ApplicationFromYAML([]byte("- a\n")); err == nil {
		t.Error("a list is not an application")
	}
}

func TestCompleteOperationFailed(t *testing.T) {
	s := NewServer(t, "tok")
	a := map[string]any{"metadata": map[string]any{"name": "web"},
		"operation": map[string]any{"sync": map[string]any{"revision": "abc"}}}
	SetHistory(a, History{ID: 0, Revision: "old", DeployedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	s.Put(a)
	s.CompleteOperation("web", "Failed", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	got := s.App("web")
	if _, pending := got["operation"]; pending {
		t.Error("operation still pending")
	}
	st := got["status"].(map[string]any)
	if st["operationState"].(map[string]any)["phase"] != "Failed" || len(st["history"].([]any)) != 1 {
		t.Errorf("status after a failed operation: %v", st)
	}
}

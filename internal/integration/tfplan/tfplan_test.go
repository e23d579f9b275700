package tfplan

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

func parseFile(t *testing.T, rel string) (*Plan, error) {
	t.Helper()
	f, err := os.Open(corpus.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return Parse(f)
}

func mustParse(t *testing.T, rel string) *Plan {
	t.Helper()
	p, err := parseFile(t, rel)
	if err != nil {
		t.Fatalf("Parse(%s): %v", rel, err)
	}
	return p
}

// TestParseCorpus parses every plan of the shared corpus. The table must
// name every file in corpus/terraform, so a new corpus file fails here
// until someone decides what it should yield.
func TestParseCorpus(t *testing.T) {
	type want struct {
		format, terraform string
		counts            map[Action]int
		hasChanges        bool
		outputChanges     int
	}
	tests := map[string]want{
		"terraform-json__013_module_depends_on__plan.json":      {"0.1", "0.13.1", map[Action]int{ActionCreate: 2, ActionRead: 1}, true, 0},
		"terraform-json__110_basic__plan.json":                  {"1.0", "1.1.0-dev", map[Action]int{ActionCreate: 7}, true, 8},
		"terraform-json__110_sensitive_values__plan.json":       {"0.2", "1.1.0-dev", map[Action]int{ActionCreate: 7}, true, 8},
		"terraform-json__120_basic__plan.json":                  {"1.1", "1.2.0-rc1", map[Action]int{ActionCreate: 7}, true, 8},
		"terraform-json__action_reason__plan.json":              {"1.2", "1.15.0", map[Action]int{ActionReplace: 1}, true, 0},
		"terraform-json__actions__plan.json":                    {"1.2", "", map[Action]int{}, false, 0},
		"terraform-json__basic__plan-0.15.json":                 {"0.1", "", map[Action]int{ActionCreate: 1}, true, 1},
		"terraform-json__basic__plan.json":                      {"0.1", "0.12.11", map[Action]int{ActionCreate: 7, ActionRead: 1}, true, 8},
		"terraform-json__config_resource_depends_on__plan.json": {"0.1", "0.12.11", map[Action]int{ActionReplace: 1, ActionNoOp: 1}, true, 0},
		"terraform-json__deep_module__plan.json":                {"0.1", "0.12.11", map[Action]int{ActionCreate: 1}, true, 0},
		"terraform-json__explicit_null__plan.json":              {"0.1", "0.12.11", map[Action]int{ActionCreate: 3}, true, 0},
		// Upstream uses the two files below for a different "has changes"
		// question; their resources are all no-op, only outputs change.
		"terraform-json__has_changes__plan.json":                     {"0.1", "0.12.11", map[Action]int{ActionNoOp: 6}, false, 8},
		"terraform-json__no_changes__plan.json":                      {"0.1", "0.12.11", map[Action]int{ActionNoOp: 6}, false, 8},
		"terraform-json__has_checks__plan.json":                      {"1.2", "1.5.4", map[Action]int{ActionCreate: 2}, true, 0},
		"terraform-json__identity__plan.json":                        {"1.2", "1.13.0-dev", map[Action]int{ActionUpdate: 1}, true, 0},
		"terraform-json__moved_block__plan.json":                     {"1.2", "1.5.3", map[Action]int{ActionNoOp: 1}, false, 0},
		"terraform-json__nested_config_keys__plan.json":              {"0.1", "0.12.11", map[Action]int{ActionCreate: 1}, true, 0},
		"terraform-json__numerics__plan.json":                        {"1.2", "1.6.5", map[Action]int{ActionCreate: 1}, true, 0},
		"terraform-json__output_depends_on__plan.json":               {"0.1", "0.12.11", map[Action]int{ActionCreate: 2}, true, 1},
		"terraform-json__provider_version__plan.json":                {"0.1", "0.12.11", map[Action]int{ActionCreate: 1}, true, 0},
		"terraform-json__registry_module__plan.json":                 {"0.1", "0.12.11", map[Action]int{ActionCreate: 1}, true, 0},
		"terraform-validator__example_container_cluster.tfplan.json": {"0.1", "0.14.2", map[Action]int{ActionCreate: 3}, true, 0},
		"terraform-validator__full_container_cluster.tfplan.json":    {"0.2", "1.0.10", map[Action]int{ActionCreate: 1}, true, 0},
		"terraform-validator__full_container_node_pool.tfplan.json":  {"0.1", "0.12.13", map[Action]int{ActionCreate: 1}, true, 0},
	}
	const invalid = "terraform-json__invalid__plan.json" // TestParseInvalidCorpusPlan
	for _, path := range corpus.Glob(t, "terraform/*.json") {
		name := filepath.Base(path)
		if name == invalid {
			continue
		}
		if _, ok := tests[name]; !ok {
			t.Errorf("corpus file %s has no expectation in TestParseCorpus", name)
		}
	}
	for name, w := range tests {
		t.Run(name, func(t *testing.T) {
			p := mustParse(t, "terraform/"+name)
			got := want{p.FormatVersion, p.TerraformVersion, p.Counts, p.HasChanges(), p.OutputChanges}
			if diff := cmp.Diff(w, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
			n := 0
			for _, c := range p.Counts {
				n += c
			}
			if n != len(p.ResourceChanges) {
				t.Errorf("counts add up to %d, want %d resource changes", n, len(p.ResourceChanges))
			}
		})
	}
}

// The upstream fixture is deliberately malformed (its negative test):
// terraform-json refuses it, so Parse does, naming the place.
func TestParseInvalidCorpusPlan(t *testing.T) {
	_, err := parseFile(t, "terraform/terraform-json__invalid__plan.json")
	if patchctl.ErrorCode(err) != patchctl.CodeInvalid {
		t.Fatalf("err = %v, want CodeInvalid", err)
	}
	for _, s := range []string{"line 676, column 29", "byte offset 15544", "after top-level value"} {
		if !strings.Contains(patchctl.ErrorMessage(err), s) {
			t.Errorf("message %q does not contain %q", patchctl.ErrorMessage(err), s)
		}
	}
}

func TestParseResourceChanges(t *testing.T) {
	p := mustParse(t, "terraform/terraform-json__has_changes__plan.json")
	var got []ResourceChange
	for _, rc := range p.ResourceChanges {
		rc.Before, rc.After, rc.AfterUnknown = nil, nil, nil
		got = append(got, rc)
	}
	want := []ResourceChange{
		{Address: "module.foo.null_resource.foo", ModuleAddress: "module.foo", Mode: "managed", Type: "null_resource", Name: "foo", Provider: "null", Action: ActionNoOp, Actions: []string{"no-op"}},
		{Address: "null_resource.bar", Mode: "managed", Type: "null_resource", Name: "bar", Provider: "null", Action: ActionNoOp, Actions: []string{"no-op"}},
		{Address: "null_resource.baz[0]", Mode: "managed", Type: "null_resource", Name: "baz", Index: float64(0), Provider: "null", Action: ActionNoOp, Actions: []string{"no-op"}},
		{Address: "null_resource.baz[1]", Mode: "managed", Type: "null_resource", Name: "baz", Index: float64(1), Provider: "null", Action: ActionNoOp, Actions: []string{"no-op"}},
		{Address: "null_resource.baz[2]", Mode: "managed", Type: "null_resource", Name: "baz", Index: float64(2), Provider: "null", Action: ActionNoOp, Actions: []string{"no-op"}},
		{Address: "null_resource.foo", Mode: "managed", Type: "null_resource", Name: "foo", Provider: "null", Action: ActionNoOp, Actions: []string{"no-op"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}

	p = mustParse(t, "terraform/terraform-json__action_reason__plan.json")
	rc := p.ResourceChanges[0]
	if rc.Action != ActionReplace || rc.ActionReason != "replace_because_tainted" || !cmp.Equal(rc.Actions, []string{"delete", "create"}) {
		t.Errorf("action_reason plan: got %s %v %q", rc.Action, rc.Actions, rc.ActionReason)
	}
	p = mustParse(t, "terraform/terraform-json__moved_block__plan.json")
	if rc := p.ResourceChanges[0]; rc.PreviousAddress == "" || rc.PreviousAddress == rc.Address {
		t.Errorf("moved_block plan: previous address %q, address %q", rc.PreviousAddress, rc.Address)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		code     patchctl.Code
		field    string
		contains string
	}{
		{"empty", " \n", patchctl.CodeInvalid, "", "empty"},
		{"not json", "plan: yes\n", patchctl.CodeInvalid, "", "line 1, column 1 (byte offset 1)"},
		{"syntax error on line 3", "{\n  \"format_version\": \"1.2\",\n  \"resource_changes\": [}\n}", patchctl.CodeInvalid, "", "line 3, column 24"},
		{"truncated", "{\"format_version\": \"1.2\", \"resource_changes\": [", patchctl.CodeInvalid, "", "unexpected end of JSON input"},
		{"array", "[]", patchctl.CodeInvalid, "", "must be a JSON object"},
		{"missing format_version", `{"resource_changes": []}`, patchctl.CodeInvalid, "format_version", "not the output of terraform show -json"},
		{"null format_version", `{"format_version": null}`, patchctl.CodeInvalid, "format_version", "missing"},
		{"numeric format_version", `{"format_version": 1.2}`, patchctl.CodeInvalid, "format_version", "must be a string"},
		{"garbage format_version", `{"format_version": "x.y"}`, patchctl.CodeInvalid, "format_version", "not a version number"},
		{"unsupported major", `{"format_version": "2.0", "resource_changes": []}`, patchctl.CodeInvalid, "format_version", `unsupported plan format version "2.0"`},
		{"below terraform-json minimum", `{"format_version": "0.0"}`, patchctl.CodeInvalid, "", "unsupported plan format version"},
		{"state given to Parse", `{"format_version": "1.0", "values": {"root_module": {}}}`, patchctl.CodeInvalid, "", "ParseState"},
		{"wrong type", `{"format_version": "1.2", "resource_changes": "all"}`, patchctl.CodeInvalid, "resource_changes", "JSON string"},
		{"wrong nested type", `{"format_version": "1.2", "resource_changes": [{"address": "a.b", "change": {"actions": "create"}}]}`, patchctl.CodeInvalid, "resource_changes.change.actions", "found a JSON string where a JSON array was expected"},
		{"null change", `{"format_version": "1.2", "resource_changes": [{"address": "a.b"}]}`, patchctl.CodeInvalid, "resource_changes[0].change", "a.b"},
		{"no actions", `{"format_version": "1.2", "resource_changes": [{"address": "a.b", "change": {"actions": []}}]}`, patchctl.CodeInvalid, "resource_changes[0].change.actions", "no actions"},
		{"null resource change", `{"format_version": "1.2", "resource_changes": [null]}`, patchctl.CodeInvalid, "resource_changes[0]", "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.in))
			var pe *patchctl.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *patchctl.Error", err, err)
			}
			if pe.Code != tt.code || pe.Field != tt.field || !strings.Contains(pe.Message, tt.contains) {
				t.Errorf("got code %s field %q message %q; want code %s field %q containing %q",
					pe.Code, pe.Field, pe.Message, tt.code, tt.field, tt.contains)
			}
		})
	}
}

func TestReadAllLimit(t *testing.T) {
	if _, err := readAll(strings.NewReader(strings.Repeat(" ", 101)), 100); patchctl.ErrorCode(err) != patchctl.CodeTooLarge {
		t.Errorf("101 bytes over a limit of 100: err = %v, want CodeTooLarge", err)
	}
	if b, err := readAll(strings.NewReader(strings.Repeat(" ", 100)), 100); err != nil || len(b) != 100 {
		t.Errorf("100 bytes within a limit of 100: %d bytes, %v", len(b), err)
	}
}

func TestNormalise(t *testing.T) {
	tests := []struct {
		in      []string
		want    Action
		wantErr bool
	}{
		{[]string{"create"}, ActionCreate, false},
		{[]string{"update"}, ActionUpdate, false},
		{[]string{"delete"}, ActionDelete, false},
		{[]string{"no-op"}, ActionNoOp, false},
		{[]string{"read"}, ActionRead, false},
		{[]string{"forget"}, ActionForget, false},
		{[]string{"delete", "create"}, ActionReplace, false},
		{[]string{"create", "delete"}, ActionReplace, false},
		{[]string{"create", "forget"}, Action("create+forget"), false},
		{[]string{"open"}, Action("open"), false},
		{nil, "", true},
		{[]string{""}, "", true},
	}
	for _, tt := range tests {
		got, err := normalise(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("normalise(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	if Action("create+forget").Changes() != true || ActionRead.Changes() || ActionNoOp.Changes() {
		t.Error("Changes: wrong classification")
	}
}

package github

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchctl/patchctl"
)

func TestParsePingAndIgnored(t *testing.T) {
	ping := `{"zen":"Design for failure.","hook_id":109948940,"hook":{"type":"Repository","id":109948940,"active":true,"events":["push"]},
		"repository":{"full_name":"Codertocat/Hello-World"},"sender":{"login":"Codertocat"}}`
	ev, err := ParseEvent("ping", []byte(ping))
	if err != nil {
		t.Fatal(err)
	}
	want := &Event{Name: "ping", Type: TypePing, Repo: helloWorld, Sender: "Codertocat",
		Ping: &Ping{HookID: 109948940, Zen: "Design for failure."}}
	if diff := cmp.Diff(want, ev); diff != "" {
		t.Errorf("ping (-want +got):\n%s", diff)
	}

	for _, name := range []string{"issues", "star", "some_future_event"} {
		body := `{"action":"opened","repository":{"full_name":"Codertocat/Hello-World"},"sender":{"login":"octocat"},"installation":{"id":7}}`
		ev, err := ParseEvent(name, []byte(body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := &Event{Name: name, Type: TypeIgnored, Action: "opened", Repo: helloWorld, Sender: "octocat", InstallationID: 7}
		if diff := cmp.Diff(want, ev); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	// An ignored event's JSON is still checked.
	if _, err := ParseEvent("issues", []byte(`{"action":`)); patchctl.ErrorCode(err) != patchctl.CodeInvalid {
		t.Errorf("malformed ignored event: %v", err)
	}
}

// TestParseSparseAlerts: alerts missing their optional parts parse (the
// fuzzer found a nil dereference on a dependabot_alert without
// security_advisory).
func TestParseSparseAlerts(t *testing.T) {
	for _, tc := range []struct{ event, body string }{
		{"dependabot_alert", `{"action":"created","alert":{"number":1},"repository":{"full_name":"a/b"}}`},
		{"dependabot_alert", `{"action":"created","alert":{"security_advisory":null,"security_vulnerability":null,"dependency":null},"repository":{"full_name":"a/b"}}`},
		{"repository_vulnerability_alert", `{"action":"resolve","alert":{},"repository":{"full_name":"a/b"}}`},
		{"security_advisory", `{"action":"published","security_advisory":{"ghsa_id":"GHSA-xxxx-xxxx-xxxx","vulnerabilities":[null,{}],"identifiers":[null],"cvss":null}}`},
	} {
		ev, err := ParseEvent(tc.event, []byte(tc.body))
		if err != nil {
			t.Errorf("%s %s: %v", tc.event, tc.body, err)
			continue
		}
		if ev.Alert == nil && ev.Advisory == nil {
			t.Errorf("%s: no alert or advisory", tc.event)
		}
	}
	ev, _ := ParseEvent("repository_vulnerability_alert", []byte(`{"action":"resolve","alert":{},"repository":{"full_name":"a/b"}}`))
	if ev.Alert.State != "fixed" || ev.Alert.Action != AlertFixed {
		t.Errorf("resolve without state: %+v", ev.Alert)
	}
}

func TestParseEventInvalid(t *testing.T) {
	tests := []struct {
		name, event, body string
		// wantMsg must appear in the client-safe message.
		wantMsg   string
		wantField string
	}{
		{"empty body", "pull_request", ``, "not valid JSON at byte offset 0", ""},
		{"truncated", "pull_request", `{"action":"opened",`, "not valid JSON at byte offset 19 (line 1, column 20)", ""},
		{"garbage on line 3", "check_run", "{\n  \"action\": \"completed\",\n  \"check_run\": {\"id\": 1,]\n}", "line 3", ""},
		{"null", "pull_request", `null`, "payload is null", ""},
		{"null ignored", "issues", ` null `, "payload is null", ""},
		{"array", "push", `[]`, "JSON array where an object is expected", ""},
		{"string number", "pull_request", `{"action":"opened","number":"2"}`, "at number", "number"},
		{"nested type", "pull_request", `{"pull_request":{"head":{"sha":42}}}`, "at pull_request.head.sha", "pull_request.head.sha"},
		{"bad timestamp", "check_run", `{"check_run":{"started_at":"yesterday"}}`, "invalid value", ""},
		{"no pull_request", "pull_request", `{"action":"opened","number":2,"repository":{"full_name":"a/b"}}`, "no pull_request", "pull_request"},
		{"no number", "pull_request", `{"action":"opened","pull_request":{},"repository":{"full_name":"a/b"}}`, "no pull_request.number", "pull_request.number"},
		{"no repository", "pull_request", `{"action":"opened","number":2,"pull_request":{"number":2}}`, "no repository.full_name", "repository.full_name"},
		{"review without review", "pull_request_review", `{"pull_request":{"number":1},"repository":{"full_name":"a/b"}}`, "no review", "review"},
		{"review without pr", "pull_request_review", `{"review":{"id":1},"repository":{"full_name":"a/b"}}`, "no pull_request", "pull_request"},
		{"check suite", "check_suite", `{"action":"completed","repository":{"full_name":"a/b"}}`, "no check_suite", "check_suite"},
		{"check run", "check_run", `{"action":"completed","repository":{"full_name":"a/b"}}`, "no check_run", "check_run"},
		{"workflow run", "workflow_run", `{"action":"completed","repository":{"full_name":"a/b"}}`, "no workflow_run", "workflow_run"},
		{"deployment status", "deployment_status", `{"deployment":{},"repository":{"full_name":"a/b"}}`, "no deployment_status", "deployment_status"},
		{"deployment", "deployment_status", `{"deployment_status":{},"repository":{"full_name":"a/b"}}`, "no deployment", "deployment"},
		{"push", "push", `{"repository":{"full_name":"a/b"}}`, "no ref", "ref"},
		{"dependabot", "dependabot_alert", `{"action":"created","repository":{"full_name":"a/b"}}`, "no alert", "alert"},
		{"rva", "repository_vulnerability_alert", `{"action":"create","repository":{"full_name":"a/b"}}`, "no alert", "alert"},
		{"advisory", "security_advisory", `{"action":"published"}`, "no security_advisory", "security_advisory"},
		{"advisory id", "security_advisory", `{"action":"published","security_advisory":{}}`, "no security_advisory.ghsa_id", "security_advisory.ghsa_id"},
		{"bad event name", "Pull Request", `{}`, "not an event name", HeaderEvent},
		{"empty event name", "", `{}`, "not an event name", HeaderEvent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := ParseEvent(tc.event, []byte(tc.body))
			if err == nil {
				t.Fatalf("no error, event %+v", ev)
			}
			var pe *patchctl.Error
			if !errors.As(err, &pe) || pe.Code != patchctl.CodeInvalid {
				t.Fatalf("err = %#v, want a CodeInvalid *patchctl.Error", err)
			}
			if msg := patchctl.ErrorMessage(err); !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("message %q does not contain %q", msg, tc.wantMsg)
			}
			if pe.Field != tc.wantField {
				t.Errorf("field = %q, want %q", pe.Field, tc.wantField)
			}
		})
	}
}

func TestResultOf(t *testing.T) {
	tests := []struct {
		status, conclusion, want string
	}{
		{"completed", "success", patchctl.ResultPassed},
		{"completed", "neutral", patchctl.ResultPassed},
		{"completed", "skipped", patchctl.ResultPassed},
		{"completed", "failure", patchctl.ResultFailed},
		{"completed", "cancelled", patchctl.ResultFailed},
		{"completed", "timed_out", patchctl.ResultFailed},
		{"completed", "action_required", patchctl.ResultFailed},
		{"completed", "stale", patchctl.ResultFailed},
		{"completed", "startup_failure", patchctl.ResultFailed},
		{"completed", "", patchctl.ResultFailed},
		{"completed", "something_new", patchctl.ResultFailed},
		{"queued", "", ResultInProgress},
		{"in_progress", "", ResultInProgress},
		{"requested", "", ResultInProgress},
		{"waiting", "", ResultInProgress},
		{"pending", "success", ResultInProgress},
	}
	for _, tc := range tests {
		if got := ResultOf(tc.status, tc.conclusion); got != tc.want {
			t.Errorf("ResultOf(%q, %q) = %q, want %q", tc.status, tc.conclusion, got, tc.want)
		}
	}
}

// TestCheckConclusions runs each conclusion through a real check_run,
// check_suite and workflow_run delivery: a "completed" action concludes,
// any other action is in progress.
func TestCheckConclusions(t *testing.T) {
	samples := map[string]string{
		"check_run":    "check_run__completed.payload.json",
		"check_suite":  "check_suite__completed.payload.json",
		"workflow_run": "workflow_run__completed.payload.json",
	}
	conclusions := map[string]string{
		"success": patchctl.ResultPassed, "neutral": patchctl.ResultPassed, "skipped": patchctl.ResultPassed,
		"failure": patchctl.ResultFailed, "cancelled": patchctl.ResultFailed, "timed_out": patchctl.ResultFailed,
		"action_required": patchctl.ResultFailed,
	}
	for event, file := range samples {
		var doc map[string]any
		if err := json.Unmarshal(readCorpus(t, file), &doc); err != nil {
			t.Fatal(err)
		}
		obj := doc[event].(map[string]any)
		for conclusion, want := range conclusions {
			obj["conclusion"] = conclusion
			doc["action"] = "completed"
			ev := mustParse(t, event, doc)
			if ev.Check.Result != want || ev.Check.Conclusion != conclusion {
				t.Errorf("%s completed/%s: result %q, want %q", event, conclusion, ev.Check.Result, want)
			}
		}
		// A rerequested suite still carries the old status and conclusion:
		// the action makes it in progress only if the status says so.
		obj["status"], obj["conclusion"] = "in_progress", nil
		for _, action := range []string{"requested", "rerequested", "created", "in_progress"} {
			doc["action"] = action
			if ev := mustParse(t, event, doc); ev.Check.Result != ResultInProgress {
				t.Errorf("%s %s: result %q, want in_progress", event, action, ev.Check.Result)
			}
		}
		// A "completed" delivery concludes even if status lags behind.
		doc["action"], obj["conclusion"] = "completed", "failure"
		if ev := mustParse(t, event, doc); ev.Check.Result != patchctl.ResultFailed {
			t.Errorf("%s completed with stale status: result %q, want failed", event, ev.Check.Result)
		}
	}
}

func mustParse(t *testing.T, event string, doc any) *Event {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := ParseEvent(event, b)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestEventPatchKeys: events carry the patches they refer to.
func TestEventPatchKeys(t *testing.T) {
	var pr map[string]any
	if err := json.Unmarshal(readCorpus(t, "pull_request__opened.payload.json"), &pr); err != nil {
		t.Fatal(err)
	}
	p := pr["pull_request"].(map[string]any)
	p["head"].(map[string]any)["ref"] = "patch/PATCH-42-bump-semver"
	p["title"] = "Bump semver (PATCH-42)"
	p["body"] = "Also fixes patch-7; see PATCH-421 for the rest."
	if got := mustParse(t, "pull_request", pr).PatchKeys; !cmp.Equal(got, []string{"PATCH-7", "PATCH-42", "PATCH-421"}) {
		t.Errorf("pull_request keys = %v", got)
	}

	var push map[string]any
	if err := json.Unmarshal(readCorpus(t, "push__with-new-branch.payload.json"), &push); err != nil {
		t.Fatal(err)
	}
	push["ref"] = "refs/heads/patch/PATCH-9"
	ev := mustParse(t, "push", push)
	if !cmp.Equal(ev.PatchKeys, []string{"PATCH-9"}) || ev.Push.Branch != "patch/PATCH-9" {
		t.Errorf("push keys = %v, branch %q", ev.PatchKeys, ev.Push.Branch)
	}

	var run map[string]any
	if err := json.Unmarshal(readCorpus(t, "workflow_run__completed.payload.json"), &run); err != nil {
		t.Fatal(err)
	}
	run["workflow_run"].(map[string]any)["head_branch"] = "patch/PATCH-12-x"
	if got := mustParse(t, "workflow_run", run).PatchKeys; !cmp.Equal(got, []string{"PATCH-12"}) {
		t.Errorf("workflow_run keys = %v", got)
	}
}

// TestParseRepositoryVulnerabilityAlertDecoding: the alert's number and
// state, which go-github leaves out, are read too, and a bad value in them
// or in go-github's fields is reported with its JSON path (encoding/json
// would put the Go name of an embedded struct into that path).
func TestParseRepositoryVulnerabilityAlertDecoding(t *testing.T) {
	ev, err := ParseEvent("repository_vulnerability_alert", []byte(
		`{"action":"dismiss","alert":{"number":7,"state":"DISMISSED","affected_package_name":"rack","ghsa_id":"GHSA-qqgx-2p2h-9c37"},"repository":{"full_name":"a/b"},"installation":{"id":9}}`))
	if err != nil {
		t.Fatal(err)
	}
	if a := ev.Alert; a.Number != 7 || a.State != "dismissed" || a.Package != "rack" || a.GHSAID != "GHSA-qqgx-2p2h-9c37" || ev.InstallationID != 9 {
		t.Errorf("alert %+v, installation %d", a, ev.InstallationID)
	}
	for _, tc := range []struct{ body, wantMsg, wantField string }{
		{`null`, "payload is null", ""},
		{`{"alert":{"number":"7"},"repository":{"full_name":"a/b"}}`, "at alert.number", "alert.number"},
		{`{"alert":{"severity":1},"repository":{"full_name":"a/b"}}`, "at alert.severity", "alert.severity"},
		{`{"alert":[],"repository":{"full_name":"a/b"}}`, "JSON array where an object is expected, at alert", "alert"},
	} {
		_, err := ParseEvent("repository_vulnerability_alert", []byte(tc.body))
		var pe *patchctl.Error
		if !errors.As(err, &pe) || pe.Code != patchctl.CodeInvalid || !strings.Contains(pe.Message, tc.wantMsg) || pe.Field != tc.wantField {
			t.Errorf("%s: %#v, want %q in the message and field %q", tc.body, err, tc.wantMsg, tc.wantField)
		}
	}
}

package github

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

// fuzzEvents are the event names FuzzParseEvent feeds; the last is one
// patchctl ignores.
var fuzzEvents = []string{
	"pull_request", "pull_request_review", "check_suite", "check_run", "workflow_run",
	"deployment_status", "push", "dependabot_alert", "repository_vulnerability_alert",
	"security_advisory", "ping", "issues",
}

// FuzzParseEvent is seeded with every corpus payload, per event type. The
// large ones are added without GitHub's hypermedia links (the *_url
// fields, _links, node_id), which are three quarters of their bytes and
// which the parser never reads: on 25 kB inputs the fuzzer spends its time
// minimising rather than exploring. TestCorpusDeliveries covers the full
// payloads.
func FuzzParseEvent(f *testing.F) {
	for _, file := range corpus.Glob(f, "github-webhooks/*.json") {
		body, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		idx := slices.Index(fuzzEvents, eventOf(file))
		if idx < 0 {
			f.Fatalf("no fuzz event for %s", file)
		}
		if len(body) > 4096 {
			body = withoutLinks(f, body)
		}
		f.Add(uint8(idx), body)
	}
	f.Add(uint8(10), []byte(`{"zen":"Approachable is better than simple.","hook_id":1}`))
	f.Add(uint8(11), []byte(`{"action":"opened"}`))
	f.Add(uint8(0), []byte(`null`))
	f.Add(uint8(6), []byte(`{"ref":"refs/heads/patch/PATCH-1","repository":{"full_name":"a/b"}}`))

	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		name := fuzzEvents[int(which)%len(fuzzEvents)]
		ev, err := ParseEvent(name, body)
		if err != nil {
			var pe *patchctl.Error
			if !errors.As(err, &pe) || pe.Code != patchctl.CodeInvalid || pe.Message == "" {
				t.Fatalf("error is not a CodeInvalid *patchctl.Error with a message: %#v", err)
			}
			if ev != nil {
				t.Fatalf("event %+v returned with error %v", ev, err)
			}
			return
		}
		if ev == nil || ev.Name != name {
			t.Fatalf("event %+v for %s", ev, name)
		}
		parts := map[Type]bool{
			TypePullRequest:      ev.PullRequest != nil,
			TypeCheckRun:         ev.Check != nil,
			TypeCheckSuite:       ev.Check != nil,
			TypeWorkflowRun:      ev.Check != nil,
			TypeDeploymentStatus: ev.Deployment != nil,
			TypePush:             ev.Push != nil,
			TypeDependabotAlert:  ev.Alert != nil, TypeRepositoryVulnerabilityAlert: ev.Alert != nil,
			TypeSecurityAdvisory:  ev.Advisory != nil,
			TypePing:              ev.Ping != nil,
			TypePullRequestReview: ev.Review != nil && ev.PullRequest != nil,
			TypeIgnored:           true,
		}
		if !parts[ev.Type] {
			t.Fatalf("%s event of type %q lacks its part: %+v", name, ev.Type, ev)
		}
		if (ev.Type == TypeIgnored) != (name == "issues") {
			t.Fatalf("%s parsed as %q", name, ev.Type)
		}
		if ev.Type != TypeSecurityAdvisory && ev.Type != TypePing && ev.Type != TypeIgnored && ev.Repo == "" {
			t.Fatalf("%s event without repository", name)
		}
		if pr := ev.PullRequest; pr != nil {
			if pr.Number <= 0 {
				t.Fatalf("pull request number %d", pr.Number)
			}
			if pr.MergeCommitSHA != "" && !pr.Merged {
				t.Fatalf("merge commit %q on an unmerged pull request", pr.MergeCommitSHA)
			}
		}
		if c := ev.Check; c != nil && c.Result != patchctl.ResultPassed && c.Result != patchctl.ResultFailed && c.Result != ResultInProgress {
			t.Fatalf("check result %q", c.Result)
		}
		if r := ev.Review; r != nil && r.State != strings.ToLower(r.State) {
			t.Fatalf("review state %q not lowercase", r.State)
		}
		checkKeys(t, ev.PatchKeys)
	})
}

// withoutLinks drops the link fields of a JSON document.
func withoutLinks(f *testing.F, body []byte) []byte {
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		f.Fatal(err)
	}
	var strip func(v any) any
	strip = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if k == "_links" || k == "node_id" || strings.HasSuffix(k, "_url") && k != "html_url" && k != "target_url" &&
					k != "log_url" && k != "details_url" && k != "environment_url" {
					delete(v, k)
					continue
				}
				v[k] = strip(x)
			}
		case []any:
			for i := range v {
				v[i] = strip(v[i])
			}
		}
		return v
	}
	out, err := json.Marshal(strip(doc))
	if err != nil {
		f.Fatal(err)
	}
	return out
}

// checkKeys asserts PatchKeys' output contract: sorted by id, unique,
// canonical.
func checkKeys(t *testing.T, keys []string) {
	t.Helper()
	var prev int64
	for _, k := range keys {
		id, err := patchctl.ParsePatchKey(k)
		if err != nil || patchctl.PatchKey(id) != k {
			t.Fatalf("key %q is not canonical (%v)", k, err)
		}
		if id <= prev {
			t.Fatalf("keys %v not sorted and unique", keys)
		}
		prev = id
	}
}

func FuzzVerify(f *testing.F) {
	body := readCorpus(f, "pull_request__opened.payload.json")
	f.Add(testSecret, Sign(testSecret, body), body)
	f.Add(testSecret, "sha1=0000000000000000000000000000000000000000", []byte("{}"))
	f.Add([]byte{}, Sign(nil, []byte("{}")), []byte("{}"))
	f.Add([]byte("k"), "sha256=", []byte(""))
	f.Add([]byte("k"), "SHA256="+strings.Repeat("A", 64), []byte("x"))

	f.Fuzz(func(t *testing.T, secret []byte, sig string, body []byte) {
		h := http.Header{}
		h.Set(HeaderSignature256, sig)
		err := Verify(secret, h, body)
		if err == nil {
			// Only the true signature passes, whatever the hex case.
			if len(secret) == 0 || !strings.EqualFold(sig, Sign(secret, body)) {
				t.Fatalf("accepted signature %q for secret %q", sig, secret)
			}
		} else if patchctl.ErrorCode(err) != patchctl.CodeUnauthorized {
			t.Fatalf("error code %q: %v", patchctl.ErrorCode(err), err)
		}

		// The true signature passes iff there is a secret.
		h.Set(HeaderSignature256, Sign(secret, body))
		if err := Verify(secret, h, body); (err == nil) != (len(secret) > 0) {
			t.Fatalf("true signature with secret %q: %v", secret, err)
		}
		// It never passes for another body.
		other := append(append([]byte(nil), body...), 'x')
		if err := Verify(secret, h, other); err == nil {
			t.Fatalf("signature of %q accepted for %q", body, other)
		}
	})
}

// patchRef is an independent reading of the whole-word rule, used as an
// oracle: the regexp finds candidates, the boundary checks are done apart.
var patchRef = regexp.MustCompile(`(?i)patch-([0-9]+)`)

func oracleKeys(branch, title, body string) []string {
	seen := map[int64]bool{}
	if rest, ok := strings.CutPrefix(branch, "patch/PATCH-"); ok {
		digits := rest[:len(rest)-len(strings.TrimLeft(rest, "0123456789"))]
		after := rest[len(digits):]
		if id, err := strconv.ParseInt(digits, 10, 64); err == nil && id > 0 && digits[0] != '0' && (after == "" || after[0] == '-') {
			seen[id] = true
		}
	}
	for _, s := range []string{title, body} {
		for _, m := range patchRef.FindAllStringSubmatchIndex(s, -1) {
			digits := s[m[2]:m[3]]
			before, _ := utf8.DecodeLastRuneInString(s[:m[0]])
			after, _ := utf8.DecodeRuneInString(s[m[1]:])
			if m[0] > 0 && isWordRune(before) || m[1] < len(s) && isWordRune(after) || digits[0] == '0' {
				continue
			}
			if id, err := strconv.ParseInt(digits, 10, 64); err == nil && id > 0 {
				seen[id] = true
			}
		}
	}
	var ids []int64
	for id := range seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var keys []string
	for _, id := range ids {
		keys = append(keys, patchctl.PatchKey(id))
	}
	return keys
}

func FuzzPatchKeys(f *testing.F) {
	f.Add("patch/PATCH-42-bump", "Bump (PATCH-42)", "see patch-7, not PATCH-421x")
	f.Add("patch/PATCH-042", "PATCH-0", "PATCH-9223372036854775808")
	f.Add("main", "éPATCH-1 _PATCH-2", "PATCH-1PATCH-2 patchpatch-3")
	f.Add("patch/PATCH-5/x", "", "\xffPATCH-6\xff")
	f.Fuzz(func(t *testing.T, branch, title, body string) {
		got := PatchKeys(branch, title, body)
		checkKeys(t, got)
		if want := oracleKeys(branch, title, body); !slices.Equal(got, want) {
			t.Fatalf("PatchKeys(%q, %q, %q) = %v, oracle says %v", branch, title, body, got, want)
		}
		for _, k := range got {
			if !patchctl.BranchBelongsTo(branch, k) && !strings.Contains(strings.ToLower(title+"\n"+body), strings.ToLower(k)) {
				t.Fatalf("key %s neither from branch %q nor in the text", k, branch)
			}
		}
	})
}

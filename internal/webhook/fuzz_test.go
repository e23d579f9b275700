package webhook_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/patchctl/patchctl/internal/integration/github"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
	"github.com/patchctl/patchctl/internal/webhook"
)

// FuzzGitHubWebhook posts arbitrary signed bodies under arbitrary event
// names to a real server: a verified delivery is always answered 200 (and
// recorded) or 400 (malformed, nothing recorded), never a server error,
// whatever the mapping onto patches finds in it. Seeded with the corpus.
func FuzzGitHubWebhook(f *testing.F) {
	for _, path := range corpus.Glob(f, "github-webhooks/*.json") {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		event, _, _ := strings.Cut(filepath.Base(path), "__")
		f.Add(event, b)
	}
	f.Add("pull_request", []byte(`{"action":"opened","number":1,"repository":{"full_name":"a/b"},"pull_request":{"number":1,"head":{"ref":"patch/PATCH-1"},"title":"PATCH-1"}}`))
	f.Add("workflow_run", []byte(`{"action":"completed","repository":{"full_name":"a/b"},"workflow_run":{"name":"staging","status":"completed","conclusion":"success","head_sha":""}}`))
	s := server(f, true, nil)
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		req, _ := http.NewRequest("POST", s.URL+webhook.PathGitHub, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(github.HeaderEvent, event)
		req.Header.Set(github.HeaderDelivery, "fuzz-"+strconv.FormatInt(n.Add(1), 10))
		req.Header.Set(github.HeaderSignature256, github.Sign([]byte(secret), body))
		code, a, raw := send(t, req)
		switch {
		case code == 200 && a.Recorded > 0:
		case code == 400:
		case code == 413 && len(body) > 20<<20:
		default:
			t.Fatalf("event %q: %d %s", event, code, raw)
		}
	})
}

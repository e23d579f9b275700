package github

import (
	"bufio"
	"bytes"
	"fmt"
	"hash/fnv"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

var testSecret = []byte("It's a Secret to Everybody")

// readCorpus returns the bytes of a github-webhooks corpus file.
func readCorpus(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(corpus.Path(t, "github-webhooks/"+name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eventOf returns the X-GitHub-Event of a corpus file: the part of its name
// before "__".
func eventOf(file string) string {
	name, _, _ := strings.Cut(filepath.Base(file), "__")
	return name
}

// deliveryFor makes a stable GUID-shaped delivery id for a name.
func deliveryFor(name string) string {
	h := fnv.New128a()
	h.Write([]byte(name))
	s := fmt.Sprintf("%x", h.Sum(nil))
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

// signedHeader returns the headers GitHub sends for body, signed with
// secret.
func signedHeader(secret []byte, event, delivery string, body []byte) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "GitHub-Hookshot/test")
	h.Set(HeaderEvent, event)
	h.Set(HeaderDelivery, delivery)
	h.Set(HeaderSignature256, Sign(secret, body))
	return h
}

// readHeaderFile parses a captured header dump: one "name<spaces/tab>value"
// per line, as webhook.site writes them.
func readHeaderFile(t testing.TB, path string) http.Header {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("%s:%d: no tab between header name and value: %q", path, n, line)
		}
		h.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return h
}

func ts(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func ptr[T any](v T) *T { return &v }

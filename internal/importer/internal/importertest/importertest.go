// Package importertest holds what the parser tests share: the corpus
// expectations (EXPECTED.json), helpers that run a parser and collect its
// records, the CVSS banding used by the expectations, and the benchmark
// harness that compares a parser with a decode-only floor.
package importertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/go-cmp/cmp"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/importer/internal/jsonstream"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

// Expectation is one file's entry in the corpus EXPECTED.json.
type Expectation struct {
	Format                 string         `json:"format"`
	Findings               int            `json:"findings"`
	DistinctTriples        int            `json:"distinct_triples"`
	BySeverity             map[string]int `json:"by_severity"`
	Misconfigurations      *int           `json:"misconfigurations"`
	Secrets                *int           `json:"secrets"`
	IgnoredMatches         *int           `json:"ignored_matches"`
	Groups                 *int           `json:"groups"`
	ByCVSSV3Band           map[string]int `json:"by_cvss_v3_band"`
	BySecuritySeverityBand map[string]int `json:"by_security_severity_band"`
	SuppressedResults      *int           `json:"suppressed_results"`
}

// Expected returns the expectations for one EXPECTED.json format
// ("trivy-json", "grype-json", "osv-scanner-json", "sarif"), keyed by the
// file's corpus-relative path. It fails when there are none.
func Expected(t testing.TB, format string) map[string]Expectation {
	t.Helper()
	b, err := os.ReadFile(corpus.Path(t, "EXPECTED.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Files map[string]Expectation `json:"files"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("EXPECTED.json: %v", err)
	}
	out := map[string]Expectation{}
	for path, e := range doc.Files {
		if e.Format == format {
			out[path] = e
		}
	}
	if len(out) == 0 {
		t.Fatalf("EXPECTED.json lists no %s files", format)
	}
	return out
}

// Sorted returns the keys of m in order.
func Sorted[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ParseFile runs p over a file and returns its records and meta.
func ParseFile(t testing.TB, p importer.Parser, path string) ([]*importer.Record, *importer.Meta, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []*importer.Record
	meta, err := p.Parse(context.Background(), f, func(r *importer.Record) error {
		recs = append(recs, r)
		return nil
	})
	return recs, meta, err
}

// ParseBytes runs p over data. Unless seekable is set the input is a plain
// io.Reader, so that parsers cannot take a second pass.
func ParseBytes(p importer.Parser, data []byte, seekable bool) ([]*importer.Record, *importer.Meta, error) {
	return ParseContext(context.Background(), p, data, seekable)
}

// ParseContext is ParseBytes with a context.
func ParseContext(ctx context.Context, p importer.Parser, data []byte, seekable bool) ([]*importer.Record, *importer.Meta, error) {
	var r io.Reader = bytes.NewReader(data)
	if !seekable {
		r = onlyReader{r}
	}
	var recs []*importer.Record
	meta, err := p.Parse(ctx, r, func(rec *importer.Record) error {
		recs = append(recs, rec)
		return nil
	})
	return recs, meta, err
}

// onlyReader hides every method but Read.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// Band bands a CVSS score as EXPECTED.json does.
func Band(score float64) string {
	switch {
	case score >= 9:
		return "CRITICAL"
	case score >= 7:
		return "HIGH"
	case score >= 4:
		return "MEDIUM"
	case score > 0:
		return "LOW"
	}
	return "NONE"
}

// CheckRecords checks what every parser must guarantee of its records, on
// any input: a known normalised severity and an asset listed in the meta.
func CheckRecords(t testing.TB, recs []*importer.Record, meta *importer.Meta) {
	t.Helper()
	assets := map[importer.AssetRef]bool{}
	for _, a := range meta.Assets {
		assets[a] = true
	}
	for i, r := range recs {
		if !r.Severity.Valid() {
			t.Errorf("record %d (%s): severity %q is not a patchctl severity", i, r.VulnID, r.Severity)
		}
		if !assets[r.Asset] {
			t.Errorf("record %d (%s): asset %+v is not listed in Meta.Assets %+v", i, r.VulnID, r.Asset, meta.Assets)
		}
	}
}

// CheckIDs checks that every record has a vulnerability id and a package,
// as every record of the corpus does.
func CheckIDs(t testing.TB, recs []*importer.Record) {
	t.Helper()
	for i, r := range recs {
		if r.VulnID == "" || r.Package == "" {
			t.Errorf("record %d: VulnID %q, Package %q: want both", i, r.VulnID, r.Package)
		}
	}
}

// SeedFiles returns the corpus files matching pattern for fuzz seeds, or
// nothing when the corpus is absent (fuzz targets then use inline seeds).
// JSON files are compacted, and files still larger than MaxSeed are left
// out: the fuzzer minimises every new interesting input, which with the
// default -fuzzminimizetime takes most of a short fuzzing run on inputs of
// tens of kilobytes.
func SeedFiles(pattern string) [][]byte {
	var out [][]byte
	for _, b := range seedFiles(pattern) {
		var c bytes.Buffer
		if json.Compact(&c, b) == nil {
			b = c.Bytes()
		}
		if len(b) <= MaxSeed {
			out = append(out, b)
		}
	}
	return out
}

// SeedPrefixes returns the first n bytes of the corpus files matching
// pattern, for fuzz seeds from large files.
func SeedPrefixes(pattern string, n int) [][]byte {
	var out [][]byte
	for _, b := range seedFiles(pattern) {
		out = append(out, b[:min(len(b), n)])
	}
	return out
}

func seedFiles(pattern string) [][]byte {
	dir := os.Getenv("PATCHCTL_CORPUS")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		// internal/importer/internal/importertest -> repository root -> ../shared/corpus
		dir = filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "..", "shared", "corpus")
	}
	paths, _ := filepath.Glob(filepath.Join(dir, filepath.FromSlash(pattern)))
	var out [][]byte
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			out = append(out, b)
		}
	}
	return out
}

// MaxSeed is the largest corpus file used as a fuzz seed.
const MaxSeed = 8 << 10

// ParseAll parses every corpus file matching pattern, one subtest each,
// and checks that the records hold together.
func ParseAll(t *testing.T, p importer.Parser, pattern string) {
	t.Helper()
	for _, path := range corpus.Glob(t, pattern) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			recs, meta, err := ParseFile(t, p, path)
			if err != nil {
				t.Fatal(err)
			}
			CheckRecords(t, recs, meta)
		})
	}
}

// CheckHoldBudget parses data with a hold budget far below its size: a
// seekable input is then read a second time and a plain reader keeps
// holding; both must give the records and meta of an unbounded hold.
func CheckHoldBudget(t *testing.T, p importer.Parser, data []byte) {
	t.Helper()
	want, wantMeta, err := ParseBytes(p, data, true)
	if err != nil {
		t.Fatal(err)
	}
	defer func(b int) { jsonstream.HoldBudget = b }(jsonstream.HoldBudget)
	jsonstream.HoldBudget = 20 << 10
	for _, seekable := range []bool{true, false} {
		recs, meta, err := ParseBytes(p, data, seekable)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, recs); diff != "" {
			t.Errorf("seekable=%v: records differ (-unbounded +budget):\n%s", seekable, diff)
		}
		if diff := cmp.Diff(wantMeta, meta); diff != "" {
			t.Errorf("seekable=%v: meta differs (-unbounded +budget):\n%s", seekable, diff)
		}
	}
}

// FuzzParse is the body of a parser's fuzz target: on seekable and
// streaming input alike, data either parses into records that hold
// together (CheckRecords, FindingsInReport matching what was emitted) or is
// refused with an invalid *patchctl.Error, never anything else.
func FuzzParse(t *testing.T, p importer.Parser, data []byte) {
	t.Helper()
	for _, seekable := range []bool{true, false} {
		recs, meta, err := ParseBytes(p, data, seekable)
		if err != nil {
			WantCode(t, err, patchctl.CodeInvalid)
			continue
		}
		if meta.FindingsInReport != len(recs) {
			t.Fatalf("FindingsInReport %d, %d records", meta.FindingsInReport, len(recs))
		}
		CheckRecords(t, recs, meta)
	}
}

// WantCode fails the test unless err is a *patchctl.Error with code.
func WantCode(t testing.TB, err error, code patchctl.Code) {
	t.Helper()
	var perr *patchctl.Error
	if !errors.As(err, &perr) || perr.Code != code {
		t.Fatalf("error is not a %s *patchctl.Error: %v", code, err)
	}
}

// WantInvalid checks that err is a *patchctl.Error with code invalid whose
// message contains every one of parts.
func WantInvalid(t testing.TB, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want an invalid error containing %q", parts)
	}
	var perr *patchctl.Error
	if !errors.As(err, &perr) {
		t.Fatalf("error %v (%T) is not a *patchctl.Error", err, err)
	}
	if perr.Code != patchctl.CodeInvalid {
		t.Errorf("code = %s, want invalid (%v)", perr.Code, err)
	}
	msg := patchctl.ErrorMessage(err)
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("message %q does not contain %q", msg, p)
		}
	}
}

// RawArray returns the elements of the array found by following path (object
// keys, or array indexes as decimal strings) from the top of a JSON document.
func RawArray(t testing.TB, data []byte, path ...string) []json.RawMessage {
	t.Helper()
	var cur json.RawMessage = data
	for _, step := range path {
		if i, err := strconv.Atoi(step); err == nil {
			var arr []json.RawMessage
			if err := json.Unmarshal(cur, &arr); err != nil || i >= len(arr) {
				t.Fatalf("path %v: step %s: %v", path, step, err)
			}
			cur = arr[i]
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(cur, &obj); err != nil {
			t.Fatalf("path %v: step %s: %v", path, step, err)
		}
		cur = obj[step]
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(cur, &arr); err != nil {
		t.Fatalf("path %v: %v", path, err)
	}
	return arr
}

// Replicate builds n array elements from templates, cycling through them and
// replacing every occurrence of each template's id with a numbered variant,
// joined with commas.
func Replicate(templates []json.RawMessage, ids []string, n int) []byte {
	var buf bytes.Buffer
	for i := range n {
		k := i % len(templates)
		if i > 0 {
			buf.WriteByte(',')
		}
		el := bytes.ReplaceAll(templates[k], []byte(`"`+ids[k]+`"`), fmt.Appendf(nil, `"%s-%d"`, ids[k], i))
		buf.Write(el)
	}
	return buf.Bytes()
}

// cpuTime returns the CPU time (user and system, all threads) the process
// has used. Benchmarks report throughput per CPU second as well as per
// wall-clock second: on a shared machine the wall clock also measures the
// neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter reports MB per CPU second and findings per CPU second.
type cpuMeter struct {
	start time.Duration
}

func startCPU(b *testing.B) *cpuMeter {
	b.Helper()
	return &cpuMeter{start: cpuTime()}
}

func (m *cpuMeter) report(b *testing.B, bytes, findings, n int) {
	cpu := (cpuTime() - m.start).Seconds()
	if cpu <= 0 || n == 0 {
		return
	}
	b.ReportMetric(float64(bytes*n)/1e6/cpu, "MB/cpu-s")
	b.ReportMetric(float64(findings*n)/cpu, "findings/cpu-s")
}

// Bench runs p over data b.N times and reports MB/s (via SetBytes) and
// findings/s, per wall-clock and per CPU second.
func Bench(b *testing.B, p importer.Parser, data []byte, findings int) {
	b.Helper()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	ctx := context.Background()
	n := 0
	cpu := startCPU(b)
	for b.Loop() {
		meta, err := p.Parse(ctx, bytes.NewReader(data), func(*importer.Record) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		if meta.FindingsInReport != findings {
			b.Fatalf("parsed %d findings, want %d", meta.FindingsInReport, findings)
		}
		n++
	}
	b.ReportMetric(float64(findings*n)/b.Elapsed().Seconds(), "findings/s")
	cpu.report(b, len(data), findings, n)
}

// BenchFloor is the decode-only floor: tokenising the whole document with
// jsontext and skipping it, which any parser built on it must pay.
func BenchFloor(b *testing.B, data []byte, findings int) {
	b.Helper()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	n := 0
	cpu := startCPU(b)
	for b.Loop() {
		dec := jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
		if err := dec.SkipValue(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(findings*n)/b.Elapsed().Seconds(), "findings/s")
	cpu.report(b, len(data), findings, n)
}

// BenchUnmarshal decodes the whole document into a fresh value from newV,
// with encoding/json (v1) or go-json-experiment (v2): the naive approach
// the streaming parsers replace.
func BenchUnmarshal(b *testing.B, data []byte, findings int, v2 bool, newV func() any) {
	b.Helper()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	n := 0
	cpu := startCPU(b)
	for b.Loop() {
		v := newV()
		var err error
		if v2 {
			err = jsonv2.UnmarshalRead(bytes.NewReader(data), v)
		} else {
			err = json.NewDecoder(bytes.NewReader(data)).Decode(v)
		}
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(findings*n)/b.Elapsed().Seconds(), "findings/s")
	cpu.report(b, len(data), findings, n)
}

package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/patchctl/patchctl/internal/integration/github"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
	"github.com/patchctl/patchctl/internal/webhook"
)

// benchClients is the number of concurrent senders.
const benchClients = 16

// cpuTime is the CPU time the process used so far (user and system).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// result is what one load run measured.
type result struct {
	rate float64         // requests per second
	lat  []time.Duration // per request
	cpu  time.Duration   // process CPU time per request, client included
}

// load sends n requests from benchClients goroutines over keep-alive
// loopback connections and returns the throughput, the latencies and the
// CPU time per request. The CPU time does not depend on what else runs on
// the machine; throughput and latency do.
func load(b *testing.B, n int, req func(i int) *http.Request, ok func(*http.Response, []byte) bool) result {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: benchClients, MaxIdleConnsPerHost: benchClients}}
	defer client.CloseIdleConnections()
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	cpu0 := cpuTime(b)
	start := time.Now()
	for range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || failed.Load() != nil {
					return
				}
				t0 := time.Now()
				resp, err := client.Do(req(i))
				if err != nil {
					failed.Store(err.Error())
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(t0)
				if !ok(resp, body) {
					failed.Store(fmt.Sprintf("request %d: %d %s", i, resp.StatusCode, body))
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime(b) - cpu0
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
	return result{rate: float64(n) / elapsed.Seconds(), lat: lat, cpu: cpu / time.Duration(n)}
}

func p99(lat []time.Duration) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[len(s)*99/100]
}

// BenchmarkGitHubWebhook measures signed GitHub deliveries against a real
// server on SQLite over loopback: each is verified (HMAC-SHA256), parsed,
// matched and durably recorded (committed) before the answer. The
// deliveries are the corpus payloads in turn, each with a new delivery id,
// sent by 16 concurrent clients; b.N is the number of deliveries
// (-benchtime=20000x). In the same run, the baseline is a handler on the
// same database that reads the body and commits a one-row insert
// transaction, under the same load. Reported for both: throughput
// (req/s), p99 latency (p99-ms) and process CPU time per request, load
// generator included (cpu-µs/req, which other work on the machine does not
// change); and the ratio of webhook to baseline throughput.
//
//	go test ./internal/webhook -run '^$' -bench BenchmarkGitHubWebhook -benchtime 20000x
func BenchmarkGitHubWebhook(b *testing.B) {
	s := server(b, true, nil)
	var bodies []hook
	for _, path := range corpus.Glob(b, "github-webhooks/*.json") {
		body, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		event, _, _ := strings.Cut(filepath.Base(path), "__")
		bodies = append(bodies, hook{event: event, body: body, header: func(h http.Header) {
			h.Set(github.HeaderSignature256, github.Sign([]byte(secret), body))
		}})
	}
	n := b.N
	b.ResetTimer()
	hook := load(b, n, func(i int) *http.Request {
		h := bodies[i%len(bodies)]
		req, _ := http.NewRequest("POST", s.URL+webhook.PathGitHub, bytes.NewReader(h.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(github.HeaderEvent, h.event)
		req.Header.Set(github.HeaderDelivery, fmt.Sprintf("bench-%d", i))
		h.header(req.Header)
		return req
	}, func(r *http.Response, body []byte) bool {
		return r.StatusCode == 200 && bytes.Contains(body, []byte(`"recorded":`)) && !bytes.Contains(body, []byte(`"duplicate"`))
	})
	b.StopTimer()
	if got := countDeliveries(b, s.App.DB); got != n {
		b.Fatalf("%d deliveries recorded for %d sent", got, n)
	}

	// Baseline: a one-row insert transaction per request, same database,
	// same HTTP stack and load.
	db := s.App.DB
	if err := db.Exec(context.Background(), `CREATE TABLE IF NOT EXISTS bench_baseline (id INTEGER PRIMARY KEY, body_len INTEGER NOT NULL, at INTEGER NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	baseline := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		// One implicit transaction, committed before the answer, like a
		// delivery record.
		if err := db.Exec(r.Context(), `INSERT INTO bench_baseline (body_len, at) VALUES (?, ?)`, len(body), time.Now().UnixMicro()); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"ok"}`)
	}))
	defer baseline.Close()
	base := load(b, n, func(i int) *http.Request {
		req, _ := http.NewRequest("POST", baseline.URL, bytes.NewReader(bodies[i%len(bodies)].body))
		return req
	}, func(r *http.Response, _ []byte) bool { return r.StatusCode == 200 })

	b.ReportMetric(hook.rate, "req/s")
	b.ReportMetric(float64(p99(hook.lat).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(hook.cpu.Microseconds()), "cpu-µs/req")
	b.ReportMetric(base.rate, "baseline-req/s")
	b.ReportMetric(float64(p99(base.lat).Microseconds())/1000, "baseline-p99-ms")
	b.ReportMetric(float64(base.cpu.Microseconds()), "baseline-cpu-µs/req")
	b.ReportMetric(hook.rate/base.rate, "ratio")
	b.ReportMetric(0, "ns/op")
}

// countDeliveries pages through the delivery records.
func countDeliveries(b *testing.B, db *store.DB) int {
	b.Helper()
	n := 0
	f := store.DeliveryFilter{Limit: 1000}
	for {
		ds, err := db.Read().Deliveries(context.Background(), f)
		if err != nil {
			b.Fatal(err)
		}
		n += len(ds)
		if len(ds) < f.Limit {
			return n
		}
		f.BeforeID = ds[len(ds)-1].ID
	}
}

// Package loadtest runs bounded load against patchctl on loopback and
// reports throughput and latency percentiles. Every run has a fixed number
// of operations and stops by itself; targets are local only.
package loadtest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Result summarises a run.
type Result struct {
	Name     string        `json:"name"`
	Ops      int           `json:"ops"`
	Errors   int           `json:"errors"`
	Workers  int           `json:"workers"`
	Duration time.Duration `json:"duration_ns"`
	PerSec   float64       `json:"ops_per_second"`
	P50      time.Duration `json:"p50_ns"`
	P90      time.Duration `json:"p90_ns"`
	P99      time.Duration `json:"p99_ns"`
	Max      time.Duration `json:"max_ns"`
	// FirstErr is the first error seen, for diagnosis.
	FirstErr string `json:"first_error,omitempty"`
	// CPUSeconds is this process's CPU time (user+system) during the run;
	// PerCPUSecond is ops per CPU second, steadier than ops per second on a
	// shared machine (both client and server count when they share the
	// process).
	CPUSeconds   float64 `json:"cpu_seconds"`
	PerCPUSecond float64 `json:"ops_per_cpu_second"`
}

// CPUSeconds returns the process's user+system CPU time.
func CPUSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func (r Result) String() string {
	return fmt.Sprintf("%-34s %7d ops %7.2fs %9.0f/s  %6.2f CPU s %9.0f/CPU s  p50 %7.2fms  p90 %7.2fms  p99 %7.2fms  max %7.2fms  errors %d",
		r.Name, r.Ops, r.Duration.Seconds(), r.PerSec, r.CPUSeconds, r.PerCPUSecond, ms(r.P50), ms(r.P90), ms(r.P99), ms(r.Max), r.Errors)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Run calls op(i) for i in [0, n) from the given number of workers and
// measures each call.
func Run(ctx context.Context, name string, workers, n int, op func(ctx context.Context, i int) error) Result {
	lat := make([]time.Duration, n)
	var next, errs atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	cpu := CPUSeconds()
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				t := time.Now()
				if err := op(ctx, i); err != nil {
					errs.Add(1)
					first.CompareAndSwap(nil, err.Error())
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	r := Result{Name: name, Ops: n, Workers: workers, Duration: time.Since(start), Errors: int(errs.Load())}
	if v := first.Load(); v != nil {
		r.FirstErr = v.(string)
	}
	r.PerSec = float64(n) / r.Duration.Seconds()
	r.CPUSeconds = CPUSeconds() - cpu
	if r.CPUSeconds > 0 {
		r.PerCPUSecond = float64(n) / r.CPUSeconds
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration {
		if n == 0 {
			return 0
		}
		return lat[min(n-1, int(p*float64(n)))]
	}
	r.P50, r.P90, r.P99 = pct(0.50), pct(0.90), pct(0.99)
	if n > 0 {
		r.Max = lat[n-1]
	}
	return r
}

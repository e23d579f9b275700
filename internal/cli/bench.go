package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/app"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/demo"
	"github.com/patchctl/patchctl/internal/loadtest"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

func (e *env) benchAPICmd() *cobra.Command {
	var transitions, listPatches, listRequests, workers int
	cmd := &cobra.Command{
		Use:   "bench-api",
		Short: "Measure transitions and patch listing through the HTTP API on loopback",
		Long: `Start a server on 127.0.0.1 with a fresh SQLite database (or --database) and measure,
in one run:

  baseline     single-row insert transactions on the same database
  transitions  POST /api/v1/patches/{id}/transitions (draft → in_progress, gates and
               audit included), one per patch
  list         GET /api/v1/patches?priority=emergency,high&overdue=true, first page,
               over --list-patches generated patches

Loopback only; every phase has a fixed number of operations.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := os.MkdirTemp("", "patchctl-bench-api-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			cfg := config.Default()
			cfg.Server.Database = "sqlite:" + filepath.Join(dir, "bench.db")
			if e.database != "" {
				cfg.Server.Database = e.database
			}
			ctx, cancel := context.WithCancel(e.ctx)
			defer cancel()
			a, err := app.New(ctx, cfg, app.Options{NoScheduler: true})
			if err != nil {
				return err
			}
			defer a.Close()
			l, err := a.Listen("127.0.0.1:0")
			if err != nil {
				return err
			}
			go func() { _ = a.Serve(ctx, l, time.Second) }()
			boot := patchctl.Actor{Name: "local:bench", Role: patchctl.RoleAdmin}
			tok, err := a.Service.CreateToken(ctx, boot, service.TokenInput{Name: "bench", Role: patchctl.RoleEngineer})
			if err != nil {
				return err
			}
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers * 2}, Timeout: 30 * time.Second}
			var results []loadtest.Result
			report := func(r loadtest.Result) {
				results = append(results, r)
				fmt.Fprintln(e.stderr, r)
			}

			if err := a.DB.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_baseline (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
				return err
			}
			report(loadtest.Run(ctx, "baseline: single-row insert tx", workers, transitions, func(ctx context.Context, i int) error {
				return a.DB.InTx(ctx, func(tx *store.Tx) error {
					return tx.Exec(ctx, `INSERT INTO bench_baseline (v) VALUES (?)`, strconv.Itoa(i))
				})
			}))

			ids, err := seedDrafts(ctx, a, transitions)
			if err != nil {
				return err
			}
			if prof, _ := cmd.Flags().GetString("cpuprofile"); prof != "" {
				f, err := os.Create(prof)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			body := []byte(`{"to":"in_progress"}`)
			report(loadtest.Run(ctx, "transitions via HTTP (gates+audit)", workers, transitions, func(ctx context.Context, i int) error {
				req, _ := http.NewRequestWithContext(ctx, "POST", a.URL()+"/api/v1/patches/"+patchctl.PatchKey(ids[i])+"/transitions", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tok.Secret)
				req.Header.Set("Content-Type", "application/json")
				return do(hc, req)
			}))

			if listPatches > 0 {
				fmt.Fprintf(e.stderr, "seeding %d patches...\n", listPatches)
				if err := demo.Bulk(ctx, a.DB, a.Policy, listPatches, time.Now().UTC(), 7); err != nil {
					return err
				}
				report(loadtest.Run(ctx, "list priority+overdue via HTTP", 1, listRequests, func(ctx context.Context, i int) error {
					req, _ := http.NewRequestWithContext(ctx, "GET", a.URL()+"/api/v1/patches?priority=emergency,high&overdue=true&limit=50", nil)
					req.Header.Set("Authorization", "Bearer "+tok.Secret)
					return do(hc, req)
				}))
				actor := patchctl.Actor{Name: "bench", Role: patchctl.RoleViewer}
				report(loadtest.Run(ctx, "list priority+overdue in-process", 1, listRequests, func(ctx context.Context, i int) error {
					_, err := a.Service.ListPatches(ctx, actor, store.PatchFilter{Priorities: []patchctl.Priority{patchctl.PriorityEmergency, patchctl.PriorityHigh}, Overdue: true, Limit: 50})
					return err
				}))
			}
			if len(results) >= 2 {
				fmt.Fprintf(e.stderr, "transitions run at %.0f%% of the baseline's rate (%.0f vs %.0f per second)\n",
					100*results[1].PerSec/results[0].PerSec, results[1].PerSec, results[0].PerSec)
			}
			return e.emit(results, func(io.Writer) {})
		},
	}
	cmd.Flags().IntVar(&transitions, "transitions", 5000, "transitions (and baseline inserts) to run")
	cmd.Flags().IntVar(&listPatches, "list-patches", 100000, "patches to generate for the list phase (0: skip)")
	cmd.Flags().IntVar(&listRequests, "list-requests", 1000, "list requests")
	cmd.Flags().IntVar(&workers, "workers", 16, "concurrent clients")
	cmd.Flags().String("cpuprofile", "", "write a CPU profile of the measured phases (after the baseline) to this file")
	return cmd
}

func do(hc *http.Client, req *http.Request) error {
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}

// seedDrafts inserts n draft application patches with a trigger each, in
// batches, so that each can move to in_progress through its gate.
func seedDrafts(ctx context.Context, a *app.App, n int) ([]int64, error) {
	now := time.Now().UTC()
	ids := make([]int64, 0, n)
	for len(ids) < n {
		batch := min(500, n-len(ids))
		err := a.DB.InTx(ctx, func(tx *store.Tx) error {
			for range batch {
				due := now.Add(7 * 24 * time.Hour)
				p := &patchctl.Patch{Title: "bench", Kind: patchctl.KindApplication, State: patchctl.StateDraft,
					Target: patchctl.Target{Application: "bench", Environments: []string{"staging", "production"}}, Priority: patchctl.PriorityHigh,
					PriorityRule: "seed", DetectedAt: now, DueAt: &due, CreatedBy: "system:seed", CreatedAt: now, UpdatedAt: now}
				if err := tx.CreatePatch(ctx, p); err != nil {
					return err
				}
				if err := tx.AddLink(ctx, p.ID, &patchctl.Link{Type: patchctl.LinkVulnerability, Ref: "CVE-2024-0001", DetectedAt: now, AddedBy: "system:seed", AddedAt: now}); err != nil {
					return err
				}
				ids = append(ids, p.ID)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return ids, nil
}

func (e *env) benchServeCmd() *cobra.Command {
	var patches int
	cmd := &cobra.Command{
		Use:   "bench-serve",
		Short: "Measure how fast 'patchctl serve' is ready on an existing database, and its idle RSS",
		Long: `Seed a SQLite database with --patches generated patches, then start this binary's
'patchctl serve' on it (127.0.0.1, a free port) several times and measure the time from
process start to /readyz answering 200, and the resident memory after 2 s idle. The
baseline, measured in the same run, is the time to run 'patchctl version' (process
start and exit).`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			dir, err := os.MkdirTemp("", "patchctl-bench-serve-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			dbURL := "sqlite:" + filepath.Join(dir, "serve.db")
			cfg := config.Default()
			cfg.Server.Database = dbURL
			a, err := app.New(e.ctx, cfg, app.Options{NoScheduler: true})
			if err != nil {
				return err
			}
			if err := demo.Bulk(e.ctx, a.DB, a.Policy, patches, time.Now().UTC(), 3); err != nil {
				return err
			}
			_, _ = a.Service.CreateToken(e.ctx, patchctl.Actor{Name: "local:bench", Role: patchctl.RoleAdmin}, service.TokenInput{Name: "admin", Role: patchctl.RoleAdmin})
			a.Close()

			const runs = 5
			var base, ready []time.Duration
			var rss []float64
			for range runs {
				t := time.Now()
				if err := exec.CommandContext(e.ctx, self, "version").Run(); err != nil {
					return err
				}
				base = append(base, time.Since(t))

				port, err := freePort()
				if err != nil {
					return err
				}
				c := exec.CommandContext(e.ctx, self, "serve", "--listen", "127.0.0.1:"+port)
				// The defaults: no policy file (the empty directory has no
				// patchctl.yaml) and none named by the environment.
				c.Dir = dir
				c.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PATCHCTL_") }),
					"PATCHCTL_DATABASE="+dbURL, "PATCHCTL_LOG_LEVEL=error")
				var stderr bytes.Buffer
				c.Stdout, c.Stderr = io.Discard, &stderr
				start := time.Now()
				if err := c.Start(); err != nil {
					return err
				}
				up := false
				for time.Since(start) < 20*time.Second {
					resp, err := http.Get("http://127.0.0.1:" + port + "/readyz")
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode == 200 {
							up = true
							break
						}
					}
					time.Sleep(2 * time.Millisecond)
				}
				ready = append(ready, time.Since(start))
				time.Sleep(2 * time.Second)
				rss = append(rss, vmRSS(c.Process.Pid))
				_ = c.Process.Signal(os.Interrupt)
				_ = c.Wait()
				if !up {
					return fmt.Errorf("serve did not become ready in 20s: %s", strings.TrimSpace(stderr.String()))
				}
			}
			res := map[string]any{"patches": patches, "runs": runs, "baseline_version_ms": msList(base), "ready_ms": msList(ready), "idle_rss_mib": rss}
			fmt.Fprintf(e.stderr, "process start+exit (baseline): %v ms\nserve ready on %d patches:   %v ms\nidle RSS:                    %.1f MiB\n",
				msList(base), patches, msList(ready), rss)
			return e.emit(res, func(io.Writer) {})
		},
	}
	cmd.Flags().IntVar(&patches, "patches", 100000, "patches in the database")
	return cmd
}

func msList(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d.Microseconds()) / 1000
	}
	return out
}

func vmRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, _ := strings.Cut(l.Addr().String(), ":")
	return port, nil
}

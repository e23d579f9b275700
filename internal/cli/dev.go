package cli

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchctl/patchctl/internal/demo"
	"github.com/patchctl/patchctl/internal/intake"
	"github.com/patchctl/patchctl/internal/store"
)

func (e *env) devCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "dev", Short: "Developer tools: data generators for benchmarks and demos"}
	var n int
	var seed uint64
	var withDemo bool
	seedCmd := &cobra.Command{
		Use:   "seed --patches N",
		Short: "Insert N generated patches into the local database (for benchmarks), or the demo (--demo)",
		Example: `  patchctl dev seed --patches 100000 --database sqlite:bench.db
  patchctl dev seed --demo`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if e.server != "" {
				return usagef("dev seed writes the local database; drop --server")
			}
			if n <= 0 && !withDemo {
				return usagef("give --patches N or --demo")
			}
			_, db, err := e.openLocal()
			if err != nil {
				return err
			}
			pol := e.pol
			start := time.Now()
			if withDemo {
				if err := demo.Seed(e.ctx, db, pol, time.Now().UTC()); err != nil {
					return err
				}
			}
			if n > 0 {
				if err := demo.Bulk(e.ctx, db, pol, n, time.Now().UTC(), seed); err != nil {
					return err
				}
			}
			took := time.Since(start)
			return e.emit(map[string]any{"patches": n, "demo": withDemo, "seconds": took.Seconds()}, func(w io.Writer) {
				fmt.Fprintf(w, "seeded %d patches (demo %v) in %s\n", n, withDemo, took.Round(time.Millisecond))
			})
		},
	}
	seedCmd.Flags().IntVar(&n, "patches", 0, "how many patches to generate")
	seedCmd.Flags().Uint64Var(&seed, "seed", 1, "random seed")
	seedCmd.Flags().BoolVar(&withDemo, "demo", false, "seed the demo scenario")
	cmd.AddCommand(seedCmd, e.benchImportCmd(), e.benchAPICmd(), e.benchServeCmd())
	return cmd
}

func (e *env) benchImportCmd() *cobra.Command {
	var opts intake.BenchOptions
	var dir string
	var keep bool
	cmd := &cobra.Command{
		Use:   "bench-import --template REPORT [--assets N --findings M]",
		Short: "Measure report import against its floor (decode-only, raw batched insert) in one run",
		Long: `Generate N Trivy reports of M findings each from real reports used as
templates, then measure on the configured database engine, in one run: decoding
only, a raw batched insert of the same rows (into a second, scratch database),
the first import, and an identical re-import. Peak RSS is measured per phase.

The database named by --database is used for the imports; it should be empty.
The scratch database for the floor is created next to it (SQLite) or must be
given with --floor-database (PostgreSQL).`,
		Example: `  patchctl dev bench-import --database sqlite:/tmp/bench.db --template ../shared/corpus/trivy/alpine-310.json.golden \
      --template ../shared/corpus/trivy/debian-buster.json.golden --assets 2000 --findings 500`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(opts.Templates) == 0 {
				return usagef("give at least one --template (a Trivy JSON report)")
			}
			svc, db, err := e.openLocal()
			if err != nil {
				return err
			}
			floorURL, _ := cmd.Flags().GetString("floor-database")
			if floorURL == "" {
				if db.Engine() != store.SQLite {
					return usagef("--floor-database is required on PostgreSQL")
				}
				floorURL = strings.TrimSuffix(e.cfg.Server.Database, ".db") + "-floor.db"
				_ = os.Remove(strings.TrimPrefix(floorURL, "sqlite:"))
			}
			floor, err := store.Open(e.ctx, floorURL, nil)
			if err != nil {
				return err
			}
			defer floor.Close()
			if _, err := floor.Migrate(e.ctx); err != nil {
				return err
			}
			if dir == "" {
				if dir, err = os.MkdirTemp("", "patchctl-bench-"); err != nil {
					return err
				}
				if !keep {
					defer os.RemoveAll(dir)
				}
			}
			opts.Dir = dir
			fmt.Fprintf(e.stderr, "generating %d reports of %d findings in %s...\n", opts.Assets, opts.Findings, dir)
			files, size, err := intake.GenerateReports(opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "%d files, %.1f MiB\n", len(files), float64(size)/(1<<20))
			in := intake.New(svc, nil)
			if prof, _ := cmd.Flags().GetString("cpuprofile"); prof != "" {
				f, err := os.Create(prof)
				if err != nil {
					return err
				}
				defer f.Close()
				in.SetProfiler(func(start bool) error {
					if start {
						return pprof.StartCPUProfile(f)
					}
					pprof.StopCPUProfile()
					return nil
				})
			}
			res, err := in.RunBenchmark(e.ctx, floor, files, size, e.stderr)
			if err != nil {
				return err
			}
			return e.emit(res, func(w io.Writer) {})
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&opts.Assets, "assets", 200, "image assets (one report each)")
	fl.IntVar(&opts.Findings, "findings", 500, "findings per asset")
	fl.IntVar(&opts.Groups, "services", 20, "services the images are builds of (asset groups)")
	fl.StringSliceVar(&opts.Templates, "template", nil, "Trivy JSON report used as template (repeatable)")
	fl.StringVar(&dir, "dir", "", "where to write the reports (default a temporary directory)")
	fl.BoolVar(&keep, "keep", false, "keep the generated reports")
	fl.String("floor-database", "", "scratch database for the raw-insert floor")
	fl.String("cpuprofile", "", "write a CPU profile of the import phases to this file")
	return cmd
}

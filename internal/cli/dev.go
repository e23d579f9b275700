package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchctl/patchctl/internal/demo"
	"github.com/patchctl/patchctl/internal/policy"
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
			pol, ps := policy.New(e.cfg)
			if len(ps) > 0 {
				return ps
			}
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
	cmd.AddCommand(seedCmd)
	return cmd
}

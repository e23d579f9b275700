// Command patchctl is the patch management control plane: `patchctl serve`
// runs the server, every other subcommand is the CLI.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // maintenance windows name time zones; do not depend on the host's zoneinfo

	"github.com/patchctl/patchctl/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

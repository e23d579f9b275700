// Package apptest starts a real patchctl server for tests: a fresh database,
// the full HTTP stack on 127.0.0.1:0, a settable clock, and one API token per
// role.
package apptest

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/app"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/fakeclock"
	"github.com/patchctl/patchctl/internal/testutil/pgtest"
)

// Start is when test servers' clocks begin: a Monday morning.
var Start = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// Server is a running test server.
type Server struct {
	URL    string
	App    *app.App
	Clock  *fakeclock.Clock
	Tokens map[patchctl.Role]string
	// Names are the token holders' names per role.
	Names map[patchctl.Role]string
}

// Options adjust the server.
type Options struct {
	Engine store.Engine
	Config func(*config.Config)
}

// People holding the tokens, by role.
var People = map[patchctl.Role]string{
	patchctl.RoleViewer: "vera", patchctl.RoleEngineer: "erin", patchctl.RoleOncall: "otto",
	patchctl.RoleLead: "lena", patchctl.RoleAdmin: "ada",
}

// Start runs a server until the test ends.
func StartServer(t testing.TB, opts Options) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.Clusters = []config.Cluster{
		{Name: "mgmt", Role: config.ClusterManagement, NodePools: []string{"system"}},
		{Name: "main", Role: config.ClusterMain, NodePools: []string{"pool-a", "pool-b"}},
	}
	switch opts.Engine {
	case store.Postgres:
		cfg.Server.Database = pgtest.New(t)
	default:
		cfg.Server.Database = "sqlite:" + t.TempDir() + "/patchctl.db"
	}
	if opts.Config != nil {
		opts.Config(cfg)
	}
	clk := fakeclock.New(Start)
	ctx, cancel := context.WithCancel(context.Background())
	var log *slog.Logger
	if os.Getenv("PATCHCTL_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a, err := app.New(ctx, cfg, app.Options{Clock: clk.Now, NoScheduler: true, Logger: log})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	l, err := a.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, l, 5*time.Second) }()
	s := &Server{URL: a.URL(), App: a, Clock: clk, Tokens: map[patchctl.Role]string{}, Names: People}
	bootstrap := patchctl.Actor{Name: "local:test", Role: patchctl.RoleAdmin}
	for role, name := range People {
		tok, err := a.Service.CreateToken(ctx, bootstrap, service.TokenInput{Name: name, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		s.Tokens[role] = tok.Secret
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		a.Close()
	})
	waitReady(t, s.URL)
	return s
}

func waitReady(t testing.TB, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("server at %s not ready", url)
}

// Package app is the composition root: it builds patchctl from a
// configuration — store, policy, service, scheduler, HTTP server — and runs
// it. Only this package knows every other package; tests start an App on
// 127.0.0.1:0 exactly as `patchctl serve` does.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/httpapi"
	"github.com/patchctl/patchctl/internal/intake"
	"github.com/patchctl/patchctl/internal/policy"
	"github.com/patchctl/patchctl/internal/scheduler"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

// Options tune an App beyond its configuration.
type Options struct {
	Clock  patchctl.Clock
	Logger *slog.Logger
	// SchedulerPoll is how often due timers are looked for (default 5s).
	SchedulerPoll time.Duration
	// NoScheduler leaves timers to another process (tests drive it by hand).
	NoScheduler bool
}

// App is a running patchctl.
type App struct {
	Config    *config.Config
	DB        *store.DB
	Policy    *policy.Policy
	Service   *service.Service
	Intake    *intake.Intake
	Scheduler *scheduler.Scheduler
	API       *httpapi.API
	Handler   http.Handler

	log      *slog.Logger
	clock    patchctl.Clock
	opts     Options
	registry *prometheus.Registry
	ready    chan struct{}

	mu       sync.Mutex
	listener net.Listener
	server   *http.Server
}

// New opens the database, applies migrations, compiles the policy and wires
// the components. Close releases them.
func New(ctx context.Context, cfg *config.Config, opts Options) (*App, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clock := opts.Clock
	if clock == nil {
		clock = patchctl.SystemClock
	}
	pol, ps := policy.New(cfg)
	if len(ps) > 0 {
		return nil, ps
	}
	db, err := store.Open(ctx, cfg.Server.Database, log)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.RecordPolicy(ctx, pol.Version(), cfg, clock()); err != nil {
		db.Close()
		return nil, err
	}
	a := &App{Config: cfg, DB: db, Policy: pol, log: log, clock: clock, opts: opts, ready: make(chan struct{})}
	a.Service = service.New(db, pol, clock, log)
	a.Intake = intake.New(a.Service, log)
	a.Scheduler = scheduler.New(db, clock, log, opts.SchedulerPoll)
	a.Scheduler.Handle("sla.", a.Service.HandleSLATimer)
	a.Scheduler.Handle(service.TimerAcceptanceExpiry, a.Service.HandleAcceptanceExpiry)
	a.Scheduler.HandleOutside("feed.", a.Intake.FeedTimer(nil))
	if n, err := db.FailStaleImports(ctx, clock()); err != nil {
		db.Close()
		return nil, err
	} else if n > 0 {
		log.Warn("imports interrupted by a previous stop marked failed", "imports", n)
	}
	if err := a.Intake.ScheduleFeeds(ctx); err != nil {
		db.Close()
		return nil, err
	}
	a.registry = prometheus.NewRegistry()
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.Handler = a.routes()
	for _, w := range cfg.Warnings(clock()) {
		log.Warn("config warning", "warning", w)
	}
	return a, nil
}

// Close releases the database.
func (a *App) Close() error { return a.DB.Close() }

func (a *App) routes() http.Handler {
	mux := http.NewServeMux()
	a.API = httpapi.Mount(mux, a.Service, a.log, httpapi.Options{Intake: a.Intake, MaxUploadBytes: a.Config.Server.MaxUploadBytes})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}))
	// The transports beside the API (web UI, webhooks) are listed in
	// transports.go, each implemented in its own file of this package.
	a.mountTransports(mux)
	return a.instrument(mux)
}

// readyz answers 200 once the server listens and the database answers.
func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	select {
	case <-a.ready:
	default:
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.DB.Ping(ctx); err != nil {
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// Listen binds the configured address (or addr, when not empty).
func (a *App) Listen(addr string) (net.Listener, error) {
	if addr == "" {
		addr = a.Config.Server.Listen
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, &patchctl.Error{Code: patchctl.CodeUnavailable, Message: "cannot listen on " + addr, Err: err}
	}
	a.mu.Lock()
	a.listener = l
	a.mu.Unlock()
	return l, nil
}

// URL is the base URL the server listens on.
func (a *App) URL() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.listener == nil {
		return ""
	}
	scheme := "http"
	if a.Config.Server.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + a.listener.Addr().String()
}

// Serve serves HTTP on l and runs the scheduler until ctx ends, then shuts
// down gracefully: the listener closes, in-flight requests finish (up to
// grace), and the scheduler stops claiming timers.
func (a *App) Serve(ctx context.Context, l net.Listener, grace time.Duration) error {
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	a.mu.Lock()
	a.server = srv
	a.mu.Unlock()

	var wg sync.WaitGroup
	schedCtx, stopSched := context.WithCancel(ctx)
	defer stopSched()
	if !a.opts.NoScheduler {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = a.Scheduler.Run(schedCtx)
		}()
	}
	errc := make(chan error, 1)
	go func() {
		var err error
		if a.Config.Server.TLSCert != "" {
			err = srv.ServeTLS(l, a.Config.Server.TLSCert, a.Config.Server.TLSKey)
		} else {
			err = srv.Serve(l)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	close(a.ready)
	a.log.Info("serving", "url", a.URL(), "database", a.DB.URL(), "engine", a.DB.Engine(), "policy_version", a.Policy.Version())

	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		a.log.Info("shutting down", "grace", grace.String())
		sctx, cancel := context.WithTimeout(context.Background(), grace)
		err = srv.Shutdown(sctx)
		cancel()
		if serr := <-errc; err == nil {
			err = serr
		}
	}
	// Import jobs started before the shutdown finish within the grace
	// period; one cut short is marked failed at the next start and stored
	// nothing (an import is one transaction).
	jctx, cancel := context.WithTimeout(context.Background(), grace)
	if werr := a.Intake.Wait(jctx); werr != nil {
		a.log.Warn("import jobs still running at shutdown", "err", werr)
	}
	cancel()
	stopSched()
	wg.Wait()
	return err
}

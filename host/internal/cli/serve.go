package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mikrobill/mikrobill/host/internal/cache"
	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/version"
	"github.com/mikrobill/mikrobill/host/internal/web"
)

func newServe(g *globals) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the host: start the plugins and serve HTTP",
		Long: `serve starts the plugins found in the plugin directory (checked against
plugins.lock, in dependency order) and serves HTTP: /live, /ready, /health,
/health/detailed, /health/plugins and /metrics.

It listens on 127.0.0.1:3000 by default (or HOST and PORT, or --listen). A
required plugin that fails to start makes serve exit with status 1, naming
the plugin and the cause; an optional one leaves the host running, degraded.
SIGINT or SIGTERM stop it gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd, config.Overrides{Listen: listen})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, g, cfg)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "address to listen on, host:port (default 127.0.0.1:3000, or $HOST and $PORT)")
	return cmd
}

// serve runs the host until ctx ends.
func serve(ctx context.Context, g *globals, cfg *config.Config) error {
	log := g.logger(cfg)
	log.Info("starting mikrobill", "version", version.Version, "environment", cfg.Environment, "config", cfg.File, "plugin_dir", cfg.Plugins.Dir, "data_dir", cfg.DataDir)

	st, err := store.Open(ctx, store.Options{DataDir: cfg.DataDir})
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	log.Info("store open", "driver", st.Driver(), "where", st.Where(), "migrations_applied", len(applied))

	m := metrics.New()
	mgr := plugins.New(cfg, plugins.Deps{
		Logger:       log,
		Metrics:      m,
		Cache:        cache.NewMemory(0),
		HostVersion:  version.Version,
		Capabilities: map[string]bool{"database": true, "cache": true},
	})
	m.Registry.MustRegister(metrics.NewProcessCollector(mgr))
	pluginMetrics := metrics.NewPluginGatherer(mgr, cfg.Plugins.MetricsTimeout, log.Named("metrics"), m.Registry)

	stopPlugins := func() {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
		defer cancel()
		mgr.Stop(sctx)
	}
	if err := mgr.Start(ctx); err != nil {
		stopPlugins()
		var se *plugins.StartError
		if errors.As(err, &se) {
			return &exitError{code: 1, msg: "refusing to start: " + err.Error()}
		}
		return err
	}

	srv := web.New(web.Deps{
		Config: cfg, Logger: log, Metrics: m, Plugins: mgr, Store: st,
		PluginMetrics: pluginMetrics, Version: version.Version,
	})
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       cfg.Server.RequestTimeout,
		WriteTimeout:      cfg.Server.RequestTimeout + 5*time.Second,
		IdleTimeout:       cfg.Server.KeepAliveTimeout,
	}
	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		stopPlugins()
		return fmt.Errorf("listen on %s: %w; is another mikrobill (or another program) using that port? Use --listen or PORT to pick another", cfg.Addr(), err)
	}
	log.Info("serving", "address", "http://"+ln.Addr().String())
	if g.serving != nil {
		g.serving(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(ln) }()

	select {
	case err := <-errc:
		stopPlugins()
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down", "deadline", cfg.Server.ShutdownTimeout)
	srv.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := httpSrv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "error", err)
	}
	mgr.Stop(sctx)
	log.Info("stopped")
	return nil
}

package cli

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river"
	"github.com/spf13/cobra"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/cache"
	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/hosts"
	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/pdf"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/version"
	"github.com/mikrobill/mikrobill/host/internal/web"
	"github.com/mikrobill/mikrobill/sdk"
)

func newServe(g *globals) *cobra.Command {
	var listen, pprofListen string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the host: start the plugins and serve HTTP",
		Long: `serve starts the plugins found in the plugin directory (checked against
plugins.lock, in dependency order) and the job queue, and serves HTTP: the
admin API under /api/v1, the payment gateways' webhooks, the pay page, the
plugins' own routes, /live, /ready, /health, /health/detailed,
/health/plugins and /metrics (docs/api.md).

It listens on 127.0.0.1:3000 by default (or HOST and PORT, or --listen). A
required plugin that fails to start makes serve exit with status 1, naming
the plugin and the cause; an optional one leaves the host running, degraded.
SIGINT or SIGTERM stop it gracefully.

--pprof-listen serves Go's runtime profiles (heap, goroutines, CPU) on a
loopback address, for finding where memory or time goes:
  mikrobill serve --pprof-listen 127.0.0.1:6060
  go tool pprof -top -sample_index=inuse_space http://127.0.0.1:6060/debug/pprof/heap`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd, config.Overrides{Listen: listen})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, g, cfg, pprofListen)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "address to listen on, host:port (default 127.0.0.1:3000, or $HOST and $PORT)")
	cmd.Flags().StringVar(&pprofListen, "pprof-listen", "", "serve Go's runtime profiles (/debug/pprof/) on this loopback host:port (default off)")
	return cmd
}

// openStore opens the configured database (PostgreSQL or the embedded
// SQLite file) and applies the host's and the job queue's migrations.
func openStore(ctx context.Context, cfg *config.Config) (*store.Store, []int64, error) {
	st, err := store.Open(ctx, store.Options{
		URL: cfg.DatabaseURL(), DataDir: cfg.DataDir,
		MaxConns: int32(cfg.Database.MaxConns), MinConns: int32(cfg.Database.MinConns),
		ConnMaxLifetime: cfg.Database.ConnMaxLifetime, StatementTimeout: cfg.Database.StatementTimeout,
	})
	if err != nil {
		return nil, nil, err
	}
	applied, err := st.Migrate(ctx)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	if err := jobs.Migrate(ctx, st); err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, applied, nil
}

// serve runs the host until ctx ends. It starts each part in order and
// registers its closer as soon as the part runs; however serve returns, the
// closers run once, last started first (closers.go).
func serve(ctx context.Context, g *globals, cfg *config.Config, pprofListen string) error {
	log := g.logger(cfg)
	if err := cfg.ResolveSecrets(); err != nil {
		return &exitError{code: 1, msg: "refusing to start: " + err.Error()}
	}
	for _, w := range cfg.Warnings() {
		log.Warn("configuration", "warning", w)
	}
	log.Info("starting mikrobill", "version", version.Version, "environment", cfg.Environment, "config", cfg.File, "env_file", cfg.EnvFile, "plugin_dir", cfg.Plugins.Dir, "data_dir", cfg.DataDir)
	stop := &closers{log: log, timeout: cfg.Server.ShutdownTimeout}
	defer stop.close()
	if pprofListen != "" {
		if err := startPprof(pprofListen, log, stop); err != nil {
			return err
		}
	}

	// The port first: a taken one stops serve before anything starts, and
	// the listener's address (the port the system picked for port 0) is
	// the host's own in the links it makes when no public_url is set. The
	// requests that come before everything has started wait.
	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		return fmt.Errorf("listen on %s: %w; is another mikrobill (or another program) using that port? Use --listen or PORT to pick another", cfg.Addr(), err)
	}
	// Serve's shutdown closes it; this is for a start that fails before.
	stop.add("listener", func(context.Context) error { _ = ln.Close(); return nil })

	// The plugin directory is read (manifests, folders against the lock)
	// while the store opens; plugins.Ahead says why.
	ahead := plugins.ReadAhead(cfg, log.Named("plugins"))

	st, applied, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	stop.add("store", func(context.Context) error { st.Close(); return nil })
	log.Info("store open", "driver", st.Driver(), "where", st.Where(), "migrations_applied", len(applied))
	if warnings, err := st.ServerWarnings(ctx); err != nil {
		log.Warn("could not read the database server's settings", "error", err)
	} else {
		for _, w := range warnings {
			log.Warn(w, "where", st.Where())
		}
	}
	if n, err := st.Q().SeedTemplates(ctx); err != nil {
		return err
	} else if n > 0 {
		log.Info("default message templates created", "count", n)
	}
	if err := ensureDefaultLocation(ctx, st, cfg, log); err != nil {
		return err
	}
	key, err := cfg.EncryptionKey()
	if err != nil {
		return err
	}
	cipher, err := store.NewCipher(key)
	if err != nil {
		return err
	}

	// The host's id names it among the hosts sharing the store, and as
	// the job queue's leader.
	hostID, err := hosts.ResolveID(cfg.Server.HostID, cfg.DataDir)
	if err != nil {
		return err
	}
	hostsCfg := hosts.Config{ID: hostID, Version: version.Version, Heartbeat: cfg.Server.HeartbeatInterval, Logger: log,
		Secrets: map[string]string{"security.jwt_secret": cfg.Security.JWTSecret, "security.cookie_secret": cfg.Security.CookieSecret,
			"security.encryption_key": cfg.Security.EncryptionKey}}
	if err := hosts.CheckSecrets(ctx, st, hostsCfg); err != nil {
		if errors.Is(err, hosts.ErrSecretsDiffer) {
			return &exitError{code: 1, msg: "refusing to start: " + err.Error()}
		}
		return err
	}

	m := metrics.New()
	m.Registry.MustRegister(store.NewCollector(st))
	cache.RouteRedisLogs(log.Named("go-redis"))
	cb, err := cache.Open(ctx, cfg.CacheURL(), cache.OpenOptions{Logger: log, Registerer: m.Registry, MemoryEntries: cfg.Cache.MaxEntries, Prefix: cfg.Cache.KeyPrefix})
	if err != nil {
		return err
	}
	stop.add("cache", func(context.Context) error { return cb.Close() })
	log.Info("cache open", "mode", cb.Mode())

	// An install a killed process left half done is finished or undone,
	// and what other hosts installed is installed here, before the
	// plugins start (plugin_sources.go).
	if changed, err := preparePluginDir(ctx, cfg, st, log); err != nil {
		return err
	} else if changed {
		ahead.Stale()
	}

	// The plugins hand their events to billing, and billing calls the
	// plugins: the manager gets a function that reaches billing, which is
	// made before any plugin starts.
	// Singleton plugins run on the host that holds their lease
	// (hosts.Leases); the manager claims each before it starts it.
	leases := hosts.NewLeases(st, hostsCfg)
	var bill *billing.Service
	mgr := plugins.New(cfg, plugins.Deps{
		Leases:          leases,
		HostID:          hostID,
		Logger:          log,
		Metrics:         m,
		Cache:           cb.Cache,
		Store:           st,
		HostVersion:     version.Version,
		Capabilities:    map[string]bool{"database": true, "cache": true},
		LastingDisabled: lastingDisabled(st),
		SavedSettings:   savedSettings(st, cipher),
		OnEvent: func(ctx context.Context, e sdk.Event) error {
			if bill == nil {
				return errors.New("billing is not running yet")
			}
			return bill.HandleEvent(ctx, e)
		},
		Ahead: ahead,
	})
	m.Registry.MustRegister(metrics.NewProcessCollector(mgr))
	pluginMetrics := metrics.NewPluginGatherer(mgr, cfg.Plugins.MetricsTimeout, log.Named("metrics"), m.Registry)

	bill, err = billing.NewWithQueue(st, cipher, billing.FromManager(mgr), billing.Config{
		PublicURL: cfg.BaseURL(ln.Addr().String()), LinkKey: payLinkKey(key), NotifyPlugin: cfg.Notifications.Plugin, NotifySession: cfg.Notifications.Session,
		ReminderDays: cfg.Jobs.ReminderDays, ExpiryInterval: cfg.Jobs.ExpiryCheckInterval,
		Operator:        pdf.Operator{Name: cfg.Operator.Name, Address: cfg.Operator.Address, TaxID: cfg.Operator.TaxID, Logo: cfg.Operator.Logo},
		Language:        cfg.Operator.Language,
		InvoiceLeadDays: &cfg.Jobs.InvoiceLeadDays, PostpaidGrace: new(time.Duration(cfg.Jobs.PostpaidGraceDays) * 24 * time.Hour),
		AuditMaxLag: cfg.Audit.MaxLag, AuditVerifyInterval: cfg.Audit.VerifyInterval,
	}, log, billing.QueueConfig{
		Jobs: jobs.Config{ID: hostID, Workers: cfg.Jobs.Workers, FetchCooldown: cfg.Jobs.FetchCooldown, PollInterval: cfg.Jobs.PollInterval, Retention: cfg.Jobs.Retention,
			JobTimeout: cfg.Jobs.JobTimeout, RescueAfter: cfg.Jobs.RescueAfter, Logger: log},
		Periodic: true,
		More: func(w *river.Workers) []*river.PeriodicJob {
			return []*river.PeriodicJob{jobs.AddPluginRecordsSweep(w, st, log, true)}
		},
	})
	if err != nil {
		return err
	}
	queue := bill.Queue()
	jobMetrics := jobs.NewCollector(queue)
	m.Registry.MustRegister(jobMetrics)

	// A start that fails may have started some plugins: they stop too.
	stop.add("plugins", func(ctx context.Context) error { mgr.Stop(ctx); return nil })
	// The leases are renewed from now on; at shutdown the singleton
	// plugins stop, then their leases are released (before the other
	// plugins stop, after the job queue).
	leases.Start(singletonRunner{mgr: mgr, queue: queue, log: log})
	stop.add("singleton leases", leases.Stop)
	if err := mgr.Start(ctx); err != nil {
		var se *plugins.StartError
		if errors.As(err, &se) {
			return &exitError{code: 1, msg: "refusing to start: " + err.Error()}
		}
		return err
	}
	if err := queue.Start(ctx); err != nil {
		return err
	}
	stop.add("job queue", queue.Stop)
	// Routers listed in a router plugin's saved settings move into the
	// store once (billing/routers_import.go).
	if imported, err := bill.ImportRouters(ctx, routerPluginsOf(mgr)); err != nil {
		log.Error("routers not imported from the router plugin's settings", "error", err)
	} else if len(imported) > 0 {
		log.Info("routers imported from the router plugin's settings into the locations", "locations", imported)
	}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	go jobMetrics.Watch(watchCtx)
	stop.add("job metrics", func(context.Context) error { stopWatch(); return nil })

	// The host registers itself, and applies from now on what operators
	// change through the other hosts (package hosts).
	hostsCfg.Address = cfg.BaseURL(ln.Addr().String())
	registry := hosts.New(st, &hostLocal{cfg: cfg, mgr: mgr, st: st, cipher: cipher, log: log}, hostsCfg)
	if err := registry.Start(ctx); err != nil {
		if errors.Is(err, hosts.ErrSecretsDiffer) {
			return &exitError{code: 1, msg: "refusing to start: " + err.Error()}
		}
		return err
	}
	stop.add("host registry", registry.Stop)

	accounts, err := auth.New(auth.Options{DB: st, JWTSecret: cfg.Security.JWTSecret,
		JWTTTL: cfg.Security.JWTTTL, SessionTTL: cfg.Security.SessionTTL, Logger: log})
	if err != nil {
		return err
	}
	srv := web.New(web.Deps{
		Config: cfg, Logger: log, Metrics: m, Plugins: mgr,
		PluginMetrics: pluginMetrics, Version: version.Version,
		DB: st, Cipher: cipher, Billing: bill, Cache: cb,
		Accounts: accounts, RateLimiter: cb.Limiter,
		Installs: pluginRunner(cfg, mgr, st, bill, registry, log), Hosts: registry,
	})
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       cfg.Server.RequestTimeout,
		WriteTimeout:      cfg.Server.RequestTimeout + 5*time.Second,
		IdleTimeout:       cfg.Server.KeepAliveTimeout,
	}
	if listening, open := servingURLs(ln.Addr()); open != "" {
		log.Info("serving", "address", listening, "open", open)
	} else {
		log.Info("serving", "address", listening)
	}
	if g.serving != nil {
		g.serving(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(ln) }()
	go releaseMemory(ctx, log)
	// /ready answers 503 while the requests in flight finish.
	stop.add("http", func(ctx context.Context) error { srv.Drain(); return httpSrv.Shutdown(ctx) })

	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "deadline", cfg.Server.ShutdownTimeout)
	stop.close()
	log.Info("stopped")
	return nil
}

// payLinkKey derives the key of the pay links' digests from the encryption
// key, so every host of an installation makes the same links.
func payLinkKey(encryptionKey []byte) []byte {
	mac := hmac.New(sha256.New, encryptionKey)
	mac.Write([]byte("mikrobill pay links"))
	return mac.Sum(nil)
}

// ensureDefaultLocation creates the store's location for
// router.default_location (the old MIKROTIK_* variables), so customers can
// be put on it, unless a location of that name exists.
func ensureDefaultLocation(ctx context.Context, st *store.Store, cfg *config.Config, log hclog.Logger) error {
	loc := cfg.DefaultLocationSetting()
	if loc == nil {
		return nil
	}
	name := loc["id"].(string)
	if _, err := st.Q().GetLocationByName(ctx, name); err == nil || !errors.Is(err, store.ErrNotFound) {
		return err
	}
	l := &store.Location{Name: name, Plugin: config.DefaultRouterPlugin,
		Description: "router.default_location (MIKROTIK_HOST " + cfg.Router.DefaultLocation.Host + ")"}
	if err := st.Q().CreateLocation(ctx, l); err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("create the default router location: %w", err)
	}
	log.Info("default router location created", "location", name, "router", cfg.Router.DefaultLocation.Host)
	return nil
}

// savedSettings reads the settings operators saved for a plugin through the
// admin UI or the API (nil when none), decrypting its secrets: what a
// serving host and a plugin launched on its own (plugins.LaunchStandalone)
// both add to the configuration file's.
func savedSettings(st *store.Store, cipher *store.Cipher) func(ctx context.Context, name string) (json.RawMessage, error) {
	return func(ctx context.Context, name string) (json.RawMessage, error) {
		ps, err := st.Q().GetPluginSettings(ctx, name, cipher)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return ps.Settings, nil
	}
}

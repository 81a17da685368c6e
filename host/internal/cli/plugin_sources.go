package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/hosts"
	"github.com/mikrobill/mikrobill/host/internal/marketplace"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/version"
)

// pluginSources returns the sources plugins are installed from by name:
// the marketplaces this host trusts, one host/internal/marketplace client
// each (those the operator added with `mikrobill marketplace add`, and the
// configuration's marketplace blocks), named as the operator named them.
// It is the one place marketplaces plug into the installer: serve (the
// admin API and the Marketplace page), the CLI without a running host, and
// the apply-on-start path all take their sources from here. They are
// opened at each call, so a marketplace added or removed while the host
// runs counts at the next action; one that cannot be opened is logged and
// left out, and the others still serve.
func pluginSources(cfg *config.Config, log hclog.Logger) func(ctx context.Context) ([]pluginstall.Source, error) {
	return func(context.Context) ([]pluginstall.Source, error) {
		srcs, err := marketplace.Sources(cfg, marketplace.Options{Logger: log.Named("marketplace")})
		if err != nil {
			log.Warn("marketplaces left out", "error", err)
		}
		return srcs, nil
	}
}

// newInstaller returns the installer of cfg's plugin directory; host is
// the running host (nil: the directory alone).
func newInstaller(cfg *config.Config, host pluginstall.Host, log hclog.Logger) *pluginstall.Installer {
	return pluginstall.New(pluginstall.Config{
		Dir: cfg.Plugins.Dir, HostVersion: version.Version, LockSkip: plugins.LockSkip(cfg),
		Wait: cfg.Plugins.InstallWait, StartTimeout: cfg.Plugins.StartTimeout,
		Sources: pluginSources(cfg, log), Host: host, DataDir: cfg.PluginDataDir, Log: log.Named("pluginstall"),
	})
}

// preparePluginDir runs before serve starts its plugins: it finishes or
// undoes an action a killed process left in the plugin directory, then
// carries out the latest finished action of each plugin that the store
// records (made through another host sharing it), from the same verified
// target. What it cannot carry out is logged; the plugin stays as it is.
// changed says whether it changed the directory (or may have: an action
// that failed half way), so that what was read of it before is read again
// (plugins.Ahead).
func preparePluginDir(ctx context.Context, cfg *config.Config, st *store.Store, log hclog.Logger) (changed bool, err error) {
	if _, err := os.Stat(cfg.Plugins.Dir); errors.Is(err, os.ErrNotExist) {
		return false, nil // Discover says what to do
	}
	rec, err := pluginstall.Recover(cfg.Plugins.Dir, cfg.Plugins.InstallWait)
	if err != nil {
		return true, fmt.Errorf("plugin directory: %w", err)
	}
	changed = rec.Name != ""
	hostname, _ := os.Hostname()
	// What this host left running did not finish here; an action
	// completed by the recovery is recorded as done, so that the record
	// (which every host follows, this one included) says what the
	// directory now holds.
	if n, err := st.Q().InterruptPluginActions(ctx, hostname); err != nil {
		return changed, err
	} else if n > 0 {
		log.Warn("plugin actions interrupted by the host's stop marked failed", "count", n)
	}
	if rec.Name != "" {
		how := "undone"
		if rec.Forward {
			how = "completed"
			if err := st.Q().RecordPluginAction(ctx, store.PluginAction{ID: rec.ID, Action: rec.Action, Plugin: rec.Name, Version: rec.To,
				FromVersion: rec.From, FolderSHA256: rec.FolderSHA256, State: pluginstall.StateDone, RequestedBy: "recovery", Host: hostname,
				CreatedAt: time.Now(), FinishedAt: time.Now()}); err != nil {
				return changed, err
			}
		}
		log.Warn("an interrupted plugin action was "+how, "action", rec.Action, "plugin", rec.Name, "from", rec.From, "to", rec.To)
	}
	latest, err := st.Q().LatestPluginActions(ctx)
	if err != nil {
		return changed, err
	}
	var actions []store.PluginAction
	for _, a := range latest {
		actions = append(actions, a)
	}
	did, errs := (&hostLocal{cfg: cfg, log: log}).converge(ctx, actions)
	for _, e := range errs {
		log.Error("plugin not brought in line with the store", "error", e)
	}
	changed = changed || len(did) > 0 || len(errs) > 0
	return changed, nil
}

// pluginRunner is serve's runner of plugin actions on the running host:
// each is recorded in the store (for the other hosts, which reg tells
// when it is done) and audited when it ends.
func pluginRunner(cfg *config.Config, mgr *plugins.Manager, st *store.Store, bill *billing.Service, reg *hosts.Registry, log hclog.Logger) *pluginstall.Runner {
	record := recordPluginAction(st)
	return pluginstall.NewRunner(newInstaller(cfg, mgr, log), func(ctx context.Context, a pluginstall.Action) error {
		rec, err := record(ctx, a)
		if err != nil || a.State == pluginstall.StateRunning {
			return err
		}
		if reg != nil && a.State == pluginstall.StateDone {
			if err := reg.Changed(ctx, hosts.KindActions, a.Name); err != nil {
				log.Warn("the other hosts were not told of the plugin action; they apply it within their resync", "error", err)
			}
		}
		if bill == nil {
			return nil
		}
		outcome, meta := "success", map[string]string{"id": a.ID, "version": rec.Version, "from_version": rec.FromVersion, "source": rec.Source}
		if a.Error != "" {
			outcome, meta["error"] = "failure", a.Error
		}
		return bill.Audit(ctx, billing.AuditEvent{Actor: a.By, Action: "plugin." + a.Request.Action, ResourceType: "plugin", ResourceID: a.Name, Outcome: outcome, Metadata: meta})
	})
}

// recordPluginAction writes an action into the store's plugin_actions,
// the record every host sharing the store applies at its start.
func recordPluginAction(st *store.Store) func(ctx context.Context, a pluginstall.Action) (store.PluginAction, error) {
	hostname, _ := os.Hostname()
	return func(ctx context.Context, a pluginstall.Action) (store.PluginAction, error) {
		rec := store.PluginAction{ID: a.ID, Action: a.Request.Action, Plugin: a.Name, Version: a.Version, Source: a.Source,
			State: a.State, Error: a.Error, RequestedBy: a.By, Host: hostname, CreatedAt: a.Started, FinishedAt: a.Ended}
		if rec.Source == "" {
			rec.Source = a.From
		}
		if a.Result != nil {
			rec.Version, rec.FromVersion, rec.FolderSHA256 = a.Result.To, a.Result.From, a.Result.FolderSHA256
		}
		return rec, st.Q().RecordPluginAction(ctx, rec)
	}
}

package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

// hostLocal is what the running host applies of what an operator changed
// through another host sharing the store (package hosts).
type hostLocal struct {
	cfg    *config.Config
	mgr    *plugins.Manager
	st     *store.Store
	cipher *store.Cipher
	log    hclog.Logger
}

// pluginState is one plugin as the hosts' registry shows it.
type pluginState struct {
	Name    string        `json:"name"`
	Version string        `json:"version"`
	State   plugins.State `json:"state"`
	Health  string        `json:"health"`
	Message string        `json:"message,omitempty"`
	Error   string        `json:"error,omitempty"`
	// NotConfigured: disabled while it waits for its settings.
	NotConfigured bool `json:"not_configured,omitempty"`
}

// PluginStates is published with each heartbeat.
func (l *hostLocal) PluginStates() any {
	sts := l.mgr.Statuses()
	out := make([]pluginState, 0, len(sts))
	for _, s := range sts {
		out = append(out, pluginState{Name: s.Name, Version: s.Version, State: s.State, Health: s.Health, Message: s.Message, Error: s.Error, NotConfigured: s.NotConfigured})
	}
	return out
}

// Reconfigure hands a plugin its saved settings as the store now has them.
func (l *hostLocal) Reconfigure(ctx context.Context, plugin string) error {
	saved, err := savedSettings(l.st, l.cipher)(ctx, plugin)
	if err != nil {
		return err
	}
	warnings, err := l.mgr.Reconfigure(ctx, plugin, saved)
	for _, w := range warnings {
		l.log.Warn("plugin settings", "plugin", plugin, "warning", w)
	}
	return err
}

// SetDisabled follows a lasting disable recorded through another host.
func (l *hostLocal) SetDisabled(plugin string, disabled bool) error {
	p, ok := l.mgr.Plugin(plugin)
	if !ok || p.Manifest() == nil {
		return nil // not on this host (or cannot run here anyway)
	}
	if disabled {
		return l.mgr.Disable(plugin)
	}
	if p.Status().State != plugins.StateDisabled {
		return nil
	}
	if err := l.mgr.Enable(plugin); err != nil {
		return fmt.Errorf("enable, as another host did: %w", err)
	}
	return nil
}

// ApplyActions carries out the marketplace actions finished through
// another host: on the running host (package hosts), and in the plugin
// directory before the plugins start (preparePluginDir, with no mgr).
func (l *hostLocal) ApplyActions(ctx context.Context, latest []store.PluginAction) []error {
	_, errs := l.converge(ctx, latest)
	return errs
}

// converge is ApplyActions, saying also what it did to the plugin
// directory.
func (l *hostLocal) converge(ctx context.Context, latest []store.PluginAction) ([]string, []error) {
	var wants []pluginstall.Want
	for _, a := range latest {
		wants = append(wants, pluginstall.Want{Action: a.Action, Name: a.Plugin, Version: a.Version, Source: a.Source, FolderSHA256: a.FolderSHA256})
	}
	var host pluginstall.Host // at start (preparePluginDir), no plugin runs yet
	if l.mgr != nil {
		host = l.mgr
	}
	did, errs := newInstaller(l.cfg, host, l.log).Converge(ctx, wants)
	for _, d := range did {
		l.log.Info("plugin brought in line with the store", "did", d)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return did, nil
	}
	return did, errs
}

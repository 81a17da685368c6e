package web

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
)

// StartPlugins starts a plugin manager for a test over the plugin folder
// dir (a testenv.PluginDir's), with a configuration of its own
// (config.DefaultConfig, its data directory beside dir, then mod, if any)
// and deps (host version 1.0.0 and the database and cache capabilities
// when they are not set), and stops it when the test ends. It returns the
// configuration too, for the server's Deps. Exported for the web_test
// package's tests.
func StartPlugins(t testing.TB, dir string, deps plugins.Deps, mod func(*config.Config)) (*plugins.Manager, *config.Config) {
	t.Helper()
	cfg := config.DefaultConfig()
	cfg.DataDir = filepath.Join(filepath.Dir(dir), "data")
	cfg.Plugins.Dir = dir
	if mod != nil {
		mod(cfg)
	}
	if deps.HostVersion == "" {
		deps.HostVersion = "1.0.0"
	}
	if deps.Capabilities == nil {
		deps.Capabilities = map[string]bool{"database": true, "cache": true}
	}
	pm := plugins.New(cfg, deps)
	if err := pm.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		pm.Stop(ctx)
	})
	return pm, cfg
}

package plugins

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// fixture is a plugin directory with test plugins, a data directory and a
// configuration.
type fixture struct {
	*testenv.PluginDir
	t    testing.TB
	cfg  *config.Config
	logs *sdktest.Buffer
	// saved is Deps.SavedSettings (nil: none).
	saved func(ctx context.Context, name string) (json.RawMessage, error)
	// store is Deps.Store (nil: none).
	store *store.Store
	// leases and hostID are Deps.Leases and Deps.HostID (nil: none).
	leases Leases
	hostID string
	// ahead is Deps.Ahead (nil: none).
	ahead *Ahead
}

type tp = testenv.Plugin

func newFixture(t *testing.T) *fixture { return newFixtureB(t) }

func newFixtureB(t testing.TB) *fixture {
	t.Helper()
	d := testenv.NewPluginDir(t)
	cfg := config.DefaultConfig()
	cfg.DataDir = filepath.Join(filepath.Dir(d.Dir), "data")
	cfg.Plugins.Dir = d.Dir
	cfg.Plugins.StartTimeout = 10 * time.Second
	cfg.Plugins.HealthInterval = time.Hour // tests call CheckHealth themselves
	cfg.Plugins.StopTimeout = 5 * time.Second
	return &fixture{PluginDir: d, t: t, cfg: cfg, logs: &sdktest.Buffer{}}
}

// start starts a manager over the fixture and stops it when the test ends.
func (f *fixture) start() (*Manager, error) {
	f.t.Helper()
	log := hclog.New(&hclog.LoggerOptions{Name: "test", Output: f.logs, Level: hclog.Debug, IndependentLevels: true})
	m := New(f.cfg, Deps{Logger: log, Metrics: metrics.New(), HostVersion: "1.0.0", Capabilities: map[string]bool{"database": true, "cache": true}, SavedSettings: f.saved, Store: f.store,
		Leases: f.leases, HostID: f.hostID, Ahead: f.ahead})
	err := m.Start(context.Background())
	f.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		m.Stop(ctx)
		if f.t.Failed() {
			f.t.Logf("host log:\n%s", f.logs.String())
		}
	})
	return m, err
}

func (f *fixture) started() []string { return f.Logged("start") }

func status(t *testing.T, m *Manager, name string) Status {
	t.Helper()
	p, ok := m.Plugin(name)
	if !ok {
		t.Fatalf("no plugin %q", name)
	}
	return p.Status()
}

func boolPtr(b bool) *bool { return &b }

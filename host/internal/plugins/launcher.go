package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/history"
	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/client"
)

// launcher starts plugin processes the way this host does. It holds what
// every instance shares: the configuration, the host's logger and metrics,
// the runtime directory for sockets and its janitor, the plugins' settings
// and the host service each plugin is offered. The manager makes one at
// Start; instances only read it.
type launcher struct {
	cfg         *config.Config
	hostLog     hclog.Logger // the host's root logger; plugin output goes under "plugin"
	log         hclog.Logger // the manager's ("plugins"); instances log under it
	metrics     *metrics.Metrics
	hostVersion string
	runtimeDir  string
	janitor     *client.Janitor
	// sums remembers the executables hashed by this host's launches
	// (sumCache); nil without a data directory.
	sums client.SumCache
	// settings returns a plugin's effective settings (Manager.settings).
	settings func(ctx context.Context, man *manifest.Manifest) (json.RawMessage, error)
	// hostService is the sdk.Host offered to a plugin.
	hostService func(name string) sdk.Host
	// leases decide where singleton plugins run (nil: they run here);
	// hostID is this host's id (Deps).
	leases Leases
	hostID string
}

// openRuntime makes this host instance's runtime directory and starts its
// janitor; a janitor that cannot start is only a warning.
func (l *launcher) openRuntime() error {
	// The first directory that can be made private is taken; one that
	// cannot (another user made it, say) is skipped with a warning.
	var dir string
	var errs []error
	for _, base := range l.cfg.RuntimeDirs() {
		d, err := prepareRuntimeDir(base)
		if err == nil {
			dir = d
			break
		}
		errs = append(errs, err)
	}
	if dir == "" {
		return errors.Join(errs...)
	}
	if len(errs) > 0 {
		l.log.Warn("runtime directory not used", "error", errors.Join(errs...), "using", dir)
	}
	l.runtimeDir = dir
	if l.sums == nil && l.cfg.DataDir != "" {
		l.sums = openSumCache(l.cfg.DataDir, l.cfg.Plugins.Dir, l.log)
	}
	l.log.Debug("runtime directory for sockets", "dir", dir)
	if j, err := client.StartJanitor(dir, filepath.Dir(dir)); err != nil {
		l.log.Warn("no janitor: plugins' children and sockets may outlive a host that is killed", "error", err)
	} else {
		l.janitor = j
	}
	return nil
}

// close removes the runtime directory and dismisses the janitor, once
// every plugin has stopped.
func (l *launcher) close() {
	if l.runtimeDir != "" {
		_ = os.RemoveAll(l.runtimeDir)
		_ = os.Remove(filepath.Dir(l.runtimeDir)) // when no other host uses it
	}
	l.janitor.Close()
}

// ErrNotConfigured: a plugin has no settings and refuses to run without
// some (its config_schema requires them, or its Configure says they are
// invalid). An optional one waits for them (Status.NotConfigured).
var ErrNotConfigured = errors.New("not configured")

// noSettings reports whether settings hold no field.
func noSettings(settings json.RawMessage) bool {
	var obj map[string]json.RawMessage
	return len(bytes.TrimSpace(settings)) == 0 || (json.Unmarshal(settings, &obj) == nil && len(obj) == 0)
}

// launched is a process that serves, is the plugin its manifest describes,
// is configured and has answered its first health check.
type launched struct {
	proc   *client.Process
	desc   *sdk.DescribeResponse
	health *sdk.CheckHealthResponse
}

// launch starts one process of a plugin: its settings checked against its
// config_schema, its folder checked against plugins.lock right before, the
// executable checked by checksum as it is executed, in a scrubbed
// environment (client.PluginEnv) with a private data directory; then
// Describe compared with the manifest (client.Manifest.CheckDescribe),
// Configure, and a first health check. Every unary call over the
// process's connection, these included, is measured for the host's metrics
// and recorded in lat, the plugin's history. On failure nothing is left
// running.
func (l *launcher) launch(ctx context.Context, man *manifest.Manifest, pol config.Policy, log hclog.Logger, lat *history.Latency) (*launched, error) {
	settings, err := l.settings(ctx, man)
	if err != nil {
		return nil, err
	}
	if err := man.ValidateSettings(settings); err != nil {
		if noSettings(settings) {
			return nil, fmt.Errorf("%w: it needs settings: %v; save them (admin UI, or PUT /api/v1/plugin-settings/%s) and it starts", ErrNotConfigured, err, man.Name)
		}
		return nil, fmt.Errorf("its settings (the configuration file's and those saved in the admin UI) do not match its config_schema: %v; save its settings (admin UI, or PUT /api/v1/plugin-settings/%s) and it starts", err, man.Name)
	}
	// The folder is checked against the lock right before the launch; the
	// launcher checks the executable's bytes again on the file it runs.
	sum, err := verified(l.cfg, man, true)
	if err != nil {
		return nil, err
	}
	dataDir, err := privateDir(l.cfg.PluginDataDir(man.Name))
	if err != nil {
		return nil, err
	}
	rel, _ := man.ExecutableFor(runtime.GOOS, runtime.GOARCH)

	logLevel := l.hostLog.GetLevel()
	if l.cfg.DebugPlugin(man.Name) {
		logLevel = hclog.Debug
	}
	pluginLog := l.hostLog.Named("plugin")
	pluginLog.SetLevel(logLevel)

	proc, err := client.Start(ctx, client.Config{
		Name:         man.Name,
		Path:         filepath.Join(man.Dir, rel),
		SHA256:       sum,
		Sums:         l.sums,
		Env:          client.PluginEnv(dataDir),
		SocketDir:    l.runtimeDir,
		StartTimeout: pol.StartTimeout,
		Logger:       pluginLog,
		LogLevel:     logLevel.String(),
		Host:         l.hostService(man.Name),
		DialOptions:  []grpc.DialOption{grpc.WithChainUnaryInterceptor(l.metrics.UnaryClientInterceptor(man.Name), lat.UnaryClientInterceptor())},
	})
	if errors.Is(err, client.ErrChecksumMismatch) {
		// Name every file that changed (the executable among them), as
		// the check of the whole folder says it.
		if _, ferr := verified(l.cfg, man, false); ferr != nil {
			return nil, ferr
		}
		return nil, checksumRefusal(man.Name, err)
	}
	if err != nil {
		return nil, err
	}
	l.janitor.Track(proc.Pid())
	fail := func(err error) (*launched, error) {
		l.kill(proc)
		return nil, err
	}
	desc := proc.Describe()
	if err := man.CheckDescribe(desc); err != nil {
		return fail(err)
	}

	base := client.NewPlugin(proc.Conn().ClientConn(), proc.Conn().HostBrokerID)
	cctx, cancel := context.WithTimeout(ctx, pol.StartTimeout)
	defer cancel()
	resp, err := base.Configure(cctx, &sdk.ConfigureRequest{
		Settings: settings, Environment: l.cfg.Environment, HostVersion: l.hostVersion, DataDir: dataDir,
	})
	if err != nil {
		if errors.Is(err, sdk.ErrInvalidArgument) && noSettings(settings) {
			return fail(fmt.Errorf("%w: it needs settings: %v; save them (admin UI, or PUT /api/v1/plugin-settings/%s) and it starts", ErrNotConfigured, err, man.Name))
		}
		return fail(fmt.Errorf("Configure: %w", err))
	}
	for _, w := range resp.Warnings {
		log.Warn("plugin configuration warning", "warning", w)
	}
	hctx, hcancel := context.WithTimeout(ctx, pol.HealthTimeout)
	defer hcancel()
	health, err := base.CheckHealth(hctx, &sdk.CheckHealthRequest{})
	if err != nil {
		return fail(fmt.Errorf("first health check: %w", err))
	}
	return &launched{proc: proc, desc: desc, health: health}, nil
}

// kill ends a process at once and tells the janitor.
func (l *launcher) kill(proc *client.Process) {
	proc.Kill()
	l.janitor.Untrack(proc.Pid())
}

// privateDir creates dir with mode 0700 (and fixes the mode of an existing
// one) and returns its absolute path.
func privateDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", fmt.Errorf("create the plugin's data directory: %w", err)
	}
	if err := os.Chmod(abs, 0o700); err != nil {
		return "", fmt.Errorf("make the plugin's data directory private: %w", err)
	}
	return abs, nil
}

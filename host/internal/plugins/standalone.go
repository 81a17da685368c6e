package plugins

// A plugin launched on its own, outside a serving host: `mikrobill audit
// verify` and `prove` run the installed audit plugin against its data
// directory this way, so they work while the host is down (forensics). The
// launch is the host's (launcher.launch): the folder checked against
// plugins.lock, the executable checked by checksum as it runs, the
// scrubbed environment and the plugin's own data directory, Describe
// compared with the manifest, Configure and a first health check. It is
// offered no host services, and its sockets live in a temporary directory
// of their own, not the host's runtime directory (which a serving host
// empties).

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/history"
	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
	"github.com/mikrobill/mikrobill/sdk/client"
)

// Standalone is one plugin process launched by LaunchStandalone.
type Standalone struct {
	l    *launcher
	run  *launched
	kind string
}

// LaunchStandalone launches the plugin man describes as the host would,
// with the settings a serving host would give it: the configuration
// file's, those saved in the admin UI (read through saved, which may be nil
// when the host's store cannot be opened: then the file's alone) and the
// host's defaults. Stop it when done.
func LaunchStandalone(ctx context.Context, cfg *config.Config, man *manifest.Manifest, saved func(ctx context.Context, name string) (json.RawMessage, error), log hclog.Logger) (*Standalone, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	sockets, err := os.MkdirTemp("", "mikrobill-run-")
	if err != nil {
		return nil, err
	}
	l := &launcher{cfg: cfg, hostLog: log, log: log, metrics: metrics.New(), runtimeDir: sockets,
		settings:    (&Manager{cfg: cfg, deps: Deps{SavedSettings: saved}}).settings,
		hostService: func(string) sdk.Host { return nil },
	}
	run, err := l.launch(ctx, man, cfg.PolicyFor(man.Name), log.With("plugin", man.Name), &history.Latency{})
	if err != nil {
		_ = os.RemoveAll(sockets)
		return nil, fmt.Errorf("start plugin %q: %w", man.Name, err)
	}
	return &Standalone{l: l, run: run, kind: man.Kind}, nil
}

// Describe is what the plugin said of itself.
func (s *Standalone) Describe() *sdk.DescribeResponse { return s.run.desc }

// Health is the plugin's first health check, made as it started.
func (s *Standalone) Health() *sdk.CheckHealthResponse { return s.run.health }

// Audit returns the audit client of an audit plugin.
func (s *Standalone) Audit() (audit.Sink, error) {
	if s.kind != sdk.KindAudit {
		return nil, fmt.Errorf("plugin %q is a %s plugin, not %s", s.run.desc.Name, s.kind, sdk.KindAudit)
	}
	conn := s.run.proc.Conn()
	c, err := client.NewKind(sdk.KindAudit, conn.ClientConn(), conn.HostBrokerID)
	if err != nil {
		return nil, err
	}
	return c.(audit.Sink), nil
}

// Stop stops the process (gracefully, then by force at ctx's end) and
// removes its sockets.
func (s *Standalone) Stop(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.run.proc.Stop(ctx); err != nil {
		s.run.proc.Kill()
	}
	_ = os.RemoveAll(s.l.runtimeDir)
}

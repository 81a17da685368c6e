package plugins

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/host/internal/lockfile"
	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/client"
)

// Handshake launches the plugin man describes once, from its folder, the
// way the host launches every plugin (client.Start: the executable checked
// against entry's checksum on the very file it runs, the scrubbed
// environment, a private data directory, the go-plugin handshake with
// every protocol version this host serves), compares its Describe with the
// manifest (manifest.CheckDescribe) and stops it. It neither configures
// it nor offers it host services: a plugin just installed may need
// settings it does not have yet. The installer calls it on a staged
// folder before placing it (host/internal/pluginstall).
func Handshake(ctx context.Context, man *manifest.Manifest, entry lockfile.Entry, timeout time.Duration, log hclog.Logger) (*sdk.DescribeResponse, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	rel, err := man.ExecutableFor(runtime.GOOS, runtime.GOARCH)
	if err != nil {
		return nil, err
	}
	sum, err := entry.Sum()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "mikrobill-handshake-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	dataDir, err := privateDir(filepath.Join(tmp, "data"))
	if err != nil {
		return nil, err
	}
	proc, err := client.Start(ctx, client.Config{
		Name: man.Name, Path: filepath.Join(man.Dir, rel), SHA256: sum,
		Env: client.PluginEnv(dataDir), SocketDir: tmp, StartTimeout: timeout,
		Logger: log.Named("plugin"), LogLevel: hclog.Warn.String(),
	})
	if err != nil {
		return nil, fmt.Errorf("start plugin %q for its handshake: %w", man.Name, err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := proc.Stop(sctx); err != nil {
			proc.Kill()
		}
	}()
	desc := proc.Describe()
	if err := man.CheckDescribe(desc); err != nil {
		return nil, err
	}
	return desc, nil
}

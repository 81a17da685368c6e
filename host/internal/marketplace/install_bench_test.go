package marketplace

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// BenchmarkMarketplaceInstallRatio: a 20 MB plugin (a real plugin process
// with 20 MB of incompressible data beside it) installed from a loopback
// marketplace into a running plugins.Manager until it runs (refresh of the
// TUF metadata, download, verification, safe unpack, manifest and
// handshake checks, lock entry, placing, start), against a plain HTTP
// download of the same archive bytes into a file, interleaved in each
// iteration. install/plain is the ratio. The plugin is removed between
// iterations, outside the timings.
func BenchmarkMarketplaceInstallRatio(b *testing.B) {
	src := testenv.NewPluginDir(b)
	folder := src.Add(testenv.Plugin{Name: "big", NoLock: true})
	payload := make([]byte, 20<<20)
	rand.Read(payload)
	if err := os.WriteFile(filepath.Join(folder, "data.bin"), payload, 0o644); err != nil {
		b.Fatal(err)
	}
	r := newRepo(b)
	pub := publish(b, r, folder, PublishOptions{})
	srv := serve(b, r)
	c := newClient(b, r, srv.url, Options{})
	rel, _ := filepath.Rel(r.RepositoryPath(), archiveFile(r, pub[0]))
	archiveURL := srv.url + "/" + filepath.ToSlash(rel)

	host := testenv.NewPluginDir(b)
	cfg := config.DefaultConfig()
	cfg.DataDir = filepath.Join(filepath.Dir(host.Dir), "data")
	cfg.Plugins.Dir = host.Dir
	cfg.Plugins.HealthInterval = time.Hour
	log := hclog.NewNullLogger()
	mgr := plugins.New(cfg, plugins.Deps{Logger: log, Metrics: metrics.New(), HostVersion: "1.0.0", Capabilities: map[string]bool{"database": true, "cache": true}})
	if err := mgr.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		mgr.Stop(ctx)
	})
	in := pluginstall.New(pluginstall.Config{Dir: host.Dir, HostVersion: "1.0.0", LockSkip: plugins.LockSkip(cfg),
		Wait: cfg.Plugins.InstallWait, StartTimeout: 20 * time.Second, Host: mgr, DataDir: cfg.PluginDataDir, Log: log})
	work := b.TempDir()
	ctx := context.Background()
	var install, plain time.Duration
	b.SetBytes(pub[0].Length)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := in.Install(ctx, c, "big", "", pluginstall.Observer{}); err != nil {
			b.Fatal(err)
		}
		install += time.Since(start)
		b.StopTimer()
		if p, ok := mgr.Plugin("big"); !ok || p.Status().State != plugins.StateRunning {
			b.Fatalf("after the install big is not running (%v)", ok)
		}
		b.StartTimer()
		start = time.Now()
		if err := plainDownload(archiveURL, filepath.Join(work, "plain")); err != nil {
			b.Fatal(err)
		}
		plain += time.Since(start)
		b.StopTimer()
		os.Remove(filepath.Join(work, "plain"))
		if _, err := in.Remove(ctx, "big", false, true, pluginstall.Observer{}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(install.Microseconds())/float64(b.N)/1000, "install-ms")
	b.ReportMetric(float64(plain.Microseconds())/float64(b.N)/1000, "plain-ms")
	b.ReportMetric(float64(install)/float64(plain), "install/plain")
}

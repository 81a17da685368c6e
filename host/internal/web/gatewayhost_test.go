package web

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

// startPlugins starts the plugins of a plugin directory with the host's
// store, every plugin configured with settings, and stops them when the
// test ends. tune, when given, changes the configuration first.
func startPlugins(t *testing.T, st *store.Store, dir string, settings json.RawMessage, tune func(*config.Config)) *plugins.Manager {
	t.Helper()
	cfg := config.DefaultConfig()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Plugins.Dir = dir
	cfg.Plugins.StartTimeout = 30 * time.Second
	if tune != nil {
		tune(cfg)
	}
	mgr := plugins.New(cfg, plugins.Deps{
		Logger: hclog.NewNullLogger(), Metrics: metrics.New(), Store: st, HostVersion: "1.0.0",
		Capabilities:  map[string]bool{"database": true, "cache": true},
		SavedSettings: func(context.Context, string) (json.RawMessage, error) { return settings, nil },
	})
	if err := mgr.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		mgr.Stop(ctx)
	})
	return mgr
}

// newTestBilling is billing over plugs, its jobs inserted and not run, with
// an unpaid invoice (manualInvoice).
func newTestBilling(t *testing.T, st *store.Store, plugs billing.Plugins) (*billing.Service, *store.Invoice) {
	t.Helper()
	ctx := context.Background()
	cipher, err := store.NewCipher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	if err := jobs.Migrate(ctx, st); err != nil {
		t.Fatal(err)
	}
	bill, err := billing.NewWithQueue(st, cipher, plugs, billing.Config{PublicURL: "https://billing.example.net"}, nil, billing.QueueConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return bill, manualInvoice(t, st, cipher, bill)
}

// invoiceCredits is an invoice's status and how often it was credited.
func invoiceCredits(t *testing.T, st *store.Store, id int64) (string, int) {
	t.Helper()
	ctx := context.Background()
	got, err := st.Q().GetInvoice(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	n, err := st.Q().InvoiceCredits(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return got.Status, n
}

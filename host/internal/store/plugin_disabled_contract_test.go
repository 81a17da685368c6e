package store_test

import (
	"context"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// TestLastingPluginDisables: set, list, set again, clear (twice).
func TestLastingPluginDisables(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		q := s.Q()
		if got, err := q.PluginsDisabled(ctx); err != nil || len(got) != 0 {
			t.Fatalf("PluginsDisabled on a new store = %v, %v", got, err)
		}
		for _, name := range []string{"payment-stripe", "payment-midtrans"} {
			if err := q.SetPluginDisabled(ctx, name, "user:ana"); err != nil {
				t.Fatal(err)
			}
		}
		if err := q.SetPluginDisabled(ctx, "payment-stripe", "user:bob"); err != nil {
			t.Fatal(err)
		}
		// A plugin's own record of that name is another namespace.
		if err := q.SetPluginRecord(ctx, "payment-tripay", "plugin-disabled/payment-tripay", []byte("{}"), 0); err != nil {
			t.Fatal(err)
		}
		got, err := q.PluginsDisabled(ctx)
		if err != nil || len(got) != 2 || got["payment-stripe"].By != "user:bob" || got["payment-midtrans"].At.IsZero() {
			t.Fatalf("PluginsDisabled = %+v, %v", got, err)
		}
		for range 2 {
			if err := q.ClearPluginDisabled(ctx, "payment-stripe"); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := q.PluginsDisabled(ctx); err != nil || len(got) != 1 {
			t.Errorf("after clearing: %+v, %v", got, err)
		}
	})
}

package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// TestPluginActions: record, update by id, list newest first, the latest
// finished action per plugin.
func TestPluginActions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		q := s.Q()
		at := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
		recs := []store.PluginAction{
			{ID: "a1", Action: "install", Plugin: "pa", Version: "1.0.0", Source: "demo", FolderSHA256: "h1", State: "done", RequestedBy: "user:ana", Host: "h-1", CreatedAt: at, FinishedAt: at.Add(time.Second)},
			{ID: "a2", Action: "upgrade", Plugin: "pa", Version: "2.0.0", FromVersion: "1.0.0", Source: "demo", State: "running", CreatedAt: at.Add(time.Minute)},
			{ID: "b1", Action: "install", Plugin: "pb", Version: "1.0.0", State: "failed", Error: "refused", CreatedAt: at.Add(2 * time.Minute)},
		}
		for _, r := range recs {
			if err := q.RecordPluginAction(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		latest, err := q.LatestPluginActions(ctx)
		if err != nil || len(latest) != 1 || latest["pa"].Version != "1.0.0" {
			t.Fatalf("latest before a2 finished: %+v, %v; want pa 1.0.0 only", latest, err)
		}
		recs[1].State, recs[1].FolderSHA256, recs[1].FinishedAt = "done", "h2", at.Add(2*time.Minute)
		if err := q.RecordPluginAction(ctx, recs[1]); err != nil {
			t.Fatal(err)
		}
		latest, err = q.LatestPluginActions(ctx)
		if err != nil || latest["pa"].Version != "2.0.0" || latest["pa"].FolderSHA256 != "h2" || latest["pa"].FromVersion != "1.0.0" || !latest["pa"].FinishedAt.Equal(at.Add(2*time.Minute)) {
			t.Fatalf("latest after a2 finished: %+v, %v", latest["pa"], err)
		}
		// An action another host runs is left alone; this host's are
		// marked interrupted.
		if err := q.RecordPluginAction(ctx, store.PluginAction{ID: "c1", Action: "install", Plugin: "pc", State: "running", Host: "h-2", CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
		if err := q.RecordPluginAction(ctx, store.PluginAction{ID: "c2", Action: "install", Plugin: "pc", State: "running", Host: "h-1", CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
		if n, err := q.InterruptPluginActions(ctx, "h-1"); err != nil || n != 1 {
			t.Fatalf("InterruptPluginActions = %d, %v; want 1", n, err)
		}
		all, err := q.PluginActions(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range all {
			if (a.ID == "c1" && a.State != "running") || (a.ID == "c2" && (a.State != "failed" || !strings.Contains(a.Error, "interrupted") || a.FinishedAt.IsZero())) {
				t.Errorf("after InterruptPluginActions: %+v", a)
			}
		}
		list, err := q.PluginActions(ctx, 2)
		if err != nil || len(list) != 2 || list[0].ID != "b1" || list[1].ID != "a2" || list[0].Error != "refused" || !list[1].CreatedAt.Equal(at.Add(time.Minute)) {
			t.Fatalf("PluginActions(2) = %+v, %v", list, err)
		}
	})
}

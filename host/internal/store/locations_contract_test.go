package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

func TestLocations(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedClock(s)
		q := s.Q()
		l := &store.Location{Name: "main", Description: "Head office"}
		if err := q.CreateLocation(ctx, l); err != nil {
			t.Fatal(err)
		}
		if l.Plugin != store.DefaultRouterPlugin {
			t.Errorf("plugin = %q, want the default %q", l.Plugin, store.DefaultRouterPlugin)
		}
		got, err := q.GetLocation(ctx, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(l, got); diff != "" {
			t.Errorf("GetLocation (-created +read):\n%s", diff)
		}
		if got, err := q.GetLocationByName(ctx, "main"); err != nil || got.ID != l.ID {
			t.Errorf("GetLocationByName = %+v, %v", got, err)
		}
		if _, err := q.GetLocationByName(ctx, "nowhere"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetLocationByName(nowhere): %v, want ErrNotFound", err)
		}
		if _, err := q.GetLocation(ctx, 999); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetLocation(999): %v, want ErrNotFound", err)
		}
		if err := q.CreateLocation(ctx, &store.Location{Name: "main"}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate name: %v, want ErrConflict", err)
		}
		for _, bad := range []store.Location{{Name: ""}, {Name: "Main"}, {Name: "1st"}, {Name: "a_b"}, {Name: "ok", Plugin: "Bad Plugin"}} {
			if err := q.CreateLocation(ctx, &bad); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("CreateLocation(%+v): %v, want ErrInvalid", bad, err)
			}
		}

		l.Description, l.Plugin = "HQ", "mikrotik-v7"
		if err := q.UpdateLocation(ctx, l); err != nil {
			t.Fatal(err)
		}
		got, _ = q.GetLocation(ctx, l.ID)
		if got.Description != "HQ" || got.Plugin != "mikrotik-v7" || !got.UpdatedAt.After(got.CreatedAt) {
			t.Errorf("after update: %+v", got)
		}
		if err := q.UpdateLocation(ctx, &store.Location{ID: 999, Name: "x", Plugin: "mikrotik"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update missing: %v, want ErrNotFound", err)
		}
		if err := q.UpdateLocation(ctx, &store.Location{ID: l.ID, Name: "BAD", Plugin: "mikrotik"}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("update to a bad name: %v, want ErrInvalid", err)
		}
		branch := mkLocation(t, q, "branch-2")
		if err := q.UpdateLocation(ctx, &store.Location{ID: branch.ID, Name: "main", Plugin: "mikrotik"}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("rename onto another: %v, want ErrConflict", err)
		}

		list, total, err := q.ListLocations(ctx, store.Page{Limit: 1})
		if err != nil || total != 2 || len(list) != 1 || list[0].Name != "branch-2" {
			t.Errorf("ListLocations(limit 1) = %v, %d, %v", list, total, err)
		}
		list, _, err = q.ListLocations(ctx, store.Page{Limit: 1, Offset: 1})
		if err != nil || len(list) != 1 || list[0].Name != "main" {
			t.Errorf("ListLocations(offset 1) = %v, %v", list, err)
		}
		if _, _, err := q.ListLocations(ctx, store.Page{Offset: -1}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("negative offset: %v", err)
		}

		// A location customers belong to cannot go.
		mkCustomer(t, q, testCipher(t), branch.ID, "Siti", "siti")
		if err := q.DeleteLocation(ctx, branch.ID); !errors.Is(err, store.ErrReferenced) {
			t.Errorf("delete a location in use: %v, want ErrReferenced", err)
		}
		if err := q.DeleteLocation(ctx, l.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := q.GetLocation(ctx, l.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted location: %v", err)
		}
		if err := q.DeleteLocation(ctx, l.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delete twice: %v, want ErrNotFound", err)
		}
	})
}

func TestValidLocationName(t *testing.T) {
	for name, want := range map[string]bool{
		"main": true, "branch-2": true, "a": true, "a" + strings.Repeat("b", 62): true,
		"": false, "Main": false, "2nd": false, "-x": false, "a b": false, "a_b": false,
		"a" + strings.Repeat("b", 63): false,
	} {
		if got := store.ValidLocationName(name); got != want {
			t.Errorf("ValidLocationName(%q) = %v, want %v", name, got, want)
		}
	}
}

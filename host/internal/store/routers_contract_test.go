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

func TestRouterConnections(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedClock(s)
		q := s.Q()
		cip := testCipher(t)
		main := mkLocation(t, q, "main")
		branch := mkLocation(t, q, "branch-2")
		other := &store.Location{Name: "elsewhere", Plugin: "other-router"}
		if err := q.CreateLocation(ctx, other); err != nil {
			t.Fatal(err)
		}

		if _, err := q.GetRouterConnection(ctx, main.ID, cip); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetRouterConnection before any: %v, want ErrNotFound", err)
		}
		c := &store.RouterConnection{LocationID: main.ID, Address: "192.0.2.1", Port: 8729, TLS: true, CertSHA256: strings.Repeat("ab", 32),
			ServerName: "router.example", Username: "billing", Password: "s3cret-pass"}
		if err := q.SetRouterConnection(ctx, c, cip); err != nil {
			t.Fatal(err)
		}
		var raw string
		if err := q.DB().QueryRow(ctx, "SELECT password_enc FROM router_connections WHERE location_id = ?", main.ID).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if raw == c.Password || strings.Contains(raw, "s3cret") || !store.IsEncrypted(raw) {
			t.Errorf("password at rest = %q, want it encrypted", raw)
		}
		got, err := q.GetRouterConnection(ctx, main.ID, cip)
		if err != nil {
			t.Fatal(err)
		}
		c.LocationName, c.Plugin = "main", store.DefaultRouterPlugin
		if diff := cmp.Diff(c, got); diff != "" {
			t.Errorf("GetRouterConnection (-set +read):\n%s", diff)
		}
		if got, err := q.GetRouterConnection(ctx, main.ID, nil); err != nil || got.Password != "" || !got.HasPassword {
			t.Errorf("read without a cipher = %+v, %v; want no password, HasPassword", got, err)
		}

		// Replacing: the new values win, an empty password is stored empty.
		c2 := &store.RouterConnection{LocationID: main.ID, Address: "10.0.0.1", Port: 8728, Username: "admin"}
		if err := q.SetRouterConnection(ctx, c2, nil); err != nil {
			t.Fatal(err)
		}
		got, _ = q.GetRouterConnection(ctx, main.ID, cip)
		if got.Address != "10.0.0.1" || got.TLS || got.Password != "" || got.HasPassword || got.CertSHA256 != "" {
			t.Errorf("after replacing: %+v", got)
		}
		if err := q.SetRouterConnection(ctx, &store.RouterConnection{LocationID: branch.ID, Address: "10.0.0.2", Username: "admin", Password: "x"}, cip); err != nil {
			t.Fatal(err)
		}
		if err := q.SetRouterConnection(ctx, &store.RouterConnection{LocationID: other.ID, Address: "10.0.0.3", Username: "admin"}, cip); err != nil {
			t.Fatal(err)
		}
		if err := q.SetRouterConnection(ctx, &store.RouterConnection{LocationID: 999, Address: "10.0.0.9", Username: "admin"}, cip); !errors.Is(err, store.ErrReferenced) {
			t.Errorf("connection of a missing location: %v, want ErrReferenced", err)
		}
		if err := q.SetRouterConnection(ctx, &store.RouterConnection{LocationID: main.ID, Username: "admin"}, cip); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("connection without an address: %v, want ErrInvalid", err)
		}

		list, err := q.RouterConnections(ctx, store.DefaultRouterPlugin, cip)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, l := range list {
			names = append(names, l.LocationName)
		}
		if diff := cmp.Diff([]string{"branch-2", "main"}, names); diff != "" || list[0].Password != "x" {
			t.Errorf("RouterConnections(mikrotik) names (-want +got):\n%s; first password %q", diff, list[0].Password)
		}
		if all, _ := q.RouterConnections(ctx, "", cip); len(all) != 3 {
			t.Errorf("RouterConnections(all) = %d, want 3", len(all))
		}
		if ok, err := q.HasRouterConnection(ctx, branch.ID); !ok || err != nil {
			t.Errorf("HasRouterConnection(branch) = %v, %v", ok, err)
		}

		if err := q.DeleteRouterConnection(ctx, branch.ID); err != nil {
			t.Fatal(err)
		}
		if err := q.DeleteRouterConnection(ctx, branch.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleting twice: %v, want ErrNotFound", err)
		}
		if _, err := q.GetLocation(ctx, branch.ID); err != nil {
			t.Errorf("the location went with its router: %v", err)
		}
		// Deleting the location takes its connection along.
		if err := q.DeleteLocation(ctx, main.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := q.GetRouterConnection(ctx, main.ID, cip); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("connection of a deleted location: %v, want ErrNotFound", err)
		}
	})
}

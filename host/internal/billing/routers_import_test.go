package billing_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// TestImportRouters: the routers in the router plugin's saved settings
// move into the store once: the existing location gets its router, a
// missing one is made, an item without an address is left; run again, it
// imports nothing; each import is audited.
func TestImportRouters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		ctx := context.Background()
		cip, _ := store.NewCipher([]byte("0123456789abcdef0123456789abcdef"))
		settings := `{"command_timeout_seconds": 10, "locations": [
			{"id": "main", "address": "192.0.2.1", "username": "billing", "password": "main-pass"},
			{"id": "branch-2", "name": "Branch two", "address": "192.0.2.2", "port": 8729, "tls": true, "cert_sha256": "ab", "password": "branch-pass"},
			{"id": "broken"}]}`
		if err := st.Q().SavePluginSettings(ctx, "mikrotik", []byte(settings), []string{"locations[].password"}, "admin", cip); err != nil {
			t.Fatal(err)
		}
		got, err := e.svc.ImportRouters(ctx, []string{"mikrotik", "absent"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"main", "branch-2"}, got); diff != "" {
			t.Errorf("imported (-want +got):\n%s", diff)
		}
		conns, err := st.Q().RouterConnections(ctx, "mikrotik", cip)
		if err != nil || len(conns) != 2 {
			t.Fatalf("routers after the import: %+v, %v", conns, err)
		}
		if c := conns[0]; c.LocationName != "branch-2" || c.Port != 8729 || !c.TLS || c.Username != "admin" || c.Password != "branch-pass" {
			t.Errorf("branch-2's router: %+v", c)
		}
		if c := conns[1]; c.LocationName != "main" || c.Address != "192.0.2.1" || c.Username != "billing" || c.Password != "main-pass" {
			t.Errorf("main's router: %+v", c)
		}
		if l, err := st.Q().GetLocationByName(ctx, "branch-2"); err != nil || l.Description != "Branch two" {
			t.Errorf("the location made for branch-2: %+v, %v", l, err)
		}
		if _, err := st.Q().GetLocationByName(ctx, "broken"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an item without an address made a location: %v", err)
		}
		again, err := e.svc.ImportRouters(ctx, []string{"mikrotik"})
		if err != nil || len(again) != 0 {
			t.Errorf("second import = %v, %v; want nothing", again, err)
		}
		var audited int
		if err := st.Q().DB().QueryRow(ctx, "SELECT COUNT(*) FROM river_job WHERE CAST(args AS TEXT) LIKE '%location.router_imported%'").Scan(&audited); err != nil || audited != 2 {
			t.Errorf("audit jobs of the import = %d, %v; want 2", audited, err)
		}
	})
}

// TestClassifyRouterError names what went wrong from the words the
// router plugin's errors carry.
func TestClassifyRouterError(t *testing.T) {
	unreachable := func(msg string) error {
		return fmt.Errorf("%w: location \"main\" (r:8728): %s", router.ErrRouterUnreachable, msg)
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{unreachable("dial tcp: lookup nowhere.invalid: no such host; check that the router is on"), billing.TestFailDNS},
		{unreachable("dial tcp 127.0.0.1:1: connect: connection refused; check ..."), billing.TestFailRefused},
		{unreachable("dial tcp 192.0.2.1:8728: i/o timeout; check ..."), billing.TestFailTimeout},
		{unreachable("TLS handshake: x509: certificate signed by unknown authority"), billing.TestFailTLS},
		{unreachable(`login as "admin" refused: invalid user name or password (6); check the username`), billing.TestFailLogin},
		{unreachable("connection reset by peer"), billing.TestFailUnreachable},
		{fmt.Errorf("%w \"x\": configured locations are main", router.ErrUnknownLocation), billing.TestFailNotAdded},
		{sdk.ErrPluginUnavailable, billing.TestFailPlugin},
	} {
		if got := billing.ClassifyRouterError(tc.err); got != tc.want {
			t.Errorf("ClassifyRouterError(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

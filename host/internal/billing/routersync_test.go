package billing_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// TestRouterRepairRefusesMassRemovals: after a switch to a fresh store the
// routers' logins all look orphaned. A repair shows its plan and refuses,
// changing nothing, when it would remove any login at a location whose
// store side is empty, or more than a handful anywhere, unless it is
// allowed that many removals; with that allowance it repairs.
func TestRouterRepairRefusesMassRemovals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		ctx := context.Background()
		ours := func(prefix string, n int) []string {
			var out []string
			for i := range n {
				out = append(out, fmt.Sprintf("%s-%02d", prefix, i))
			}
			return out
		}
		repair := func(allow int) (*billing.SyncReport, error) {
			return e.svc.SyncRouters(ctx, billing.SyncOptions{Repair: true, AllowRemovals: allow, Actor: "user:test"})
		}

		// The store has no subscriber at "main"; the router has the logins
		// of the store it had before.
		before := ours("cust", 8)
		e.rt.addManaged("main", router.KindPPP, before...)
		for _, allow := range []int{0, 7} {
			rep, err := repair(allow)
			if !errors.Is(err, billing.ErrRemovalsNotAllowed) || rep == nil {
				t.Fatalf("repair allowing %d of 8 removals at an empty store: %v, want ErrRemovalsNotAllowed with the plan", allow, err)
			}
			if rep.Removals != 8 || rep.Repaired != 0 || rep.Refused == "" || len(rep.Locations) != 1 || rep.Locations[0].Subscribers != 0 {
				t.Errorf("plan: %d removals, %d repaired, refused %q, %+v", rep.Removals, rep.Repaired, rep.Refused, rep.Locations)
			}
			for _, want := range []string{"remove 8 login(s)", "at main, where the store has no subscriber", "--allow-removals 8", `"allow_removals": 8`, "nothing was changed"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("refusal %q does not say %q", err, want)
				}
			}
			if d := cmp.Diff(before, e.rt.names("main")); d != "" {
				t.Fatalf("a refused repair changed the router (-before +after):\n%s", d)
			}
		}
		// Even one login at a location whose store side is empty.
		e.rt.clear()
		e.rt.addManaged("main", router.KindHotspot, "lonely")
		if _, err := repair(0); !errors.Is(err, billing.ErrRemovalsNotAllowed) {
			t.Errorf("repair removing the one login of a location without subscribers: %v, want ErrRemovalsNotAllowed", err)
		}
		if rep, err := repair(1); err != nil || rep.Repaired != 1 || len(e.rt.names("main")) != 0 {
			t.Errorf("repair allowed its one removal: %+v, %v; router %v", rep, err, e.rt.names("main"))
		}

		// Budi pays: the store side is no longer empty.
		_, payID := e.invoiceAndPayment()
		if _, err := e.webhook(payID, "paid"); err != nil {
			t.Fatal(err)
		}
		e.waitJobs("provision")
		if _, ok := e.rt.user("main", "budi"); !ok {
			t.Fatal("budi was not provisioned")
		}
		// A handful of orphans goes without asking.
		e.rt.addManaged("main", router.KindPPP, ours("left", 3)...)
		if rep, err := repair(0); err != nil || rep.Removals != 3 || rep.Repaired != 3 {
			t.Errorf("repair of 3 orphans beside a subscriber: %+v, %v", rep, err)
		}
		// More than a handful needs an allowance that covers them all.
		e.rt.addManaged("main", router.KindPPP, ours("gone", 7)...)
		for _, allow := range []int{0, 6} {
			_, err := repair(allow)
			if !errors.Is(err, billing.ErrRemovalsNotAllowed) || !strings.Contains(err.Error(), "remove 7 login(s)") {
				t.Errorf("repair of 7 orphans allowing %d: %v, want ErrRemovalsNotAllowed", allow, err)
			}
		}
		if n := len(e.rt.names("main")); n != 8 {
			t.Errorf("%d logins after refused repairs, want budi and the 7 orphans", n)
		}
		if rep, err := repair(7); err != nil || rep.Repaired != 7 || rep.Refused != "" {
			t.Errorf("repair allowed 7 removals: %+v, %v", rep, err)
		}
		if d := cmp.Diff([]string{"budi"}, e.rt.names("main")); d != "" {
			t.Errorf("router after the repair (-want +got):\n%s", d)
		}
	})
}

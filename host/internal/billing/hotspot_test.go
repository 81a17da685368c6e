package billing_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// TestHotspotVoucherLogins is a hotspot batch's life against a router
// plugin served over gRPC: its codes become hotspot logins with the plan's
// profile (after the router failed twice: the job retries and the batch
// shows the failure meanwhile); routers sync does not call them strays; a
// login seen online gets its first login and expiry; at expiry it is
// removed (a plan without an isolation profile) or isolated (with one),
// and the voucher is expired. Unused logins stay.
func TestHotspotVoucherLogins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		ctx := context.Background()
		q := st.Q()
		loc, err := q.GetLocationByName(ctx, "main")
		if err != nil {
			t.Fatal(err)
		}
		walkIn := &store.Plan{Name: "Hotspot 3 Jam", Kind: store.PlanHotspot, RateLimit: "2M/4M", SharedUsers: 1, TimeLimit: 3 * time.Hour,
			Validity: time.Hour, Price: 5000, Currency: "IDR", Active: true}
		walled := &store.Plan{Name: "Hotspot Hari", Kind: store.PlanHotspot, Validity: time.Hour, Price: 10000, Currency: "IDR",
			IsolationProfile: "isolir", Active: true}
		for _, p := range []*store.Plan{walkIn, walled} {
			if err := q.CreatePlan(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		e.rt.down.Store(2)
		batch := func(p *store.Plan, n int) (*store.VoucherBatch, []store.Voucher) {
			b := &store.VoucherBatch{PlanID: p.ID, LocationID: loc.ID, Kind: store.BatchHotspot}
			var vs []store.Voucher
			if err := st.Tx(ctx, func(tx *store.Tx) error {
				var err error
				if vs, err = tx.Q().CreateVoucherBatch(ctx, b, n); err != nil {
					return err
				}
				return e.svc.ProvisionHotspotBatchTx(ctx, tx, b.ID)
			}); err != nil {
				t.Fatal(err)
			}
			return b, vs
		}
		b1, codes := batch(walkIn, 3)
		b2, walledCodes := batch(walled, 1)
		e.waitJobs("provision_hotspot_batch")
		for _, b := range []*store.VoucherBatch{b1, b2} {
			got, err := q.GetVoucherBatch(ctx, b.ID)
			if err != nil || !got.Logins.Provisioned() || got.Logins.Ready != b.Size || got.ProvisionError != "" {
				t.Fatalf("batch %d after provisioning: %+v %+v, %v", b.ID, got, got.Logins, err)
			}
		}
		for _, v := range codes {
			u, ok := e.rt.user("main", v.Code)
			if !ok || u.Kind != router.KindHotspot || u.Password != v.Code || u.Profile != "mb-hotspot-3-jam" || u.LimitUptime != 3*time.Hour ||
				u.Comment != "voucher batch "+itoa(b1.ID) {
				t.Errorf("login %s on the router: %+v (%v)", v.Code, u, ok)
			}
		}
		if p, ok := e.rt.profiles["main/mb-hotspot-3-jam"]; !ok || p.RateLimit != "2M/4M" {
			t.Errorf("profile: %+v (%v)", p, ok)
		}

		// routers sync knows them.
		rep, err := e.svc.SyncRouters(ctx, billing.SyncOptions{})
		if err != nil || rep.Drift != 0 {
			t.Fatalf("routers sync with voucher logins: %+v, %v; want no drift", rep, err)
		}

		// Nobody online: nothing recorded.
		scan := func() {
			t.Helper()
			if _, err := e.q.Insert(ctx, billing.VoucherLoginScanArgs{}, nil); err != nil {
				t.Fatal(err)
			}
			e.waitJobs("voucher_login_scan")
		}
		scan()
		if v, _ := q.GetVoucher(ctx, codes[0].ID); v.LoginState != store.LoginReady {
			t.Fatalf("before any login: %+v", v)
		}
		// The first code logged in 90 minutes ago (its hour is over), the
		// second 10 minutes ago, the walled one two hours ago; a customer
		// is online too.
		before := time.Now()
		e.rt.login("main", codes[0].Code, 90*time.Minute)
		e.rt.login("main", codes[1].Code, 10*time.Minute)
		e.rt.login("main", walledCodes[0].Code, 2*time.Hour)
		e.rt.login("main", "budi", time.Minute)
		scan()
		v1, _ := q.GetVoucher(ctx, codes[1].ID)
		wantFirst := before.Add(-10 * time.Minute)
		if v1.LoginState != store.LoginActive || v1.FirstLoginAt.Before(wantFirst.Add(-time.Second)) || v1.FirstLoginAt.After(time.Now().Add(-10*time.Minute)) ||
			v1.ExpiresAt.Sub(v1.FirstLoginAt) != time.Hour {
			t.Errorf("second code after its login: %+v; want active, first login 10 minutes ago, expiry an hour later", v1)
		}

		if _, err := e.q.Insert(ctx, billing.ExpiryScanArgs{}, nil); err != nil {
			t.Fatal(err)
		}
		e.waitJobs("expiry_scan", "expire_voucher_login")
		states := map[int64]string{}
		for _, v := range append(slices.Clone(codes), walledCodes...) {
			got, _ := q.GetVoucher(ctx, v.ID)
			states[v.ID] = got.LoginState
		}
		want := map[int64]string{codes[0].ID: store.LoginExpired, codes[1].ID: store.LoginActive, codes[2].ID: store.LoginReady, walledCodes[0].ID: store.LoginExpired}
		for id, w := range want {
			if states[id] != w {
				t.Errorf("voucher %d is %s, want %s", id, states[id], w)
			}
		}
		if _, ok := e.rt.user("main", codes[0].Code); ok {
			t.Error("the expired login of a plan without isolation is still on the router")
		}
		if u, ok := e.rt.user("main", walledCodes[0].Code); !ok || u.Profile != "isolir" {
			t.Errorf("the expired login of a plan with isolation: %+v (%v); want profile isolir", u, ok)
		}
		for _, v := range codes[1:] {
			if _, ok := e.rt.user("main", v.Code); !ok {
				t.Errorf("login %s removed before its time", v.Code)
			}
		}
		e.waitJobs("audit")
		acts := e.au.actions()
		for _, a := range []string{"voucher.first_login", "voucher.expired", "voucher.isolated"} {
			if !slices.Contains(acts, a) {
				t.Errorf("audit actions %v lack %s", acts, a)
			}
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

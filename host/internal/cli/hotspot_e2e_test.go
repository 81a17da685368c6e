package cli

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// TestHotspotVoucherFromPrintToExpiry is a hotspot voucher's life over the
// real protocol (the mikrotik plugin against a fake RouterOS server): a
// hotspot batch made through the API becomes hotspot users on the router
// with the plan's profile, the code as password and mikrobill's comment;
// the CSV export carries each code's login address; a code seen online
// gets its first login and its expiry (first login + the plan's validity);
// at expiry its login is removed from the router and the voucher is
// expired, while the unused codes stay; routers sync calls none of them a
// stray.
func TestHotspotVoucherFromPrintToExpiry(t *testing.T) {
	rh := startRouterHost(t, "hotspot {\n  login_url = \"http://wifi.example.net/login\"\n}\noperator {\n  name = \"Net Kampung\"\n}\n")
	rt := rh.rt
	plan := rh.create("/api/v1/plans", map[string]any{"name": "Voucher 1 Jam", "kind": "hotspot", "rate_limit": "1M/2M", "shared_users": 1,
		"validity_seconds": 3, "price": 3000, "currency": "IDR", "active": true})
	var made struct {
		ID       int64 `json:"id"`
		Kind     string
		Vouchers []struct {
			ID   int64  `json:"id"`
			Code string `json:"code"`
		} `json:"vouchers"`
	}
	if code, raw := rh.api(http.MethodPost, "/api/v1/voucher-batches", rh.tok, map[string]any{"plan_id": plan, "location_id": rh.loc, "count": 3, "kind": "hotspot"}, &made); code != http.StatusCreated || len(made.Vouchers) != 3 || made.Kind != "hotspot" {
		t.Fatalf("make a hotspot batch: %d %s", code, raw)
	}
	codes := []string{made.Vouchers[0].Code, made.Vouchers[1].Code, made.Vouchers[2].Code}

	sdktest.WaitFor(t, 20*time.Second, "the batch's logins on the router", func() bool {
		for _, c := range codes {
			if _, ok := rt.Find("/ip/hotspot/user", c); !ok {
				return false
			}
		}
		return true
	})
	for _, c := range codes {
		u, _ := rt.Find("/ip/hotspot/user", c)
		if u["profile"] != "mb-voucher-1-jam" || !strings.HasPrefix(u["comment"], "mikrobill") || !strings.Contains(u["comment"], fmt.Sprintf("voucher batch %d", made.ID)) {
			t.Errorf("login %s on the router: %v; want profile mb-voucher-1-jam and mikrobill's comment naming the batch", c, u)
		}
	}
	for _, cmd := range rt.Commands() {
		if cmd.Word == "/ip/hotspot/user/add" && cmd.Attrs["name"] == codes[0] && cmd.Attrs["password"] != codes[0] {
			t.Errorf("login %s was added with password %q; want the code", codes[0], cmd.Attrs["password"])
		}
	}
	if p, ok := rt.Find("/ip/hotspot/user/profile", "mb-voucher-1-jam"); !ok || p["rate-limit"] != "1M/2M" {
		t.Errorf("the plan's profile: %v (%v)", p, ok)
	}
	var batch struct {
		Logins struct{ Pending, Ready, Active, Expired int } `json:"logins"`
	}
	sdktest.WaitFor(t, 10*time.Second, "the batch provisioned in the store", func() bool {
		rh.api(http.MethodGet, fmt.Sprintf("/api/v1/voucher-batches/%d", made.ID), rh.tok, nil, &batch)
		return batch.Logins.Ready == 3 && batch.Logins.Pending == 0
	})

	// The CSV export: each code with the login address its QR code opens.
	code, raw := rh.api(http.MethodGet, fmt.Sprintf("/api/v1/voucher-batches/%d/export.csv", made.ID), rh.tok, nil, nil)
	rows, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	if code != http.StatusOK || err != nil || len(rows) != 4 {
		t.Fatalf("export: %d %v %s", code, err, raw)
	}
	if got, want := rows[1][len(rows[1])-1], "http://wifi.example.net/login?password="+codes[0]+"&username="+codes[0]; rows[1][2] != codes[0] || got != want {
		t.Errorf("export row %v; want code %s and login_url %s", rows[1], codes[0], want)
	}

	// The first code's customer logs in to the hotspot.
	loggedIn := time.Now()
	rt.Add("/ip/hotspot/active", map[string]string{"user": codes[0], "address": "10.5.50.77", "mac-address": "AA:BB:CC:00:11:77", "server": "hotspot1"})
	type voucher struct {
		Code         string    `json:"code"`
		LoginState   string    `json:"login_state"`
		FirstLoginAt time.Time `json:"first_login_at"`
		ExpiresAt    time.Time `json:"expires_at"`
	}
	var list struct {
		Items []voucher `json:"items"`
	}
	states := func() map[string]voucher {
		rh.api(http.MethodGet, fmt.Sprintf("/api/v1/voucher-batches/%d/vouchers", made.ID), rh.tok, nil, &list)
		out := map[string]voucher{}
		for _, v := range list.Items {
			out[v.Code] = v
		}
		return out
	}
	var first voucher
	sdktest.WaitFor(t, 20*time.Second, "the first login recorded", func() bool {
		first = states()[codes[0]]
		return first.LoginState == "active" || first.LoginState == "expired"
	})
	if first.FirstLoginAt.Before(loggedIn.Add(-2*time.Second)) || first.ExpiresAt.Sub(first.FirstLoginAt) != 3*time.Second {
		t.Errorf("first login %v, expiry %v; want the login's time and 3 seconds later", first.FirstLoginAt, first.ExpiresAt)
	}

	// Its validity over, the login goes from the router, its session too.
	sdktest.WaitFor(t, 30*time.Second, "the expired login removed from the router", func() bool {
		_, ok := rt.Find("/ip/hotspot/user", codes[0])
		return !ok && states()[codes[0]].LoginState == "expired"
	})
	for _, s := range rt.Rows("/ip/hotspot/active") {
		if s["user"] == codes[0] {
			t.Errorf("the expired login's session is still up: %v", s)
		}
	}
	now := states()
	for _, c := range codes[1:] {
		if _, ok := rt.Find("/ip/hotspot/user", c); !ok || now[c].LoginState != "ready" {
			t.Errorf("unused code %s: on the router %v, state %q; want it there and ready", c, ok, now[c].LoginState)
		}
	}

	// routers sync knows the voucher logins: nothing to repair.
	var rep billing.SyncReport
	if code, raw := rh.api(http.MethodGet, "/api/v1/routers/drift", rh.tok, nil, &rep); code != http.StatusOK || rep.Drift != 0 {
		t.Errorf("drift with voucher logins: %d %s; want none", code, raw)
	}
}

package cli

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/sdk/routertest"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// routerHost is a host with the real mikrotik and payment-manual plugins,
// configured through the old MIKROTIK_* variables to manage a fake router
// speaking the RouterOS API, with expiry checked every second.
type routerHost struct {
	*host
	rt     *routertest.Router
	tok    string
	loc    int64
	secret string
}

// more is added to the host's mikrobill.hcl.
func startRouterHost(t *testing.T, more ...string) *routerHost {
	t.Helper()
	return startRouterHostWith(t, routerHostOptions{}, more...)
}

// routerHostOptions add to a router host.
type routerHostOptions struct {
	// add installs more plugins in the plugin directory.
	add func(d *testenv.PluginDir)
	// env is more environment for the host (DATABASE_URL, ...).
	env []string
}

// startRouterHostWith is startRouterHost with more plugins and
// environment.
func startRouterHostWith(t *testing.T, o routerHostOptions, more ...string) *routerHost {
	t.Helper()
	rt := routertest.Start(t, routertest.Options{Username: "billing", Password: "router-pass-42"})
	// The operator's walled garden, made on the router by hand: not ours.
	rt.Add("/ip/hotspot/user/profile", map[string]string{"name": "isolir", "rate-limit": "64k/64k"})

	d := testenv.NewPluginDir(t)
	d.AddBundled("payment-manual")
	d.AddBundled("mikrotik")
	if o.add != nil {
		o.add(d)
	}
	cfgFile := filepath.Join(t.TempDir(), "mikrobill.hcl")
	if err := os.WriteFile(cfgFile, []byte("jobs {\n  expiry_check_interval = \"1s\"\n}\n"+strings.Join(more, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHost(t, d.Dir, append([]string{"MIKROBILL_CONFIG=" + cfgFile,
		"MIKROTIK_HOST=127.0.0.1", "MIKROTIK_PORT=" + strconv.Itoa(rt.Port()),
		"MIKROTIK_USERNAME=billing", "MIKROTIK_PASSWORD=router-pass-42"}, o.env...)...)
	rh := &routerHost{host: h, rt: rt, tok: h.adminToken(), secret: "confirm-secret-0123456789"}
	if code, body := h.api(http.MethodPut, "/api/v1/plugin-settings/payment-manual", rh.tok, map[string]any{"confirm_secret": rh.secret, "currencies": []string{"IDR"}}, nil); code != http.StatusOK {
		t.Fatalf("save payment-manual settings: %d %s", code, body)
	}
	// MIKROTIK_HOST made a location named "default" in the store.
	var locs struct {
		Items []struct {
			ID     int64  `json:"id"`
			Name   string `json:"name"`
			Plugin string `json:"plugin"`
		} `json:"items"`
	}
	if code, body := h.api(http.MethodGet, "/api/v1/locations", rh.tok, nil, &locs); code != http.StatusOK || len(locs.Items) != 1 || locs.Items[0].Name != "default" || locs.Items[0].Plugin != "mikrotik" {
		t.Fatalf("locations: %d %s; want the default location MIKROTIK_HOST configures", code, body)
	}
	rh.loc = locs.Items[0].ID
	return rh
}

func (rh *routerHost) create(path string, body any) int64 {
	rh.t.Helper()
	var out struct {
		ID int64 `json:"id"`
	}
	if code, raw := rh.api(http.MethodPost, path, rh.tok, body, &out); code != http.StatusCreated {
		rh.t.Fatalf("POST %s: %d %s", path, code, raw)
	}
	return out.ID
}

// payByWebhook invoices the customer for the plan, starts paying with
// payment-manual and posts its signed confirmation to /webhooks.
func (rh *routerHost) payByWebhook(customer, plan int64, event string) {
	rh.t.Helper()
	inv := rh.create("/api/v1/invoices", map[string]any{"customer_id": customer, "plan_id": plan})
	var started payStarted
	if code, raw := rh.api(http.MethodPost, fmt.Sprintf("/api/v1/invoices/%d/pay", inv), rh.tok, map[string]any{"gateway": "payment-manual"}, &started); code != http.StatusOK {
		rh.t.Fatalf("pay: %d %s", code, raw)
	}
	body := []byte(fmt.Sprintf(`{"event_id":%q,"payment_id":%q,"amount":%d,"currency":"IDR","confirmed_by":"cashier"}`, event, started.Payment.ID, started.Payment.Amount))
	mac := hmac.New(sha256.New, []byte(rh.secret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+rh.addr+"/webhooks/payment-manual", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Mikrobill-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		rh.t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		rh.t.Fatalf("webhook: %d %s", resp.StatusCode, raw)
	}
}

// provisionsDone reports whether no provision job is waiting, running or
// failing: a test may change the router by hand without racing one.
func (rh *routerHost) provisionsDone() bool {
	var open struct {
		Items []json.RawMessage `json:"items"`
	}
	rh.api(http.MethodGet, "/api/v1/jobs?kind=provision&state=available&state=running&state=retryable&state=scheduled&state=pending", rh.tok, nil, &open)
	return len(open.Items) == 0
}

// TestPaidWebhookProvisionsAndExpiryIsolates is the router flow end to end
// over the real protocol: a paid webhook puts the customer on the fake
// router as a hotspot user with the plan's profile (rate limit and shared
// users as the plan says); when the subscription expires, the user is
// moved to the plan's isolation profile and the active session is
// disconnected.
func TestPaidWebhookProvisionsAndExpiryIsolates(t *testing.T) {
	rh := startRouterHost(t)
	rt := rh.rt
	plan := rh.create("/api/v1/plans", map[string]any{"name": "Hotspot 3 Jam", "kind": "hotspot", "rate_limit": "2M/4M", "shared_users": 2,
		"validity_seconds": 5, "price": 5000, "currency": "IDR", "active": true, "isolation_profile": "isolir"})
	cust := rh.create("/api/v1/customers", map[string]any{"name": "Budi", "phone": "+6281234567890", "router_username": "budi",
		"router_password": "rahasia-123", "location_id": rh.loc})

	// Eko's login will be removed by hand before his period ends; Fajar's
	// name is taken on the router by an entry the operator made.
	eko := rh.create("/api/v1/customers", map[string]any{"name": "Eko", "router_username": "eko", "router_password": "eko-pass-123", "location_id": rh.loc})
	fajar := rh.create("/api/v1/customers", map[string]any{"name": "Fajar", "router_username": "fajar", "router_password": "fajar-pass-1", "location_id": rh.loc})
	rt.Add("/ip/hotspot/user", map[string]string{"name": "fajar", "password": "his-own", "profile": "default", "comment": "staff"})

	rh.payByWebhook(cust, plan, "evt-budi-1")
	rh.payByWebhook(eko, plan, "evt-eko-1")
	rh.payByWebhook(fajar, plan, "evt-fajar-1")
	// Removed once his provision job is done (removed in between, the job
	// would rightly put him back on its retry).
	sdktest.WaitFor(t, 20*time.Second, "eko provisioned", func() bool {
		if _, ok := rt.Find("/ip/hotspot/user", "eko"); !ok {
			return false
		}
		return rh.provisionsDone()
	})
	u, _ := rt.Find("/ip/hotspot/user", "eko")
	rt.Remove("/ip/hotspot/user", u[".id"])

	var user map[string]string
	sdktest.WaitFor(t, 20*time.Second, "budi on the router", func() bool {
		var ok bool
		user, ok = rt.Find("/ip/hotspot/user", "budi")
		return ok
	})
	// The user was created with the plan's profile (read from what the
	// router was sent: by now expiry may already have isolated it).
	var added bool
	for _, c := range rt.Commands() {
		if c.Word == "/ip/hotspot/user/add" && c.Attrs["name"] == "budi" {
			added = true
			if c.Attrs["profile"] != "mb-hotspot-3-jam" || c.Attrs["password"] != "rahasia-123" || !strings.HasPrefix(c.Attrs["comment"], "mikrobill") {
				t.Errorf("budi was added with %v; want profile mb-hotspot-3-jam, the customer's password and a mikrobill comment", c.Attrs)
			}
		}
	}
	if !added {
		t.Fatalf("no /ip/hotspot/user/add for budi among the router's commands; the user is %v", user)
	}
	prof, ok := rt.Find("/ip/hotspot/user/profile", "mb-hotspot-3-jam")
	if !ok || prof["rate-limit"] != "2M/4M" || prof["shared-users"] != "2" || !strings.HasPrefix(prof["comment"], "mikrobill") {
		t.Errorf("plan profile on the router: %v (found %v); want rate-limit 2M/4M, shared-users 2, a mikrobill comment", prof, ok)
	}

	// Budi logs in to the hotspot.
	rt.Add("/ip/hotspot/active", map[string]string{"user": "budi", "address": "10.5.50.23", "mac-address": "AA:BB:CC:00:11:22", "server": "hotspot1"})

	sdktest.WaitFor(t, 30*time.Second, "budi isolated after expiry", func() bool {
		u, _ := rt.Find("/ip/hotspot/user", "budi")
		return u["profile"] == "isolir"
	})
	sdktest.WaitFor(t, 30*time.Second, "budi's session disconnected", func() bool {
		for _, s := range rt.Rows("/ip/hotspot/active") {
			if s["user"] == "budi" {
				return false
			}
		}
		return true
	})
	var subs struct {
		Items []struct {
			Status string `json:"status"`
		} `json:"items"`
	}
	sdktest.WaitFor(t, 30*time.Second, "subscription isolated in the store", func() bool {
		rh.api(http.MethodGet, fmt.Sprintf("/api/v1/subscriptions?customer_id=%d", cust), rh.tok, nil, &subs)
		return len(subs.Items) == 1 && subs.Items[0].Status == "isolated"
	})
	// Eko's missing login does not hold his expiry up, nor does Fajar's
	// entry, which is not ours: its provision job is cancelled with the
	// reason, his period ends in the store, and the entry is untouched.
	for _, c := range []int64{eko, fajar} {
		sdktest.WaitFor(t, 30*time.Second, fmt.Sprintf("customer %d's subscription isolated although the router was not changed", c), func() bool {
			rh.api(http.MethodGet, fmt.Sprintf("/api/v1/subscriptions?customer_id=%d", c), rh.tok, nil, &subs)
			return len(subs.Items) == 1 && subs.Items[0].Status == "isolated"
		})
	}
	var cancelled struct {
		Items []struct {
			Kind      string `json:"kind"`
			LastError string `json:"last_error"`
		} `json:"items"`
	}
	rh.api(http.MethodGet, "/api/v1/jobs?state=cancelled&state=discarded&kind=provision&kind=expire", rh.tok, nil, &cancelled)
	if len(cancelled.Items) != 1 || cancelled.Items[0].Kind != "provision" || !strings.Contains(cancelled.Items[0].LastError, `"fajar"`) ||
		!strings.Contains(cancelled.Items[0].LastError, "not managed by mikrobill") {
		t.Errorf("cancelled jobs %+v; want fajar's provision job, cancelled because the entry is not mikrobill's", cancelled.Items)
	}
	if u, _ := rt.Find("/ip/hotspot/user", "fajar"); u["password"] != "his-own" || u["profile"] != "default" || u["comment"] != "staff" {
		t.Errorf("the operator's own entry was changed: %v", u)
	}
	var retrying struct {
		Items []json.RawMessage `json:"items"`
	}
	rh.api(http.MethodGet, "/api/v1/jobs?state=retryable", rh.tok, nil, &retrying)
	if len(retrying.Items) != 0 {
		t.Errorf("jobs left retrying: %s", retrying.Items)
	}

	// The operator's isolation profile was used, never changed.
	if p, _ := rt.Find("/ip/hotspot/user/profile", "isolir"); p["rate-limit"] != "64k/64k" {
		t.Errorf("the operator's isolir profile was changed: %v", p)
	}
	for _, c := range rt.Commands() {
		if strings.HasPrefix(c.Word, "/ip/hotspot/user/profile/") && c.Word != "/ip/hotspot/user/profile/print" && c.Attrs["name"] == "isolir" {
			t.Errorf("a write to the operator's profile: %s %v", c.Word, c.Attrs)
		}
	}

	// The drift report agrees with the router about budi (isolated), and
	// names eko's missing login and fajar's name clash.
	var rep billing.SyncReport
	if code, raw := rh.api(http.MethodGet, "/api/v1/routers/drift", rh.tok, nil, &rep); code != http.StatusOK || len(rep.Locations) != 1 || !rep.Locations[0].Compared {
		t.Fatalf("drift after expiry: %d %s", code, raw)
	}
	got := map[string]string{}
	for _, d := range rep.Locations[0].Drift {
		got[d.User] = d.Problem
	}
	if d := cmp.Diff(map[string]string{"eko": billing.DriftMissing, "fajar": billing.DriftNotManaged}, got); d != "" {
		t.Errorf("drift after expiry (-want +got):\n%s", d)
	}

	// The router's metrics reach the host's /metrics, per location.
	_, metrics := rh.get("/metrics")
	for _, want := range []string{`mikrobill_router_up{location="default"`, `mikrobill_router_command_duration_seconds_bucket{`, `mikrobill_router_active_sessions{`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestProvisionWaitsForADownRouter: a router that is down when a payment
// arrives fails the provision job, which stays listed and is retried; once
// the router is back the user appears. A redeemed voucher provisions too.
func TestProvisionWaitsForADownRouter(t *testing.T) {
	rh := startRouterHost(t)
	rt := rh.rt
	plan := rh.create("/api/v1/plans", map[string]any{"name": "Home 10M", "kind": "pppoe", "rate_limit": "5M/10M",
		"validity_seconds": 30 * 86400, "price": 150000, "currency": "IDR", "active": true})
	cust := rh.create("/api/v1/customers", map[string]any{"name": "Sari", "phone": "+6281200000001", "router_username": "sari",
		"router_password": "sari-secret-1", "location_id": rh.loc})

	rt.Stop()
	rh.payByWebhook(cust, plan, "evt-sari-1")

	type job struct {
		ID        int64  `json:"id"`
		Kind      string `json:"kind"`
		State     string `json:"state"`
		Attempt   int    `json:"attempt"`
		LastError string `json:"last_error"`
	}
	var failing job
	sdktest.WaitFor(t, 20*time.Second, "the provision job failing while the router is down", func() bool {
		var jobs struct {
			Items []job `json:"items"`
		}
		rh.api(http.MethodGet, "/api/v1/jobs?kind=provision&state=retryable", rh.tok, nil, &jobs)
		if len(jobs.Items) == 1 {
			failing = jobs.Items[0]
			return true
		}
		return false
	})
	if !strings.Contains(failing.LastError, "unreachable") || failing.Attempt < 1 {
		t.Errorf("failing provision job %+v; want the router's unreachability as its error", failing)
	}
	if _, ok := rt.Find("/ppp/secret", "sari"); ok {
		t.Fatal("sari is on a router that is down")
	}

	rt.Resume()
	// The operator does not wait for the next backoff: retry now (the
	// plugin may still be backing off its reconnect, so retry until done).
	sdktest.WaitFor(t, 45*time.Second, "sari on the router once it is back", func() bool {
		if _, ok := rt.Find("/ppp/secret", "sari"); ok {
			return true
		}
		var j job
		if code, _ := rh.api(http.MethodGet, fmt.Sprintf("/api/v1/jobs/%d", failing.ID), rh.tok, nil, &j); code == http.StatusOK && j.State == "retryable" {
			rh.api(http.MethodPost, fmt.Sprintf("/api/v1/jobs/%d/retry", failing.ID), rh.tok, nil, nil)
		}
		time.Sleep(500 * time.Millisecond)
		return false
	})
	secret, _ := rt.Find("/ppp/secret", "sari")
	if secret["profile"] != "mb-home-10m" || secret["password"] != "sari-secret-1" {
		t.Errorf("sari's PPP secret %v; want profile mb-home-10m and her password", secret)
	}
	if p, ok := rt.Find("/ppp/profile", "mb-home-10m"); !ok || p["rate-limit"] != "5M/10M" {
		t.Errorf("PPP profile %v (found %v); want rate-limit 5M/10M", p, ok)
	}
	var j job
	sdktest.WaitFor(t, 30*time.Second, "the provision job completed", func() bool {
		rh.api(http.MethodGet, fmt.Sprintf("/api/v1/jobs/%d", failing.ID), rh.tok, nil, &j)
		return j.State == "completed"
	})

	// A voucher redeemed at the counter provisions the same way.
	hotspot := rh.create("/api/v1/plans", map[string]any{"name": "Voucher 1 Hari", "kind": "hotspot", "rate_limit": "1M/2M",
		"validity_seconds": 86400, "price": 3000, "currency": "IDR", "active": true})
	walkIn := rh.create("/api/v1/customers", map[string]any{"name": "Walk-in 7", "router_username": "walkin7",
		"router_password": "walkin-7-pass", "location_id": rh.loc})
	var batch struct {
		Vouchers []struct {
			Code string `json:"code"`
		} `json:"vouchers"`
	}
	if code, raw := rh.api(http.MethodPost, "/api/v1/voucher-batches", rh.tok, map[string]any{"plan_id": hotspot, "location_id": rh.loc, "count": 1}, &batch); code != http.StatusCreated || len(batch.Vouchers) != 1 {
		t.Fatalf("voucher batch: %d %s", code, raw)
	}
	if code, raw := rh.api(http.MethodPost, "/api/v1/vouchers/redeem", rh.tok, map[string]any{"code": batch.Vouchers[0].Code, "customer_id": walkIn}, nil); code != http.StatusOK {
		t.Fatalf("redeem: %d %s", code, raw)
	}
	sdktest.WaitFor(t, 20*time.Second, "the voucher's customer on the router", func() bool {
		u, ok := rt.Find("/ip/hotspot/user", "walkin7")
		return ok && u["profile"] == "mb-voucher-1-hari"
	})
}

// TestRoutersSync: `mikrobill routers sync` reports how the router differs
// from the store (a subscriber's login removed by hand, a changed profile,
// a login left behind, an entry of the same name that is not ours) and,
// with --repair, puts it right without touching what is not ours.
func TestRoutersSync(t *testing.T) {
	rh := startRouterHost(t)
	rt := rh.rt
	plan := rh.create("/api/v1/plans", map[string]any{"name": "Home 10M", "kind": "pppoe", "rate_limit": "5M/10M",
		"validity_seconds": 30 * 86400, "price": 150000, "currency": "IDR", "active": true})
	var custs []int64
	for i, name := range []string{"andi", "citra", "dewi"} {
		custs = append(custs, rh.create("/api/v1/customers", map[string]any{"name": name, "phone": fmt.Sprintf("+62812000000%02d", i),
			"router_username": name, "router_password": name + "-secret", "location_id": rh.loc}))
	}
	// dewi's login name is taken on the router by an entry the operator
	// made by hand.
	rt.Add("/ppp/secret", map[string]string{"name": "dewi", "password": "hers", "profile": "default", "comment": "made by hand"})
	for i, c := range custs {
		rh.payByWebhook(c, plan, fmt.Sprintf("evt-sync-%d", i))
	}
	sdktest.WaitFor(t, 20*time.Second, "andi and citra on the router", func() bool {
		_, a := rt.Find("/ppp/secret", "andi")
		_, c := rt.Find("/ppp/secret", "citra")
		return a && c && rh.provisionsDone()
	})
	// Drift: andi removed by hand, citra's profile changed by hand, a
	// login of ours nobody accounts for.
	andi, _ := rt.Find("/ppp/secret", "andi")
	rt.Remove("/ppp/secret", andi[".id"])
	citra, _ := rt.Find("/ppp/secret", "citra")
	rt.Set("/ppp/secret", citra[".id"], map[string]string{"profile": "default"})
	rt.Add("/ppp/secret", map[string]string{"name": "ghost", "password": "x", "profile": "default", "comment": "mikrobill: customer 99 gone"})
	rt.Add("/ppp/active", map[string]string{"name": "citra", "address": "10.0.0.7", "caller-id": "AA:AA:AA:AA:AA:07", "service": "pppoe"})

	sync := func(args ...string) (int, string) {
		t.Helper()
		err, stdout, stderr := runIn(t, nil, "", append([]string{"routers", "sync", "--address", "http://" + rh.addr, "--token", rh.tok}, args...)...)
		code := 0
		if err != nil {
			ec, ok := err.(exitCoder)
			if !ok {
				t.Fatalf("routers sync %v: %v %s", args, err, stderr)
			}
			code = ec.ExitCode()
		}
		return code, stdout
	}
	code, out := sync()
	for _, want := range []string{"missing", "andi", "profile", "citra", "orphan", "ghost", "not_managed", "dewi", "4 difference(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if code != 2 {
		t.Errorf("exit status %d with drift; want 2", code)
	}
	if _, ok := rt.Find("/ppp/secret", "andi"); ok {
		t.Fatal("a report without --repair changed the router")
	}

	code, out = sync("--repair", "--json")
	var rep billing.SyncReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if rep.Drift != 4 || rep.Repaired != 3 || code != 2 {
		t.Errorf("repair: %d differences, %d repaired, exit %d; want 4, 3 (not dewi's), 2\n%s", rep.Drift, rep.Repaired, code, out)
	}
	if a, ok := rt.Find("/ppp/secret", "andi"); !ok || a["profile"] != "mb-home-10m" {
		t.Errorf("andi after repair: %v", a)
	}
	if c, _ := rt.Find("/ppp/secret", "citra"); c["profile"] != "mb-home-10m" {
		t.Errorf("citra after repair: %v", c)
	}
	for _, s := range rt.Rows("/ppp/active") {
		if s["name"] == "citra" {
			t.Errorf("citra's session with the wrong profile was not ended: %v", s)
		}
	}
	if _, ok := rt.Find("/ppp/secret", "ghost"); ok {
		t.Error("the orphan login is still there")
	}
	if d, _ := rt.Find("/ppp/secret", "dewi"); d["password"] != "hers" || d["comment"] != "made by hand" {
		t.Errorf("the operator's own entry was changed: %v", d)
	}

	// Only dewi's name clash remains; the repair is in the audit log.
	code, out = sync()
	if code != 2 || !strings.Contains(out, "1 difference(s)") || !strings.Contains(out, "not_managed") {
		t.Errorf("after repair: exit %d\n%s", code, out)
	}
	sdktest.WaitFor(t, 30*time.Second, "the repair in the audit log", func() bool {
		_, raw := rh.api(http.MethodGet, "/api/v1/audit", rh.tok, nil, nil)
		return strings.Contains(string(raw), "routers.repaired")
	})
	// An unknown location is a clear 404.
	if code, raw := rh.api(http.MethodGet, "/api/v1/routers/drift?location=nowhere", rh.tok, nil, nil); code != http.StatusNotFound || !strings.Contains(string(raw), "nowhere") {
		t.Errorf("unknown location: %d %s", code, raw)
	}

	// More than a handful of orphans (as after a switch to the wrong
	// store): the repair shows its plan and refuses, changing nothing,
	// until --allow-removals covers them.
	for i := range 6 {
		rt.Add("/ppp/secret", map[string]string{"name": fmt.Sprintf("stale-%d", i), "password": "x", "profile": "default", "comment": "mikrobill: from another store"})
	}
	err, stdout, stderr := runIn(t, nil, "", "routers", "sync", "--address", "http://"+rh.addr, "--token", rh.tok, "--repair")
	if ec, ok := err.(exitCoder); !ok || ec.ExitCode() != 1 || !strings.Contains(stdout, "stale-5") || !strings.Contains(stdout, "repair refused") ||
		!strings.Contains(fmt.Sprint(err), "--allow-removals 6") {
		t.Errorf("repair removing 6 logins unasked: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	if _, ok := rt.Find("/ppp/secret", "stale-0"); !ok {
		t.Fatal("a refused repair removed a login")
	}
	if code, out := sync("--repair", "--allow-removals", "6"); !strings.Contains(out, "6 repaired") || code != 2 {
		t.Errorf("repair allowed 6 removals: exit %d\n%s", code, out)
	}
	if _, ok := rt.Find("/ppp/secret", "stale-0"); ok {
		t.Error("the allowed removals did not happen")
	}
}

// TestRouterPasswordsAreSecret: the routers' passwords inside the mikrotik
// plugin's "locations" are secrets like top-level ones: encrypted in the
// database, redacted in answers and in the audit log, kept when sent back
// as "<redacted>" (matched by location id, in any order), and decrypted
// for the plugin, which logs in with them.
func TestRouterPasswordsAreSecret(t *testing.T) {
	rh := startRouterHost(t)
	branch := routertest.Start(t, routertest.Options{Username: "admin", Password: "branch-pass-77"})
	third := routertest.Start(t, routertest.Options{Username: "admin", Password: "third-pass-88"})
	location := func(id string, r *routertest.Router, password string) map[string]any {
		return map[string]any{"id": id, "address": "127.0.0.1", "port": r.Port(), "username": "admin", "password": password}
	}
	const path = "/api/v1/plugin-settings/mikrotik"
	var saved struct {
		Settings struct {
			Locations []map[string]any `json:"locations"`
		} `json:"settings"`
		SecretFields []string `json:"secret_fields"`
	}
	code, raw := rh.api(http.MethodPut, path, rh.tok, map[string]any{"locations": []any{location("branch-2", branch, "branch-pass-77")}}, &saved)
	if code != http.StatusOK || len(saved.Settings.Locations) != 1 || saved.Settings.Locations[0]["password"] != "<redacted>" ||
		!strings.Contains(strings.Join(saved.SecretFields, ","), "locations[].password") || strings.Contains(string(raw), "branch-pass-77") {
		t.Fatalf("save: %d %s; want the password redacted and locations[].password among the secret fields", code, raw)
	}
	if _, raw := rh.api(http.MethodGet, path, rh.tok, nil, nil); strings.Contains(string(raw), "branch-pass-77") || !strings.Contains(string(raw), `"<redacted>"`) {
		t.Errorf("GET shows the router password: %s", raw)
	}
	routersUp := func(want string) {
		t.Helper()
		sdktest.WaitFor(t, 40*time.Second, "health: "+want, func() bool {
			_, body := rh.get("/health/detailed")
			return strings.Contains(string(body), want)
		})
	}
	// The plugin got the password decrypted: it logs in to both routers
	// (the default one from MIKROTIK_* and branch-2).
	if code, raw := rh.api(http.MethodPost, "/api/v1/plugins/mikrotik/restart", rh.tok, nil, nil); code != http.StatusOK {
		t.Fatalf("restart: %d %s", code, raw)
	}
	routersUp("2 of 2 routers up")

	// Sent back redacted, in another order, with a new router: kept.
	code, raw = rh.api(http.MethodPut, path, rh.tok, map[string]any{"locations": []any{
		location("third", third, "third-pass-88"), location("branch-2", branch, "<redacted>")}}, nil)
	if code != http.StatusOK {
		t.Fatalf("save again: %d %s", code, raw)
	}
	routersUp("3 of 3 routers up")
	// A placeholder for a location that has no stored password is refused.
	code, raw = rh.api(http.MethodPut, path, rh.tok, map[string]any{"locations": []any{location("fourth", third, "<redacted>")}}, nil)
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(raw), "locations[].password") {
		t.Errorf("placeholder with nothing to keep: %d %s; want 422 naming locations[].password", code, raw)
	}

	// Nowhere on disk in clear, nor in the audit log.
	sdktest.WaitFor(t, 30*time.Second, "the settings change in the audit log", func() bool {
		_, raw := rh.api(http.MethodGet, "/api/v1/audit", rh.tok, nil, nil)
		return strings.Count(string(raw), "plugin_settings.saved") >= 2
	})
	_, audit := rh.api(http.MethodGet, "/api/v1/audit", rh.tok, nil, nil)
	if strings.Contains(string(audit), "pass-77") || strings.Contains(string(audit), "pass-88") || !strings.Contains(string(audit), "locations[].password") {
		t.Errorf("audit log: %s; want the secret field named, never its value", audit)
	}
	err := filepath.WalkDir(rh.dataDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err // sockets of running plugins are not files to read
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, pw := range []string{"branch-pass-77", "third-pass-88"} {
			if bytes.Contains(b, []byte(pw)) {
				t.Errorf("%s holds a router password in clear", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

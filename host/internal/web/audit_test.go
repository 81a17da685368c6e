package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testutil"
)

// newBilledAPI is newAuthAPI with an encryption key and billing on a
// running job queue, so audit jobs run as on a host; mods change the
// dependencies further.
func newBilledAPI(t *testing.T, db *store.Store, mods ...func(*Deps)) *authAPI {
	t.Helper()
	ctx := context.Background()
	cip, err := store.NewCipher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	if err := jobs.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	svc, err := billing.NewWithQueue(db, cip, testutil.Plugins{}, billing.Config{PublicURL: "https://billing.example.net"}, nil, billing.QueueConfig{Jobs: jobs.Config{PollInterval: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	q := svc.Queue()
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		q.Stop(ctx)
	})
	return newAuthAPI(t, db, func(d *Deps) {
		d.Cipher, d.Billing = cip, svc
		for _, m := range mods {
			m(d)
		}
	})
}

// created sends a request that must answer want and returns the record's
// id.
func (a *authAPI) created(want int, method, path string, body any, opts ...func(*http.Request)) int64 {
	a.t.Helper()
	r := a.do(method, path, body, opts...)
	if r.Status != want {
		a.t.Fatalf("%s %s: %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	var rec struct{ ID int64 }
	if len(r.Body) > 0 {
		r.json(a.t, &rec)
	}
	return rec.ID
}

// auditRecord is an audit log entry as GET /audit shows it.
type auditRecord struct {
	Actor        string            `json:"actor"`
	Action       string            `json:"action"`
	ResourceType string            `json:"resource_type"`
	ResourceID   string            `json:"resource_id"`
	Outcome      string            `json:"outcome"`
	Metadata     map[string]string `json:"metadata"`
}

// waitForAudit polls GET /audit until it holds n records (the audit jobs
// run in the background) and returns them, oldest first, with the raw
// answer.
func (a *authAPI) waitForAudit(admin string, n int) ([]auditRecord, string) {
	a.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := a.do(http.MethodGet, "/api/v1/audit?limit=500", nil, withBearer(admin))
		var list struct{ Items []auditRecord }
		r.json(a.t, &list)
		if len(list.Items) >= n {
			slices.Reverse(list.Items)
			return list.Items, string(r.Body)
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("after 20s the audit log has %d records, want %d: %s", len(list.Items), n, r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestChangesAreAudited: every change through the admin API (users, API
// tokens, the catalog, plugin settings) reaches the audit log, by whom, to
// what, with metadata that never holds a secret; a refused change records
// nothing.
func TestChangesAreAudited(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.Store) {
		a := newBilledAPI(t, db)
		a.user("ana", "admin password 1", RoleAdmin)
		admin := a.loginJWT("ana", "admin password 1")
		as := withBearer(admin)
		const post, put, patch, del = http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete
		id := func(n int64) string { return fmt.Sprint(n) }

		// Users and API tokens.
		user := a.created(201, post, "/api/v1/users", map[string]any{"username": "budi", "password": "operator password 1", "role": "operator"}, as)
		a.created(200, patch, "/api/v1/users/"+id(user), map[string]any{"role": "viewer", "password": "a new password 2"}, as)
		r := a.do(post, "/api/v1/tokens", map[string]any{"name": "backup script"}, as)
		var tok struct {
			ID    int64
			Token string
		}
		r.json(t, &tok)
		if r.Status != 201 {
			t.Fatalf("create token: %d %s", r.Status, r.Body)
		}
		a.created(204, del, "/api/v1/tokens/"+id(tok.ID), nil, as)
		a.created(204, del, "/api/v1/users/"+id(user), nil, as)

		// The catalog.
		plan := a.created(201, post, "/api/v1/plans", map[string]any{"name": "Home 10M", "kind": "pppoe", "validity_seconds": 86400, "price": 150000, "currency": "IDR"}, as)
		a.created(409, post, "/api/v1/plans", map[string]any{"name": "Home 10M", "kind": "pppoe", "validity_seconds": 86400, "currency": "IDR"}, as) // refused: not audited
		a.created(200, put, "/api/v1/plans/"+id(plan), map[string]any{"price": 175000}, as)
		spare := a.created(201, post, "/api/v1/plans", map[string]any{"name": "Day", "kind": "hotspot", "validity_seconds": 86400, "currency": "IDR"}, as)
		a.created(204, del, "/api/v1/plans/"+id(spare), nil, as)
		loc := a.created(201, post, "/api/v1/locations", map[string]any{"name": "main"}, as)
		a.created(200, put, "/api/v1/locations/"+id(loc), map[string]any{"description": "HQ"}, as)
		gone := a.created(201, post, "/api/v1/locations", map[string]any{"name": "branch"}, as)
		a.created(204, del, "/api/v1/locations/"+id(gone), nil, as)
		cust := a.created(201, post, "/api/v1/customers", map[string]any{"name": "Siti", "router_username": "siti", "router_password": "router-secret-1", "location_id": loc}, as)
		a.created(200, put, "/api/v1/customers/"+id(cust), map[string]any{"router_password": "router-secret-2"}, as)
		sub := a.created(201, post, "/api/v1/subscriptions", map[string]any{"customer_id": cust, "plan_id": plan}, as)
		a.created(200, put, "/api/v1/subscriptions/"+id(sub), map[string]any{"status": "cancelled"}, as)
		a.created(204, del, "/api/v1/subscriptions/"+id(sub), nil, as)
		a.created(204, del, "/api/v1/customers/"+id(cust), nil, as)
		r = a.do(post, "/api/v1/voucher-batches", map[string]any{"plan_id": plan, "location_id": loc, "count": 2, "prefix": "HS"}, as)
		var batch struct {
			ID       int64
			Vouchers []struct{ Code string }
		}
		r.json(t, &batch)
		if r.Status != 201 || len(batch.Vouchers) != 2 {
			t.Fatalf("create voucher batch: %d %s", r.Status, r.Body)
		}
		a.created(204, del, "/api/v1/voucher-batches/"+id(batch.ID), nil, as)
		tpl := a.created(201, post, "/api/v1/templates", map[string]any{"name": "welcome", "body": "Hi [[name]]"}, as)
		a.created(200, put, "/api/v1/templates/"+id(tpl), map[string]any{"body": "Hello [[name]]"}, as)
		a.created(204, del, "/api/v1/templates/"+id(tpl), nil, as)
		a.created(200, put, "/api/v1/plugin-settings/payment-x", map[string]any{"api_key": "gateway-secret-1", "mode": "live"}, as)

		want := []auditRecord{
			{Action: "user.created", ResourceType: "user", ResourceID: id(user), Metadata: map[string]string{"username": "budi", "role": "operator", "disabled": "false"}},
			{Action: "user.updated", ResourceType: "user", ResourceID: id(user), Metadata: map[string]string{"username": "budi", "role": "viewer", "disabled": "false", "password_changed": "true", "sessions_ended": "0"}},
			{Action: "token.created", ResourceType: "api_token", ResourceID: id(tok.ID), Metadata: map[string]string{"name": "backup script", "user_id": "1"}},
			{Action: "token.revoked", ResourceType: "api_token", ResourceID: id(tok.ID), Metadata: map[string]string{"name": "backup script", "user_id": "1"}},
			{Action: "user.deleted", ResourceType: "user", ResourceID: id(user), Metadata: map[string]string{"username": "budi", "role": "viewer"}},
			{Action: "plan.created", ResourceType: "plan", ResourceID: id(plan), Metadata: map[string]string{"name": "Home 10M", "price": "150000", "currency": "IDR", "active": "true", "billing_type": "prepaid"}},
			{Action: "plan.updated", ResourceType: "plan", ResourceID: id(plan), Metadata: map[string]string{"name": "Home 10M", "price": "175000", "currency": "IDR", "active": "true", "billing_type": "prepaid"}},
			{Action: "plan.created", ResourceType: "plan", ResourceID: id(spare), Metadata: map[string]string{"name": "Day", "price": "0", "currency": "IDR", "active": "true", "billing_type": "prepaid"}},
			{Action: "plan.deleted", ResourceType: "plan", ResourceID: id(spare)},
			{Action: "location.created", ResourceType: "location", ResourceID: id(loc), Metadata: map[string]string{"name": "main", "plugin": "mikrotik"}},
			{Action: "location.updated", ResourceType: "location", ResourceID: id(loc), Metadata: map[string]string{"name": "main", "plugin": "mikrotik"}},
			{Action: "location.created", ResourceType: "location", ResourceID: id(gone), Metadata: map[string]string{"name": "branch", "plugin": "mikrotik"}},
			{Action: "location.deleted", ResourceType: "location", ResourceID: id(gone)},
			{Action: "customer.created", ResourceType: "customer", ResourceID: id(cust), Metadata: map[string]string{"name": "Siti", "router_username": "siti", "location_id": id(loc), "router_password": "set"}},
			{Action: "customer.updated", ResourceType: "customer", ResourceID: id(cust), Metadata: map[string]string{"name": "Siti", "router_username": "siti", "location_id": id(loc), "router_password": "set"}},
			{Action: "subscription.created", ResourceType: "subscription", ResourceID: id(sub), Metadata: map[string]string{"customer_id": id(cust), "plan_id": id(plan), "status": "pending"}},
			{Action: "subscription.updated", ResourceType: "subscription", ResourceID: id(sub), Metadata: map[string]string{"customer_id": id(cust), "plan_id": id(plan), "status": "cancelled"}},
			{Action: "subscription.deleted", ResourceType: "subscription", ResourceID: id(sub)},
			{Action: "customer.deleted", ResourceType: "customer", ResourceID: id(cust)},
			{Action: "voucher_batch.created", ResourceType: "voucher_batch", ResourceID: id(batch.ID), Metadata: map[string]string{"plan_id": id(plan), "location_id": id(loc), "size": "2", "prefix": "HS", "kind": "redeem"}},
			{Action: "voucher_batch.deleted", ResourceType: "voucher_batch", ResourceID: id(batch.ID)},
			{Action: "template.created", ResourceType: "template", ResourceID: id(tpl), Metadata: map[string]string{"name": "welcome", "channel": "whatsapp"}},
			{Action: "template.updated", ResourceType: "template", ResourceID: id(tpl), Metadata: map[string]string{"name": "welcome", "channel": "whatsapp"}},
			{Action: "template.deleted", ResourceType: "template", ResourceID: id(tpl)},
			{Action: "plugin_settings.saved", ResourceType: "plugin", ResourceID: "payment-x", Metadata: map[string]string{"fields": "api_key,mode", "secret_fields": "api_key"}},
		}
		for i := range want {
			want[i].Actor, want[i].Outcome = "user:ana", "success"
		}
		got, raw := a.waitForAudit(admin, len(want))
		// Events are recorded as their jobs run, not quite in order.
		byKey := func(x, y auditRecord) int {
			return strings.Compare(x.Action+" "+x.ResourceID, y.Action+" "+y.ResourceID)
		}
		slices.SortFunc(want, byKey)
		slices.SortFunc(got, byKey)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("audit log (-want +got):\n%s", diff)
		}
		for _, secret := range []string{"operator password 1", "a new password 2", tok.Token, tok.Token[:10], "router-secret-1", "router-secret-2",
			batch.Vouchers[0].Code, batch.Vouchers[1].Code, "gateway-secret-1"} {
			if strings.Contains(raw, secret) {
				t.Errorf("the audit log holds a secret, %q", secret)
			}
		}
	})
}

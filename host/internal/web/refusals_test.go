package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// apiErr is the API's error shape.
type apiErr struct {
	Status  int
	Code    string
	Message string
	Details map[string]string
}

func (r resp) apiErr(t *testing.T) apiErr {
	t.Helper()
	var e struct {
		Error struct {
			Code    string            `json:"code"`
			Message string            `json:"message"`
			Details map[string]string `json:"details"`
		} `json:"error"`
	}
	r.json(t, &e)
	return apiErr{Status: r.Status, Code: e.Error.Code, Message: e.Error.Message, Details: e.Error.Details}
}

// TestRefusalsSayWhatToDo: a name in use, a voucher that cannot be
// redeemed, and the database's other refusals answer in words for the
// operator, on both backends, never with the database's own text.
func TestRefusalsSayWhatToDo(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.Store) {
		a := newBilledAPI(t, db)
		a.user("ana", "admin password 1", RoleAdmin)
		as := withBearer(a.loginJWT("ana", "admin password 1"))
		const post, put = http.MethodPost, http.MethodPut
		main := a.created(201, post, "/api/v1/locations", map[string]any{"name": "main"}, as)
		branch := a.created(201, post, "/api/v1/locations", map[string]any{"name": "branch"}, as)
		plan := a.created(201, post, "/api/v1/plans", map[string]any{"name": "Home 10M", "kind": "pppoe", "validity_seconds": 86400, "price": 5000, "currency": "IDR"}, as)
		day := a.created(201, post, "/api/v1/plans", map[string]any{"name": "Day", "kind": "hotspot", "validity_seconds": 86400, "currency": "IDR"}, as)
		tpl := a.created(201, post, "/api/v1/templates", map[string]any{"name": "welcome", "body": "Hi"}, as)
		other := a.created(201, post, "/api/v1/templates", map[string]any{"name": "other", "body": "Hi"}, as)
		budi := a.created(201, post, "/api/v1/customers", map[string]any{"name": "Budi", "router_username": "budi", "router_password": "pw", "location_id": main}, as)
		siti := a.created(201, post, "/api/v1/customers", map[string]any{"name": "Siti", "router_username": "siti", "router_password": "pw", "location_id": main}, as)
		_ = tpl
		codes := func(location int64) []string {
			t.Helper()
			r := a.do(post, "/api/v1/voucher-batches", map[string]any{"plan_id": plan, "location_id": location, "count": 2}, as)
			var b struct{ Vouchers []struct{ Code string } }
			r.json(t, &b)
			if r.Status != 201 {
				t.Fatalf("voucher batch: %d %s", r.Status, r.Body)
			}
			return []string{b.Vouchers[0].Code, b.Vouchers[1].Code}
		}
		here, there := codes(main), codes(branch)
		redeemed := a.do(post, "/api/v1/vouchers/redeem", map[string]any{"code": here[0], "customer_id": budi}, as)
		var red struct {
			Voucher struct {
				RedeemedAt string `json:"redeemed_at"`
			} `json:"voucher"`
		}
		redeemed.json(t, &red)
		if redeemed.Status != http.StatusOK {
			t.Fatalf("redeem: %d %s", redeemed.Status, redeemed.Body)
		}
		usedOn := strings.Replace(red.Voucher.RedeemedAt[:16], "T", " ", 1)

		taken := func(msg string, field string) apiErr {
			return apiErr{Status: 409, Code: "conflict", Message: msg, Details: map[string]string{field: msg}}
		}
		invalid := func(msg string, field string) apiErr {
			return apiErr{Status: 422, Code: "validation_failed", Message: msg, Details: map[string]string{field: msg}}
		}
		id := func(n int64) string { return fmt.Sprint(n) }
		tests := []struct {
			name         string
			method, path string
			body         any
			want         apiErr
		}{
			{"location created with a name in use", post, "/api/v1/locations", map[string]any{"name": "main"},
				taken(`a location named "main" exists; choose another name`, "name")},
			{"location renamed to a name in use", put, "/api/v1/locations/" + id(branch), map[string]any{"name": "main"},
				taken(`a location named "main" exists; choose another name`, "name")},
			{"plan created with a name in use", post, "/api/v1/plans", map[string]any{"name": "Home 10M", "kind": "pppoe", "validity_seconds": 60, "currency": "IDR"},
				taken(`a plan named "Home 10M" exists; choose another name`, "name")},
			{"plan renamed to a name in use", put, "/api/v1/plans/" + id(day), map[string]any{"name": "Home 10M"},
				taken(`a plan named "Home 10M" exists; choose another name`, "name")},
			{"template created with a name in use", post, "/api/v1/templates", map[string]any{"name": "welcome", "body": "x"},
				taken(`a template named "welcome" exists; choose another name, or change that template instead`, "name")},
			{"template renamed to a name in use", put, "/api/v1/templates/" + id(other), map[string]any{"name": "welcome"},
				taken(`a template named "welcome" exists; choose another name, or change that template instead`, "name")},
			{"user created with a username in use", post, "/api/v1/users", map[string]any{"username": "ana", "password": "another password 1", "role": "viewer"},
				taken(`the username "ana" is taken; choose another`, "username")},
			{"customer with a router username in use at the location", post, "/api/v1/customers", map[string]any{"name": "B2", "router_username": "budi", "router_password": "pw", "location_id": main},
				taken(`another customer at this location has the router username "budi"; choose another`, "router_username")},
			{"customer renamed to a router username in use at the location", put, "/api/v1/customers/" + id(siti), map[string]any{"router_username": "budi"},
				taken(`another customer at this location has the router username "budi"; choose another`, "router_username")},

			{"voucher for a customer that does not exist", post, "/api/v1/vouchers/redeem", map[string]any{"code": here[1], "customer_id": 999},
				invalid("no such customer", "customer_id")},
			{"voucher of another location", post, "/api/v1/vouchers/redeem", map[string]any{"code": there[0], "customer_id": budi},
				invalid(`this voucher is for location "branch", but customer "Budi" is at location "main"; give them a voucher made for "main"`, "code")},
			{"voucher with an unknown code", post, "/api/v1/vouchers/redeem", map[string]any{"code": "NOSUCHCODE99", "customer_id": budi},
				apiErr{Status: 404, Code: "not_found", Message: "no voucher has this code; check it for typos (case, spaces and hyphens do not matter)",
					Details: map[string]string{"code": "no voucher has this code; check it for typos (case, spaces and hyphens do not matter)"}}},
			{"voucher used before", post, "/api/v1/vouchers/redeem", map[string]any{"code": here[0], "customer_id": siti},
				apiErr{Status: 409, Code: "voucher_used", Message: "this voucher was redeemed on " + usedOn + " UTC; a voucher works once",
					Details: map[string]string{"code": "this voucher was redeemed on " + usedOn + " UTC; a voucher works once"}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := a.do(tt.method, tt.path, tt.body, as)
				if diff := cmp.Diff(tt.want, r.apiErr(t)); diff != "" {
					t.Errorf("%s %s (-want +got):\n%s\n%s", tt.method, tt.path, diff, r.Body)
				}
			})
		}
		// A refused voucher stays usable: the voucher of another location
		// and the one offered to nobody still redeem.
		if r := a.do(post, "/api/v1/vouchers/redeem", map[string]any{"code": here[1], "customer_id": siti}, as); r.Status != http.StatusOK {
			t.Errorf("redeem after refusals: %d %s", r.Status, r.Body)
		}
	})
}

// TestCreatedAnswersEqualLaterReads: what POST answers is what GET reads
// afterwards, times included (the store keeps milliseconds; the answers
// must not show nanoseconds the database never kept).
func TestCreatedAnswersEqualLaterReads(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.Store) {
		a := newBilledAPI(t, db)
		a.user("ana", "admin password 1", RoleAdmin)
		as := withBearer(a.loginJWT("ana", "admin password 1"))
		const post, get = http.MethodPost, http.MethodGet
		loc := a.created(201, post, "/api/v1/locations", map[string]any{"name": "main"}, as)
		plan := a.created(201, post, "/api/v1/plans", map[string]any{"name": "Home 10M", "kind": "pppoe", "validity_seconds": 86400, "price": 5000, "currency": "IDR"}, as)
		cust := a.created(201, post, "/api/v1/customers", map[string]any{"name": "Budi", "router_username": "budi", "router_password": "pw", "location_id": loc}, as)

		decode := func(r resp) map[string]any {
			t.Helper()
			var m map[string]any
			r.json(t, &m)
			return m
		}
		for _, tt := range []struct {
			name      string
			path      string
			body      any
			read      func(created map[string]any) string
			fromReadF func(read map[string]any) map[string]any
		}{
			{name: "invoice", path: "/api/v1/invoices", body: map[string]any{"customer_id": cust, "plan_id": plan, "due_in_hours": 24},
				read:      func(c map[string]any) string { return fmt.Sprintf("/api/v1/invoices/%v", c["id"]) },
				fromReadF: func(r map[string]any) map[string]any { return r["invoice"].(map[string]any) }},
			{name: "subscription", path: "/api/v1/subscriptions",
				body: map[string]any{"customer_id": cust, "plan_id": plan, "status": "active", "starts_at": "2026-12-01T07:00:00.123456789+07:00", "expires_at": "2026-12-31T07:00:00.987654321+07:00"},
				read: func(c map[string]any) string { return fmt.Sprintf("/api/v1/subscriptions/%v", c["id"]) }},
			{name: "API token", path: "/api/v1/tokens", body: map[string]any{"name": "script", "expires_at": "2099-01-01T00:00:00.123456789Z"},
				read: func(c map[string]any) string { return "/api/v1/tokens" },
				fromReadF: func(r map[string]any) map[string]any {
					it := r["items"].([]any)[0].(map[string]any)
					return it
				}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := a.do(post, tt.path, tt.body, as)
				if r.Status != http.StatusCreated {
					t.Fatalf("POST %s: %d %s", tt.path, r.Status, r.Body)
				}
				created := decode(r)
				delete(created, "token") // shown once, never read back
				read := decode(a.do(get, tt.read(created), nil, as))
				if tt.fromReadF != nil {
					read = tt.fromReadF(read)
				}
				if diff := cmp.Diff(created, read); diff != "" {
					t.Errorf("POST answer vs GET (-posted +read):\n%s", diff)
				}
			})
		}
	})
}

// TestWriteJSONDoesNotEscapeHTML: the API answers JSON, never HTML, so
// "<", ">" and "&" are written as they are.
func TestWriteJSONDoesNotEscapeHTML(t *testing.T) {
	rec := httptest.NewRecorder()
	writeJSON(rec, http.StatusOK, map[string]string{"value": "<redacted>", "q": "a&b"})
	body := rec.Body.String()
	if !strings.Contains(body, `"value": "<redacted>"`) || !strings.Contains(body, `"q": "a&b"`) || strings.Contains(body, `\u003c`) {
		t.Errorf("body %q: want < > & as they are", body)
	}
	if want := "{\n  \"q\": \"a&b\",\n  \"value\": \"<redacted>\"\n}\n"; body != want {
		t.Errorf("body %q, want %q (indented, one trailing newline)", body, want)
	}
	var back map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &back); err != nil || back["value"] != "<redacted>" {
		t.Errorf("decoded %v, %v", back, err)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
}

package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

func TestCustomers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedClock(s)
		q := s.Q()
		cip := testCipher(t)
		main, branch := mkLocation(t, q, "main"), mkLocation(t, q, "branch")

		c := &store.Customer{Name: "Budi Santoso", Phone: "+6281234567890", Email: "budi@example.com",
			RouterUsername: "budi", RouterPassword: "s3cret!", LocationID: main.ID, Notes: "rt 5"}
		if err := q.CreateCustomer(ctx, c, cip); err != nil {
			t.Fatal(err)
		}
		if !c.RouterPasswordSet {
			t.Error("RouterPasswordSet is false after create")
		}
		got, err := q.GetCustomer(ctx, c.ID, cip)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c, got); diff != "" {
			t.Errorf("GetCustomer (-created +read):\n%s", diff)
		}

		// The password is encrypted at rest and never in JSON.
		var enc string
		if err := q.DB().QueryRow(ctx, "SELECT router_password_enc FROM customers WHERE id = ?", c.ID).Scan(&enc); err != nil {
			t.Fatal(err)
		}
		if !store.IsEncrypted(enc) || strings.Contains(enc, "s3cret") {
			t.Errorf("stored password %q is not encrypted", enc)
		}
		js, _ := json.Marshal(got)
		if strings.Contains(string(js), "s3cret") || !strings.Contains(string(js), `"router_password_set":true`) {
			t.Errorf("JSON %s shows the password or hides that it is set", js)
		}
		// Without a cipher the password stays unread; with another key it
		// cannot be read.
		if got, err := q.GetCustomer(ctx, c.ID, nil); err != nil || got.RouterPassword != "" || !got.RouterPasswordSet {
			t.Errorf("GetCustomer(nil cipher) = %+v, %v", got, err)
		}
		other, _ := store.NewCipher(make([]byte, 32))
		if _, err := q.GetCustomer(ctx, c.ID, other); !errors.Is(err, store.ErrDecrypt) {
			t.Errorf("another key: %v, want ErrDecrypt", err)
		}
		if err := q.CreateCustomer(ctx, &store.Customer{Name: "x", RouterUsername: "x", RouterPassword: "p", LocationID: main.ID}, nil); err == nil {
			t.Error("a password was stored without a cipher")
		}
		if _, err := q.GetCustomer(ctx, 999, cip); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetCustomer(999): %v, want ErrNotFound", err)
		}

		got, err = q.GetCustomerByRouterUsername(ctx, main.ID, "budi", cip)
		if err != nil || got.ID != c.ID || got.RouterPassword != "s3cret!" {
			t.Errorf("GetCustomerByRouterUsername = %+v, %v", got, err)
		}
		if _, err := q.GetCustomerByRouterUsername(ctx, branch.ID, "budi", cip); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetCustomerByRouterUsername at another location: %v, want ErrNotFound", err)
		}

		// A username is unique per location, not across them.
		if err := q.CreateCustomer(ctx, &store.Customer{Name: "Other Budi", RouterUsername: "budi", RouterPassword: "x", LocationID: main.ID}, cip); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate username at a location: %v, want ErrConflict", err)
		}
		budi2 := mkCustomer(t, q, cip, branch.ID, "Budi Dua", "budi")
		if err := q.CreateCustomer(ctx, &store.Customer{Name: "Lost", RouterUsername: "lost", RouterPassword: "x", LocationID: 999}, cip); !errors.Is(err, store.ErrReferenced) {
			t.Errorf("missing location: %v, want ErrReferenced", err)
		}
		siti := &store.Customer{Name: "Siti_100%", Phone: "+6285600000001", RouterUsername: "siti", LocationID: main.ID}
		if err := q.CreateCustomer(ctx, siti, nil); err != nil { // no password: no cipher needed
			t.Fatal(err)
		}
		if siti.RouterPasswordSet {
			t.Error("RouterPasswordSet without a password")
		}

		names := func(cs []store.Customer) []string {
			var out []string
			for _, c := range cs {
				out = append(out, c.Name)
			}
			return out
		}
		for _, tt := range []struct {
			f    store.CustomerFilter
			page store.Page
			want []string
			tot  int
		}{
			{store.CustomerFilter{}, store.Page{}, []string{"Budi Dua", "Budi Santoso", "Siti_100%"}, 3},
			{store.CustomerFilter{}, store.Page{Limit: 2, Offset: 1}, []string{"Budi Santoso", "Siti_100%"}, 3},
			{store.CustomerFilter{LocationID: main.ID}, store.Page{}, []string{"Budi Santoso", "Siti_100%"}, 2},
			{store.CustomerFilter{Query: "BUDI"}, store.Page{}, []string{"Budi Dua", "Budi Santoso"}, 2},
			{store.CustomerFilter{Query: "budi", LocationID: branch.ID}, store.Page{}, []string{"Budi Dua"}, 1},
			{store.CustomerFilter{Query: "56000"}, store.Page{}, []string{"Siti_100%"}, 1}, // phone
			{store.CustomerFilter{Query: "sit"}, store.Page{}, []string{"Siti_100%"}, 1},   // username and name
			{store.CustomerFilter{Query: "_"}, store.Page{}, []string{"Siti_100%"}, 1},     // wildcards are literal
			{store.CustomerFilter{Query: "100%"}, store.Page{}, []string{"Siti_100%"}, 1},  // wildcards are literal
			{store.CustomerFilter{Query: "nobody"}, store.Page{}, nil, 0},                  //
			{store.CustomerFilter{LocationID: 999}, store.Page{}, nil, 0},                  //
		} {
			list, total, err := q.ListCustomers(ctx, tt.f, tt.page)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, names(list)); diff != "" || total != tt.tot {
				t.Errorf("ListCustomers(%+v, %+v): total %d (want %d), names (-want +got):\n%s", tt.f, tt.page, total, tt.tot, diff)
			}
			for _, c := range list {
				if c.RouterPassword != "" {
					t.Errorf("a list shows %q's password", c.Name)
				}
			}
		}
		if _, _, err := q.ListCustomers(ctx, store.CustomerFilter{}, store.Page{Limit: -1}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("negative limit: %v", err)
		}

		// Update re-encrypts the password it is given.
		c.Phone, c.RouterPassword, c.LocationID = "", "n3w", branch.ID
		c.RouterUsername = "budi-s"
		if err := q.UpdateCustomer(ctx, c, cip); err != nil {
			t.Fatal(err)
		}
		got, _ = q.GetCustomer(ctx, c.ID, cip)
		if got.Phone != "" || got.RouterPassword != "n3w" || got.LocationID != branch.ID || !got.UpdatedAt.After(got.CreatedAt) {
			t.Errorf("after update: %+v", got)
		}
		c.RouterUsername = "budi" // taken at branch by budi2
		if err := q.UpdateCustomer(ctx, c, cip); !errors.Is(err, store.ErrConflict) {
			t.Errorf("update onto a taken username: %v, want ErrConflict", err)
		}
		if err := q.UpdateCustomer(ctx, &store.Customer{ID: 999, Name: "x", RouterUsername: "x", LocationID: main.ID}, cip); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update missing: %v, want ErrNotFound", err)
		}
		if err := q.UpdateCustomer(ctx, &store.Customer{ID: siti.ID, Name: "x", RouterUsername: "x", LocationID: 999}, cip); !errors.Is(err, store.ErrReferenced) {
			t.Errorf("update to a missing location: %v, want ErrReferenced", err)
		}

		// A customer with a subscription cannot go.
		plan := mkPlan(t, q, "Day")
		if err := q.CreateSubscription(ctx, &store.Subscription{CustomerID: budi2.ID, PlanID: plan.ID, Status: store.SubscriptionPending}); err != nil {
			t.Fatal(err)
		}
		if err := q.DeleteCustomer(ctx, budi2.ID); !errors.Is(err, store.ErrReferenced) {
			t.Errorf("delete a subscriber: %v, want ErrReferenced", err)
		}
		if err := q.DeleteCustomer(ctx, siti.ID); err != nil {
			t.Fatal(err)
		}
		if err := q.DeleteCustomer(ctx, siti.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delete twice: %v, want ErrNotFound", err)
		}
	})
}

package store_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// databaseWords are what the drivers' own messages say (SQLite's "UNIQUE
// constraint failed: router_locations.name (2067)", PostgreSQL's
// "duplicate key value violates unique constraint \"plans_name_key\"").
// None may reach an error's text: the API shows that text to people.
var databaseWords = []string{"constraint", "UNIQUE", "FOREIGN KEY", "violates", "_key", "_fkey", "SQLSTATE", "(20", "(78", "router_locations", "message_templates"}

func checkNoDatabaseWords(t *testing.T, what string, err error) {
	t.Helper()
	for _, w := range databaseWords {
		if strings.Contains(err.Error(), w) {
			t.Errorf("%s: %q has the database's words (%q)", what, err, w)
		}
	}
}

// TestRefusalsAreWordedForPeople: a name in use, a missing reference and a
// voucher that cannot be redeemed are *FieldErrors naming the field and
// saying what to do, on both backends, with errors.Is still seeing the
// kind; and no refusal carries the driver's text.
func TestRefusalsAreWordedForPeople(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedClock(s)
		q := s.Q()
		cip, err := store.NewCipher([]byte("0123456789abcdef0123456789abcdef"))
		if err != nil {
			t.Fatal(err)
		}
		main := &store.Location{Name: "main"}
		branch := &store.Location{Name: "branch"}
		plan := &store.Plan{Name: "Home 10M", Kind: store.PlanPPPoE, Validity: time.Hour, Currency: "IDR", Active: true}
		day := &store.Plan{Name: "Day", Kind: store.PlanHotspot, Validity: time.Hour, Currency: "IDR"}
		tpl := &store.Template{Name: "welcome", Body: "Hi [[name]]"}
		other := &store.Template{Name: "other", Body: "Hi"}
		ana := &store.User{Username: "ana", PasswordHash: "x", Role: store.UserRoleAdmin}
		bob := &store.User{Username: "bob", PasswordHash: "x", Role: store.UserRoleViewer}
		for _, err := range []error{q.CreateLocation(ctx, main), q.CreateLocation(ctx, branch), q.CreatePlan(ctx, plan), q.CreatePlan(ctx, day),
			q.CreateTemplate(ctx, tpl), q.CreateTemplate(ctx, other), q.CreateUser(ctx, ana), q.CreateUser(ctx, bob)} {
			if err != nil {
				t.Fatal(err)
			}
		}
		budi := &store.Customer{Name: "Budi", RouterUsername: "budi", RouterPassword: "pw", LocationID: main.ID}
		siti := &store.Customer{Name: "Siti", RouterUsername: "siti", RouterPassword: "pw", LocationID: main.ID}
		for _, c := range []*store.Customer{budi, siti} {
			if err := q.CreateCustomer(ctx, c, cip); err != nil {
				t.Fatal(err)
			}
		}
		vs, err := q.CreateVoucherBatch(ctx, &store.VoucherBatch{PlanID: plan.ID, LocationID: main.ID}, 2)
		if err != nil {
			t.Fatal(err)
		}
		used, err := q.RedeemVoucher(ctx, vs[0].Code, budi.ID)
		if err != nil {
			t.Fatal(err)
		}
		redeemedOn := used.RedeemedAt.Format("2006-01-02 15:04")

		renamed := func(l store.Location, name string) *store.Location { l.Name = name; return &l }
		renamedPlan := func(p store.Plan, name string) *store.Plan { p.Name = name; return &p }
		renamedTpl := func(tp store.Template, name string) *store.Template { tp.Name = name; return &tp }
		renamedUser := func(u store.User, name string) *store.User { u.Username = name; return &u }
		moved := func(c store.Customer, username string, location int64) *store.Customer {
			c.RouterUsername, c.LocationID = username, location
			return &c
		}
		redeem := func(code string, customer int64) error { _, err := q.RedeemVoucher(ctx, code, customer); return err }

		tests := []struct {
			name  string
			err   error
			kind  error
			field string
			msg   string
		}{
			{"location created with a name in use", q.CreateLocation(ctx, &store.Location{Name: "main"}),
				store.ErrConflict, "name", `a location named "main" exists; choose another name`},
			{"location renamed to a name in use", q.UpdateLocation(ctx, renamed(*branch, "main")),
				store.ErrConflict, "name", `a location named "main" exists; choose another name`},
			{"plan created with a name in use", q.CreatePlan(ctx, renamedPlan(*day, "Home 10M")),
				store.ErrConflict, "name", `a plan named "Home 10M" exists; choose another name`},
			{"plan renamed to a name in use", q.UpdatePlan(ctx, renamedPlan(*day, "Home 10M")),
				store.ErrConflict, "name", `a plan named "Home 10M" exists; choose another name`},
			{"template created with a name in use", q.CreateTemplate(ctx, &store.Template{Name: "welcome", Body: "x"}),
				store.ErrConflict, "name", `a template named "welcome" exists; choose another name, or change that template instead`},
			{"template renamed to a name in use", q.UpdateTemplate(ctx, renamedTpl(*other, "welcome")),
				store.ErrConflict, "name", `a template named "welcome" exists; choose another name, or change that template instead`},
			{"user created with a username in use", q.CreateUser(ctx, renamedUser(*bob, "ana")),
				store.ErrConflict, "username", `the username "ana" is taken; choose another`},
			{"user renamed to a username in use", q.UpdateUser(ctx, renamedUser(*bob, "ana")),
				store.ErrConflict, "username", `the username "ana" is taken; choose another`},
			{"customer created with a router username in use at the location", q.CreateCustomer(ctx, moved(*siti, "budi", main.ID), cip),
				store.ErrConflict, "router_username", `another customer at this location has the router username "budi"; choose another`},
			{"customer changed to a router username in use at the location", q.UpdateCustomer(ctx, moved(*siti, "budi", main.ID), cip),
				store.ErrConflict, "router_username", `another customer at this location has the router username "budi"; choose another`},
			{"customer at a location that does not exist", q.CreateCustomer(ctx, moved(*siti, "siti2", 999), cip),
				store.ErrReferenced, "location_id", "no location has id 999"},
			{"customer moved to a location that does not exist", q.UpdateCustomer(ctx, moved(*siti, "siti", 999), cip),
				store.ErrReferenced, "location_id", "no location has id 999"},
			{"subscription of a customer that does not exist", q.CreateSubscription(ctx, &store.Subscription{CustomerID: 999, PlanID: plan.ID, Status: store.SubscriptionPending}),
				store.ErrReferenced, "", "customer 999 or plan " + strconv.FormatInt(plan.ID, 10) + " does not exist; check both ids"},
			{"API token of a user that does not exist", q.CreateAPIToken(ctx, &store.APIToken{UserID: 999, Name: "x", Hash: "h", Prefix: "p"}),
				store.ErrReferenced, "user_id", "no user has id 999"},
			{"voucher redeemed for a customer that does not exist", redeem(vs[1].Code, 999),
				store.ErrReferenced, "customer_id", "no such customer"},
			{"voucher with an unknown code", redeem("NOSUCHCODE99", budi.ID),
				store.ErrNotFound, "code", "no voucher has this code; check it for typos (case, spaces and hyphens do not matter)"},
			{"voucher used before", redeem(vs[0].Code, siti.ID),
				store.ErrConflict, "code", "this voucher was redeemed on " + redeemedOn + " UTC; a voucher works once"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var fe *store.FieldError
				if !errors.As(tt.err, &fe) {
					t.Fatalf("%v (%T), want a *store.FieldError", tt.err, tt.err)
				}
				if !errors.Is(tt.err, tt.kind) {
					t.Errorf("errors.Is(%v, %v) = false", tt.err, tt.kind)
				}
				if diff := cmp.Diff([]string{tt.field, tt.msg}, []string{fe.Field, fe.Message}); diff != "" {
					t.Errorf("field and message (-want +got):\n%s", diff)
				}
				checkNoDatabaseWords(t, tt.name, tt.err)
			})
		}

		// Refusals without a FieldError keep the store's words only.
		if err := q.DeleteLocation(ctx, main.ID); !errors.Is(err, store.ErrReferenced) {
			t.Errorf("deleting a location in use: %v, want ErrReferenced", err)
		} else {
			checkNoDatabaseWords(t, "deleting a location in use", err)
		}
		if err := q.CreatePlan(ctx, &store.Plan{Name: "Free", Kind: "dialup", Validity: time.Hour, Currency: "IDR"}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("a plan of an unknown kind: %v, want ErrInvalid", err)
		} else {
			checkNoDatabaseWords(t, "a plan of an unknown kind", err)
		}
	})
}

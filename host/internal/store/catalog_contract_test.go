package store_test

// Helpers of the catalog's contract tests (locations, customers,
// subscriptions, vouchers, templates, plugin settings).

import (
	"context"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// testCipher returns a Cipher with a fixed key.
func testCipher(t *testing.T) *store.Cipher {
	t.Helper()
	c, err := store.NewCipher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mkLocation(t *testing.T, q *store.Queries, name string) *store.Location {
	t.Helper()
	l := &store.Location{Name: name}
	if err := q.CreateLocation(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	return l
}

func mkPlan(t *testing.T, q *store.Queries, name string) *store.Plan {
	t.Helper()
	p := &store.Plan{Name: name, Kind: store.PlanHotspot, Validity: 24 * time.Hour, Price: 5000, Currency: "IDR", Active: true}
	if err := q.CreatePlan(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

func mkCustomer(t *testing.T, q *store.Queries, cip *store.Cipher, loc int64, name, username string) *store.Customer {
	t.Helper()
	c := &store.Customer{Name: name, RouterUsername: username, RouterPassword: "pw-" + username, LocationID: loc}
	if err := q.CreateCustomer(context.Background(), c, cip); err != nil {
		t.Fatal(err)
	}
	return c
}

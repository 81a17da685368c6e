package store_test

// Keyset pages: walking a list page by page from each page's last row
// visits every row once, in the list's order, whatever the filter.

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

func TestListCustomersAfter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		q := s.Q()
		main, branch := mkLocation(t, q, "main"), mkLocation(t, q, "branch")
		// Names repeat (the id breaks the tie) and a few match "budi".
		var want, wantBudi, wantMain []string
		for i := range 23 {
			loc, name := main.ID, fmt.Sprintf("Cust %02d", i/2)
			if i%5 == 0 {
				name = fmt.Sprintf("Budi %02d", i)
			}
			if i%3 == 0 {
				loc = branch.ID
			}
			c := &store.Customer{Name: name, RouterUsername: fmt.Sprintf("u%d", i), LocationID: loc}
			if err := q.CreateCustomer(ctx, c, nil); err != nil {
				t.Fatal(err)
			}
		}
		all, _, err := q.ListCustomers(ctx, store.CustomerFilter{}, store.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		key := func(c store.Customer) string { return fmt.Sprintf("%s#%d", c.Name, c.ID) }
		for _, c := range all {
			want = append(want, key(c))
			if c.LocationID == main.ID {
				wantMain = append(wantMain, key(c))
			}
		}
		budi, _, _ := q.ListCustomers(ctx, store.CustomerFilter{Query: "budi"}, store.Page{Limit: 100})
		for _, c := range budi {
			wantBudi = append(wantBudi, key(c))
		}
		walk := func(f store.CustomerFilter, limit int) (got []string, pages int) {
			var after store.CustomerCursor
			for {
				list, err := q.ListCustomersAfter(ctx, f, after, limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(list) > limit {
					t.Fatalf("a page of %d rows, limit %d", len(list), limit)
				}
				if len(list) == 0 {
					return got, pages
				}
				pages++
				for _, c := range list {
					if c.RouterPassword != "" {
						t.Errorf("a list shows %q's password", c.Name)
					}
					got = append(got, key(c))
				}
				last := list[len(list)-1]
				after = store.CustomerCursor{Name: last.Name, ID: last.ID}
			}
		}
		for _, tt := range []struct {
			f     store.CustomerFilter
			limit int
			want  []string
			pages int
		}{
			{store.CustomerFilter{}, 5, want, 5},
			{store.CustomerFilter{}, 23, want, 1},
			{store.CustomerFilter{}, 1, want, 23},
			{store.CustomerFilter{Query: "BUDI"}, 2, wantBudi, 3},
			{store.CustomerFilter{LocationID: main.ID}, 4, wantMain, (len(wantMain) + 3) / 4},
			{store.CustomerFilter{Query: "nobody"}, 5, nil, 0},
		} {
			got, pages := walk(tt.f, tt.limit)
			if diff := cmp.Diff(tt.want, got); diff != "" || pages != tt.pages {
				t.Errorf("walk(%+v, limit %d): %d pages (want %d), rows (-want +got):\n%s", tt.f, tt.limit, pages, tt.pages, diff)
			}
		}
		if len(wantBudi) != 5 || len(want) != 23 {
			t.Fatalf("seeded %d customers, %d budi", len(want), len(wantBudi))
		}
		if _, err := q.ListCustomersAfter(ctx, store.CustomerFilter{}, store.CustomerCursor{}, store.MaxLimit+1); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("limit over the maximum: %v, want ErrInvalid", err)
		}
	})
}

func TestListInvoicesBefore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		cust, plan := seedCustomer(t, s)
		var want, wantPaid []int64
		for i := range 11 {
			inv := newInvoice(t, s, cust, plan)
			if i%3 == 0 {
				if err := s.Tx(ctx, func(tx *store.Tx) error { _, err := tx.Q().CreditInvoice(ctx, inv.ID, 0, 0); return err }); err != nil {
					t.Fatal(err)
				}
				wantPaid = append([]int64{inv.ID}, wantPaid...)
			}
			want = append([]int64{inv.ID}, want...)
		}
		walk := func(f store.InvoiceFilter, limit int) (got []int64) {
			var before int64
			for {
				list, err := s.Q().ListInvoicesBefore(ctx, f, before, limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(list) == 0 {
					return got
				}
				for _, inv := range list {
					if f.Status != "" && inv.Status != f.Status {
						t.Errorf("invoice %d is %s, filter %s", inv.ID, inv.Status, f.Status)
					}
					got = append(got, inv.ID)
				}
				before = list[len(list)-1].ID
			}
		}
		for _, tt := range []struct {
			f     store.InvoiceFilter
			limit int
			want  []int64
		}{
			{store.InvoiceFilter{}, 4, want},
			{store.InvoiceFilter{}, 50, want},
			{store.InvoiceFilter{Status: store.InvoicePaid}, 2, wantPaid},
			{store.InvoiceFilter{Status: store.InvoicePaid, CustomerID: cust}, 1, wantPaid},
			{store.InvoiceFilter{CustomerID: cust + 1000}, 3, nil},
		} {
			if diff := cmp.Diff(tt.want, walk(tt.f, tt.limit)); diff != "" {
				t.Errorf("walk(%+v, limit %d) (-want +got):\n%s", tt.f, tt.limit, diff)
			}
		}
		if _, err := s.Q().ListInvoicesBefore(ctx, store.InvoiceFilter{}, 0, -1); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("negative limit: %v, want ErrInvalid", err)
		}
	})
}

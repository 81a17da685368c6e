package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

func TestVoucherBatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedClock(s)
		q := s.Q()
		loc := mkLocation(t, q, "main")
		plan := mkPlan(t, q, "Day")

		b := &store.VoucherBatch{PlanID: plan.ID, LocationID: loc.ID, Prefix: "hs-", Note: "December", CreatedBy: "ops"}
		vs, err := q.CreateVoucherBatch(ctx, b, 50)
		if err != nil {
			t.Fatal(err)
		}
		if b.ID == 0 || b.Size != 50 || b.Prefix != "HS" || len(vs) != 50 {
			t.Fatalf("batch %+v with %d vouchers", b, len(vs))
		}
		seen := map[string]bool{}
		for _, v := range vs {
			rest, ok := strings.CutPrefix(v.Code, "HS")
			if !ok || len(rest) != store.VoucherCodeLength || strings.Trim(rest, store.VoucherAlphabet) != "" {
				t.Errorf("code %q is not HS + %d characters of the alphabet", v.Code, store.VoucherCodeLength)
			}
			if seen[v.Code] {
				t.Errorf("code %q twice", v.Code)
			}
			seen[v.Code] = true
			if v.BatchID != b.ID || v.ID == 0 || !v.RedeemedAt.IsZero() {
				t.Errorf("voucher %+v", v)
			}
		}
		got, err := q.GetVoucherBatch(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(b, got); diff != "" {
			t.Errorf("GetVoucherBatch (-created +read):\n%s", diff)
		}
		if _, err := q.GetVoucherBatch(ctx, 999); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetVoucherBatch(999): %v, want ErrNotFound", err)
		}

		list, total, err := q.ListVouchers(ctx, b.ID, store.Page{Limit: 20, Offset: 40})
		if err != nil || total != 50 || len(list) != 10 {
			t.Fatalf("ListVouchers(offset 40) = %d of %d, %v", len(list), total, err)
		}
		if diff := cmp.Diff(vs[40:], list); diff != "" {
			t.Errorf("ListVouchers (-created +listed):\n%s", diff)
		}
		if list, total, err := q.ListVouchers(ctx, 999, store.Page{}); err != nil || total != 0 || len(list) != 0 {
			t.Errorf("ListVouchers(missing batch) = %v, %d, %v", list, total, err)
		}
		if _, _, err := q.ListVouchers(ctx, b.ID, store.Page{Limit: -5}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("bad page: %v", err)
		}

		b2 := &store.VoucherBatch{PlanID: plan.ID, LocationID: loc.ID}
		vs2, err := q.CreateVoucherBatch(ctx, b2, 1)
		if err != nil || len(vs2) != 1 || len(vs2[0].Code) != store.VoucherCodeLength {
			t.Fatalf("batch without prefix: %v, %v", vs2, err)
		}
		batches, total, err := q.ListVoucherBatches(ctx, store.Page{})
		if err != nil || total != 2 || len(batches) != 2 || batches[0].ID != b2.ID || batches[1].ID != b.ID {
			t.Errorf("ListVoucherBatches = %+v, %d, %v (want newest first)", batches, total, err)
		}
		if batches, total, err := q.ListVoucherBatches(ctx, store.Page{Limit: 1, Offset: 1}); err != nil || total != 2 || len(batches) != 1 || batches[0].ID != b.ID {
			t.Errorf("ListVoucherBatches(offset 1) = %+v, %d, %v", batches, total, err)
		}

		for _, tt := range []struct {
			b    store.VoucherBatch
			n    int
			want error
		}{
			{store.VoucherBatch{PlanID: plan.ID, LocationID: loc.ID}, 0, store.ErrInvalid},
			{store.VoucherBatch{PlanID: plan.ID, LocationID: loc.ID}, store.MaxVoucherBatch + 1, store.ErrInvalid},
			{store.VoucherBatch{PlanID: plan.ID, LocationID: loc.ID, Prefix: "TOO-LONG-PREFIX"}, 1, store.ErrInvalid},
			{store.VoucherBatch{PlanID: plan.ID, LocationID: loc.ID, Prefix: "a/b"}, 1, store.ErrInvalid},
			{store.VoucherBatch{PlanID: 999, LocationID: loc.ID}, 1, store.ErrReferenced},
			{store.VoucherBatch{PlanID: plan.ID, LocationID: 999}, 1, store.ErrReferenced},
		} {
			if _, err := q.CreateVoucherBatch(ctx, &tt.b, tt.n); !errors.Is(err, tt.want) {
				t.Errorf("CreateVoucherBatch(%+v, %d): %v, want %v", tt.b, tt.n, err, tt.want)
			}
		}
		if _, total, _ := q.ListVoucherBatches(ctx, store.Page{}); total != 2 {
			t.Errorf("failed batches left rows: %d batches", total)
		}

		// A batch made inside a transaction that rolls back leaves nothing.
		boom := errors.New("boom")
		err = s.Tx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Q().CreateVoucherBatch(ctx, &store.VoucherBatch{PlanID: plan.ID, LocationID: loc.ID}, 3); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if _, total, _ := q.ListVoucherBatches(ctx, store.Page{}); total != 2 {
			t.Errorf("a rolled back batch is there: %d batches", total)
		}

		// Deleting: only batches none of whose vouchers was used.
		if err := q.DeleteVoucherBatch(ctx, b2.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := q.GetVoucherBatch(ctx, b2.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted batch: %v", err)
		}
		if _, err := q.GetVoucherByCode(ctx, vs2[0].Code); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a deleted batch's voucher: %v", err)
		}
		if err := q.DeleteVoucherBatch(ctx, b2.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delete twice: %v, want ErrNotFound", err)
		}
		if _, err := q.RedeemVoucher(ctx, vs[0].Code, 0); err != nil {
			t.Fatal(err)
		}
		if err := q.DeleteVoucherBatch(ctx, b.ID); !errors.Is(err, store.ErrReferenced) {
			t.Errorf("delete a used batch: %v, want ErrReferenced", err)
		}
		if got, _ := q.GetVoucherBatch(ctx, b.ID); got.Redeemed != 1 {
			t.Errorf("redeemed = %d, want 1", got.Redeemed)
		}
	})
}

func TestRedeemVoucher(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedClock(s)
		q := s.Q()
		loc := mkLocation(t, q, "main")
		plan := mkPlan(t, q, "Day")
		cust := mkCustomer(t, q, testCipher(t), loc.ID, "Budi", "budi")
		vs, err := q.CreateVoucherBatch(ctx, &store.VoucherBatch{PlanID: plan.ID, LocationID: loc.ID}, 4)
		if err != nil {
			t.Fatal(err)
		}

		// Typed in lower case with a hyphen, it is the same code.
		typed := strings.ToLower(vs[0].Code[:5] + "-" + vs[0].Code[5:])
		if got, err := q.GetVoucherByCode(ctx, typed); err != nil || got.ID != vs[0].ID {
			t.Fatalf("GetVoucherByCode(%q) = %+v, %v", typed, got, err)
		}
		v, err := q.RedeemVoucher(ctx, " "+typed+" ", cust.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v.ID != vs[0].ID || v.RedeemedByCustomerID != cust.ID || v.RedeemedAt.IsZero() {
			t.Errorf("redeemed voucher %+v", v)
		}
		if got, _ := q.GetVoucherByCode(ctx, vs[0].Code); !cmp.Equal(got, v) {
			t.Errorf("read back %+v, want %+v", got, v)
		}
		if _, err := q.RedeemVoucher(ctx, vs[0].Code, cust.ID); !errors.Is(err, store.ErrConflict) {
			t.Errorf("second redemption: %v, want ErrConflict", err)
		}
		_, err = q.RedeemVoucher(ctx, "NOSUCHCODE99", cust.ID)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown code: %v, want ErrNotFound", err)
		}
		if strings.Contains(err.Error(), "NOSUCHCODE99") {
			t.Errorf("the error shows the whole code: %v", err)
		}
		if _, err := q.GetVoucherByCode(ctx, "NOSUCHCODE99"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetVoucherByCode(unknown): %v, want ErrNotFound", err)
		}
		if _, err := q.RedeemVoucher(ctx, vs[1].Code, 999); !errors.Is(err, store.ErrReferenced) {
			t.Errorf("missing customer: %v, want ErrReferenced", err)
		}
		if v, err := q.RedeemVoucher(ctx, vs[1].Code, 0); err != nil || v.RedeemedByCustomerID != 0 {
			t.Errorf("anonymous redemption: %+v, %v", v, err)
		}

		// Inside a transaction that rolls back, the voucher stays unused.
		boom := errors.New("boom")
		err = s.Tx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Q().RedeemVoucher(ctx, vs[2].Code, cust.ID); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if got, _ := q.GetVoucherByCode(ctx, vs[2].Code); !got.RedeemedAt.IsZero() {
			t.Errorf("rolled back redemption stuck: %+v", got)
		}

		// Many at once: exactly one wins.
		s.Now = time.Now // fixedClock is not safe for concurrent use
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, conflicts := 0, 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := q.RedeemVoucher(ctx, vs[2].Code, cust.ID)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, store.ErrConflict):
					conflicts++
				default:
					t.Errorf("concurrent redemption: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 || conflicts != 7 {
			t.Errorf("%d wins and %d conflicts, want 1 and 7", wins, conflicts)
		}

		// The subscription it paid for.
		sub := &store.Subscription{CustomerID: cust.ID, PlanID: plan.ID, Status: store.SubscriptionActive,
			StartsAt: time.Now(), ExpiresAt: time.Now().Add(24 * time.Hour)}
		if err := q.CreateSubscription(ctx, sub); err != nil {
			t.Fatal(err)
		}
		if err := q.LinkVoucherSubscription(ctx, vs[0].ID, sub.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := q.GetVoucherByCode(ctx, vs[0].Code); got.SubscriptionID != sub.ID {
			t.Errorf("subscription_id = %d, want %d", got.SubscriptionID, sub.ID)
		}
		if err := q.LinkVoucherSubscription(ctx, 999, sub.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("link a missing voucher: %v, want ErrNotFound", err)
		}
		if err := q.LinkVoucherSubscription(ctx, vs[3].ID, 999); !errors.Is(err, store.ErrReferenced) {
			t.Errorf("link a missing subscription: %v, want ErrReferenced", err)
		}
	})
}

func TestVoucherCodes(t *testing.T) {
	for _, bad := range "01OIL" {
		if strings.ContainsRune(store.VoucherAlphabet, bad) {
			t.Errorf("the alphabet has the ambiguous %q", bad)
		}
	}
	// Every character comes up, none far more often than the others.
	counts := map[rune]int{}
	const draws = 3000
	for range draws {
		c, err := store.NewVoucherCode("")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range c {
			counts[r]++
		}
	}
	want := draws * store.VoucherCodeLength / len(store.VoucherAlphabet)
	for _, r := range store.VoucherAlphabet {
		if n := counts[r]; n < want/2 || n > want*2 {
			t.Errorf("%q drawn %d times, expected about %d", r, n, want)
		}
	}
	for in, want := range map[string]string{"abcd-efgh": "ABCDEFGH", " ab cd\t": "ABCD", "XY": "XY"} {
		if got := store.NormalizeVoucherCode(in); got != want {
			t.Errorf("NormalizeVoucherCode(%q) = %q, want %q", in, got, want)
		}
	}
	for p, want := range map[string]bool{"": true, "hs": true, "HS-1": true, "ABCDEFGH": true, "ABCDEFGHI": false, "a/b": false} {
		if got := store.ValidVoucherPrefix(p); got != want {
			t.Errorf("ValidVoucherPrefix(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestVoucherKeysetPages: batches newest first and a batch's vouchers in
// creation order, page by page, each exactly once; the unused filter; one
// voucher by id.
func TestVoucherKeysetPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedClock(s)
		q := s.Q()
		loc := mkLocation(t, q, "main")
		plan := mkPlan(t, q, "Day")
		var batches []int64
		var first []store.Voucher
		for i := range 7 {
			b := &store.VoucherBatch{PlanID: plan.ID, LocationID: loc.ID}
			vs, err := q.CreateVoucherBatch(ctx, b, 1+4*(i%2))
			if err != nil {
				t.Fatal(err)
			}
			batches = append(batches, b.ID)
			if i == 1 {
				first = vs
			}
		}
		var got []int64
		for before := int64(0); ; {
			page, err := q.ListVoucherBatchesBefore(ctx, before, 3)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range page {
				got = append(got, b.ID)
			}
			if len(page) < 3 {
				break
			}
			before = page[len(page)-1].ID
		}
		want := make([]int64, len(batches))
		for i, id := range batches {
			want[len(batches)-1-i] = id
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("batches page by page (-newest first +listed):\n%s", diff)
		}
		if _, err := q.ListVoucherBatchesBefore(ctx, 0, store.MaxLimit+1); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("a page too long: %v, want ErrInvalid", err)
		}

		// Batch 2 has five vouchers; the second is used.
		if _, err := q.RedeemVoucher(ctx, first[1].Code, 0); err != nil {
			t.Fatal(err)
		}
		all, err := q.ListVouchersAfter(ctx, batches[1], store.VoucherFilter{}, 0, 3)
		if err != nil || len(all) != 3 {
			t.Fatalf("first page: %v %v", all, err)
		}
		rest, err := q.ListVouchersAfter(ctx, batches[1], store.VoucherFilter{}, all[2].ID, 3)
		if err != nil || len(rest) != 2 {
			t.Fatalf("second page: %v %v", rest, err)
		}
		if all[0].Code != first[0].Code || rest[1].Code != first[4].Code || all[1].RedeemedAt.IsZero() {
			t.Errorf("pages %+v %+v; want the batch's five in creation order, the second used", all, rest)
		}
		unused, err := q.ListVouchersAfter(ctx, batches[1], store.VoucherFilter{Unused: true}, 0, 10)
		if err != nil || len(unused) != 4 || unused[1].Code != first[2].Code {
			t.Errorf("unused: %+v %v; want the four not redeemed", unused, err)
		}
		if none, err := q.ListVouchersAfter(ctx, 999, store.VoucherFilter{}, 0, 10); err != nil || len(none) != 0 {
			t.Errorf("a missing batch's vouchers: %v %v", none, err)
		}

		v, err := q.GetVoucher(ctx, first[3].ID)
		if err != nil || v.Code != first[3].Code || v.BatchID != batches[1] {
			t.Errorf("GetVoucher = %+v, %v", v, err)
		}
		if _, err := q.GetVoucher(ctx, 99999); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetVoucher(missing): %v, want ErrNotFound", err)
		}
	})
}

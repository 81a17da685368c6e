package billing_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// TestVoucherRefusals: Redeem refuses in words for the operator, each a
// *store.FieldError naming the field at fault, and a refused redemption
// leaves the voucher unused.
func TestVoucherRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		ctx := context.Background()
		q := st.Q()
		branch := &store.Location{Name: "branch"}
		if err := q.CreateLocation(ctx, branch); err != nil {
			t.Fatal(err)
		}
		here, err := q.CreateVoucherBatch(ctx, &store.VoucherBatch{PlanID: e.plan.ID, LocationID: e.cust.LocationID}, 2)
		if err != nil {
			t.Fatal(err)
		}
		there, err := q.CreateVoucherBatch(ctx, &store.VoucherBatch{PlanID: e.plan.ID, LocationID: branch.ID}, 1)
		if err != nil {
			t.Fatal(err)
		}
		used, err := e.svc.Redeem(ctx, here[0].Code, e.cust.ID, "user:test")
		if err != nil {
			t.Fatal(err)
		}

		tests := []struct {
			name     string
			code     string
			customer int64
			kind     error
			field    string
			msg      string
		}{
			{"a customer that does not exist", here[1].Code, 999, store.ErrReferenced, "customer_id", "no such customer"},
			{"a voucher of another location", there[0].Code, e.cust.ID, store.ErrInvalid, "code",
				`this voucher is for location "branch", but customer "Budi" is at location "main"; give them a voucher made for "main"`},
			{"an unknown code", "NOSUCHCODE99", e.cust.ID, store.ErrNotFound, "code",
				"no voucher has this code; check it for typos (case, spaces and hyphens do not matter)"},
			{"a used voucher", here[0].Code, e.cust.ID, store.ErrConflict, "code",
				"this voucher was redeemed on " + used.Voucher.RedeemedAt.Format("2006-01-02 15:04") + " UTC; a voucher works once"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := e.svc.Redeem(ctx, tt.code, tt.customer, "user:test")
				var fe *store.FieldError
				if !errors.As(err, &fe) || !errors.Is(err, tt.kind) {
					t.Fatalf("%v (%T), want a *store.FieldError of %v", err, err, tt.kind)
				}
				if diff := cmp.Diff([]string{tt.field, tt.msg}, []string{fe.Field, fe.Message}); diff != "" {
					t.Errorf("field and message (-want +got):\n%s", diff)
				}
			})
		}
		// The refusals changed nothing: the vouchers offered are unused.
		for _, code := range []string{here[1].Code, there[0].Code} {
			if v, err := q.GetVoucherByCode(ctx, code); err != nil || !v.RedeemedAt.IsZero() {
				t.Errorf("voucher %s after a refused redemption: %+v, %v", code[:4], v, err)
			}
		}
	})
}

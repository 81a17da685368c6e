package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// TestWrittenRecordsReadBackEqual: the database keeps milliseconds in UTC,
// so every time a create or update method sets or returns (its own clock's,
// or one it was given) is to the millisecond and in UTC, and the record it
// fills in equals the one read back afterwards. The clock and the times
// given carry nanoseconds in another zone, as time.Now does.
func TestWrittenRecordsReadBackEqual(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		wib := time.FixedZone("WIB", 7*3600)
		clock := time.Date(2026, 11, 25, 17, 0, 0, 123456789, wib)
		s.Now = func() time.Time { clock = clock.Add(1234567891 * time.Nanosecond); return clock }
		given := time.Date(2026, 12, 24, 20, 30, 0, 987654321, wib)
		q := s.Q()
		cip := testCipher(t)

		same := func(what string, written, read any) {
			t.Helper()
			if diff := cmp.Diff(written, read); diff != "" {
				t.Errorf("%s (-written +read):\n%s", what, diff)
			}
		}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}

		loc := &store.Location{Name: "main"}
		must(q.CreateLocation(ctx, loc))
		got, err := q.GetLocation(ctx, loc.ID)
		must(err)
		same("created location", loc, got)
		loc.Description = "HQ"
		must(q.UpdateLocation(ctx, loc))
		got, err = q.GetLocation(ctx, loc.ID)
		must(err)
		same("updated location", loc, got)

		plan := &store.Plan{Name: "Home", Kind: store.PlanPPPoE, Validity: 30 * 24 * time.Hour, Price: 150000, Currency: "IDR", Active: true}
		must(q.CreatePlan(ctx, plan))
		gotPlan, err := q.GetPlan(ctx, plan.ID)
		must(err)
		same("created plan", plan, gotPlan)
		plan.Price = 175000
		must(q.UpdatePlan(ctx, plan))
		gotPlan, err = q.GetPlan(ctx, plan.ID)
		must(err)
		same("updated plan", plan, gotPlan)

		cust := &store.Customer{Name: "Budi", RouterUsername: "budi", RouterPassword: "pw", LocationID: loc.ID}
		must(q.CreateCustomer(ctx, cust, cip))
		gotCust, err := q.GetCustomer(ctx, cust.ID, cip)
		must(err)
		same("created customer", cust, gotCust)
		cust.Notes = "moved"
		must(q.UpdateCustomer(ctx, cust, cip))
		gotCust, err = q.GetCustomer(ctx, cust.ID, cip)
		must(err)
		same("updated customer", cust, gotCust)

		sub := &store.Subscription{CustomerID: cust.ID, PlanID: plan.ID, Status: store.SubscriptionActive, StartsAt: given, ExpiresAt: given.Add(time.Hour)}
		must(q.CreateSubscription(ctx, sub))
		gotSub, err := q.GetSubscription(ctx, sub.ID)
		must(err)
		same("created subscription", sub, gotSub)
		sub.ExpiresAt = given.Add(2 * time.Hour)
		must(q.UpdateSubscription(ctx, sub))
		gotSub, err = q.GetSubscription(ctx, sub.ID)
		must(err)
		same("updated subscription", sub, gotSub)

		tpl := &store.Template{Name: "welcome", Body: "Hi [[name]]"}
		must(q.CreateTemplate(ctx, tpl))
		gotTpl, err := q.GetTemplate(ctx, tpl.ID)
		must(err)
		same("created template", tpl, gotTpl)
		tpl.Body = "Hello [[name]]"
		must(q.UpdateTemplate(ctx, tpl))
		gotTpl, err = q.GetTemplate(ctx, tpl.ID)
		must(err)
		same("updated template", tpl, gotTpl)

		user := &store.User{Username: "ana", PasswordHash: "x", Role: store.UserRoleAdmin, LastLoginAt: given}
		must(q.CreateUser(ctx, user))
		gotUser, err := q.GetUser(ctx, user.ID)
		must(err)
		same("created user", user, gotUser)
		user.Role = store.UserRoleOperator
		must(q.UpdateUser(ctx, user))
		gotUser, err = q.GetUser(ctx, user.ID)
		must(err)
		same("updated user", user, gotUser)

		tok := &store.APIToken{UserID: user.ID, Name: "script", Hash: "h", Prefix: "mbt_x", ExpiresAt: given}
		must(q.CreateAPIToken(ctx, tok))
		gotTok, err := q.GetAPIToken(ctx, tok.ID)
		must(err)
		same("created API token", tok, gotTok)

		sess := &store.Session{IDHash: "s", UserID: user.ID, ExpiresAt: given, Remote: "10.0.0.1"}
		must(q.CreateSession(ctx, sess))
		gotSess, err := q.GetSession(ctx, "s")
		must(err)
		same("created session", sess, gotSess)

		batch := &store.VoucherBatch{PlanID: plan.ID, LocationID: loc.ID}
		vs, err := q.CreateVoucherBatch(ctx, batch, 2)
		must(err)
		gotBatch, err := q.GetVoucherBatch(ctx, batch.ID)
		must(err)
		same("created voucher batch", batch, gotBatch)
		gotVs, _, err := q.ListVouchers(ctx, batch.ID, store.Page{})
		must(err)
		same("created vouchers", vs, gotVs)
		used, err := q.RedeemVoucher(ctx, vs[0].Code, cust.ID)
		must(err)
		gotV, err := q.GetVoucherByCode(ctx, vs[0].Code)
		must(err)
		same("redeemed voucher", used, gotV)

		inv := &store.Invoice{CustomerID: cust.ID, PlanID: plan.ID, Amount: 150000, Currency: "IDR", DueAt: given, PaidAt: given.Add(time.Minute)}
		must(s.Tx(ctx, func(tx *store.Tx) error { return tx.Q().CreateInvoice(ctx, inv) }))
		gotInv, err := q.GetInvoice(ctx, inv.ID)
		must(err)
		same("created invoice", inv, gotInv)

		pay := &store.Payment{InvoiceID: inv.ID, Gateway: "payment-manual", ExternalID: "MAN-1", Amount: 150000, Currency: "IDR", Status: store.PaymentPending}
		must(q.RecordPayment(ctx, pay))
		gotPay, err := q.GetPaymentByExternalID(ctx, "payment-manual", "MAN-1")
		must(err)
		same("recorded payment", pay, gotPay)
		pay.Status = store.PaymentPaid
		must(q.RecordPayment(ctx, pay))
		gotPay, err = q.GetPaymentByExternalID(ctx, "payment-manual", "MAN-1")
		must(err)
		same("payment recorded again", pay, gotPay)

		entry := &store.AuditEntry{EventID: "e1", OccurredAt: given, Actor: "user:ana", Action: "plan.updated", Metadata: map[string]string{"name": "Home"}}
		_, err = q.AppendAudit(ctx, entry)
		must(err)
		entries, _, err := q.ListAudit(ctx, store.Page{})
		must(err)
		if len(entries) != 1 {
			t.Fatalf("audit log: %+v", entries)
		}
		entry.ID = entries[0].ID // AppendAudit does not return it
		same("appended audit entry", entry, &entries[0])
	})
}

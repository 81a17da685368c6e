package billing_test

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// TestPortalCodeOnceOnBothBackends: a code sent through the notify plugin
// signs its customer in once, even when eight requests bring it at the
// same moment; the router login is checked against the stored password.
func TestPortalCodeOnceOnBothBackends(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		ctx := context.Background()
		if err := e.svc.PortalSendCode(ctx, e.cust.Phone, func(code string) string { return "code " + code }); err != nil {
			t.Fatal(err)
		}
		msgs := e.nt.messages()
		if len(msgs) != 1 || msgs[0].to != e.cust.Phone {
			t.Fatalf("messages %+v", msgs)
		}
		code := sixDigits.FindString(msgs[0].text)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won, refused int
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := e.svc.PortalCheckCode(ctx, e.cust.Phone, code)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && c.ID == e.cust.ID:
					won++
				case errors.Is(err, billing.ErrPortalBadCode):
					refused++
				default:
					t.Errorf("check: %v, %v", c, err)
				}
			}()
		}
		wg.Wait()
		if won != 1 || refused != 7 {
			t.Errorf("%d sign-ins and %d refusals with one code; want 1 and 7", won, refused)
		}

		if c, err := e.svc.PortalSignIn(ctx, "budi", "rahasia-123"); err != nil || c.ID != e.cust.ID {
			t.Errorf("router login: %v, %v", c, err)
		}
		for _, pw := range []string{"rahasia-12", "rahasia-1234", ""} {
			if _, err := e.svc.PortalSignIn(ctx, "budi", pw); !errors.Is(err, billing.ErrPortalBadCredentials) {
				t.Errorf("password %q: %v; want ErrPortalBadCredentials", pw, err)
			}
		}
	})
}

// TestPortalBuyExtends: buying the plan the customer has renews the
// subscription; the paid invoice extends it by the plan's validity.
func TestPortalBuyExtends(t *testing.T) {
	e := setup(t, storetest.SQLite(t))
	ctx := context.Background()
	sub := &store.Subscription{CustomerID: e.cust.ID, PlanID: e.plan.ID, Status: store.SubscriptionActive,
		StartsAt: time.Now().Add(-time.Hour), ExpiresAt: time.Now().Add(48 * time.Hour).Truncate(time.Millisecond)}
	if err := e.st.Q().CreateSubscription(ctx, sub); err != nil {
		t.Fatal(err)
	}
	start, err := e.svc.PortalBuy(ctx, e.cust.ID, e.plan.ID, "payment-fake", "portal:budi")
	if err != nil {
		t.Fatal(err)
	}
	if start.Invoice.SubscriptionID != sub.ID || start.Payment.CheckoutURL == "" {
		t.Errorf("purchase %+v; want it to renew subscription %d at the gateway's checkout", start, sub.ID)
	}
	if _, err := e.webhook(start.Payment.ID, "paid"); err != nil {
		t.Fatal(err)
	}
	got, err := e.st.Q().GetSubscription(ctx, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := sub.ExpiresAt.Add(e.plan.Validity); !got.ExpiresAt.Equal(want) {
		t.Errorf("expires %s; want %s", got.ExpiresAt, want)
	}
	h, err := e.svc.PortalHome(ctx, e.cust.ID)
	if err != nil {
		t.Fatal(err)
	}
	if h.Current == nil || h.Current.ID != sub.ID || len(h.Invoices) != 1 || h.Invoices[0].Status != store.InvoicePaid || h.Invoices[0].PayLink != "" {
		t.Errorf("home %+v", h)
	}
}

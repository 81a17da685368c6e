package testutil_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/testutil"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// TestGatewayOverGRPC: served with sdktest, the Gateway answers with its
// function fields, ErrNotSupported where a field is nil, and its name.
func TestGatewayOverGRPC(t *testing.T) {
	ctx := context.Background()
	gw := &testutil.Gateway{Name: "payment-test"}
	gw.CreatePaymentFunc = func(_ context.Context, req *payment.CreatePaymentRequest) (*payment.CreatePaymentResponse, error) {
		return &payment.CreatePaymentResponse{Payment: payment.Payment{ID: "PAY-" + req.OrderID, OrderID: req.OrderID, Status: payment.StatusPending, Amount: req.Amount}}, nil
	}
	h := sdktest.Serve(t, gw)
	d, err := h.Plugin().Describe(ctx, &sdk.DescribeRequest{})
	if err != nil || d.Name != "payment-test" {
		t.Errorf("Describe = %+v, %v; want payment-test", d, err)
	}
	resp, err := h.Payment().CreatePayment(ctx, &payment.CreatePaymentRequest{OrderID: "INV-1", Amount: payment.Money{Amount: 1000, Currency: "IDR"}, IdempotencyKey: "k"})
	if err != nil || resp.Payment.ID != "PAY-INV-1" {
		t.Errorf("CreatePayment = %+v, %v; want PAY-INV-1", resp, err)
	}
	if _, err := h.Payment().GetPayment(ctx, &payment.GetPaymentRequest{ID: "PAY-INV-1"}); !errors.Is(err, sdk.ErrNotSupported) {
		t.Errorf("GetPayment without GetPaymentFunc: %v; want sdk.ErrNotSupported", err)
	}
}

func TestPlugins(t *testing.T) {
	gw := sdktest.Serve(t, &testutil.Gateway{}).Payment()
	p := testutil.Plugins{Payments: map[string]payment.Gateway{"payment-fake": gw}}
	if got, err := p.Payment("payment-fake"); err != nil || got != gw {
		t.Errorf("Payment(payment-fake) = %v, %v; want the gateway", got, err)
	}
	if _, err := p.Payment("payment-other"); !errors.Is(err, billing.ErrNoPlugin) {
		t.Errorf("Payment(payment-other): %v; want billing.ErrNoPlugin", err)
	}
	if _, err := p.Router("mikrotik"); !errors.Is(err, billing.ErrNoPlugin) {
		t.Errorf("Router(mikrotik): %v; want billing.ErrNoPlugin", err)
	}
	if _, err := p.Notifier("whatsapp"); !errors.Is(err, billing.ErrNoPlugin) {
		t.Errorf("Notifier(whatsapp): %v; want billing.ErrNoPlugin", err)
	}
	if a, ok := p.Audit(); ok || a != nil {
		t.Errorf("Audit() = %v, %v; want no audit plugin", a, ok)
	}
}

// TestAuditLogOverGRPC: the AuditLog keeps each event once in a chain
// that verifies, and pages a filtered Query both ways with tokens that
// stay put while events are appended.
func TestAuditLogOverGRPC(t *testing.T) {
	ctx := context.Background()
	log := &testutil.AuditLog{MaxPageSize: 2}
	sink := sdktest.Serve(t, log).Audit()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var events []audit.Event
	for i := range 7 {
		events = append(events, audit.Event{ID: fmt.Sprint("ev-", i), Time: start.Add(time.Duration(i) * time.Minute),
			Actor: []string{"user:ana", "system"}[i%2], Action: "plan.created"})
	}
	resp, err := sink.Append(ctx, &audit.AppendRequest{Events: append(events, events[0])})
	if err != nil || resp.Appended != 7 || resp.Duplicates != 1 {
		t.Fatalf("Append = %+v, %v; want 7 appended, 1 duplicate", resp, err)
	}
	if v, err := sink.Verify(ctx, &audit.VerifyRequest{}); err != nil || !v.OK || v.Checked != 7 {
		t.Errorf("Verify = %+v, %v", v, err)
	}
	walk := func(req audit.QueryRequest) []string {
		var ids []string
		for {
			page, err := sink.Query(ctx, &req)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Events) > 2 {
				t.Errorf("a page of %d events; the cap is 2", len(page.Events))
			}
			for _, e := range page.Events {
				ids = append(ids, e.ID)
			}
			if page.NextPageToken == "" {
				return ids
			}
			first := req.PageToken == ""
			req.PageToken = page.NextPageToken
			if first {
				// Appending between pages moves nothing (the newest
				// first walk would see ev-2 twice if it did).
				if _, err := sink.Append(ctx, &audit.AppendRequest{Events: []audit.Event{{ID: "late", Time: start, Actor: "user:ana", Action: "plan.created"}}}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if got, want := walk(audit.QueryRequest{Actor: "user:ana", Descending: true, Until: start.Add(6 * time.Minute)}), []string{"ev-4", "ev-2", "ev-0"}; !slices.Equal(got, want) {
		t.Errorf("newest first: %q; want %q", got, want)
	}
	if got, want := walk(audit.QueryRequest{Actor: "system"}), []string{"ev-1", "ev-3", "ev-5"}; !slices.Equal(got, want) {
		t.Errorf("oldest first: %q; want %q", got, want)
	}
	if _, err := sink.Query(ctx, &audit.QueryRequest{PageToken: "x"}); !errors.Is(err, audit.ErrInvalidPageToken) {
		t.Errorf("a bad token: %v; want ErrInvalidPageToken", err)
	}
	if len(log.Queries()) == 0 {
		t.Error("no queries recorded")
	}
}

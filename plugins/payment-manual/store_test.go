package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// faultyHost is a FakeHost whose store can be made to fail, the way the
// host's answers when its database goes away.
type faultyHost struct {
	*sdktest.FakeHost
	mu     sync.Mutex
	getErr func(key string) error
	setErr func(key string) error
}

func (h *faultyHost) failGet(f func(key string) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.getErr = f
}

func (h *faultyHost) failSet(f func(key string) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.setErr = f
}

func (h *faultyHost) StoreGet(ctx context.Context, key string) ([]byte, bool, error) {
	h.mu.Lock()
	f := h.getErr
	h.mu.Unlock()
	if f != nil {
		if err := f(key); err != nil {
			return nil, false, err
		}
	}
	return h.FakeHost.StoreGet(ctx, key)
}

func (h *faultyHost) StoreSet(ctx context.Context, key string, value []byte, opts sdk.StoreSetOptions) (bool, error) {
	h.mu.Lock()
	f := h.setErr
	h.mu.Unlock()
	if f != nil {
		if err := f(key); err != nil {
			return false, err
		}
	}
	return h.FakeHost.StoreSet(ctx, key, value, opts)
}

// TestReusedEventIDIsRefused (issue point 11a): a confirmation that reuses
// an earlier confirmation's event_id for another payment is refused with
// payment.ErrReplay naming both payments, and pays nothing; the first
// payment's own repeat is still a duplicate, and the second payment takes a
// confirmation with an id of its own.
func TestReusedEventIDIsRefused(t *testing.T) {
	e := serve(t, t.TempDir(), defaultSettingsJSON)
	p1 := e.create(t, "INV-42", "k1", 150000)
	p2 := e.create(t, "INV-43", "k2", 150000)
	first := confirmationBody("conf-1", p1.ID, 150000, "IDR")
	if _, err := e.webhook(first, Sign(first, secret)); err != nil {
		t.Fatal(err)
	}

	reused := confirmationBody("conf-1", p2.ID, 150000, "IDR")
	resp, err := e.webhook(reused, Sign(reused, secret))
	want := "notification id already used for another payment: notification conf-1 was about payment " + p1.ID + ", this one names payment " + p2.ID +
		"; it pays nothing. Give every confirmation an event_id of its own"
	if !errors.Is(err, payment.ErrReplay) || err.Error() != want {
		t.Fatalf("reused event id = %+v, %v; want %q (payment.ErrReplay)", resp, err, want)
	}
	if got := e.get(t, p2.ID).Status; got != payment.StatusPending {
		t.Errorf("the second payment is %s after the refused confirmation, want pending", got)
	}
	if resp, err := e.webhook(first, Sign(first, secret)); err != nil || !resp.Event.Duplicate || resp.Event.PaymentID != p1.ID {
		t.Errorf("the first confirmation again = %+v, %v; want a duplicate about %s", resp, err, p1.ID)
	}
	own := confirmationBody("conf-2", p2.ID, 150000, "IDR")
	if resp, err := e.webhook(own, Sign(own, secret)); err != nil || resp.Event.Duplicate || resp.Event.Status != payment.StatusPaid {
		t.Errorf("the second payment's own confirmation = %+v, %v; want a paid event", resp, err)
	}
}

// TestTwoInstancesShareOneStore (issue point 11b): two plugin processes on
// one host store (two hosts on one database) see the same payments,
// idempotency keys and replay records.
func TestTwoInstancesShareOneStore(t *testing.T) {
	clk := sdktest.NewClock(t0)
	a := serveOn(t, nil, nil, clk)
	b := serveOn(t, a.host, nil, clk)
	for _, e := range []*env{a, b} {
		if _, err := e.configure(t.TempDir(), defaultSettingsJSON); err != nil {
			t.Fatal(err)
		}
	}
	p := a.create(t, "INV-42", "k1", 150000)
	if diff := cmp.Diff(p, b.get(t, p.ID)); diff != "" {
		t.Errorf("B reads A's payment (-want +got):\n%s", diff)
	}
	if again := b.create(t, "INV-42", "k1", 150000); again.ID != p.ID {
		t.Errorf("A's idempotency key on B created %s, want %s", again.ID, p.ID)
	}
	if _, err := b.gw.CreatePayment(context.Background(), &payment.CreatePaymentRequest{
		OrderID: "INV-42", Amount: payment.Money{Amount: 150000, Currency: "IDR"}, IdempotencyKey: "k-other",
	}); !errors.Is(err, sdk.ErrAlreadyExists) {
		t.Errorf("a second pending payment for the order on B = %v, want sdk.ErrAlreadyExists", err)
	}
	body := confirmationBody("evt-1", p.ID, 150000, "IDR")
	if resp, err := b.webhook(body, Sign(body, secret)); err != nil || resp.Event.Duplicate {
		t.Fatalf("confirmation on B = %+v, %v", resp, err)
	}
	if got := a.get(t, p.ID); got.Status != payment.StatusPaid {
		t.Errorf("A sees the payment %s after B confirmed it, want paid", got.Status)
	}
	if resp, err := a.webhook(body, Sign(body, secret)); err != nil || !resp.Event.Duplicate {
		t.Errorf("the same confirmation on A = %+v, %v; want a duplicate", resp, err)
	}
	q := a.create(t, "INV-43", "k2", 150000)
	list, err := b.h.Plugin().HandleHTTP(context.Background(), &sdk.HandleHTTPRequest{Route: "/payments", Request: sdk.HTTPRequest{Method: "GET"}})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Payments []paymentView `json:"payments"`
	}
	if err := json.Unmarshal(list.Response.Body, &got); err != nil || len(got.Payments) != 2 {
		t.Fatalf("B lists %s (%v), want both payments", list.Response.Body, err)
	}
	if ids := []string{got.Payments[0].ID, got.Payments[1].ID}; !((ids[0] == p.ID && ids[1] == q.ID) || (ids[0] == q.ID && ids[1] == p.ID)) {
		t.Errorf("B lists %v, want %s and %s", ids, p.ID, q.ID)
	}
}

// TestConcurrentConfirmations: confirmations of one payment at once, on two
// instances, by webhook and by the operator's route, pay it once: one
// confirmation wins, every event reports its time, one payment.confirmed
// is published at most. One event id sent at once for two payments pays
// one of them.
func TestConcurrentConfirmations(t *testing.T) {
	clk := sdktest.NewClock(t0)
	a := serveOn(t, nil, nil, clk)
	b := serveOn(t, a.host, nil, clk)
	for _, e := range []*env{a, b} {
		if _, err := e.configure(t.TempDir(), defaultSettingsJSON); err != nil {
			t.Fatal(err)
		}
	}
	p := a.create(t, "INV-42", "k1", 150000)
	var wg sync.WaitGroup
	paidAt := make(chan time.Time, 40)
	for i := range 20 {
		e := []*env{a, b}[i%2]
		wg.Go(func() {
			clk.Advance(time.Millisecond)
			body := confirmationBody(fmt.Sprintf("evt-%d", i), p.ID, 150000, "IDR")
			resp, err := e.webhook(body, Sign(body, secret))
			if err != nil {
				t.Errorf("confirmation %d: %v", i, err)
				return
			}
			paidAt <- resp.Event.OccurredAt
		})
		wg.Go(func() {
			if _, err := e.h.Plugin().HandleHTTP(context.Background(), &sdk.HandleHTTPRequest{
				Route: "/payments/{id}/confirm", PathParams: map[string]string{"id": p.ID},
				Request: sdk.HTTPRequest{Method: "POST", Principal: &sdk.Principal{Subject: "ana", Role: "operator"}},
			}); err != nil {
				t.Errorf("route confirmation: %v", err)
			}
		})
	}
	wg.Wait()
	close(paidAt)
	final := a.get(t, p.ID)
	if final.Status != payment.StatusPaid {
		t.Fatalf("payment %s after the confirmations, want paid", final.Status)
	}
	for at := range paidAt {
		if !at.Equal(final.PaidAt) {
			t.Errorf("an event reported paid at %v, the payment was paid at %v", at, final.PaidAt)
		}
	}
	if n := len(a.host.Events()); n > 1 {
		t.Errorf("%d payment.confirmed events published, want at most 1", n)
	}

	q1 := a.create(t, "INV-50", "k50", 150000)
	q2 := a.create(t, "INV-51", "k51", 150000)
	errs := make(chan error, 2)
	for i, q := range []payment.Payment{q1, q2} {
		e := []*env{a, b}[i]
		wg.Go(func() {
			body := confirmationBody("shared", q.ID, 150000, "IDR")
			_, err := e.webhook(body, Sign(body, secret))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	var ok, replay int
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, payment.ErrReplay):
			replay++
		default:
			t.Errorf("confirmation with the shared id: %v", err)
		}
	}
	paid := 0
	for _, q := range []payment.Payment{q1, q2} {
		if a.get(t, q.ID).Status == payment.StatusPaid {
			paid++
		}
	}
	if ok != 1 || replay != 1 || paid != 1 {
		t.Errorf("one event id for two payments at once: %d accepted, %d refused, %d paid; want 1, 1, 1", ok, replay, paid)
	}
}

// TestInterruptedConfirmationIsFinishedByItsRepeat (issue point 1): the
// host's store fails after the confirmation's event id was recorded and
// before the payment was marked paid (the database restarted). The
// confirmation fails; its repeat, a duplicate now, finishes it.
func TestInterruptedConfirmationIsFinishedByItsRepeat(t *testing.T) {
	clk := sdktest.NewClock(t0)
	h := &faultyHost{FakeHost: sdktest.NewFakeHost()}
	e := serveOn(t, h.FakeHost, h, clk)
	if _, err := e.configure(t.TempDir(), defaultSettingsJSON); err != nil {
		t.Fatal(err)
	}
	p := e.create(t, "INV-42", "k1", 150000)
	h.failSet(func(key string) error {
		if strings.HasPrefix(key, paidPrefix) {
			return fmt.Errorf("%w: the database is restarting", sdk.ErrUnavailable)
		}
		return nil
	})
	body := confirmationBody("evt-1", p.ID, 150000, "IDR")
	if _, err := e.webhook(body, Sign(body, secret)); !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("confirmation while the store fails = %v, want sdk.ErrUnavailable", err)
	}
	if got := e.get(t, p.ID).Status; got != payment.StatusPending {
		t.Fatalf("payment %s after the failed confirmation, want pending", got)
	}
	h.failSet(nil)
	resp, err := e.webhook(body, Sign(body, secret))
	if err != nil || !resp.Event.Duplicate || resp.Event.Status != payment.StatusPaid {
		t.Fatalf("the repeat = %+v, %v; want a duplicate, paid", resp, err)
	}
	if got := e.get(t, p.ID).Status; got != payment.StatusPaid {
		t.Errorf("payment %s after the repeat, want paid", got)
	}
}

// TestImportsPaymentsJSON (issue point 11b): an earlier version's
// payments.json in the data directory is moved into the host's store at
// Configure, once, and renamed payments.json.imported; its payments,
// idempotency keys and replay records work as if they had been made here,
// also on another instance of the same host store.
func TestImportsPaymentsJSON(t *testing.T) {
	dir := t.TempDir()
	paidAt := t0.Add(-time.Hour)
	legacy := map[string]any{
		"payments": map[string]any{
			"MAN-00000000000A": map[string]any{"ID": "MAN-00000000000A", "OrderID": "INV-1", "Status": "paid", "Amount": map[string]any{"Amount": 150000, "Currency": "IDR"},
				"Method": "cash", "Instructions": "pay", "CreatedAt": t0.Add(-2 * time.Hour), "ExpiresAt": t0.Add(46 * time.Hour), "PaidAt": paidAt,
				"GatewayStatus": "confirmed", "Raw": []byte(`{"confirmed_by":"teller-1"}`)},
			"MAN-00000000000B": map[string]any{"ID": "MAN-00000000000B", "OrderID": "INV-2", "Status": "pending", "Amount": map[string]any{"Amount": 150000, "Currency": "IDR"},
				"Method": "cash", "Instructions": "pay", "CreatedAt": t0.Add(-time.Hour), "ExpiresAt": t0.Add(47 * time.Hour), "GatewayStatus": "awaiting_confirmation"},
			"MAN-00000000000C": map[string]any{"ID": "MAN-00000000000C", "OrderID": "INV-3", "Status": "refunded", "Amount": map[string]any{"Amount": 5000, "Currency": "IDR"},
				"CreatedAt": t0.Add(-3 * time.Hour), "PaidAt": paidAt, "GatewayStatus": "refunded"},
		},
		"by_key": map[string]string{"INV-2-payment-manual-1": "MAN-00000000000B"},
		"events": map[string]string{"conf-old": "MAN-00000000000A"},
	}
	raw, err := json.Marshal(legacy)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, legacyFile), raw, 0o600); err != nil {
		t.Fatal(err)
	}

	clk := sdktest.NewClock(t0)
	e := serveOn(t, nil, nil, clk)
	if _, err := e.configure(dir, defaultSettingsJSON); err != nil {
		t.Fatalf("Configure with a payments.json: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, legacyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("payments.json is still there after the import (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, legacyFile+".imported")); err != nil {
		t.Errorf("payments.json.imported: %v", err)
	}

	// Another instance on the same host store, without the file.
	other := serveOn(t, e.host, nil, clk)
	if _, err := other.configure(t.TempDir(), defaultSettingsJSON); err != nil {
		t.Fatal(err)
	}
	wantPaid := payment.Payment{ID: "MAN-00000000000A", OrderID: "INV-1", Status: payment.StatusPaid, Amount: payment.Money{Amount: 150000, Currency: "IDR"},
		Method: "cash", Instructions: "pay", CreatedAt: t0.Add(-2 * time.Hour), ExpiresAt: t0.Add(46 * time.Hour), PaidAt: paidAt,
		GatewayStatus: "confirmed", Raw: []byte(`{"confirmed_by":"teller-1"}`)}
	if diff := cmp.Diff(wantPaid, other.get(t, "MAN-00000000000A")); diff != "" {
		t.Errorf("imported paid payment (-want +got):\n%s", diff)
	}
	if got := other.get(t, "MAN-00000000000B"); got.Status != payment.StatusPending || got.OrderID != "INV-2" {
		t.Errorf("imported pending payment: %+v", got)
	}
	if got := other.get(t, "MAN-00000000000C"); got.Status != payment.StatusRefunded {
		t.Errorf("imported refunded payment: %+v", got)
	}
	resp, err := other.gw.CreatePayment(context.Background(), &payment.CreatePaymentRequest{
		OrderID: "INV-2", Amount: payment.Money{Amount: 150000, Currency: "IDR"}, IdempotencyKey: "INV-2-payment-manual-1",
	})
	if err != nil || resp.Payment.ID != "MAN-00000000000B" {
		t.Errorf("the imported idempotency key = %+v, %v; want MAN-00000000000B", resp, err)
	}
	old := confirmationBody("conf-old", "MAN-00000000000A", 150000, "IDR")
	if resp, err := other.webhook(old, Sign(old, secret)); err != nil || !resp.Event.Duplicate {
		t.Errorf("the imported confirmation again = %+v, %v; want a duplicate", resp, err)
	}
	reused := confirmationBody("conf-old", "MAN-00000000000B", 150000, "IDR")
	if _, err := other.webhook(reused, Sign(reused, secret)); !errors.Is(err, payment.ErrReplay) {
		t.Errorf("the imported event id for another payment = %v, want payment.ErrReplay", err)
	}

	// Configure again: nothing left to import.
	if _, err := e.configure(dir, defaultSettingsJSON); err != nil {
		t.Errorf("Configure again: %v", err)
	}
}

// TestImportRefusesAnUnreadableFile: a payments.json that does not parse
// stops Configure with what to do, and stays where it is.
func TestImportRefusesAnUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, legacyFile), []byte(`{"payments":`), 0o600); err != nil {
		t.Fatal(err)
	}
	e := serveUnconfigured(t)
	_, err := e.configure(dir, defaultSettingsJSON)
	if !errors.Is(err, sdk.ErrFailedPrecondition) || !strings.Contains(err.Error(), "restore it from a backup") {
		t.Errorf("Configure with a broken payments.json = %v, want sdk.ErrFailedPrecondition saying what to do", err)
	}
	if _, err := os.Stat(filepath.Join(dir, legacyFile)); err != nil {
		t.Errorf("the broken payments.json was moved: %v", err)
	}
}

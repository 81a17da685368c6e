package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/paymenttest"
)

// stripeFake is the fake Stripe API as the conformance kit drives it.
type stripeFake struct{ *fakeStripe }

var (
	_ paymenttest.Fake        = stripeFake{}
	_ paymenttest.EventReuser = stripeFake{}
	_ paymenttest.Kinds       = stripeFake{}
)

// Kinds are the notifications Stripe can really send to the endpoint (the
// Checkout events the plugin subscribes to), and forgeries of them. Not
// Cancelled: no Checkout event says a payment was cancelled (a session
// ends completed or expired; a canceled PaymentIntent is a payment_intent
// event, which the endpoint does not subscribe to).
func (stripeFake) Kinds() []paymenttest.Kind {
	return slices.DeleteFunc(paymenttest.AllKinds(), func(k paymenttest.Kind) bool { return k == paymenttest.Cancelled })
}

func (f stripeFake) Settings() map[string]any { return f.settings() }

func (f stripeFake) InvalidSettings() map[string]any {
	return map[string]any{
		"secret_key":      "pk_test_51ThisIsThePublishableKey0123",
		"webhook_secrets": []string{testSecret},
		"api_base_url":    f.URL(),
	}
}

func (stripeFake) Amount() payment.Money { return rp150k }

func (f stripeFake) SetPaid(t testing.TB, p payment.Payment) {
	t.Helper()
	f.mu.Lock()
	_, ok := f.sessions[p.ID]
	f.mu.Unlock()
	if !ok {
		t.Fatalf("fake Stripe: no Checkout Session %q to pay", p.ID)
	}
	f.setPaid(p.ID)
}

func (f stripeFake) Stall(d time.Duration) { f.setStall(d) }

// Notification is a Stripe webhook delivery about p. Every call makes a new
// event (its own evt_ id), as Stripe does for every event.
func (f stripeFake) Notification(t testing.TB, p payment.Payment, k paymenttest.Kind) sdk.HTTPRequest {
	t.Helper()
	secret, signature := testSecret, ""
	var body []byte
	switch k {
	case paymenttest.Paid:
		body = f.paidEvent(p.ID)
	case paymenttest.BadSignature:
		body = f.paidEvent(p.ID)
		secret = "whsec_NotTheEndpointsSecret0123456789"
	case paymenttest.WrongAmount:
		body = f.event(eventCompleted, p.ID, func(o map[string]any) {
			o["status"], o["payment_status"], o["url"] = "complete", "paid", nil
			o["amount_total"] = o["amount_total"].(int64) + 100
		})
	case paymenttest.UnknownOrder:
		body = f.paidEvent("cs_test_b1NeverCreated" + strconv.FormatInt(time.Now().UnixNano(), 36))
	case paymenttest.Malformed:
		body = []byte(`{"id": "evt_1Malformed", "object": "event", "type": "checkout.session.completed", "data": {"object": `)
	case paymenttest.Unsigned, paymenttest.EmptySignature:
		body = f.paidEvent(p.ID)
	case paymenttest.TamperedAmount:
		// Stripe's signature over the genuine event, sent with a body
		// whose amount an attacker raised.
		body = f.paidEvent(p.ID)
		signature = sign(body, time.Now(), testSecret)
		var ev map[string]any
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatal(err)
		}
		obj := ev["data"].(map[string]any)["object"].(map[string]any)
		obj["amount_total"] = obj["amount_total"].(float64) * 10
		body, _ = json.Marshal(ev)
	case paymenttest.Failed:
		f.setAsyncFailed(p.ID)
		body = f.event(eventAsyncFailed, p.ID, func(o map[string]any) { o["url"] = nil })
	case paymenttest.Expired:
		f.setExpired(p.ID)
		body = f.event(eventExpired, p.ID, nil)
	case paymenttest.UnknownStatus:
		// A payment_status word Stripe does not document (yet).
		f.update(p.ID, func(s *fakeSession) { s.Status, s.PaymentStatus = "complete", "chargeback_reversed" })
		body = f.event(eventCompleted, p.ID, func(o map[string]any) { o["url"] = nil })
	default:
		t.Fatalf("fake Stripe: notification kind %s", k)
	}
	if signature == "" {
		signature = sign(body, time.Now(), secret)
	}
	header := http.Header{"Content-Type": {"application/json; charset=utf-8"}, "User-Agent": {"Stripe/1.0 (+https://stripe.com/docs/webhooks)"}, SignatureHeader: {signature}}
	switch k {
	case paymenttest.Unsigned:
		header.Del(SignatureHeader)
	case paymenttest.EmptySignature:
		header.Set(SignatureHeader, "")
	}
	return sdk.HTTPRequest{
		Method:     http.MethodPost,
		Path:       "/webhooks/" + Name,
		Header:     header,
		Body:       body,
		RemoteAddr: "127.0.0.1:40000",
		Host:       "billing.example.com",
		ReceivedAt: time.Now(),
	}
}

// ReusedEvent is second's checkout.session.completed carrying the id of the
// last paid event about first.
func (f stripeFake) ReusedEvent(t testing.TB, first, second payment.Payment) sdk.HTTPRequest {
	t.Helper()
	f.mu.Lock()
	id := f.paidEvents[first.ID]
	f.mu.Unlock()
	if id == "" {
		t.Fatalf("fake Stripe: no paid event about %s yet", first.ID)
	}
	req := f.Notification(t, second, paymenttest.Paid)
	req.Body = withEventID(t, req.Body, id)
	req.Header.Set(SignatureHeader, sign(req.Body, time.Now(), testSecret))
	return req
}

func TestConformance(t *testing.T) {
	t.Run("in-process", func(t *testing.T) {
		paymenttest.Run(t, paymenttest.InProcess(t, NewGateway()), stripeFake{newFakeStripe(t)}, paymenttest.Options{})
	})
	t.Run("executable", func(t *testing.T) {
		dir := t.TempDir()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, "mikrobill-plugin-"+Name), ".")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		manifest, err := os.ReadFile("plugin.json")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "plugin.json"), manifest, 0o644); err != nil {
			t.Fatal(err)
		}
		paymenttest.Run(t, paymenttest.Executable(t, dir), stripeFake{newFakeStripe(t)}, paymenttest.Options{})
	})
}

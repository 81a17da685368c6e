package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/paymenttest"
)

// TestConformance runs the SDK's conformance kit, the checks the host relies
// on, against the plugin twice: served inside the test, and built into an
// executable that the kit launches the way the host does.
func TestConformance(t *testing.T) {
	t.Run("in-process", func(t *testing.T) {
		paymenttest.Run(t, paymenttest.InProcess(t, NewGateway()), kitFake{newFakeExamplePay(t)}, paymenttest.Options{})
	})
	t.Run("executable", func(t *testing.T) {
		if testing.Short() {
			t.Skip("builds the plugin; skipped with -short")
		}
		dir := buildPlugin(t)
		paymenttest.Run(t, paymenttest.Executable(t, dir), kitFake{newFakeExamplePay(t)}, paymenttest.Options{})
	})
}

// buildPlugin builds the plugin into a new folder beside a copy of
// plugin.json, as it is installed in a host's plugin directory.
func buildPlugin(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "mikrobill-plugin-"+Name), ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	manifest, err := os.ReadFile("plugin.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plugin.json"), manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// kitFake is the fake Example Pay as the kit drives it (paymenttest.Fake).
//
// REPLACE: the notifications your gateway sends, one per Kind.
type kitFake struct{ *fakeExamplePay }

var (
	_ paymenttest.Fake        = kitFake{}
	_ paymenttest.EventReuser = kitFake{}
	_ paymenttest.Kinds       = kitFake{}
)

// Kinds: the fake builds every notification the kit asks for.
func (kitFake) Kinds() []paymenttest.Kind { return paymenttest.AllKinds() }

// statusEvents are the notifications of the kinds that change a payment's
// status at the fake, with the status word its API answers from then on.
//
// REPLACE: your gateway's event types and status words; the last is one it
// does not document.
var statusEvents = map[paymenttest.Kind]struct{ eventType, word string }{
	paymenttest.Failed:        {"payment.failed", "failed"},
	paymenttest.Cancelled:     {"payment.cancelled", "cancelled"},
	paymenttest.Expired:       {"payment.expired", "expired"},
	paymenttest.UnknownStatus: {"payment.updated", "under_review"},
}

func (f kitFake) Settings() map[string]any { return f.settings() }

func (f kitFake) InvalidSettings() map[string]any {
	s := f.settings()
	s["base_url"] = "ftp://api.examplepay.test"
	return s
}

func (f kitFake) Amount() payment.Money { return payment.Money{Amount: 150000, Currency: "IDR"} }

func (f kitFake) SetPaid(t testing.TB, p payment.Payment) { f.setStatus(t, p.ID, "paid") }

func (f kitFake) Stall(d time.Duration) { f.setStall(d) }

// ReusedEvent is second's paid notification with the id of first's.
//
// REPLACE: how your gateway's event ids are made.
func (f kitFake) ReusedEvent(t testing.TB, first, second payment.Payment) sdk.HTTPRequest {
	t.Helper()
	data := f.record(t, second)
	data.Status = "paid"
	return f.notification("evt_paid_"+first.ID, "payment.paid", data, fakeWebhookSecret)
}

func (f kitFake) Notification(t testing.TB, p payment.Payment, k paymenttest.Kind) sdk.HTTPRequest {
	t.Helper()
	data := f.record(t, p)
	data.Status = "paid" // what the notification claims
	switch k {
	case paymenttest.Paid:
		return f.notification("evt_paid_"+p.ID, "payment.paid", data, fakeWebhookSecret)
	case paymenttest.BadSignature:
		return f.notification("evt_badsig_"+p.ID, "payment.paid", data, "whsec_someone-else-0000000")
	case paymenttest.WrongAmount:
		data.Amount += 1000
		return f.notification("evt_amount_"+p.ID, "payment.paid", data, fakeWebhookSecret)
	case paymenttest.UnknownOrder:
		data.ID, data.OrderID = "pay_never_made_"+randomHex(4), "never-made-"+p.OrderID
		return f.notification("evt_unknown_"+p.ID, "payment.paid", data, fakeWebhookSecret)
	case paymenttest.Malformed:
		return f.signed([]byte(`{"id":"evt_malformed","type":"payment.paid","data":{"id":`), fakeWebhookSecret)
	case paymenttest.Unsigned:
		req := f.notification("evt_unsigned_"+p.ID, "payment.paid", data, fakeWebhookSecret)
		req.Header.Del(signature.Header)
		return req
	case paymenttest.EmptySignature:
		req := f.notification("evt_empty_"+p.ID, "payment.paid", data, fakeWebhookSecret)
		req.Header.Set(signature.Header, "")
		return req
	case paymenttest.TamperedAmount:
		req := f.notification("evt_tampered_"+p.ID, "payment.paid", data, fakeWebhookSecret)
		data.Amount += 1000
		tampered := f.notification("evt_tampered_"+p.ID, "payment.paid", data, fakeWebhookSecret)
		req.Body = tampered.Body // the genuine signature, another amount
		return req
	case paymenttest.Failed, paymenttest.Cancelled, paymenttest.Expired, paymenttest.UnknownStatus:
		ev := statusEvents[k]
		f.setStatus(t, p.ID, ev.word)
		data.Status = ev.word
		return f.notification("evt_"+ev.word+"_"+p.ID, ev.eventType, data, fakeWebhookSecret)
	default:
		t.Fatalf("kitFake: no notification of kind %s", k)
		return sdk.HTTPRequest{}
	}
}

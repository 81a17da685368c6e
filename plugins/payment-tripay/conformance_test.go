package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/paymenttest"
)

// kitFake is the fake Tripay as the conformance kit drives it.
type kitFake struct{ f *fakeTripay }

var _ paymenttest.Fake = kitFake{}

// Settings point the plugin at the fake. The default channel is QRIS, whose
// fee the fake charges to the customer: total_amount in the callbacks is
// more than the invoice, which the plugin must tell apart.
func (k kitFake) Settings() map[string]any {
	s := k.f.settings()
	s["default_method"] = "QRIS"
	return s
}

func (k kitFake) InvalidSettings() map[string]any {
	return map[string]any{"merchant_code": testMerchantCode, "base_url": "ftp://127.0.0.1/api"}
}

func (k kitFake) Amount() payment.Money { return payment.Money{Amount: 150000, Currency: "IDR"} }

func (k kitFake) SetPaid(t testing.TB, p payment.Payment) { k.f.setStatus(t, p.ID, "PAID") }

func (k kitFake) Stall(d time.Duration) { k.f.setStall(d) }

// Kinds are the notifications Tripay can really send: it has no cancelled
// status (its words are PAID, UNPAID, EXPIRED, FAILED and REFUND), so the
// kit's "cancelled" check does not apply. Its callbacks carry no event id,
// so the fake is no paymenttest.EventReuser.
func (k kitFake) Kinds() []paymenttest.Kind {
	return slices.DeleteFunc(paymenttest.AllKinds(), func(kind paymenttest.Kind) bool { return kind == paymenttest.Cancelled })
}

func (k kitFake) Notification(t testing.TB, p payment.Payment, kind paymenttest.Kind) sdk.HTTPRequest {
	t.Helper()
	cb := k.f.callbackFor(t, p.ID, "PAID")
	switch kind {
	case paymenttest.Paid:
	case paymenttest.BadSignature:
		req := signedRequest(mustJSON(t, cb))
		req.Header.Set(SignatureHeader, CallbackSignature(req.Body, "not-the-private-key"))
		return req
	case paymenttest.Unsigned:
		req := signedRequest(mustJSON(t, cb))
		req.Header.Del(SignatureHeader)
		return req
	case paymenttest.EmptySignature:
		req := signedRequest(mustJSON(t, cb))
		req.Header.Set(SignatureHeader, "")
		return req
	case paymenttest.TamperedAmount:
		req := signedRequest(mustJSON(t, cb)) // signed over the genuine body
		cb.TotalAmount -= 100000
		cb.AmountReceived -= 100000
		req.Body = mustJSON(t, cb)
		return req
	case paymenttest.WrongAmount:
		cb.TotalAmount += 1000
		cb.AmountReceived += 1000
	case paymenttest.UnknownOrder:
		cb.Reference = "DEV-T0001UNKNOWN" + p.OrderID
		cb.MerchantRef = "pt-never-" + p.OrderID
	case paymenttest.Malformed:
		body := mustJSON(t, cb)
		return signedRequest(body[:len(body)/2]) // signed over the raw (cut) bytes
	case paymenttest.Failed, paymenttest.Expired, paymenttest.UnknownStatus:
		word := map[paymenttest.Kind]string{paymenttest.Failed: "FAILED", paymenttest.Expired: "EXPIRED", paymenttest.UnknownStatus: "CHARGEBACK"}[kind]
		k.f.setStatus(t, p.ID, word)
		cb = k.f.callbackFor(t, p.ID, word)
	default:
		t.Fatalf("kitFake: Tripay sends no %v notification", kind)
	}
	return signedRequest(mustJSON(t, cb))
}

func TestConformance(t *testing.T) {
	t.Run("in-process", func(t *testing.T) {
		f := newFakeTripay(t, time.Now)
		paymenttest.Run(t, paymenttest.InProcess(t, NewGateway().Plugin().(payment.Gateway)), kitFake{f}, paymenttest.Options{})
	})

	t.Run("executable", func(t *testing.T) {
		dir := t.TempDir()
		build := exec.Command(goTool(t), "build", "-o", filepath.Join(dir, "mikrobill-plugin-"+Name), ".")
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
		f := newFakeTripay(t, time.Now)
		paymenttest.Run(t, paymenttest.Executable(t, dir), kitFake{f}, paymenttest.Options{})
	})
}

// goTool finds the go command that runs this test.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	t.Fatal("the go command is neither on PATH nor in $GOROOT/bin; the executable conformance run needs it to build the plugin")
	return ""
}

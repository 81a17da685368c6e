package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/paymenttest"
)

// conformanceFake is the fake Midtrans as the conformance kit drives it.
type conformanceFake struct{ *fakeMidtrans }

var (
	_ paymenttest.Fake        = conformanceFake{}
	_ paymenttest.EventReuser = conformanceFake{}
	_ paymenttest.Kinds       = conformanceFake{}
)

// Kinds: Midtrans sends every kind the kit knows.
func (f conformanceFake) Kinds() []paymenttest.Kind { return paymenttest.AllKinds() }

func (f conformanceFake) Settings() map[string]any { return f.settings() }

// InvalidSettings lack the server key and have a base URL that is not one.
func (f conformanceFake) InvalidSettings() map[string]any {
	s := f.settings()
	delete(s, "server_key")
	s["base_url"] = "app.sandbox.midtrans.com"
	return s
}

func (f conformanceFake) Amount() payment.Money {
	return payment.Money{Amount: 150000, Currency: "IDR"}
}

// SetPaid is the customer paying by bank transfer: Midtrans settles.
func (f conformanceFake) SetPaid(_ testing.TB, p payment.Payment) {
	f.setStatus(p.OrderID, "settlement", "accept")
}

func (f conformanceFake) Notification(t testing.TB, p payment.Payment, k paymenttest.Kind) sdk.HTTPRequest {
	o := f.order(p.OrderID)
	if o == nil {
		t.Fatalf("fake Midtrans: no transaction for order %s", p.OrderID)
	}
	gross := formatRupiah(p.Amount.Amount)
	switch k {
	case paymenttest.Paid:
		return f.notification(p.OrderID, o.TxID, "settlement", "accept", gross, f.serverKey)
	case paymenttest.BadSignature:
		return f.notification(p.OrderID, o.TxID, "settlement", "accept", gross, "SB-Mid-server-forged")
	case paymenttest.WrongAmount:
		return f.notification(p.OrderID, o.TxID, "settlement", "accept", formatRupiah(p.Amount.Amount+1000), f.serverKey)
	case paymenttest.UnknownOrder:
		return f.notification("never-"+p.OrderID, uuid(), "settlement", "accept", gross, f.serverKey)
	case paymenttest.Malformed:
		return webhookRequest([]byte(`{"order_id":"` + p.OrderID + `","status_code":"200","gross_amount":`))
	case paymenttest.Unsigned:
		return editBody(t, f.notification(p.OrderID, o.TxID, "settlement", "accept", gross, f.serverKey), "signature_key", nil)
	case paymenttest.EmptySignature:
		return editBody(t, f.notification(p.OrderID, o.TxID, "settlement", "accept", gross, f.serverKey), "signature_key", "")
	case paymenttest.TamperedAmount:
		return editBody(t, f.notification(p.OrderID, o.TxID, "settlement", "accept", gross, f.serverKey), "gross_amount", formatRupiah(p.Amount.Amount/10))
	}
	// The unpaid kinds: the status API says so too from now on. Midtrans
	// sends deny for a payment its bank or fraud check refused.
	for kind, status := range map[paymenttest.Kind][2]string{
		paymenttest.Failed: {"deny", "deny"}, paymenttest.Cancelled: {"cancel", ""}, paymenttest.Expired: {"expire", ""},
		paymenttest.UnknownStatus: {"chargeback_reversed", "accept"},
	} {
		if k == kind {
			f.setStatus(p.OrderID, status[0], status[1])
			return f.notification(p.OrderID, o.TxID, status[0], status[1], gross, f.serverKey)
		}
	}
	t.Fatalf("fake Midtrans: no notification of kind %s", k)
	return sdk.HTTPRequest{}
}

func (f conformanceFake) Stall(d time.Duration) { f.setStall(d) }

// editBody sets a field of a notification's JSON body after it was signed
// (nil: removes it).
func editBody(t testing.TB, req sdk.HTTPRequest, field string, value any) sdk.HTTPRequest {
	var m map[string]any
	if err := json.Unmarshal(req.Body, &m); err != nil {
		t.Fatal(err)
	}
	if value == nil {
		delete(m, field)
	} else {
		m[field] = value
	}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	req.Body = body
	return req
}

// ReusedEvent is second's settlement carrying first's transaction id, the
// id Midtrans' event ids are made of.
func (f conformanceFake) ReusedEvent(t testing.TB, first, second payment.Payment) sdk.HTTPRequest {
	o := f.order(first.OrderID)
	if o == nil {
		t.Fatalf("fake Midtrans: no transaction for order %s", first.OrderID)
	}
	return f.notification(second.OrderID, o.TxID, "settlement", "accept", formatRupiah(second.Amount.Amount), f.serverKey)
}

func TestConformance(t *testing.T) {
	t.Run("in-process", func(t *testing.T) {
		paymenttest.Run(t, paymenttest.InProcess(t, NewGateway()), conformanceFake{newFakeMidtrans(t)}, paymenttest.Options{})
	})
	t.Run("executable", func(t *testing.T) {
		if testing.Short() {
			t.Skip("builds the plugin; not in -short")
		}
		dir := t.TempDir()
		build := exec.Command("go", "build", "-o", filepath.Join(dir, "mikrobill-plugin-"+Name), ".")
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
		paymenttest.Run(t, paymenttest.Executable(t, dir), conformanceFake{newFakeMidtrans(t)}, paymenttest.Options{})
	})
}

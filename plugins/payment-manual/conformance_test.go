package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/paymenttest"
)

// manualFake is payment-manual's side of the conformance kit. The plugin
// calls no remote API: its notification is the operator's confirmation,
// signed with confirm_secret, and it is the last word (there is no status
// API to ask), so SetPaid and Stall have nothing to do.
type manualFake struct{}

var (
	_ paymenttest.Fake        = manualFake{}
	_ paymenttest.EventReuser = manualFake{}
)

const conformanceSecret = "conformance-secret-0123456789"

func (manualFake) Settings() map[string]any {
	return map[string]any{
		"confirm_secret": conformanceSecret,
		"currencies":     []string{"IDR", "USD"},
		"bank_accounts":  []map[string]string{{"bank": "BCA", "account_number": "1234567890", "account_name": "PT Mikrobill"}},
	}
}

func (manualFake) InvalidSettings() map[string]any {
	return map[string]any{"confirm_secret": "too-short"}
}

func (manualFake) Amount() payment.Money { return payment.Money{Amount: 150000, Currency: "IDR"} }

func (manualFake) SetPaid(testing.TB, payment.Payment) {}

func (manualFake) Stall(time.Duration) {}

func (manualFake) Notification(t testing.TB, p payment.Payment, k paymenttest.Kind) sdk.HTTPRequest {
	c := confirmation{EventID: "conf-" + k.String() + "-" + p.ID, PaymentID: p.ID, Amount: p.Amount.Amount, Currency: p.Amount.Currency, ConfirmedBy: "conformance kit"}
	switch k {
	case paymenttest.WrongAmount:
		c.Amount++
	case paymenttest.UnknownOrder:
		c.PaymentID = "MAN-NEVERMADE0"
	}
	body, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if k == paymenttest.Malformed {
		body = []byte(`{"event_id": "conf-malformed", "payment_id": ` + "\n")
	}
	secret := conformanceSecret
	if k == paymenttest.BadSignature {
		secret = "not-the-confirm-secret-at-all"
	}
	return sdk.HTTPRequest{
		Method: http.MethodPost, Path: "/webhooks/" + Name, RemoteAddr: "127.0.0.1:40000", Host: "billing.example.com",
		Header:     http.Header{"Content-Type": {"application/json"}, SignatureHeader: {Sign(body, secret)}},
		Body:       body,
		ReceivedAt: time.Now(),
	}
}

// ReusedEvent is second's confirmation with the event_id of first's: an
// operator's tool that reuses ids.
func (f manualFake) ReusedEvent(t testing.TB, first, second payment.Payment) sdk.HTTPRequest {
	c := confirmation{EventID: "conf-" + paymenttest.Paid.String() + "-" + first.ID, PaymentID: second.ID, Amount: second.Amount.Amount,
		Currency: second.Amount.Currency, ConfirmedBy: "conformance kit"}
	body, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	req := f.Notification(t, second, paymenttest.Paid)
	req.Body = body
	req.Header.Set(SignatureHeader, Sign(body, conformanceSecret))
	return req
}

var manualOptions = paymenttest.Options{NotificationIsAuthoritative: true, NoRemoteAPI: true}

func TestConformance(t *testing.T) {
	t.Run("in-process", func(t *testing.T) {
		paymenttest.Run(t, paymenttest.InProcess(t, NewGateway()), manualFake{}, manualOptions)
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
		paymenttest.Run(t, paymenttest.Executable(t, dir), manualFake{}, manualOptions)
	})
}

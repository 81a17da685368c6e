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

// TestConformance runs the SDK's conformance kit against the plugin, served
// in-process and as the built executable.
func TestConformance(t *testing.T) {
	t.Run("in-process", func(t *testing.T) {
		paymenttest.Run(t, paymenttest.InProcess(t, NewGateway()), kitFake{newFakeXendit(t)}, paymenttest.Options{})
	})
	t.Run("executable", func(t *testing.T) {
		if testing.Short() {
			t.Skip("builds the plugin; skipped with -short")
		}
		paymenttest.Run(t, paymenttest.Executable(t, buildPlugin(t)), kitFake{newFakeXendit(t)}, paymenttest.Options{})
	})
}

// buildPlugin builds the plugin into a new folder beside a copy of
// plugin.json, as it is installed in a host's plugin directory.
func buildPlugin(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "mikrobill-plugin-"+Name), ".").CombinedOutput(); err != nil {
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

// kitFake is the fake Xendit as the kit drives it. Xendit's callbacks have
// no event id, so it is no paymenttest.EventReuser: there is no id to reuse.
type kitFake struct{ *fakeXendit }

var _ paymenttest.Fake = kitFake{}

func (f kitFake) Settings() map[string]any { return f.settings() }

func (f kitFake) InvalidSettings() map[string]any {
	s := f.settings()
	s["secret_key"] = "not-a-xendit-key-0123456789"
	return s
}

func (f kitFake) Amount() payment.Money { return payment.Money{Amount: 150000, Currency: "IDR"} }

func (f kitFake) SetPaid(t testing.TB, p payment.Payment) { f.setStatus(t, p.ID, "PAID") }

func (f kitFake) Stall(d time.Duration) { f.setStall(d) }

func (f kitFake) Notification(t testing.TB, p payment.Payment, k paymenttest.Kind) sdk.HTTPRequest {
	t.Helper()
	inv := f.record(t, p)
	inv.Status = "PAID" // what the callback claims
	switch k {
	case paymenttest.Paid:
		return callback(inv, fakeCallbackToken)
	case paymenttest.BadSignature:
		return callback(inv, "cbtoken_someone-else-000000")
	case paymenttest.WrongAmount:
		inv.Amount = json.Number("151000")
		return callback(inv, fakeCallbackToken)
	case paymenttest.UnknownOrder:
		inv.ID, inv.ExternalID = "never-made-"+randomHex(4), "never-made-"+p.OrderID
		return callback(inv, fakeCallbackToken)
	case paymenttest.Malformed:
		return rawCallback([]byte(`{"id":"x","status":"PAID","amount":`), fakeCallbackToken)
	default:
		t.Fatalf("kitFake: no notification of kind %s", k)
		return sdk.HTTPRequest{}
	}
}

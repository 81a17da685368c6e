package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// nonMoney are ISO 4217 codes CLDR knows that name no money: each must be
// refused, saying it is not money.
var nonMoney = []string{"XTS", "XXX", "XAU", "XAG", "XPD", "XPT", "XDR", "XSU", "XUA", "XBA", "XBB", "XBC", "XBD",
	"BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"}

func TestNonMoneyRefused(t *testing.T) {
	for _, code := range nonMoney {
		_, derr := gateway.Decimals(code)
		_, ferr := gateway.FormatAmount(payment.Money{Amount: 100, Currency: code})
		_, perr := gateway.ParseAmount("1.00", code)
		for name, err := range map[string]error{"Decimals": derr, "FormatAmount": ferr, "ParseAmount": perr} {
			if !errors.Is(err, payment.ErrUnsupportedCurrency) || !strings.Contains(fmt.Sprint(err), code+" is not money") {
				t.Errorf("%s(%s): %v; want payment.ErrUnsupportedCurrency saying %s is not money", name, code, err, code)
			}
		}
	}
	// Real currencies whose codes start with X stay accepted.
	for _, code := range []string{"XAF", "XOF", "XPF", "XCD"} {
		if _, err := gateway.Decimals(code); err != nil {
			t.Errorf("Decimals(%s): %v; it is money", code, err)
		}
	}
}

// A gateway that takes any currency (no Spec.Currencies) still refuses
// them, before its API is asked.
func TestNonMoneyRefusedByCreatePayment(t *testing.T) {
	m := &memAPI{payments: map[string]*payment.Payment{}}
	h := serveSpec(t, m, sdktest.NewFakeHost(), nil)
	ctx := context.Background()
	for _, code := range []string{"XTS", "XXX", "XAU"} {
		_, err := h.Payment().CreatePayment(ctx, create("k-"+code, payment.Money{Amount: 100, Currency: code}))
		if !errors.Is(err, payment.ErrUnsupportedCurrency) || !strings.Contains(err.Error(), "not money") {
			t.Errorf("CreatePayment in %s: %v; want payment.ErrUnsupportedCurrency saying it is not money", code, err)
		}
	}
	if _, err := h.Payment().CreatePayment(ctx, create("k-usd", payment.Money{Amount: 100, Currency: "USD"})); err != nil {
		t.Fatalf("CreatePayment in USD: %v", err)
	}
	if m.creates != 1 {
		t.Errorf("the API was asked to create %d payments; want 1 (USD only)", m.creates)
	}
}

// Spec.CheckCurrency replaces Decimals for an API that converts amounts
// itself: COP (CLDR 0 digits, payment.Money 2) is taken, XTS still refused.
func TestCheckCurrency(t *testing.T) {
	m := &memAPI{payments: map[string]*payment.Payment{}}
	h := serveSpec(t, m, sdktest.NewFakeHost(), func(s *gateway.Spec[settings]) { s.CheckCurrency = func(string) error { return nil } })
	ctx := context.Background()
	if _, err := gateway.Decimals("COP"); !errors.Is(err, payment.ErrUnsupportedCurrency) {
		t.Fatalf("Decimals(COP) = %v; the test needs a currency Decimals refuses", err)
	}
	if _, err := h.Payment().CreatePayment(ctx, create("k-cop", payment.Money{Amount: 500000, Currency: "COP"})); err != nil {
		t.Errorf("CreatePayment in COP with Spec.CheckCurrency taking it: %v", err)
	}
	if _, err := h.Payment().CreatePayment(ctx, create("k-xts", payment.Money{Amount: 100, Currency: "XTS"})); !errors.Is(err, payment.ErrUnsupportedCurrency) {
		t.Errorf("CreatePayment in XTS: %v; want payment.ErrUnsupportedCurrency", err)
	}
	if m.creates != 1 {
		t.Errorf("the API made %d payments; want 1 (COP)", m.creates)
	}
}

// serveSpec serves a Gateway over m that takes any currency, with spec
// changed by edit (nil: as it is), configured with a token.
func serveSpec(t *testing.T, m *memAPI, host *sdktest.FakeHost, edit func(*gateway.Spec[settings])) *sdktest.Harness {
	t.Helper()
	spec := gateway.Spec[settings]{
		Name: "payment-mem", Version: "0.1.0",
		Environments: map[string]string{"sandbox": "https://sandbox.mem.example"},
		Defaults:     settings{Connection: gateway.Connection{Environment: "sandbox"}},
		New:          func(settings, *gateway.Env) (gateway.API, error) { return m, nil },
	}
	if edit != nil {
		edit(&spec)
	}
	h := sdktest.Serve(t, gateway.New(spec), sdktest.WithHost(host))
	if _, err := h.Configure(context.Background(), map[string]any{"token": "t"}); err != nil {
		t.Fatal(err)
	}
	return h
}

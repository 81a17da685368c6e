package gateway

import (
	"fmt"

	"github.com/mikrobill/mikrobill/sdk/payment"
)

// nonMoney are the ISO 4217 codes that name no money anyone pays with:
// CLDR (and so golang.org/x/text/currency) knows them, but no gateway
// charges in them, and an amount in one is a mistake (XTS is reserved for
// tests, XXX means "no currency"). Decimals refuses them, so every gateway
// built on this package does, before any call to the gateway.
var nonMoney = map[string]string{
	"XTS": "ISO 4217's code reserved for testing",
	"XXX": "ISO 4217's code for \"no currency\"",
	"XAU": "gold (a precious metal)",
	"XAG": "silver (a precious metal)",
	"XPD": "palladium (a precious metal)",
	"XPT": "platinum (a precious metal)",
	"XDR": "the IMF's special drawing right (a reserve asset)",
	"XSU": "the SUCRE (a unit of account between central banks)",
	"XUA": "the ADB unit of account",
	"XBA": "a European bond-market unit",
	"XBB": "a European bond-market unit",
	"XBC": "a European bond-market unit",
	"XBD": "a European bond-market unit",
	"BOV": "a fund code (Bolivian Mvdol), not a currency customers pay in",
	"CHE": "a fund code (WIR euro), not a currency customers pay in",
	"CHW": "a fund code (WIR franc), not a currency customers pay in",
	"CLF": "a fund code (Chilean Unidad de Fomento), not a currency customers pay in",
	"COU": "a fund code (Colombian Unidad de Valor Real), not a currency customers pay in",
	"MXV": "a fund code (Mexican Unidad de Inversion), not a currency customers pay in",
	"USN": "a fund code (US dollar next day), not a currency customers pay in",
	"UYI": "a fund code (Uruguayan peso in indexed units), not a currency customers pay in",
	"UYW": "a fund code (Uruguayan nominal wage index unit), not a currency customers pay in",
}

// CheckMoney refuses, with payment.ErrUnsupportedCurrency saying what the
// code is, an ISO 4217 code that names no money: XTS (for tests), XXX,
// precious metals (XAU, XAG, XPD, XPT), XDR and other units of account,
// fund codes (CLF, USN, ...). Decimals calls it; so does CreatePayment with
// Spec.CheckCurrency. Use it to check a currency in the settings.
func CheckMoney(code string) error {
	if what, ok := nonMoney[code]; ok {
		return fmt.Errorf("%w: %s is not money: it is %s; charge in the currency the customer pays in, such as USD or IDR",
			payment.ErrUnsupportedCurrency, code, what)
	}
	return nil
}

// checkCurrency is CreatePayment's check of the request's currency:
// Spec.CheckCurrency when set, else Decimals; a code that names no money
// is refused either way.
func (g *Gateway[S]) checkCurrency(code string) error {
	if g.spec.CheckCurrency == nil {
		_, err := Decimals(code)
		return err
	}
	if err := CheckMoney(code); err != nil {
		return err
	}
	return g.spec.CheckCurrency(code)
}

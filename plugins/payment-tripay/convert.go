package main

import (
	"cmp"
	"fmt"
	"html"
	"regexp"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
)

// Currency is the only currency Tripay takes. IDR has no minor unit there:
// payment.Money{Amount: 150000, Currency: "IDR"} is Rp 150.000 and is sent
// as amount 150000.
const Currency = "IDR"

// statuses are Tripay's transaction statuses. A word Tripay does not
// document is pending, never paid.
var statuses = gateway.StatusMap{
	"PAID": payment.StatusPaid, "UNPAID": payment.StatusPending, "EXPIRED": payment.StatusExpired,
	"FAILED": payment.StatusFailed, "REFUND": payment.StatusRefunded,
}

// gatewayStatus is Tripay's status word, normalised.
func gatewayStatus(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

// statusOf maps Tripay's status word; ok is false for a word Tripay does
// not document (pending then).
func statusOf(s string) (st payment.Status, ok bool) {
	_, ok = statuses[gatewayStatus(s)]
	return statuses.Status(gatewayStatus(s)), ok
}

// paymentOf converts a Tripay transaction.
func paymentOf(t *transaction) *payment.Payment {
	st, _ := statusOf(t.Status)
	expires := t.ExpiredTime
	if !expires.set {
		expires = t.ExpiredAt
	}
	return &payment.Payment{
		ID:            t.Reference,
		OrderID:       t.MerchantRef,
		Status:        st,
		Amount:        payment.Money{Amount: t.invoiceAmount(), Currency: Currency},
		Method:        t.PaymentMethod,
		CheckoutURL:   cmp.Or(string(t.CheckoutURL), string(t.PayURL)),
		PayCode:       string(t.PayCode),
		QRString:      string(t.QRString),
		Instructions:  instructionsText(t),
		CreatedAt:     unixTime(t.CreatedAt),
		ExpiresAt:     unixTime(expires),
		PaidAt:        unixTime(t.PaidAt),
		GatewayStatus: gatewayStatus(t.Status),
		Raw:           t.raw,
	}
}

func unixTime(f flexInt) time.Time {
	if !f.set || f.v <= 0 {
		return time.Time{}
	}
	return time.Unix(f.v, 0).UTC()
}

var htmlTag = regexp.MustCompile(`<[^>]*>`)

// instructionsText renders Tripay's instructions (titled lists of steps with
// HTML markup) as plain text:
//
//	Internet Banking
//	1. Login ke internet banking Bank BRI Anda
//	2. ...
func instructionsText(t *transaction) string {
	var b strings.Builder
	for _, in := range t.Instructions {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(plain(in.Title))
		for i, s := range in.Steps {
			fmt.Fprintf(&b, "\n%d. %s", i+1, plain(s))
		}
	}
	return b.String()
}

func plain(s string) string {
	return strings.TrimSpace(html.UnescapeString(htmlTag.ReplaceAllString(s, "")))
}

// phoneForTripay turns an E.164 Indonesian number (+6281234567890) into the
// local form Tripay's channels expect (081234567890); other numbers pass as
// they are.
func phoneForTripay(p string) string {
	p = strings.TrimSpace(p)
	if rest, ok := strings.CutPrefix(p, "+62"); ok {
		return "0" + rest
	}
	return p
}

// methodGroup maps Tripay's channel group to the SDK's method groups.
func methodGroup(c channel) string {
	if strings.HasPrefix(strings.ToUpper(c.Code), "QRIS") {
		return "qris"
	}
	switch strings.ToLower(strings.TrimSpace(c.Group)) {
	case "virtual account":
		return "virtual_account"
	case "convenience store":
		return "convenience_store"
	case "e-wallet", "ewallet":
		return "ewallet"
	}
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(c.Group)), " ", "_")
}

package main

import (
	"fmt"
	"html"
	"regexp"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// Currency is the only currency Tripay takes. IDR has no minor unit there:
// payment.Money{Amount: 150000, Currency: "IDR"} is Rp 150.000 and is sent
// as amount 150000.
const Currency = "IDR"

// statusOf maps Tripay's transaction status to the SDK's.
func statusOf(s string) (payment.Status, bool) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "PAID":
		return payment.StatusPaid, true
	case "UNPAID":
		return payment.StatusPending, true
	case "EXPIRED":
		return payment.StatusExpired, true
	case "FAILED":
		return payment.StatusFailed, true
	case "REFUND":
		return payment.StatusRefunded, true
	default:
		return "", false
	}
}

// paymentOf converts a Tripay transaction.
func paymentOf(t *transaction) (payment.Payment, error) {
	st, ok := statusOf(t.Status)
	if !ok {
		return payment.Payment{}, fmt.Errorf("tripay transaction %s has the status %q, which this plugin does not know: %w", t.Reference, t.Status, sdk.ErrUnavailable)
	}
	checkout := string(t.CheckoutURL)
	if checkout == "" {
		checkout = string(t.PayURL)
	}
	expires := t.ExpiredTime
	if !expires.set {
		expires = t.ExpiredAt
	}
	return payment.Payment{
		ID:            t.Reference,
		OrderID:       t.MerchantRef,
		Status:        st,
		Amount:        payment.Money{Amount: t.invoiceAmount(), Currency: Currency},
		Method:        t.PaymentMethod,
		CheckoutURL:   checkout,
		PayCode:       string(t.PayCode),
		QRString:      string(t.QRString),
		Instructions:  instructionsText(t),
		CreatedAt:     unixTime(t.CreatedAt),
		ExpiresAt:     unixTime(expires),
		PaidAt:        unixTime(t.PaidAt),
		GatewayStatus: strings.ToUpper(t.Status),
		Raw:           t.raw,
	}, nil
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

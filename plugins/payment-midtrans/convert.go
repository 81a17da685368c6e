package main

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/midtrans/midtrans-go"
	"github.com/midtrans/midtrans-go/coreapi"
	"github.com/midtrans/midtrans-go/snap"

	"github.com/mikrobill/mikrobill/sdk/payment"
)

// currencyIDR is the only currency Snap takes here.
const currencyIDR = "IDR"

// Midtrans' transaction_status values.
const (
	txCapture       = "capture"
	txSettlement    = "settlement"
	txPending       = "pending"
	txAuthorize     = "authorize"
	txDeny          = "deny"
	txCancel        = "cancel"
	txExpire        = "expire"
	txFailure       = "failure"
	txRefund        = "refund"
	txPartialRefund = "partial_refund"
)

// Midtrans' fraud_status values.
const (
	fraudAccept    = "accept"
	fraudChallenge = "challenge"
	fraudDeny      = "deny"
)

// mapStatus turns Midtrans' transaction_status and fraud_status into a
// payment status.
//
// Paid is settlement, or capture with fraud_status accept. Midtrans' own
// guidance adds: when fraud_status is present it must be accept, so a
// settlement its fraud detection flags is not paid either. capture with
// challenge stays pending until the merchant approves it in the dashboard
// (Midtrans then sends settlement, or cancel). partial_refund keeps the
// payment paid (the invoice was paid; part of the money went back), with
// GatewayStatus saying so. A status this plugin does not know is pending:
// never paid by accident.
func mapStatus(txStatus, fraud string) payment.Status {
	fraud = strings.ToLower(fraud)
	switch strings.ToLower(txStatus) {
	case txSettlement:
		switch fraud {
		case "", fraudAccept:
			return payment.StatusPaid
		case fraudDeny:
			return payment.StatusFailed
		default:
			return payment.StatusPending
		}
	case txCapture:
		switch fraud {
		case fraudAccept:
			return payment.StatusPaid
		case fraudDeny:
			return payment.StatusFailed
		default: // challenge, or no verdict yet
			return payment.StatusPending
		}
	case txPending, txAuthorize:
		return payment.StatusPending
	case txDeny, txFailure:
		return payment.StatusFailed
	case txCancel:
		return payment.StatusCancelled
	case txExpire:
		return payment.StatusExpired
	case txRefund:
		return payment.StatusRefunded
	case txPartialRefund:
		return payment.StatusPaid
	default:
		return payment.StatusPending
	}
}

// errFractionalRupiah: an amount with sen, which no payment here can have.
var errFractionalRupiah = errors.New("the amount has a fraction of a rupiah")

// parseRupiah reads Midtrans' gross_amount ("150000.00", "150000") as whole
// rupiah. IDR has no minor unit at Midtrans, though it writes two zero
// decimals.
func parseRupiah(s string) (int64, error) {
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || !allDigits(whole) || (hasFrac && (frac == "" || !allDigits(frac))) {
		return 0, fmt.Errorf("gross_amount %q is not an amount", s)
	}
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("gross_amount %q is out of range", s)
	}
	if strings.Trim(frac, "0") != "" {
		return 0, fmt.Errorf("gross_amount %q: %w", s, errFractionalRupiah)
	}
	return n, nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// formatRupiah writes an amount the way Midtrans does ("150000.00").
func formatRupiah(n int64) string { return strconv.FormatInt(n, 10) + ".00" }

// wib is Western Indonesian Time (UTC+7), the zone of Midtrans' timestamps.
// A fixed zone: the plugin needs no time zone database.
var wib = time.FixedZone("WIB", 7*60*60)

// midtransTimeLayout is Midtrans' timestamp layout ("2020-01-09 18:27:19").
const midtransTimeLayout = "2006-01-02 15:04:05"

// parseMidtransTime reads a Midtrans timestamp; empty or unreadable is the
// zero time.
func parseMidtransTime(s string) time.Time {
	t, err := time.ParseInLocation(midtransTimeLayout, s, wib)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// orderIDPattern is what Midtrans accepts as order_id: at most 50
// characters, letters, digits, "-", "_", "~" and ".".
var orderIDPattern = regexp.MustCompile(`^[A-Za-z0-9\-_~.]{1,50}$`)

// snapRequest builds the Snap request for a payment request.
func snapRequest(req *payment.CreatePaymentRequest, expiry *snap.ExpiryDetails) *snap.Request {
	out := &snap.Request{
		TransactionDetails: midtrans.TransactionDetails{OrderID: req.OrderID, GrossAmt: req.Amount.Amount},
		Expiry:             expiry,
	}
	if len(req.Items) > 0 {
		items := make([]midtrans.ItemDetails, 0, len(req.Items))
		for _, it := range req.Items {
			items = append(items, midtrans.ItemDetails{
				ID:    truncate(it.SKU, 50),
				Name:  truncate(it.Name, 50),
				Price: it.UnitPrice.Amount,
				Qty:   int32(min(it.Quantity, math.MaxInt32)),
			})
		}
		out.Items = &items
	}
	if c := req.Customer; c != (payment.Customer{}) {
		out.CustomerDetail = &midtrans.CustomerDetails{FName: truncate(c.Name, 255), Email: c.Email, Phone: c.Phone}
	}
	if req.ReturnURL != "" {
		out.Callbacks = &snap.Callbacks{Finish: req.ReturnURL}
	}
	if req.Method != "" {
		out.EnabledPayments = []snap.SnapPaymentType{snap.SnapPaymentType(req.Method)}
	}
	if len(req.Metadata) > 0 {
		out.Metadata = req.Metadata
	}
	return out
}

// snapExpiry asks Snap to expire the payment at expiresAt, in whole minutes
// from now (rounded up). Zero expiresAt with zero defaultMinutes leaves
// Midtrans' default. It returns the expiry and when the payment expires.
func snapExpiry(now, expiresAt time.Time, defaultMinutes int) (*snap.ExpiryDetails, time.Time) {
	var minutes int64
	switch {
	case !expiresAt.IsZero():
		minutes = int64(math.Ceil(expiresAt.Sub(now).Minutes()))
	case defaultMinutes > 0:
		minutes = int64(defaultMinutes)
	default:
		return nil, now.Add(snapDefaultExpiry)
	}
	minutes = max(minutes, 1)
	return &snap.ExpiryDetails{
		StartTime: now.In(wib).Format("2006-01-02 15:04:05 -0700"),
		Unit:      "minute",
		Duration:  minutes,
	}, now.Add(time.Duration(minutes) * time.Minute)
}

// snapDefaultExpiry is how long a Snap transaction lives when the request
// sets no expiry.
const snapDefaultExpiry = 24 * time.Hour

// paymentFromStatus builds a payment from the status API's answer.
func paymentFromStatus(tx *coreapi.TransactionStatusResponse, raw []byte) (payment.Payment, error) {
	amount, err := parseRupiah(tx.GrossAmount)
	if err != nil {
		return payment.Payment{}, err
	}
	currency := tx.Currency
	if currency == "" {
		currency = currencyIDR
	}
	p := payment.Payment{
		ID:            tx.OrderID,
		OrderID:       tx.OrderID,
		Status:        mapStatus(tx.TransactionStatus, tx.FraudStatus),
		Amount:        payment.Money{Amount: amount, Currency: currency},
		Method:        tx.PaymentType,
		PayCode:       payCode(tx),
		CreatedAt:     parseMidtransTime(tx.TransactionTime),
		ExpiresAt:     parseMidtransTime(tx.ExpiryTime),
		GatewayStatus: tx.TransactionStatus,
		Raw:           raw,
	}
	if p.Status == payment.StatusPaid {
		p.PaidAt = parseMidtransTime(tx.SettlementTime)
		if p.PaidAt.IsZero() {
			p.PaidAt = p.CreatedAt
		}
	}
	return p, nil
}

// payCode is what the customer pays to: a virtual account number, a
// convenience store payment code or a Mandiri bill key.
func payCode(tx *coreapi.TransactionStatusResponse) string {
	switch {
	case len(tx.VaNumbers) > 0:
		return tx.VaNumbers[0].VANumber
	case tx.PermataVaNumber != "":
		return tx.PermataVaNumber
	case tx.PaymentCode != "":
		return tx.PaymentCode
	case tx.BillKey != "":
		return tx.BillerCode + " " + tx.BillKey
	}
	return ""
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

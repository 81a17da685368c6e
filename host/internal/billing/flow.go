package billing

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// Errors of the flow, for the HTTP layer.
var (
	// ErrAlreadyPaid: the invoice is paid; nothing to pay or cancel.
	ErrAlreadyPaid = fmt.Errorf("%w: the invoice is paid already", sdk.ErrFailedPrecondition)
	// ErrNotPayable: the invoice is cancelled.
	ErrNotPayable = fmt.Errorf("%w: the invoice is cancelled; create a new invoice to bill the customer again", sdk.ErrFailedPrecondition)
	// ErrUnconfirmed: the gateway's status query does not confirm what the
	// webhook said. It is the SDK's payment.ErrUnconfirmed, so a plugin's
	// own refusal of an unconfirmed notification is the same error.
	ErrUnconfirmed = payment.ErrUnconfirmed
)

// CreateInvoice records what a customer owes for a plan (for an existing
// subscription when subscriptionID is set) and queues its audit event. It
// is NewInvoice without a new subscription asked for: paying renews the
// customer's subscription on the same plan.
func (s *Service) CreateInvoice(ctx context.Context, customerID, planID, subscriptionID int64, dueIn time.Duration, actor string) (*store.Invoice, error) {
	return s.NewInvoice(ctx, InvoiceRequest{CustomerID: customerID, PlanID: planID, SubscriptionID: subscriptionID, DueIn: dueIn, Actor: actor})
}

// PaymentStart is what StartPayment returns: where to send the customer.
type PaymentStart struct {
	Invoice *store.Invoice  `json:"invoice"`
	Payment payment.Payment `json:"payment"`
}

// StartPayment starts paying an invoice at a gateway: it calls the
// gateway's CreatePayment (with an idempotency key, so a retry does not pay
// twice), records the payment and the checkout link, and queues the
// "invoice_created" message with the link.
func (s *Service) StartPayment(ctx context.Context, invoiceID int64, gateway, method, actor string) (*PaymentStart, error) {
	q := s.st.Q()
	inv, err := q.GetInvoice(ctx, invoiceID)
	if err != nil {
		return nil, err
	}
	switch inv.Status {
	case store.InvoicePaid:
		return nil, ErrAlreadyPaid
	case store.InvoiceCancelled:
		return nil, ErrNotPayable
	}
	gw, err := s.plugins.Payment(gateway)
	if err != nil {
		return nil, err
	}
	what, sku, err := invoiceItem(ctx, q, inv)
	if err != nil {
		return nil, err
	}
	cust, err := q.GetCustomer(ctx, inv.CustomerID, s.cipher)
	if err != nil {
		return nil, err
	}
	// A new attempt after failed or expired ones needs a new key; a retry of
	// the same attempt must reuse it.
	previous, err := q.ListPayments(ctx, inv.ID)
	if err != nil {
		return nil, err
	}
	attempt := 1
	for _, p := range previous {
		if p.Gateway == gateway && p.Status != store.PaymentPending {
			attempt++
		}
	}
	base := strings.TrimRight(s.cfg.PublicURL, "/")
	resp, err := gw.CreatePayment(ctx, &payment.CreatePaymentRequest{
		OrderID:     inv.Number,
		Amount:      payment.Money{Amount: inv.Amount, Currency: inv.Currency},
		Description: what,
		Customer:    payment.Customer{Name: cust.Name, Email: cust.Email, Phone: cust.Phone},
		Items: []payment.LineItem{{SKU: sku, Name: what, Quantity: 1,
			UnitPrice: payment.Money{Amount: inv.Amount, Currency: inv.Currency}}},
		Method:         method,
		CallbackURL:    base + "/webhooks/" + gateway,
		ReturnURL:      s.PayLink(inv.Number),
		ExpiresAt:      inv.DueAt,
		IdempotencyKey: fmt.Sprintf("%s-%s-%d", inv.Number, gateway, attempt),
		Metadata:       map[string]string{"invoice_id": strconv.FormatInt(inv.ID, 10)},
	})
	if err != nil {
		return nil, fmt.Errorf("create the payment at %s: %w", gateway, err)
	}
	p := resp.Payment
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		rec := &store.Payment{InvoiceID: inv.ID, Gateway: gateway, ExternalID: p.ID, Amount: p.Amount.Amount,
			Currency: p.Amount.Currency, Status: paymentStatus(p.Status), CreateResponse: string(p.Raw)}
		if err := tx.Q().RecordPayment(ctx, rec); err != nil {
			return err
		}
		link := p.CheckoutURL
		if link == "" {
			link = s.PayLink(inv.Number)
		}
		if err := tx.Q().SetInvoicePayment(ctx, inv.ID, gateway, link); err != nil {
			return err
		}
		// A new attempt makes a failed or expired invoice payable again.
		inv.Status, inv.Gateway, inv.PaymentURL = store.InvoiceUnpaid, gateway, link
		if _, err := s.queue.InsertTx(ctx, tx, NotifyArgs{Template: "invoice_created", CustomerID: inv.CustomerID, InvoiceID: inv.ID,
			SubscriptionID: inv.SubscriptionID, Key: fmt.Sprintf("invoice-%s-%s-%d", inv.Number, gateway, attempt)}, nil); err != nil {
			return err
		}
		_, err := s.queue.InsertTx(ctx, tx, auditJob(AuditEvent{Actor: actor, Action: "payment.started", ResourceType: "invoice", ResourceID: inv.Number,
			Metadata: map[string]string{"gateway": gateway, "payment_id": p.ID}}, s.now()), nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &PaymentStart{Invoice: inv, Payment: p}, nil
}

// CancelInvoice cancels an invoice that is not paid.
func (s *Service) CancelInvoice(ctx context.Context, invoiceID int64, actor string) error {
	return s.st.Tx(ctx, func(tx *store.Tx) error {
		inv, err := tx.Q().GetInvoice(ctx, invoiceID)
		if err != nil {
			return err
		}
		ok, err := tx.Q().SetInvoiceStatus(ctx, invoiceID, store.InvoiceCancelled)
		if err != nil {
			return err
		}
		if !ok {
			return ErrAlreadyPaid
		}
		_, err = s.queue.InsertTx(ctx, tx, auditJob(AuditEvent{Actor: actor, Action: "invoice.cancelled", ResourceType: "invoice", ResourceID: inv.Number}, s.now()), nil)
		return err
	})
}

func paymentStatus(st payment.Status) string {
	switch st {
	case payment.StatusPaid:
		return store.PaymentPaid
	case payment.StatusFailed:
		return store.PaymentFailed
	case payment.StatusExpired:
		return store.PaymentExpired
	case payment.StatusCancelled:
		return store.PaymentCancelled
	case payment.StatusRefunded:
		return store.PaymentRefunded
	default:
		return store.PaymentPending
	}
}

// money formats an amount for messages and audit records.
func money(amount int64, currency string) string {
	return payment.Money{Amount: amount, Currency: currency}.String()
}

// invoiceItem is what an invoice sells, as gateways show it: the plan's
// name, or a balance top-up.
func invoiceItem(ctx context.Context, q *store.Queries, inv *store.Invoice) (name, sku string, err error) {
	if inv.Kind == store.InvoiceTopUp {
		return "Balance top-up", "topup", nil
	}
	plan, err := q.GetPlan(ctx, inv.PlanID)
	if err != nil {
		return "", "", err
	}
	return plan.Name, "plan-" + strconv.FormatInt(plan.ID, 10), nil
}

// credit credits an invoice in a transaction: exactly once (CreditInvoice's
// primary key), then starts or extends the subscription (Activate, after
// the renewal rule: renewal.go) and queues the provision, notify and audit
// jobs; a top-up invoice adds to the customer's balance instead (topUp).
// It reports whether this call credited.
func (s *Service) credit(ctx context.Context, tx *store.Tx, inv *store.Invoice, paymentID, voucherID int64, actor, how string) (bool, error) {
	ok, err := tx.Q().CreditInvoice(ctx, inv.ID, paymentID, voucherID)
	if err != nil || !ok {
		return false, err
	}
	if inv.Kind == store.InvoiceTopUp {
		return true, s.topUp(ctx, tx, inv, actor, how)
	}
	plan, err := tx.Q().GetPlan(ctx, inv.PlanID)
	if err != nil {
		return false, err
	}
	if err := s.renewal(ctx, tx.Q(), inv); err != nil {
		return false, err
	}
	subID, expires, err := tx.Q().Activate(ctx, inv, plan)
	if err != nil {
		return false, err
	}
	// The three jobs go in with one statement: a paid webhook's
	// transaction is the hot path of a busy gateway.
	err = s.queue.InsertManyTx(ctx, tx, []river.InsertManyParams{
		{Args: ProvisionArgs{SubscriptionID: subID, InvoiceID: inv.ID}},
		{Args: NotifyArgs{Template: ReceiptTemplate, CustomerID: inv.CustomerID, SubscriptionID: subID, InvoiceID: inv.ID, Key: "paid-" + inv.Number}},
		{Args: auditJob(AuditEvent{Actor: actor, Action: "invoice.paid", ResourceType: "invoice", ResourceID: inv.Number, Metadata: map[string]string{
			"how": how, "amount": money(inv.Amount, inv.Currency), "subscription_id": strconv.FormatInt(subID, 10),
			"expires_at": expires.Format(time.RFC3339)}}, s.now())},
	})
	if err != nil {
		return false, err
	}
	return true, nil
}

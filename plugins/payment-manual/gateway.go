package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// Name and Version must match plugin.json.
const (
	Name    = "payment-manual"
	Version = "0.1.0"
)

// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the raw body with
// confirm_secret>" on confirmations sent to /webhooks/payment-manual.
const SignatureHeader = "X-Mikrobill-Signature"

// settings are the plugin's settings (see config_schema in plugin.json).
type settings struct {
	Instructions  string        `json:"instructions"`
	BankAccounts  []bankAccount `json:"bank_accounts"`
	Currencies    []string      `json:"currencies"`
	ExpiryHours   int           `json:"expiry_hours"`
	ConfirmSecret string        `json:"confirm_secret"`
}

type bankAccount struct {
	Bank          string `json:"bank"`
	AccountNumber string `json:"account_number"`
	AccountName   string `json:"account_name"`
}

func defaultSettings() settings {
	return settings{
		Instructions: "Pay in cash at the counter or by bank transfer, then show the receipt to the operator.",
		Currencies:   []string{"IDR"},
		ExpiryHours:  48,
	}
}

// Gateway takes payments in cash or by bank transfer; an operator confirms
// them, either on the plugin's route POST /plugins/payment-manual/payments/{id}/confirm
// or by a signed confirmation to /webhooks/payment-manual.
type Gateway struct {
	sdk.Base

	mu    sync.RWMutex
	cfg   settings
	store *store
	now   func() time.Time
}

var (
	_ payment.Gateway      = (*Gateway)(nil)
	_ payment.Refunder     = (*Gateway)(nil)
	_ payment.MethodLister = (*Gateway)(nil)
	_ sdk.HTTPHandler      = (*Gateway)(nil)
)

// NewGateway returns an unconfigured gateway.
func NewGateway() *Gateway { return &Gateway{cfg: defaultSettings(), now: time.Now} }

// Describe implements sdk.Plugin.
func (g *Gateway) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: Name, Version: Version, Description: "Cash or bank transfer that an operator confirms"}, nil
}

// Configure implements sdk.Plugin.
func (g *Gateway) Configure(_ context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	cfg := defaultSettings()
	if err := sdk.DecodeConfig(req.Settings, &cfg); err != nil {
		return nil, err
	}
	for _, c := range cfg.Currencies {
		if len(c) != 3 || strings.ToUpper(c) != c {
			return nil, fmt.Errorf("%w: currencies: %q is not an ISO 4217 code such as \"IDR\"", sdk.ErrInvalidArgument, c)
		}
	}
	if cfg.ExpiryHours <= 0 {
		return nil, fmt.Errorf("%w: expiry_hours must be at least 1", sdk.ErrInvalidArgument)
	}
	resp := &sdk.ConfigureResponse{}
	if cfg.ConfirmSecret == "" {
		resp.Warnings = append(resp.Warnings, "confirm_secret is not set: confirmations by webhook are refused; operators confirm on the plugin's route")
	} else if len(cfg.ConfirmSecret) < 16 {
		return nil, fmt.Errorf("%w: confirm_secret must be at least 16 characters", sdk.ErrInvalidArgument)
	}

	dir := req.DataDir
	if dir == "" {
		dir = os.Getenv("MIKROBILL_PLUGIN_DATA_DIR")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.store == nil {
		st, err := openStore(dir)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", sdk.ErrFailedPrecondition, err)
		}
		g.store = st
	}
	g.cfg = cfg
	return resp, nil
}

func (g *Gateway) state() (settings, *store, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.store == nil {
		return settings{}, nil, fmt.Errorf("%w: the plugin has not been configured yet", sdk.ErrFailedPrecondition)
	}
	return g.cfg, g.store, nil
}

// CheckHealth implements sdk.Plugin.
func (g *Gateway) CheckHealth(context.Context, *sdk.CheckHealthRequest) (*sdk.CheckHealthResponse, error) {
	_, st, err := g.state()
	if err != nil {
		return &sdk.CheckHealthResponse{Status: sdk.HealthError, Message: err.Error()}, nil
	}
	pending := 0
	now := g.now()
	st.view(func(d *storeData) {
		for _, p := range d.Payments {
			if p.Status == payment.StatusPending && (p.ExpiresAt.IsZero() || now.Before(p.ExpiresAt)) {
				pending++
			}
		}
	})
	return &sdk.CheckHealthResponse{Status: sdk.HealthOK, Message: "ready", Details: map[string]any{"pending_payments": pending}}, nil
}

// CreatePayment implements payment.Gateway.
func (g *Gateway) CreatePayment(ctx context.Context, req *payment.CreatePaymentRequest) (*payment.CreatePaymentResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	cfg, st, err := g.state()
	if err != nil {
		return nil, err
	}
	if !slices.Contains(cfg.Currencies, req.Amount.Currency) {
		return nil, fmt.Errorf("%w: %s; this gateway takes %s", payment.ErrUnsupportedCurrency, req.Amount.Currency, strings.Join(cfg.Currencies, ", "))
	}
	now := g.now()
	var out payment.Payment
	err = st.update(func(d *storeData) (bool, error) {
		if id, ok := d.ByKey[req.IdempotencyKey]; ok {
			p := d.Payments[id]
			changed := g.expire(p)
			if p.OrderID != req.OrderID || p.Amount != req.Amount {
				return false, fmt.Errorf("%w: idempotency key %q was used for order %s (%s); use a new key for a different payment", sdk.ErrInvalidArgument, req.IdempotencyKey, p.OrderID, p.Amount)
			}
			out = *p
			return changed, nil
		}
		for _, p := range d.Payments {
			// A payment past its expiry is expired, even if nobody asked
			// for it since; the new payment's save stores that too.
			if p.OrderID == req.OrderID && !g.expire(p) && !p.Status.Final() {
				return false, fmt.Errorf("%w: order %s already has the pending payment %s", sdk.ErrAlreadyExists, req.OrderID, p.ID)
			}
		}
		expires := req.ExpiresAt
		if expires.IsZero() {
			expires = now.Add(time.Duration(cfg.ExpiryHours) * time.Hour)
		}
		p := &payment.Payment{
			ID:            newID(),
			OrderID:       req.OrderID,
			Status:        payment.StatusPending,
			Amount:        req.Amount,
			Method:        methodOrDefault(req.Method),
			Instructions:  instructions(cfg, req),
			CreatedAt:     now.UTC(),
			ExpiresAt:     expires.UTC(),
			GatewayStatus: "awaiting_confirmation",
		}
		d.Payments[p.ID] = p
		d.ByKey[req.IdempotencyKey] = p.ID
		out = *p
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &payment.CreatePaymentResponse{Payment: out}, nil
}

// GetPayment implements payment.Gateway.
func (g *Gateway) GetPayment(ctx context.Context, req *payment.GetPaymentRequest) (*payment.GetPaymentResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	_, st, err := g.state()
	if err != nil {
		return nil, err
	}
	var out payment.Payment
	err = st.update(func(d *storeData) (bool, error) {
		p := find(d, req.ID, req.OrderID)
		if p == nil {
			return false, fmt.Errorf("%w: no payment with id %q or order %q", payment.ErrUnknownOrder, req.ID, req.OrderID)
		}
		changed := g.expire(p)
		out = *p
		return changed, nil
	})
	if err != nil {
		return nil, err
	}
	return &payment.GetPaymentResponse{Payment: out}, nil
}

// expire marks a pending payment past its expiry as expired.
func (g *Gateway) expire(p *payment.Payment) bool {
	if p.Status == payment.StatusPending && !p.ExpiresAt.IsZero() && g.now().After(p.ExpiresAt) {
		p.Status, p.GatewayStatus = payment.StatusExpired, "expired"
		return true
	}
	return false
}

// confirmation is the body of a signed confirmation webhook.
type confirmation struct {
	EventID   string `json:"event_id"`
	PaymentID string `json:"payment_id"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	// ConfirmedBy names who saw the money (free text, for the audit log).
	ConfirmedBy string `json:"confirmed_by"`
}

// HandleWebhook implements payment.Gateway: a confirmation signed with
// confirm_secret marks a pending payment paid.
func (g *Gateway) HandleWebhook(ctx context.Context, req *payment.WebhookRequest) (*payment.WebhookResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, st, err := g.state()
	if err != nil {
		return nil, err
	}
	if cfg.ConfirmSecret == "" {
		return nil, fmt.Errorf("%w: confirmations by webhook are off; set confirm_secret in the plugin's settings", payment.ErrInvalidSignature)
	}
	if !validSignature(req.Request.Header.Get(SignatureHeader), req.Request.Body, cfg.ConfirmSecret) {
		return nil, fmt.Errorf("%w: header %s must be \"sha256=\" and the hex HMAC-SHA256 of the body", payment.ErrInvalidSignature, SignatureHeader)
	}
	var c confirmation
	dec := json.NewDecoder(bytes.NewReader(req.Request.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %v", payment.ErrMalformedPayload, err)
	}
	if c.EventID == "" || c.PaymentID == "" || c.Currency == "" {
		return nil, fmt.Errorf("%w: event_id, payment_id, amount and currency are required", payment.ErrMalformedPayload)
	}
	var ev payment.Event
	err = st.update(func(d *storeData) (bool, error) {
		p := find(d, c.PaymentID, "")
		if p == nil {
			return false, fmt.Errorf("%w: no payment %q", payment.ErrUnknownOrder, c.PaymentID)
		}
		if c.Amount != p.Amount.Amount || c.Currency != p.Amount.Currency {
			return false, fmt.Errorf("%w: confirmation says %s, payment %s is %s", payment.ErrAmountMismatch, payment.Money{Amount: c.Amount, Currency: c.Currency}, p.ID, p.Amount)
		}
		if prev, seen := d.Events[c.EventID]; seen {
			return false, fmt.Errorf("%w: confirmation %s was handled for payment %s", payment.ErrReplay, c.EventID, prev)
		}
		g.expire(p)
		if p.Status != payment.StatusPending && p.Status != payment.StatusPaid {
			return false, fmt.Errorf("%w: payment %s is %s and can no longer be paid", sdk.ErrFailedPrecondition, p.ID, p.Status)
		}
		markPaid(p, g.now(), c.ConfirmedBy)
		d.Events[c.EventID] = p.ID
		ev = payment.Event{
			EventID: c.EventID, PaymentID: p.ID, OrderID: p.OrderID, Status: p.Status, Amount: p.Amount,
			OccurredAt: p.PaidAt, Confirmed: true, GatewayStatus: p.GatewayStatus, Raw: req.Request.Body,
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &payment.WebhookResponse{
		Response: sdk.HTTPResponse{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"status":"ok"}`)},
		Event:    &ev,
	}, nil
}

func markPaid(p *payment.Payment, now time.Time, by string) {
	if p.Status == payment.StatusPaid {
		return
	}
	p.Status, p.GatewayStatus, p.PaidAt = payment.StatusPaid, "confirmed", now.UTC()
	if by != "" {
		p.Raw, _ = json.Marshal(map[string]string{"confirmed_by": by})
	}
}

// Refund implements payment.Refunder: the operator hands the money back and
// records it here. Partial refunds are not tracked: the amount must be the
// whole payment or zero.
func (g *Gateway) Refund(ctx context.Context, req *payment.RefundRequest) (*payment.RefundResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if req.IdempotencyKey == "" {
		return nil, fmt.Errorf("%w: idempotency_key is required", sdk.ErrInvalidArgument)
	}
	_, st, err := g.state()
	if err != nil {
		return nil, err
	}
	var out payment.RefundResponse
	err = st.update(func(d *storeData) (bool, error) {
		p := find(d, req.PaymentID, "")
		if p == nil {
			return false, fmt.Errorf("%w: no payment %q", payment.ErrUnknownOrder, req.PaymentID)
		}
		if !req.Amount.IsZero() && req.Amount != p.Amount {
			return false, fmt.Errorf("%w: manual refunds are whole: %s", payment.ErrAmountMismatch, p.Amount)
		}
		out = payment.RefundResponse{RefundID: "REF-" + p.ID, PaymentID: p.ID, Amount: p.Amount, Status: "succeeded"}
		switch p.Status {
		case payment.StatusRefunded:
			return false, nil
		case payment.StatusPaid:
			p.Status, p.GatewayStatus = payment.StatusRefunded, "refunded"
			return true, nil
		default:
			return false, fmt.Errorf("%w: payment %s is %s, only paid payments can be refunded", payment.ErrDeclined, p.ID, p.Status)
		}
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListMethods implements payment.MethodLister.
func (g *Gateway) ListMethods(context.Context, *payment.ListMethodsRequest) (*payment.ListMethodsResponse, error) {
	cfg, _, err := g.state()
	if err != nil {
		return nil, err
	}
	out := &payment.ListMethodsResponse{Methods: []payment.Method{{Code: "cash", Name: "Cash", Group: "cash", Active: true}}}
	for _, a := range cfg.BankAccounts {
		out.Methods = append(out.Methods, payment.Method{Code: "bank_transfer", Name: "Bank transfer to " + a.Bank, Group: "bank_transfer", Active: true})
	}
	return out, nil
}

// HandleHTTP implements sdk.HTTPHandler for the routes in plugin.json.
func (g *Gateway) HandleHTTP(ctx context.Context, req *sdk.HandleHTTPRequest) (*sdk.HandleHTTPResponse, error) {
	_, st, err := g.state()
	if err != nil {
		return nil, err
	}
	switch req.Route {
	case "/payments":
		list := st.list()
		views := make([]paymentView, 0, len(list))
		for _, p := range list {
			views = append(views, viewOf(p))
		}
		return jsonResponse(http.StatusOK, map[string]any{"payments": views})
	case "/payments/{id}/confirm":
		by := "operator"
		if req.Request.Principal != nil {
			by = req.Request.Principal.Subject
		}
		var out payment.Payment
		var confirmedNow bool
		err := st.update(func(d *storeData) (bool, error) {
			p := find(d, req.PathParams["id"], "")
			if p == nil {
				return false, fmt.Errorf("%w: no payment %q", payment.ErrUnknownOrder, req.PathParams["id"])
			}
			g.expire(p)
			if p.Status != payment.StatusPending && p.Status != payment.StatusPaid {
				return false, fmt.Errorf("%w: payment %s is %s and can no longer be paid", sdk.ErrFailedPrecondition, p.ID, p.Status)
			}
			confirmedNow = p.Status == payment.StatusPending
			markPaid(p, g.now(), by)
			out = *p
			return confirmedNow, nil
		})
		if err != nil {
			return nil, err
		}
		if !confirmedNow {
			return jsonResponse(http.StatusOK, viewOf(out)) // confirmed before: no second event
		}
		data, _ := json.Marshal(map[string]any{"payment_id": out.ID, "order_id": out.OrderID, "amount": out.Amount.Amount, "currency": out.Amount.Currency, "confirmed_by": by})
		if _, err := g.Host().Publish(ctx, sdk.Event{Type: "payment.confirmed", Subject: "payment/" + out.ID, Data: data}); err != nil {
			g.Logger().Warn("publish payment.confirmed", "payment", out.ID, "error", err)
		}
		return jsonResponse(http.StatusOK, viewOf(out))
	default:
		return nil, fmt.Errorf("%w: no route %s %s", sdk.ErrNotFound, req.Request.Method, req.Route)
	}
}

// paymentView is a payment as the plugin's routes show it.
type paymentView struct {
	ID            string          `json:"id"`
	OrderID       string          `json:"order_id"`
	Status        string          `json:"status"`
	Amount        int64           `json:"amount"`
	Currency      string          `json:"currency"`
	Method        string          `json:"method,omitempty"`
	Instructions  string          `json:"instructions,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	ExpiresAt     time.Time       `json:"expires_at,omitzero"`
	PaidAt        time.Time       `json:"paid_at,omitzero"`
	GatewayStatus string          `json:"gateway_status,omitempty"`
	Details       json.RawMessage `json:"details,omitempty"`
}

func viewOf(p payment.Payment) paymentView {
	v := paymentView{ID: p.ID, OrderID: p.OrderID, Status: string(p.Status), Amount: p.Amount.Amount, Currency: p.Amount.Currency,
		Method: p.Method, Instructions: p.Instructions, CreatedAt: p.CreatedAt, ExpiresAt: p.ExpiresAt, PaidAt: p.PaidAt,
		GatewayStatus: p.GatewayStatus}
	if json.Valid(p.Raw) {
		v.Details = p.Raw
	}
	return v
}

func jsonResponse(status int, v any) (*sdk.HandleHTTPResponse, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &sdk.HandleHTTPResponse{Response: sdk.HTTPResponse{
		StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: body,
	}}, nil
}

func find(d *storeData, id, orderID string) *payment.Payment {
	if id != "" {
		return d.Payments[id]
	}
	if orderID == "" {
		return nil
	}
	var found *payment.Payment
	for _, p := range d.Payments {
		if p.OrderID == orderID && (found == nil || p.CreatedAt.After(found.CreatedAt)) {
			found = p
		}
	}
	return found
}

// Sign returns the signature header value for a confirmation body.
func Sign(body []byte, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func validSignature(header string, body []byte, secret string) bool {
	got, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	sig, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(sig, mac.Sum(nil))
}

func methodOrDefault(m string) string {
	if m == "" {
		return "cash"
	}
	return m
}

func instructions(cfg settings, req *payment.CreatePaymentRequest) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nAmount: %s\nReference: %s", cfg.Instructions, req.Amount, req.OrderID)
	for _, a := range cfg.BankAccounts {
		fmt.Fprintf(&b, "\n%s %s (%s)", a.Bank, a.AccountNumber, a.AccountName)
	}
	return b.String()
}

func newID() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(errors.New("crypto/rand failed: " + err.Error()))
	}
	return "MAN-" + strings.ToUpper(hex.EncodeToString(b[:]))
}

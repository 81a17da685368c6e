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
// or by a signed confirmation to /webhooks/payment-manual. Its payments live
// in the host's durable plugin store (see store.go).
type Gateway struct {
	sdk.Base

	mu         sync.RWMutex
	cfg        settings
	configured bool
	now        func() time.Time
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

// Configure implements sdk.Plugin. The payments an earlier version kept in
// payments.json in the data directory are moved into the host's store here,
// once (the file is renamed to payments.json.imported).
func (g *Gateway) Configure(ctx context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
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
	n, err := g.store().importLegacy(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("%w: move the payments of an earlier version into the host's store: %w", sdk.ErrFailedPrecondition, err)
	}
	if n > 0 {
		g.Logger().Info("payments moved from the data directory into the host's plugin store", "payments", n, "file", legacyFile+".imported")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cfg, g.configured = cfg, true
	return resp, nil
}

func (g *Gateway) store() store { return store{host: g.Host()} }

func (g *Gateway) state() (settings, store, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if !g.configured {
		return settings{}, store{}, fmt.Errorf("%w: the plugin has not been configured yet", sdk.ErrFailedPrecondition)
	}
	return g.cfg, g.store(), nil
}

// healthTimeout bounds CheckHealth's probe of the host's store.
const healthTimeout = time.Second

// CheckHealth implements sdk.Plugin: configured, and the host's plugin
// store answers (the plugin keeps everything there).
func (g *Gateway) CheckHealth(ctx context.Context, _ *sdk.CheckHealthRequest) (*sdk.CheckHealthResponse, error) {
	_, st, err := g.state()
	if err != nil {
		return &sdk.CheckHealthResponse{Status: sdk.HealthError, Message: err.Error()}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	if _, _, err := st.host.StoreGet(ctx, "health"); err != nil {
		return &sdk.CheckHealthResponse{Status: sdk.HealthError, Message: "the host's plugin store does not answer: " + err.Error()}, nil
	}
	return &sdk.CheckHealthResponse{Status: sdk.HealthOK, Message: "ready"}, nil
}

// CreatePayment implements payment.Gateway. The idempotency key is claimed
// in the store first, with the new payment's id; the payment is written
// under that id by whoever finds the claim without it, so a create that
// stopped between the two is completed by its retry.
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
	id, found, err := st.host.StoreGet(ctx, hashKey(req.IdempotencyKey))
	if err != nil {
		return nil, wrapStore("read the idempotency key", err)
	}
	if !found {
		payments, err := st.ofOrder(ctx, req.OrderID)
		if err != nil {
			return nil, err
		}
		for _, p := range payments {
			if p.payment(now).Status == payment.StatusPending {
				return nil, fmt.Errorf("%w: order %s already has the pending payment %s", sdk.ErrAlreadyExists, req.OrderID, p.rec.ID)
			}
		}
		id = []byte(newID())
		stored, err := st.host.StoreSet(ctx, hashKey(req.IdempotencyKey), id, sdk.StoreSetOptions{OnlyIfAbsent: true})
		if err != nil {
			return nil, wrapStore("claim the idempotency key", err)
		}
		if !stored { // a concurrent create with the same key won
			if id, _, err = st.host.StoreGet(ctx, hashKey(req.IdempotencyKey)); err != nil {
				return nil, wrapStore("read the idempotency key", err)
			}
		}
	}
	p, found, err := st.load(ctx, string(id))
	if err != nil {
		return nil, err
	}
	if !found {
		expires := req.ExpiresAt
		if expires.IsZero() {
			expires = now.Add(time.Duration(cfg.ExpiryHours) * time.Hour)
		}
		r := &record{ID: string(id), OrderID: req.OrderID, Amount: req.Amount.Amount, Currency: req.Amount.Currency,
			Method: methodOrDefault(req.Method), Instructions: instructions(cfg, req), CreatedAt: now.UTC(), ExpiresAt: expires.UTC()}
		if err := st.save(ctx, r); err != nil {
			return nil, err
		}
		if p, _, err = st.load(ctx, r.ID); err != nil {
			return nil, err
		}
		if p == nil {
			return nil, fmt.Errorf("%w: payment %s is missing from the host's plugin store right after it was written", sdk.ErrUnavailable, r.ID)
		}
	}
	out := p.payment(now)
	if out.OrderID != req.OrderID || out.Amount != req.Amount {
		return nil, fmt.Errorf("%w: idempotency key %q was used for order %s (%s); use a new key for a different payment", sdk.ErrInvalidArgument, req.IdempotencyKey, out.OrderID, out.Amount)
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
	p, err := g.find(ctx, st, req.ID, req.OrderID)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, fmt.Errorf("%w: no payment with id %q or order %q", payment.ErrUnknownOrder, req.ID, req.OrderID)
	}
	return &payment.GetPaymentResponse{Payment: p.payment(g.now())}, nil
}

// find reads a payment by id or, without one, the newest of an order; nil
// when there is none.
func (g *Gateway) find(ctx context.Context, st store, id, orderID string) (*state, error) {
	if id != "" {
		p, _, err := st.load(ctx, id)
		return p, err
	}
	if orderID == "" {
		return nil, nil
	}
	payments, err := st.ofOrder(ctx, orderID)
	if err != nil {
		return nil, err
	}
	var newest *state
	for _, p := range payments {
		if newest == nil || p.rec.CreatedAt.After(newest.rec.CreatedAt) {
			newest = p
		}
	}
	return newest, nil
}

// byID reads a payment by id; an unknown one is payment.ErrUnknownOrder.
func (g *Gateway) byID(ctx context.Context, st store, id string) (*state, error) {
	p, err := g.find(ctx, st, id, "")
	if err == nil && p == nil {
		err = fmt.Errorf("%w: no payment %q", payment.ErrUnknownOrder, id)
	}
	return p, err
}

// confirm marks a pending payment paid, unless it is paid already; it
// reports whether this call confirmed it. A payment that expired or was
// refunded can no longer be paid.
func (g *Gateway) confirm(ctx context.Context, st store, p *state, by, eventID string) (bool, error) {
	now := g.now()
	switch cur := p.payment(now); cur.Status {
	case payment.StatusPaid:
		return false, nil
	case payment.StatusPending:
	default:
		return false, fmt.Errorf("%w: payment %s is %s and can no longer be paid", sdk.ErrFailedPrecondition, cur.ID, cur.Status)
	}
	confirmed, err := st.markPaid(ctx, p.rec.ID, paidRecord{PaidAt: now.UTC(), ConfirmedBy: by, EventID: eventID})
	if err != nil {
		return false, err
	}
	var paid paidRecord
	if _, err := st.getJSON(ctx, paidPrefix+p.rec.ID, &paid); err != nil {
		return false, err
	}
	p.paid = &paid
	return confirmed, nil
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
// confirm_secret marks a pending payment paid. Its event_id names one
// payment (the replay record, in the host's store): the same confirmation
// again is reported again, marked Duplicate (the host decides whether
// anything is left to credit); the same event_id for another payment is
// refused with payment.ErrReplay.
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
	if len(c.EventID) > maxEventIDBytes {
		return nil, fmt.Errorf("%w: event_id is %d bytes, at most %d", payment.ErrMalformedPayload, len(c.EventID), maxEventIDBytes)
	}
	p, err := g.byID(ctx, st, c.PaymentID)
	if err != nil {
		return nil, err
	}
	if c.Amount != p.rec.Amount || c.Currency != p.rec.Currency {
		return nil, fmt.Errorf("%w: confirmation says %s, payment %s is %s", payment.ErrAmountMismatch, payment.Money{Amount: c.Amount, Currency: c.Currency},
			p.rec.ID, payment.Money{Amount: p.rec.Amount, Currency: p.rec.Currency})
	}
	// The event id is claimed for this payment before the payment is
	// marked paid: of two confirmations with one id for two payments, one
	// pays and the other is refused, however they interleave. A claim whose
	// confirmation did not finish is finished by its repeat.
	duplicate, err := st.replays().Record(ctx, c.EventID, p.rec.ID)
	if err != nil {
		if errors.Is(err, payment.ErrReplay) {
			err = fmt.Errorf("%w. Give every confirmation an event_id of its own", err)
		}
		return nil, err
	}
	if _, err := g.confirm(ctx, st, p, c.ConfirmedBy, c.EventID); err != nil {
		return nil, err
	}
	cur := p.payment(g.now())
	ev := &payment.Event{
		EventID: c.EventID, PaymentID: cur.ID, OrderID: cur.OrderID, Status: cur.Status, Amount: cur.Amount,
		OccurredAt: cur.PaidAt, Confirmed: true, GatewayStatus: cur.GatewayStatus, Raw: req.Request.Body, Duplicate: duplicate,
	}
	body := []byte(`{"status":"ok"}`)
	if ev.Duplicate {
		body = []byte(`{"status":"already handled"}`)
	}
	return &payment.WebhookResponse{
		Response: sdk.HTTPResponse{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: body},
		Event:    ev,
	}, nil
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
	p, err := g.byID(ctx, st, req.PaymentID)
	if err != nil {
		return nil, err
	}
	cur := p.payment(g.now())
	if !req.Amount.IsZero() && req.Amount != cur.Amount {
		return nil, fmt.Errorf("%w: manual refunds are whole: %s", payment.ErrAmountMismatch, cur.Amount)
	}
	out := &payment.RefundResponse{RefundID: "REF-" + cur.ID, PaymentID: cur.ID, Amount: cur.Amount, Status: "succeeded"}
	switch cur.Status {
	case payment.StatusRefunded:
		return out, nil
	case payment.StatusPaid:
		if _, err := st.setJSON(ctx, refundPrefix+cur.ID, refundRecord{RefundedAt: g.now().UTC()}, 0, true); err != nil {
			return nil, err
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%w: payment %s is %s, only paid payments can be refunded", payment.ErrDeclined, cur.ID, cur.Status)
	}
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
		all, err := st.all(ctx)
		if err != nil {
			return nil, err
		}
		now := g.now()
		views := make([]paymentView, 0, len(all))
		for _, p := range all {
			views = append(views, viewOf(p.payment(now)))
		}
		return jsonResponse(http.StatusOK, map[string]any{"payments": views})
	case "/payments/{id}/confirm":
		by := "operator"
		if req.Request.Principal != nil {
			by = req.Request.Principal.Subject
		}
		p, err := g.byID(ctx, st, req.PathParams["id"])
		if err != nil {
			return nil, err
		}
		confirmedNow, err := g.confirm(ctx, st, p, by, "")
		if err != nil {
			return nil, err
		}
		out := p.payment(g.now())
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

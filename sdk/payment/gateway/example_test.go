package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
)

// acmeSettings are the settings of a plugin for Acme Pay, a gateway whose
// API counts in major units and signs notifications with an HMAC-SHA256
// of the raw body in an X-Acme-Signature header.
type acmeSettings struct {
	gateway.Connection
	APIKey        string `json:"api_key"`
	WebhookSecret string `json:"webhook_secret"`
}

type acmePayment struct {
	ID       string `json:"id"`
	Order    string `json:"order"`
	Amount   string `json:"amount"` // "150000.00"
	Currency string `json:"currency"`
	State    string `json:"state"`
	URL      string `json:"url"`
}

var acmeStates = gateway.StatusMap{"open": payment.StatusPending, "paid": payment.StatusPaid, "expired": payment.StatusExpired}

func (p *acmePayment) convert(err error) (*payment.Payment, error) {
	if err != nil {
		return nil, err
	}
	amount, err := gateway.ParseAmount(p.Amount, p.Currency)
	if err != nil {
		return nil, err
	}
	return &payment.Payment{ID: p.ID, OrderID: p.Order, Amount: amount, Status: acmeStates.Status(p.State), CheckoutURL: p.URL, GatewayStatus: p.State}, nil
}

type acmeAPI struct {
	c      *gateway.Client
	secret string
}

func (a *acmeAPI) Create(ctx context.Context, req *payment.CreatePaymentRequest) (*payment.Payment, error) {
	amount, err := gateway.FormatAmount(req.Amount)
	if err != nil {
		return nil, err
	}
	var p acmePayment
	_, err = a.c.Do(ctx, gateway.Call{Method: http.MethodPost, Path: "/payments", IdempotencyKey: req.IdempotencyKey, Out: &p,
		Body: map[string]string{"order": req.OrderID, "amount": amount, "currency": req.Amount.Currency, "return_url": req.ReturnURL}})
	return p.convert(err)
}

func (a *acmeAPI) Get(ctx context.Context, id string) (*payment.Payment, error) {
	var p acmePayment
	_, err := a.c.Get(ctx, "/payments/"+url.PathEscape(id), &p)
	return p.convert(err)
}

func (a *acmeAPI) GetByOrder(ctx context.Context, orderID string) (*payment.Payment, error) {
	var p acmePayment
	_, err := a.c.Get(ctx, "/orders/"+url.PathEscape(orderID)+"/latest-payment", &p)
	return p.convert(err)
}

func (a *acmeAPI) VerifyNotification(r *sdk.HTTPRequest) error {
	return gateway.Verify("the X-Acme-Signature header", r.Header.Get("X-Acme-Signature"), gateway.HMACSHA256(a.secret, r.Body))
}

func (a *acmeAPI) ParseNotification(r *sdk.HTTPRequest) (*gateway.Notification, error) {
	var n struct {
		EventID string      `json:"event_id"`
		Payment acmePayment `json:"payment"`
	}
	if err := json.Unmarshal(r.Body, &n); err != nil {
		return nil, err
	}
	p, err := n.Payment.convert(nil)
	if err != nil {
		return nil, err
	}
	return &gateway.Notification{ID: n.EventID, PaymentID: p.ID, OrderID: p.OrderID, Status: p.Status, Amount: p.Amount, GatewayStatus: p.GatewayStatus}, nil
}

// A whole payment plugin: the settings, Acme Pay's API, and the Spec. Its
// main is func main() { sdk.Serve(NewAcme()) }.
func Example() {
	newAcme := func() *gateway.Gateway[acmeSettings] {
		return gateway.New(gateway.Spec[acmeSettings]{
			Name: "payment-acme", Version: "0.1.0", Description: "Acme Pay",
			Defaults:     acmeSettings{Connection: gateway.Connection{Environment: "live"}},
			Environments: map[string]string{"live": "https://api.acme.example", "test": "https://test.acme.example"},
			Currencies:   []string{"IDR", "PHP"},
			New: func(s acmeSettings, env *gateway.Env) (gateway.API, error) {
				if s.APIKey == "" || s.WebhookSecret == "" {
					return nil, fmt.Errorf("%w: set api_key and webhook_secret", gateway.ErrNotConfigured)
				}
				return &acmeAPI{secret: s.WebhookSecret, c: env.Client(gateway.ClientConfig{
					Name: "Acme Pay", IdempotencyHeader: "Idempotency-Key", Credentials: "api_key",
					Authorize: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+s.APIKey) },
					ErrorBody: gateway.JSONError("error.code", "error.message"),
				})}, nil
			},
		})
	}
	var gw payment.Gateway = newAcme()
	resp, _ := gw.Describe(context.Background(), &sdk.DescribeRequest{})
	fmt.Println(resp.Name, resp.Version)
	// Output: payment-acme 0.1.0
}

// Amounts cross the plugin boundary in minor units; gateways that count in
// major units get and give decimal strings.
func ExampleFormatAmount() {
	idr, _ := gateway.FormatAmount(payment.Money{Amount: 150000, Currency: "IDR"})
	php, _ := gateway.FormatAmount(payment.Money{Amount: 10050, Currency: "PHP"})
	back, _ := gateway.ParseAmount("100.5", "PHP")
	fmt.Println(idr, php, back.Amount)
	// Output: 150000 100.50 10050
}

// A notification signed with an HMAC of its raw body, compared in constant
// time.
func ExampleVerify() {
	body := []byte(`{"event_id":"e1"}`)
	sig := gateway.HMACSHA256("whsec_0123456789", body)
	fmt.Println(gateway.Verify("the signature", sig, gateway.HMACSHA256("whsec_0123456789", body)))
	fmt.Println(gateway.Verify("the signature", "", gateway.HMACSHA256("whsec_0123456789", body)))
	// Output:
	// <nil>
	// invalid webhook signature: the signature is missing
}

package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testutil"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// paidGateway is a payment plugin (testutil.Gateway, "payment-echo") whose
// payments are paid as soon as a webhook says so.
type paidGateway struct {
	testutil.Gateway
	mu       sync.Mutex
	payments map[string]payment.Payment // by id
}

func newPaidGateway() *paidGateway {
	g := &paidGateway{payments: map[string]payment.Payment{}}
	g.Name = "payment-echo"
	g.CreatePaymentFunc, g.GetPaymentFunc, g.HandleWebhookFunc = g.createPayment, g.getPayment, g.handleWebhook
	return g
}

func (g *paidGateway) createPayment(_ context.Context, req *payment.CreatePaymentRequest) (*payment.CreatePaymentResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := payment.Payment{ID: "PAY-" + req.OrderID, OrderID: req.OrderID, Status: payment.StatusPending, Amount: req.Amount,
		CheckoutURL: "https://pay.example/PAY-" + req.OrderID}
	g.payments[p.ID] = p
	return &payment.CreatePaymentResponse{Payment: p}, nil
}

func (g *paidGateway) getPayment(_ context.Context, req *payment.GetPaymentRequest) (*payment.GetPaymentResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.payments[req.ID]
	if !ok {
		return nil, payment.ErrUnknownOrder
	}
	return &payment.GetPaymentResponse{Payment: p}, nil
}

func (g *paidGateway) handleWebhook(_ context.Context, req *payment.WebhookRequest) (*payment.WebhookResponse, error) {
	var n struct {
		PaymentID string `json:"payment_id"`
	}
	if err := json.Unmarshal(req.Request.Body, &n); err != nil {
		return nil, fmt.Errorf("%w: %v", payment.ErrMalformedPayload, err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.payments[n.PaymentID]
	if !ok {
		return nil, payment.ErrUnknownOrder
	}
	p.Status = payment.StatusPaid
	g.payments[p.ID] = p
	return &payment.WebhookResponse{Response: sdk.HTTPResponse{StatusCode: http.StatusOK, Body: []byte("OK")},
		Event: &payment.Event{EventID: "evt-" + p.ID, PaymentID: p.ID, OrderID: p.OrderID, Status: payment.StatusPaid, Amount: p.Amount}}, nil
}

// TestDatabaseConnectionLossIsNever500: PostgreSQL terminating the host's
// connections (as a restart does) between requests does not turn the next
// webhook, pay or API request into a 500: reads and whole transactions are
// tried again on a fresh connection (2xx); while the database takes no
// connections at all, the answer is 503 database_unavailable with
// Retry-After; once it takes them again, requests succeed.
func TestDatabaseConnectionLossIsNever500(t *testing.T) {
	admin := os.Getenv(storetest.EnvPostgres)
	if admin == "" {
		t.Skipf("%s is not set: this test needs PostgreSQL", storetest.EnvPostgres)
	}
	ctx := context.Background()
	dbURL := storetest.PostgresURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	db, err := store.Open(ctx, store.Options{URL: dbURL, MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := jobs.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	adminConn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { adminConn.Close(context.Background()) })
	sql := func(query string, args ...any) {
		t.Helper()
		if _, err := adminConn.Exec(ctx, query, args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	terminate := func() {
		t.Helper()
		sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", dbName)
	}
	t.Cleanup(func() {
		_, _ = adminConn.Exec(context.Background(), "ALTER DATABASE "+dbName+" ALLOW_CONNECTIONS true")
	})

	cip, err := store.NewCipher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	gw := newPaidGateway()
	// Jobs are inserted, not run: the queue is not started.
	svc, err := billing.NewWithQueue(db, cip, echoPlugins(sdktest.Serve(t, gw).Payment()), billing.Config{PublicURL: "https://billing.example.net"}, nil,
		billing.QueueConfig{Jobs: jobs.Config{PollInterval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	a := newAuthAPI(t, db, func(d *Deps) { d.Cipher, d.Billing = cip, svc })
	op := a.user("opera", "correct horse battery", store.UserRoleOperator)
	tok, _, err := auth.CreateToken(ctx, db, op.ID, "test", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	loc := &store.Location{Name: "main"}
	if err := db.Q().CreateLocation(ctx, loc); err != nil {
		t.Fatal(err)
	}
	plan := &store.Plan{Name: "Home 10M", Kind: store.PlanPPPoE, SharedUsers: 1, Validity: 30 * 24 * time.Hour, Price: 150000, Currency: "IDR", Active: true}
	if err := db.Q().CreatePlan(ctx, plan); err != nil {
		t.Fatal(err)
	}
	cust := &store.Customer{Name: "Budi", Phone: "+6281234567890", RouterUsername: "budi", RouterPassword: "rahasia-123", LocationID: loc.ID}
	if err := db.Q().CreateCustomer(ctx, cust, cip); err != nil {
		t.Fatal(err)
	}
	invoice := func() *store.Invoice {
		t.Helper()
		inv, err := svc.CreateInvoice(ctx, cust.ID, plan.ID, 0, 24*time.Hour, "user:test")
		if err != nil {
			t.Fatal(err)
		}
		return inv
	}
	type call struct {
		name, method, path string
		body               any
	}
	calls := func(inv *store.Invoice) []call {
		return []call{
			{"list plans", http.MethodGet, "/api/v1/plans", nil},
			{"pay", http.MethodPost, fmt.Sprintf("/api/v1/invoices/%d/pay", inv.ID), map[string]any{"gateway": "payment-echo"}},
			{"webhook", http.MethodPost, "/webhooks/payment-echo", `{"payment_id": "PAY-` + inv.Number + `"}`},
			{"create a plan", http.MethodPost, "/api/v1/plans", map[string]any{"name": "Plan " + inv.Number, "kind": "hotspot",
				"validity_seconds": 3600, "price": 5000, "currency": "IDR", "active": true}},
			{"read the invoice", http.MethodGet, fmt.Sprintf("/api/v1/invoices/%d", inv.ID), nil},
		}
	}
	send := func(c call) resp {
		t.Helper()
		r := a.do(c.method, c.path, c.body, withBearer(tok))
		if r.Status == http.StatusInternalServerError {
			t.Errorf("%s: 500 after the database lost its connections: %s", c.name, r.Body)
		}
		return r
	}

	// Connections terminated before each request: retried, answered.
	first := invoice()
	for _, c := range calls(first) {
		terminate()
		if r := send(c); r.Status >= 300 {
			t.Errorf("%s right after the database terminated the host's connections: %d %s; want it retried on a fresh connection", c.name, r.Status, r.Body)
		}
	}
	if got, err := db.Q().GetInvoice(ctx, first.ID); err != nil || got.Status != store.InvoicePaid {
		t.Errorf("the invoice paid through the retried webhook: %+v, %v", got, err)
	}

	// The database takes no connections: 503 with Retry-After, never 500.
	second := invoice()
	if r := send(calls(second)[1]); r.Status != http.StatusOK {
		t.Fatalf("pay: %d %s", r.Status, r.Body)
	}
	sql("ALTER DATABASE " + dbName + " ALLOW_CONNECTIONS false")
	terminate()
	for _, c := range calls(second) {
		r := send(c)
		if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" || r.code() != "database_unavailable" {
			t.Errorf("%s while the database takes no connections: %d %s (Retry-After %q); want 503 database_unavailable with Retry-After",
				c.name, r.Status, r.Body, r.Header.Get("Retry-After"))
		}
	}

	// It takes them again: everything works.
	sql("ALTER DATABASE " + dbName + " ALLOW_CONNECTIONS true")
	for _, c := range calls(second) {
		if r := send(c); r.Status >= 300 {
			t.Errorf("%s once the database is back: %d %s", c.name, r.Status, r.Body)
		}
	}
	if got, err := db.Q().GetInvoice(ctx, second.ID); err != nil || got.Status != store.InvoicePaid {
		t.Errorf("the second invoice after the database came back: %+v, %v", got, err)
	}
}
